/* Kernels of the random ops (ops/random.c) and their attributes (internal). Each element's
 * draw comes from the counter-based stream of core/rng_impl.h, indexed by the element's
 * C-order position in the output, so results do not depend on the thread count. */
#ifndef NABLA_OPS_KERNELS_RANDOM_H
#define NABLA_OPS_KERNELS_RANDOM_H

#include "ops/kernels/kernels.h"

typedef struct nbk_dropout_attrs {
    double p;          /* probability of dropping an element, in [0, 1] */
    uint64_t key;      /* names the mask's random stream */
} nbk_dropout_attrs;

typedef struct nbk_bernoulli_attrs {
    uint64_t key;
} nbk_bernoulli_attrs;

/* z[0] = x * m, z[1] = m, where m[i] = 1 / (1 - p) when draw i is at least p, else 0. */
NBK_DECLARE(dropout);
/* z[i] = 1 when draw i is below x[i], else 0; fails unless every x[i] is in [0, 1]. */
NBK_DECLARE(bernoulli);

#endif
