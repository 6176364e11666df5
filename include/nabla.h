/* nabla — reverse-mode automatic differentiation tensors in C.
 * The umbrella header: includes every public area header, nothing else. */
#ifndef NABLA_H
#define NABLA_H

#include "nabla/common.h"
#include "nabla/tensor.h"
#include "nabla/rng.h"
#include "nabla/ops.h"
#include "nabla/activations.h"
#include "nabla/reductions.h"
#include "nabla/linalg.h"
#include "nabla/shape.h"
#include "nabla/indexing.h"
#include "nabla/losses.h"
#include "nabla/op_def.h"
#include "nabla/autograd.h"
#include "nabla/nn.h"
#include "nabla/metrics.h"
#include "nabla/optim.h"
#include "nabla/io.h"
#include "nabla/data.h"
#include "nabla/model.h"

#endif
