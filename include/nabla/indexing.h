/* Indexing: selecting, gathering and scattering by index tensors, masks and one-hot.
 * Conventions of ops.h apply (ownership, errors, NULL propagation, negative axes).
 *
 * Indices are i64 tensors and are not differentiable; gradients flow to the data inputs.
 * Every index is checked before anything is written: one outside [0, size) fails with a
 * message naming the function, the index, its position and the valid range. Negative
 * indices are refused, not counted from the end (as PyTorch's index_select and gather).
 * Masks have the data's dtype or i64; nonzero means true. The semantics are PyTorch's.
 * One-hot encoding is nb_one_hot in data.h. */
#ifndef NABLA_INDEXING_H
#define NABLA_INDEXING_H

#include "common.h"
#include "tensor.h"

/* ---------------------------------------------------------------- rows along an axis */

/* z[..., i, ...] = x[..., index[i], ...] along axis; index is a vector (or rank 0: one index)
 * and z has x's shape with len(index) along axis.
 * Grad: dx = index_add(zeros like x, axis, index, gz), rows picked twice get both. */
NB_API nb_tensor *nb_index_select(nb_tensor *x, int axis, nb_tensor *index);
/* z = x, then z[..., index[i], ...] += src[..., i, ...] for each i (repeats add up); src has
 * x's shape with len(index) along axis.
 * Grad: dx = gz, dsrc = index_select(gz, axis, index). */
NB_API nb_tensor *nb_index_add(nb_tensor *x, int axis, nb_tensor *index, nb_tensor *src);

/* x[index] for an index of any shape: z[p, ...] = x[index[p], ...], of shape
 * index.shape + x.shape[1:].
 * Grad: dx = rows of gz added into zeros at the indices (index_add on axis 0). */
NB_API nb_tensor *nb_index_rows(nb_tensor *x, nb_tensor *index);
/* Embedding lookup: weight [num_embeddings, dim], indices of any shape -> [..., dim], row
 * indices[p] of weight (nb_index_rows). Along axis 0 of a contiguous table each row is one
 * memcpy, and the gradient one vector add per index.
 * Grad: dweight[k] = sum of gz[p] over the p with indices[p] == k. */
NB_API nb_tensor *nb_embedding(nb_tensor *weight, nb_tensor *indices);
/* x[mask] for a vector mask of x's first size: the rows where mask is nonzero, in order,
 * shape [count, x.shape[1:]].
 * Grad: dx = gz's rows at the kept rows, zeros elsewhere. */
NB_API nb_tensor *nb_mask_rows(nb_tensor *x, nb_tensor *mask);

/* ---------------------------------------------------------------- gather and scatter
 * index has x's rank and is no larger than x on every axis but axis; on axis 1 of a matrix,
 * position (i, j) of index refers to element (i, index[i][j]) of x. */

/* z[i][j] = x[i][index[i][j]] (axis 1); z has index's shape.
 * Grad: dx = scatter_add(zeros like x, axis, index, gz). */
NB_API nb_tensor *nb_gather(nb_tensor *x, int axis, nb_tensor *index);
/* numpy.take_along_axis, in numpy's argument order: gather after broadcasting x and index
 * against each other on every axis but axis (as views).
 * Grad: that of gather, summed over the axes along which x was broadcast. */
NB_API nb_tensor *nb_take_along_axis(nb_tensor *x, nb_tensor *index, int axis);
/* z = x, then z[i][index[i][j]] += src[i][j] (axis 1) for every position of index (repeats
 * add up). src has index's shape or is larger on some axes (only its leading part is read).
 * Grad: dx = gz, dsrc = gather(gz, axis, index) (zero outside the part read). */
NB_API nb_tensor *nb_scatter_add(nb_tensor *x, int axis, nb_tensor *index, nb_tensor *src);
/* z = x, then z[i][index[i][j]] = src[i][j] (axis 1); where positions repeat, the last one in
 * C order of index wins (PyTorch leaves that unspecified). src as for nb_scatter_add.
 * Grad: dx = gz with zeros where src was written, dsrc = gather(gz, axis, index) (as PyTorch:
 * exact when no position is written twice). */
NB_API nb_tensor *nb_scatter(nb_tensor *x, int axis, nb_tensor *index, nb_tensor *src);

/* ---------------------------------------------------------------- masks */

/* z = value where mask is nonzero, x elsewhere; x and mask broadcast together.
 * Grad: dx = gz with zeros where mask is nonzero (summed where x was broadcast). */
NB_API nb_tensor *nb_masked_fill(nb_tensor *x, nb_tensor *mask, double value);
/* The elements of x where mask is nonzero, as a vector in C order; x and mask broadcast
 * together. The length depends on the mask's values.
 * Grad: dx = gz placed back at those positions, zeros elsewhere (summed where x was broadcast). */
NB_API nb_tensor *nb_masked_select(nb_tensor *x, nb_tensor *mask);

/* ---------------------------------------------------------------- call sites (common.h) */
#ifdef NB_CALL_SITES
#define nb_index_select(...) NB_AT(nb_index_select(__VA_ARGS__))
#define nb_index_add(...) NB_AT(nb_index_add(__VA_ARGS__))
#define nb_index_rows(...) NB_AT(nb_index_rows(__VA_ARGS__))
#define nb_embedding(...) NB_AT(nb_embedding(__VA_ARGS__))
#define nb_mask_rows(...) NB_AT(nb_mask_rows(__VA_ARGS__))
#define nb_gather(...) NB_AT(nb_gather(__VA_ARGS__))
#define nb_take_along_axis(...) NB_AT(nb_take_along_axis(__VA_ARGS__))
#define nb_scatter_add(...) NB_AT(nb_scatter_add(__VA_ARGS__))
#define nb_scatter(...) NB_AT(nb_scatter(__VA_ARGS__))
#define nb_masked_fill(...) NB_AT(nb_masked_fill(__VA_ARGS__))
#define nb_masked_select(...) NB_AT(nb_masked_select(__VA_ARGS__))
#endif

#endif
