/* Kernels of the indexing ops in ops/index.c (internal). Raw loops only: every index is
 * checked by the op's shape rule (nbk_find_bad_index) before a kernel runs, so kernels
 * trust their indices. Axes are normalised (0 <= axis < rank); outputs are contiguous. */
#ifndef NABLA_OPS_KERNELS_INDEX_H
#define NABLA_OPS_KERNELS_INDEX_H

#include "nabla/op_def.h"

/* The first element of the i64 tensor index (C order) outside [0, limit): true with its
 * value and its flat C-order position, false when every element is in range. */
bool nbk_find_bad_index(const nb_tensor *index, int64_t limit, int64_t *value, int64_t *position);
/* Largest element of a non-empty i64 tensor. */
int64_t nbk_max_index(const nb_tensor *index);
/* Nonzero elements of mask (f32, f64 or i64) broadcast to (rank, shape). */
int64_t nbk_count_nonzero(const nb_tensor *mask, int rank, const int64_t *shape);

/* z[..., i, ...] = x[..., index[i], ...] along axis; index has rank 0 or 1. */
void nbk_index_select(const nb_tensor *x, const nb_tensor *index, nb_tensor *z, int axis);
/* z = x, then z[..., index[i], ...] += src[..., i, ...] for i in order. Needs scratch memory
 * when it runs on several threads: NB_ERR_MEMORY (error set) when that fails. */
nb_status nbk_index_add(const nb_tensor *x, const nb_tensor *index, const nb_tensor *src, nb_tensor *z, int axis);
/* z[p] = x[p with its axis coordinate replaced by index[p]]; z has index's shape. */
void nbk_gather(const nb_tensor *x, const nb_tensor *index, nb_tensor *z, int axis);
/* z = x, then z[p with axis coordinate index[p]] += src[p] (accumulate) or = src[p] (the
 * last p in C order wins) for every position p of index; src has index's shape. */
void nbk_scatter(const nb_tensor *x, const nb_tensor *index, const nb_tensor *src, nb_tensor *z, int axis,
                 bool accumulate);
/* z = x where mask is zero, value where it is not; x and mask broadcast to z's shape. */
void nbk_masked_fill(const nb_tensor *x, const nb_tensor *mask, nb_tensor *z, double value);
/* z (1-D) = the elements of x where mask is nonzero, both broadcast to (rank, shape), in C order. */
void nbk_masked_select(const nb_tensor *x, const nb_tensor *mask, nb_tensor *z, int rank, const int64_t *shape);
/* The transpose of masked_select: z (of its own shape, mask broadcast to it) is zero where
 * mask is zero and takes g's elements in order where it is not. */
void nbk_masked_place(const nb_tensor *g, const nb_tensor *mask, nb_tensor *z);
/* z[..., c] = (index[...] == c) in z's dtype (f32, f64 or i64). */
void nbk_one_hot(const nb_tensor *index, nb_tensor *z);

#endif
