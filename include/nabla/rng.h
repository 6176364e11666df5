/* Seeded random numbers and random ops. The same seed gives the same numbers on every
 * machine and for every thread count: a generator is sequential (xoshiro256** seeded through
 * splitmix64), and random ops draw one 64-bit key from it, from which each element's draw is
 * computed independently of the others (so parallel kernels cannot change the result). */
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

/* ---------------------------------------------------------------- in-place fills
 * t's elements, in C order whatever its strides, get the draws that nb_randn / nb_uniform
 * would make from the same generator state. Like nb_fill_inplace they bump t's version and
 * refuse a tensor that requires grad while grad mode is on; they also refuse integer
 * tensors and expanded ones (elements sharing memory). */
NB_API nb_status nb_normal_inplace(nb_tensor *t, double mean, double std, nb_rng *rng);   /* N(mean, std^2) */
NB_API nb_status nb_uniform_inplace(nb_tensor *t, double low, double high, nb_rng *rng);  /* [low, high) */

/* ---------------------------------------------------------------- random ops
 * Conventions of ops.h apply. A NULL rng means the default generator. */

/* Inverted dropout: in training, z = x * m / (1 - p) with m[i] = 0 with probability p, else 1;
 * the identity (x itself) when !training or p = 0; zeros (x * 0) when p = 1, as PyTorch.
 * The mask is drawn once, from one key taken from rng, and saved: grad dx = gz * m / (1 - p). */
NB_API nb_tensor *nb_dropout(nb_tensor *x, double p, bool training, nb_rng *rng);
/* z[i] = 1 with probability p[i], else 0, in p's dtype; p in [0, 1]. Not differentiable. */
NB_API nb_tensor *nb_bernoulli(nb_tensor *p, nb_rng *rng);

#ifdef NB_CALL_SITES
#define nb_dropout(...) NB_AT(nb_dropout(__VA_ARGS__))
#define nb_bernoulli(...) NB_AT(nb_bernoulli(__VA_ARGS__))
#endif

#endif
