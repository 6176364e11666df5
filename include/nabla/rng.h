/* Seeded random numbers. The same seed gives the same numbers on every machine and for
 * every thread count: generation is sequential (xoshiro256** seeded through splitmix64). */
#ifndef NABLA_RNG_H
#define NABLA_RNG_H

#include "common.h"
#include "tensor.h"

typedef struct nb_rng nb_rng;

/* CONSTRUCTOR / DESTRUCTOR. nb_rng_free(NULL) is a no-op. */
NB_API nb_rng *nb_rng_new(uint64_t seed);
NB_API void nb_rng_free(nb_rng *rng);
/* Re-seeds the process-wide default generator, used wherever an nb_rng * argument is NULL.
 * It is shared by all threads; give each thread its own nb_rng for reproducible threading. */
NB_API void nb_manual_seed(uint64_t seed);

NB_API uint64_t nb_rng_next(nb_rng *rng);                /* 64 random bits */
NB_API double nb_rng_uniform(nb_rng *rng);               /* [0, 1) */
NB_API double nb_rng_normal(nb_rng *rng);                /* N(0, 1) */
NB_API int64_t nb_rng_int(nb_rng *rng, int64_t low, int64_t high);  /* [low, high) */

/* Tensors of independent draws: uniform on [0, 1), standard normal, integers in [low, high). */
NB_API nb_tensor *nb_rand(nb_rng *rng, nb_dtype dtype, int rank, const int64_t *shape);
NB_API nb_tensor *nb_randn(nb_rng *rng, nb_dtype dtype, int rank, const int64_t *shape);
NB_API nb_tensor *nb_randint(nb_rng *rng, int64_t low, int64_t high, int rank, const int64_t *shape);
/* Uniform on [low, high). */
NB_API nb_tensor *nb_uniform(nb_rng *rng, nb_dtype dtype, int rank, const int64_t *shape,
                             double low, double high);

#endif
