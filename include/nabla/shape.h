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

/* ---------------------------------------------------------------- joining and splitting
 * xs is an array of n tensors of one float dtype; n may run to thousands. */
/* z = the inputs laid end to end along axis; shapes must match on every other axis. A copy.
 * Grad: input i gets its window of gz along axis (a view, no copy). */
NB_API nb_tensor *nb_cat(nb_tensor *const *xs, int n, int axis);
/* z[..., i, ...] = xs[i]: inputs of one shape joined along a new axis (in [-rank-1, rank]).
 * Grad: input i gets gz at index i of axis (a view). */
NB_API nb_tensor *nb_stack(nb_tensor *const *xs, int n, int axis);
/* Cuts x along axis into n consecutive pieces of the given sizes, which must add up to the
 * axis' size (torch.split with a list), written to out as views. Returns NB_OK, or an error
 * with out[0..n-1] all NULL. Grad: through nb_slice. */
NB_API nb_status nb_split(nb_tensor *x, int axis, const int64_t *sizes, int n, nb_tensor **out);
/* torch.chunk: pieces of ceil(size / chunks) along axis (the last one may be smaller, and
 * there may be fewer than chunks of them; an empty axis gives chunks empty pieces), written
 * to out (chunks entries, the unused ones NULL) as views. Returns the number of pieces, or
 * 0 with nb_error() set. */
NB_API int nb_chunk(nb_tensor *x, int chunks, int axis, nb_tensor **out);
/* Splits axis into n axes of the given sizes, whose product must be the axis' size (one
 * size may be -1: inferred). The inverse of nb_flatten; a view when nb_reshape gives one. */
NB_API nb_tensor *nb_unflatten(nb_tensor *x, int axis, const int64_t *sizes, int n);

/* ---------------------------------------------------------------- rearranging (copies) */
typedef enum nb_pad_mode {
    NB_PAD_CONSTANT,     /* fill with a value */
    NB_PAD_REFLECT,      /* mirror at the edge, the edge itself not repeated: 2 1 | 0 1 2 3 | 2 1 */
    NB_PAD_REPLICATE,    /* repeat the edge: 0 0 | 0 1 2 3 | 3 3 */
} nb_pad_mode;
/* Pads as torch.nn.functional.pad: pads holds n_pads amounts (even, at most 2 x rank), the
 * last axis first: (before, after) of the last axis, then of the axis before it, ...
 * Constant amounts may be negative (crop). Reflect amounts must be below the axis' size;
 * replicate needs a non-empty axis. Unlike PyTorch, reflect and replicate pad any number of
 * axes of a tensor of any rank.
 * Grad: constant: gz without the padding (a view); reflect, replicate: pad_backward, which
 * adds the gradient of every copy of an element into that element. */
NB_API nb_tensor *nb_pad(nb_tensor *x, const int64_t *pads, int n_pads, nb_pad_mode mode, double value);
/* Reverses the order along each of the n_axes axes (none when n_axes is 0); a copy.
 * Grad: flip(gz, axes). */
NB_API nb_tensor *nb_flip(nb_tensor *x, const int *axes, int n_axes);
/* Rotates by shifts[i] along axes[i]: z[(j + s) mod size] = x[j]; an axis given twice adds
 * its shifts. With axes NULL (and n 1), rolls x flattened and restores its shape (torch.roll
 * without dims). Grad: roll(gz, -shifts). */
NB_API nb_tensor *nb_roll(nb_tensor *x, const int64_t *shifts, const int *axes, int n);
/* torch.Tensor.repeat: x tiled repeats[i] times along axis i; n must be at least rank(x),
 * and x gains leading axes of size 1 up to rank n. Grad: gz summed over the tiles. */
NB_API nb_tensor *nb_repeat(nb_tensor *x, const int64_t *repeats, int n);
/* numpy.tile and torch.tile: nb_repeat after left-padding repeats with 1s to rank(x) (a
 * longer repeats gives x leading axes of size 1, as in nb_repeat). */
NB_API nb_tensor *nb_tile(nb_tensor *x, const int64_t *repeats, int n);
/* Triangles of the matrices in the last two axes: tril keeps x[..., i, j] with j - i <= k,
 * triu those with j - i >= k; the rest become 0. k = 0 is the main diagonal.
 * Grad: the same triangle of gz. */
NB_API nb_tensor *nb_tril(nb_tensor *x, int64_t k);
NB_API nb_tensor *nb_triu(nb_tensor *x, int64_t k);
/* The diagonal x[..., i, ..., i + offset, ...] of the planes of axis1 (rows) and axis2
 * (columns), offset > 0 above the main diagonal, < 0 below: a view with axis1 and axis2
 * removed and the diagonal as the last axis (as torch.diagonal).
 * Grad: diagonal_backward, gz placed on the diagonal of zeros. */
NB_API nb_tensor *nb_diagonal(nb_tensor *x, int64_t offset, int axis1, int axis2);

#ifdef NB_CALL_SITES
#define nb_reshape(...) NB_AT(nb_reshape(__VA_ARGS__))
#define nb_transpose(...) NB_AT(nb_transpose(__VA_ARGS__))
#define nb_slice(...) NB_AT(nb_slice(__VA_ARGS__))
#define nb_cast(...) NB_AT(nb_cast(__VA_ARGS__))
#define nb_cat(...) NB_AT(nb_cat(__VA_ARGS__))
#define nb_stack(...) NB_AT(nb_stack(__VA_ARGS__))
#define nb_split(...) NB_AT(nb_split(__VA_ARGS__))
#define nb_chunk(...) NB_AT(nb_chunk(__VA_ARGS__))
#define nb_unflatten(...) NB_AT(nb_unflatten(__VA_ARGS__))
#define nb_pad(...) NB_AT(nb_pad(__VA_ARGS__))
#define nb_flip(...) NB_AT(nb_flip(__VA_ARGS__))
#define nb_roll(...) NB_AT(nb_roll(__VA_ARGS__))
#define nb_repeat(...) NB_AT(nb_repeat(__VA_ARGS__))
#define nb_tile(...) NB_AT(nb_tile(__VA_ARGS__))
#define nb_tril(...) NB_AT(nb_tril(__VA_ARGS__))
#define nb_triu(...) NB_AT(nb_triu(__VA_ARGS__))
#define nb_diagonal(...) NB_AT(nb_diagonal(__VA_ARGS__))
#endif

#endif
