/* Tensors: creation, inspection, ownership (scopes and references) and memory statistics.
 *
 * Ownership in one sentence: every function that returns an nb_tensor * returns a new
 * reference owned by the innermost open scope (nb_scope_begin), or by the caller when no
 * scope is open; arguments are borrowed. */
#ifndef NABLA_TENSOR_H
#define NABLA_TENSOR_H

#include <stdio.h>
#include "common.h"

typedef struct nb_tensor nb_tensor;
typedef struct nb_scope nb_scope;

/* Shape literal for the creation functions: nb_zeros(NB_F32, NB_SHAPE(2, 3)). Expands to
 * "rank, shape". A rank-0 tensor is made with nb_scalar(). */
#define NB_SHAPE(...) \
    (int)(sizeof((const int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t)), (const int64_t[]){ __VA_ARGS__ }

/* ---------------------------------------------------------------- creation
 * CONSTRUCTORS. rank is 0..NB_MAX_RANK; shape has rank entries, each >= 0. */

/* Copies numel elements of dtype from data (C order) into a new contiguous tensor. */
NB_API nb_tensor *nb_tensor_from_data(const void *data, nb_dtype dtype, int rank, const int64_t *shape);
/* Wraps caller memory without copying. strides (in elements) may be NULL for C order.
 * deleter(data, user) runs when the last view of the memory is released; it may be NULL
 * when the caller keeps the memory alive longer than every tensor that views it. */
NB_API nb_tensor *nb_tensor_wrap(void *data, nb_dtype dtype, int rank, const int64_t *shape,
                                 const int64_t *strides, void (*deleter)(void *data, void *user),
                                 void *user);
NB_API nb_tensor *nb_empty(nb_dtype dtype, int rank, const int64_t *shape);   /* uninitialised */
NB_API nb_tensor *nb_zeros(nb_dtype dtype, int rank, const int64_t *shape);
NB_API nb_tensor *nb_ones(nb_dtype dtype, int rank, const int64_t *shape);
NB_API nb_tensor *nb_full(nb_dtype dtype, int rank, const int64_t *shape, double value);
NB_API nb_tensor *nb_scalar(nb_dtype dtype, double value);                    /* rank 0 */
NB_API nb_tensor *nb_zeros_like(const nb_tensor *t);
NB_API nb_tensor *nb_ones_like(const nb_tensor *t);
/* start, start + step, ... up to but excluding stop (as numpy.arange). */
NB_API nb_tensor *nb_arange(nb_dtype dtype, double start, double stop, double step);
/* n points from start to stop inclusive. */
NB_API nb_tensor *nb_linspace(nb_dtype dtype, double start, double stop, int64_t n);
/* n x n identity. */
NB_API nb_tensor *nb_eye(nb_dtype dtype, int64_t n);

/* ---------------------------------------------------------------- inspection
 * Borrowed pointers stay valid while t is alive. */
NB_API nb_dtype nb_tensor_dtype(const nb_tensor *t);
NB_API int nb_tensor_rank(const nb_tensor *t);
NB_API const int64_t *nb_tensor_shape(const nb_tensor *t);
NB_API const int64_t *nb_tensor_strides(const nb_tensor *t);     /* in elements */
NB_API int64_t nb_tensor_dim(const nb_tensor *t, int axis);      /* negative axis counts from the end */
NB_API int64_t nb_tensor_numel(const nb_tensor *t);
NB_API bool nb_tensor_is_contiguous(const nb_tensor *t);
/* Address of the first element (storage + offset). Writing through it is allowed only
 * while no graph has saved the tensor; use the _inplace functions to keep versions right. */
NB_API void *nb_tensor_data(const nb_tensor *t);
/* The value of a one-element tensor as double; NAN with nb_error() set otherwise. */
NB_API double nb_tensor_item(const nb_tensor *t);
/* Value at a multi-index (rank entries, negative allowed); NAN with nb_error() set when out of range. */
NB_API double nb_tensor_get(const nb_tensor *t, const int64_t *index);
/* Copies the elements in C order into out, converting to out_dtype. out_count must be >= numel. */
NB_API nb_status nb_tensor_copy_to(const nb_tensor *t, void *out, nb_dtype out_dtype, int64_t out_count);
/* Prints shape, dtype and values (abbreviated past 6 per axis). */
NB_API void nb_tensor_print(const nb_tensor *t, FILE *f);
/* "[2, 3]" into buf; returns buf. */
NB_API char *nb_shape_str(int rank, const int64_t *shape, char *buf, size_t size);

/* ---------------------------------------------------------------- in-place updates
 * They bump the tensor's version, so a backward that saved the old values refuses to run.
 * Under grad mode they refuse a tensor that requires grad (update parameters inside
 * nb_no_grad_begin/end, as optimizers do). */
NB_API nb_status nb_fill_inplace(nb_tensor *t, double value);
/* t = src, broadcasting src to t's shape, converting dtype. */
NB_API nb_status nb_copy_inplace(nb_tensor *t, const nb_tensor *src);

/* ---------------------------------------------------------------- ownership */
/* Opens a scope: tensors created until the matching nb_scope_end belong to it. */
NB_API nb_scope *nb_scope_begin(void);
/* Releases every reference the scope holds, and closes scopes opened after it that are still
 * open (returning NB_ERR_STATE in that case, since it is a bug in the caller). */
NB_API nb_status nb_scope_end(nb_scope *s);
/* Moves t's reference from scope s to the scope that encloses it (or to the caller when s is
 * the outermost scope). Returns t, or NULL with an error when s does not hold t. */
NB_API nb_tensor *nb_scope_keep(nb_scope *s, nb_tensor *t);
/* Adds a reference owned by the caller; returns t. */
NB_API nb_tensor *nb_retain(nb_tensor *t);
/* Drops a reference the caller owns (from nb_retain, nb_scope_keep, or a call made with no
 * scope open). NULL is a no-op. */
NB_API void nb_release(nb_tensor *t);

/* ---------------------------------------------------------------- memory */
typedef struct nb_mem_stats {
    int64_t live_bytes;        /* bytes in tensor storage now */
    int64_t peak_bytes;        /* largest live_bytes so far (see nb_memory_reset_peak) */
    int64_t cached_bytes;      /* freed blocks kept for reuse */
    int64_t allocations;       /* storage allocations requested */
    int64_t cache_hits;        /* of those, served from the cache */
} nb_mem_stats;

NB_API nb_mem_stats nb_memory_stats(void);
NB_API void nb_memory_reset_peak(void);
/* Returns cached blocks to the system. */
NB_API void nb_memory_release_cache(void);

#endif
