/* Shape arithmetic: sizes, strides, broadcasting, axes, view strides (internal). */
#ifndef NABLA_CORE_SHAPE_H
#define NABLA_CORE_SHAPE_H

#include <stdbool.h>
#include <stdint.h>
#include "nabla/common.h"

int64_t nbi_numel(int rank, const int64_t *shape);
/* True when every size is >= 0 and the element count stays within 2^58 (the limit of the
 * creation functions), so that nbi_numel cannot overflow. */
bool nbi_valid_sizes(int rank, const int64_t *shape);
/* C-order strides of shape, in elements. */
void nbi_contiguous_strides(int rank, const int64_t *shape, int64_t *strides);
/* NumPy broadcasting of a and b into out (rank max(ra, rb)). False when some pair of
 * sizes is neither equal nor 1; *bad_dim is then the offending axis counted from the end (-1, -2, ...). */
bool nbi_broadcast_shapes(int ra, const int64_t *a, int rb, const int64_t *b,
                          int *rank, int64_t *out, int *bad_dim);
/* Strides that read a tensor of (rank, shape, strides) as if broadcast to (out_rank, out_shape):
 * 0 along new leading axes and along axes of size 1 that were stretched. */
void nbi_broadcast_strides(int rank, const int64_t *shape, const int64_t *strides,
                           int out_rank, const int64_t *out_shape, int64_t *out_strides);
/* Maps a possibly negative axis into [0, rank); false when out of range. */
bool nbi_axis(int axis, int rank, int *out);
/* Strides that make (new_rank, new_shape) a view of a tensor with (rank, shape, strides),
 * when one exists (as torch's view); false when the data must be copied. */
bool nbi_view_strides(int rank, const int64_t *shape, const int64_t *strides,
                      int new_rank, const int64_t *new_shape, int64_t *new_strides);
bool nbi_same_shape(int ra, const int64_t *a, int rb, const int64_t *b);

#endif
