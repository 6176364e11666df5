/* Differentiable operations. Each returns a new tensor owned by the innermost scope, or NULL
 * with nb_error() set. A NULL argument makes the op return NULL and keeps the first error,
 * so a whole expression can be checked once at its end. Binary ops broadcast as NumPy and
 * PyTorch do and require both inputs to have the same dtype (convert with nb_cast).
 * Axis arguments may be negative (counting from the last axis).
 *
 * This header: elementwise arithmetic and math. The other op families have their own:
 * activations.h, reductions.h, linalg.h, shape.h, indexing.h, losses.h; random ops are in rng.h. */
#ifndef NABLA_OPS_H
#define NABLA_OPS_H

#include "common.h"
#include "tensor.h"

/* ---------------------------------------------------------------- binary, broadcasting */
NB_API nb_tensor *nb_add(nb_tensor *x, nb_tensor *y);      /* x + y */
NB_API nb_tensor *nb_sub(nb_tensor *x, nb_tensor *y);      /* x - y */
NB_API nb_tensor *nb_mul(nb_tensor *x, nb_tensor *y);      /* x * y */
NB_API nb_tensor *nb_div(nb_tensor *x, nb_tensor *y);      /* x / y */
NB_API nb_tensor *nb_pow(nb_tensor *x, nb_tensor *y);      /* x ^ y; grad wrt y needs x > 0 */
NB_API nb_tensor *nb_maximum(nb_tensor *x, nb_tensor *y);  /* ties share the gradient equally */
NB_API nb_tensor *nb_minimum(nb_tensor *x, nb_tensor *y);

/* With a scalar; no scalar tensor is allocated. */
NB_API nb_tensor *nb_add_scalar(nb_tensor *x, double s);   /* x + s */
NB_API nb_tensor *nb_mul_scalar(nb_tensor *x, double s);   /* x * s */
NB_API nb_tensor *nb_pow_scalar(nb_tensor *x, double p);   /* x ^ p */
NB_API nb_tensor *nb_rsub_scalar(nb_tensor *x, double s);  /* s - x */

/* Comparisons give masks of 1 and 0 in the inputs' dtype; they are not differentiable. */
NB_API nb_tensor *nb_eq(nb_tensor *x, nb_tensor *y);
NB_API nb_tensor *nb_ne(nb_tensor *x, nb_tensor *y);
NB_API nb_tensor *nb_lt(nb_tensor *x, nb_tensor *y);
NB_API nb_tensor *nb_le(nb_tensor *x, nb_tensor *y);
NB_API nb_tensor *nb_gt(nb_tensor *x, nb_tensor *y);
NB_API nb_tensor *nb_ge(nb_tensor *x, nb_tensor *y);

/* ---------------------------------------------------------------- unary */
NB_API nb_tensor *nb_neg(nb_tensor *x);
NB_API nb_tensor *nb_exp(nb_tensor *x);
NB_API nb_tensor *nb_log(nb_tensor *x);       /* natural logarithm */
NB_API nb_tensor *nb_sqrt(nb_tensor *x);
NB_API nb_tensor *nb_tanh(nb_tensor *x);
NB_API nb_tensor *nb_sigmoid(nb_tensor *x);   /* 1 / (1 + exp(-x)) */
NB_API nb_tensor *nb_abs(nb_tensor *x);       /* gradient sign(x), 0 at 0 */
NB_API nb_tensor *nb_sign(nb_tensor *x);      /* -1, 0 or 1; zero gradient */
NB_API nb_tensor *nb_square(nb_tensor *x);    /* x * x */

/* Fused gradients of the activations, themselves differentiable (used by backward rules). */
NB_API nb_tensor *nb_tanh_backward(nb_tensor *gz, nb_tensor *z);     /* gz * (1 - z^2) */
NB_API nb_tensor *nb_sigmoid_backward(nb_tensor *gz, nb_tensor *z);  /* gz * z * (1 - z) */

/* ---------------------------------------------------------------- call sites (common.h) */
#ifdef NB_CALL_SITES
#define nb_add(...) NB_AT(nb_add(__VA_ARGS__))
#define nb_sub(...) NB_AT(nb_sub(__VA_ARGS__))
#define nb_mul(...) NB_AT(nb_mul(__VA_ARGS__))
#define nb_div(...) NB_AT(nb_div(__VA_ARGS__))
#define nb_pow(...) NB_AT(nb_pow(__VA_ARGS__))
#define nb_maximum(...) NB_AT(nb_maximum(__VA_ARGS__))
#define nb_minimum(...) NB_AT(nb_minimum(__VA_ARGS__))
#define nb_add_scalar(...) NB_AT(nb_add_scalar(__VA_ARGS__))
#define nb_mul_scalar(...) NB_AT(nb_mul_scalar(__VA_ARGS__))
#define nb_pow_scalar(...) NB_AT(nb_pow_scalar(__VA_ARGS__))
#define nb_rsub_scalar(...) NB_AT(nb_rsub_scalar(__VA_ARGS__))
#define nb_neg(...) NB_AT(nb_neg(__VA_ARGS__))
#define nb_exp(...) NB_AT(nb_exp(__VA_ARGS__))
#define nb_log(...) NB_AT(nb_log(__VA_ARGS__))
#define nb_sqrt(...) NB_AT(nb_sqrt(__VA_ARGS__))
#define nb_tanh(...) NB_AT(nb_tanh(__VA_ARGS__))
#define nb_sigmoid(...) NB_AT(nb_sigmoid(__VA_ARGS__))
#define nb_abs(...) NB_AT(nb_abs(__VA_ARGS__))
#define nb_square(...) NB_AT(nb_square(__VA_ARGS__))
#endif

#endif
