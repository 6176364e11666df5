/* Differentiable operations. Each returns a new tensor owned by the innermost scope, or NULL
 * with nb_error() set. A NULL argument makes the op return NULL and keeps the first error,
 * so a whole expression can be checked once at its end. Binary ops broadcast as NumPy and
 * PyTorch do and require both inputs to have the same dtype (convert with nb_cast).
 * Axis arguments may be negative (counting from the last axis). */
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
NB_API nb_tensor *nb_relu(nb_tensor *x);      /* max(x, 0); gradient 0 at 0 */
NB_API nb_tensor *nb_abs(nb_tensor *x);       /* gradient sign(x), 0 at 0 */
NB_API nb_tensor *nb_sign(nb_tensor *x);      /* -1, 0 or 1; zero gradient */
NB_API nb_tensor *nb_square(nb_tensor *x);    /* x * x */

/* Fused gradients of the activations, themselves differentiable (used by backward rules). */
NB_API nb_tensor *nb_tanh_backward(nb_tensor *gz, nb_tensor *z);     /* gz * (1 - z^2) */
NB_API nb_tensor *nb_sigmoid_backward(nb_tensor *gz, nb_tensor *z);  /* gz * z * (1 - z) */
NB_API nb_tensor *nb_relu_backward(nb_tensor *gz, nb_tensor *x);     /* gz * (x > 0) */

/* ---------------------------------------------------------------- reductions
 * axes: n_axes distinct axes; axes == NULL with n_axes == 0 reduces every axis.
 * keepdim keeps reduced axes with size 1. */
NB_API nb_tensor *nb_sum(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
NB_API nb_tensor *nb_mean(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
/* Largest element; the gradient goes to the first largest element of each reduced block. */
NB_API nb_tensor *nb_max(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
NB_API nb_tensor *nb_min(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
/* i64 index of the first largest (smallest) element within each reduced block, counted in
 * C order over the reduced axes. Not differentiable. */
NB_API nb_tensor *nb_argmax(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
NB_API nb_tensor *nb_argmin(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
NB_API nb_tensor *nb_sum_all(nb_tensor *x);    /* rank 0 */
NB_API nb_tensor *nb_mean_all(nb_tensor *x);   /* rank 0 */
/* Sums x down to shape, which x's shape must be a broadcast of: the gradient of expand. */
NB_API nb_tensor *nb_sum_to(nb_tensor *x, int rank, const int64_t *shape);

/* ---------------------------------------------------------------- linear algebra */
/* Matrix product of x [..., m, k] and y [..., k, n], broadcasting the leading (batch) axes.
 * 1-D operands follow PyTorch: [k] @ [k, n] -> [n], [m, k] @ [k] -> [m], [k] @ [k] -> [].
 * Transposed views go to BLAS as flags, without copies.
 * Grad: gx = gz @ y^T, gy = x^T @ gz. */
NB_API nb_tensor *nb_matmul(nb_tensor *x, nb_tensor *y);

/* ---------------------------------------------------------------- shape (views, no copies)
 * Views share storage with x: an in-place change to one is seen by the other. */
/* New shape with the same number of elements; one entry may be -1. A view when the strides
 * allow it, otherwise a contiguous copy (as torch.reshape). */
NB_API nb_tensor *nb_reshape(nb_tensor *x, int rank, const int64_t *shape);
NB_API nb_tensor *nb_transpose(nb_tensor *x, int axis0, int axis1);
NB_API nb_tensor *nb_permute(nb_tensor *x, const int *perm);   /* perm has rank(x) entries */
/* Elements start, start+step, ... < stop along axis; negative start/stop count from the end
 * and both are clamped to the axis as in Python. step >= 1. */
NB_API nb_tensor *nb_slice(nb_tensor *x, int axis, int64_t start, int64_t stop, int64_t step);
/* Broadcasts size-1 axes (and new leading axes) to shape; -1 keeps an axis' size. */
NB_API nb_tensor *nb_expand(nb_tensor *x, int rank, const int64_t *shape);
NB_API nb_tensor *nb_squeeze(nb_tensor *x, int axis);      /* axis must have size 1 */
NB_API nb_tensor *nb_unsqueeze(nb_tensor *x, int axis);    /* axis in [-rank-1, rank] */
NB_API nb_tensor *nb_flatten(nb_tensor *x, int start_axis, int end_axis);
/* x itself (a new reference) when already contiguous, else a contiguous copy. */
NB_API nb_tensor *nb_contiguous(nb_tensor *x);
NB_API nb_tensor *nb_clone(nb_tensor *x);                  /* always a fresh copy */
/* Converts the dtype; differentiable between f32 and f64. */
NB_API nb_tensor *nb_cast(nb_tensor *x, nb_dtype dtype);

/* ---------------------------------------------------------------- call sites
 * Each op records the file and line it was called from, for anomaly mode's reports. The
 * macros below pass them in; they cost two stores per call. Define NB_NO_CALL_SITES before
 * including nabla.h to call the plain functions. */
NB_API void nb_set_call_site(const char *file, int line);
#if !defined(NB_NO_CALL_SITES) && !defined(NB_BUILDING_LIBRARY)
#define NB_AT(call) (nb_set_call_site(__FILE__, __LINE__), call)
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
#define nb_relu(...) NB_AT(nb_relu(__VA_ARGS__))
#define nb_abs(...) NB_AT(nb_abs(__VA_ARGS__))
#define nb_square(...) NB_AT(nb_square(__VA_ARGS__))
#define nb_sum(...) NB_AT(nb_sum(__VA_ARGS__))
#define nb_mean(...) NB_AT(nb_mean(__VA_ARGS__))
#define nb_max(...) NB_AT(nb_max(__VA_ARGS__))
#define nb_min(...) NB_AT(nb_min(__VA_ARGS__))
#define nb_sum_all(...) NB_AT(nb_sum_all(__VA_ARGS__))
#define nb_mean_all(...) NB_AT(nb_mean_all(__VA_ARGS__))
#define nb_matmul(...) NB_AT(nb_matmul(__VA_ARGS__))
#define nb_reshape(...) NB_AT(nb_reshape(__VA_ARGS__))
#define nb_transpose(...) NB_AT(nb_transpose(__VA_ARGS__))
#define nb_slice(...) NB_AT(nb_slice(__VA_ARGS__))
#define nb_cast(...) NB_AT(nb_cast(__VA_ARGS__))
#endif

#endif
