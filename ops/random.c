/* Random ops: dropout, bernoulli, in-place normal and uniform fills. */
#include "ops/registry.h"

const nb_op_def *const nbi_random_ops[] = { NULL };
