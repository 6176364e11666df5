/* Loss functions. */
#include "ops/registry.h"

const nb_op_def *const nbi_loss_ops[] = { NULL };
