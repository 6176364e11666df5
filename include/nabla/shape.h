/* Shape ops: views that copy nothing, and copies. Conventions of ops.h apply. */
#ifndef NABLA_SHAPE_H
#define NABLA_SHAPE_H

#include "common.h"
#include "tensor.h"

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

#ifdef NB_CALL_SITES
#define nb_reshape(...) NB_AT(nb_reshape(__VA_ARGS__))
#define nb_transpose(...) NB_AT(nb_transpose(__VA_ARGS__))
#define nb_slice(...) NB_AT(nb_slice(__VA_ARGS__))
#define nb_cast(...) NB_AT(nb_cast(__VA_ARGS__))
#endif

#endif
