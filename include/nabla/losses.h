/* Loss functions. Conventions of ops.h apply. */
#ifndef NABLA_LOSSES_H
#define NABLA_LOSSES_H

#include "common.h"
#include "tensor.h"

/* ---------------------------------------------------------------- losses */

#endif
