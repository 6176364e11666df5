/* The one N-d strided iterator that kernels share (internal).
 *
 * Several operands of one logical shape, each with its own strides (0 for broadcast axes),
 * are walked together. Axes of size 1 are dropped and neighbouring axes that are contiguous
 * for every operand are merged, so that a contiguous tensor is a single row and a
 * broadcast row-plus-matrix is rows of one length. Kernels then loop over rows, each row a
 * simple strided 1-D loop that the compiler can vectorise when the strides are 1 or 0. */
#ifndef NABLA_CORE_ITER_H
#define NABLA_CORE_ITER_H

#include "nabla/common.h"

#define NBI_ITER_MAX_OPS 4

typedef struct nbi_iter {
    int rank;                     /* >= 1 after merging */
    int n_ops;
    int64_t shape[NB_MAX_RANK];
    int64_t strides[NBI_ITER_MAX_OPS][NB_MAX_RANK];
    int64_t rows;                 /* product of all axes but the last */
    int64_t inner;                /* size of the last axis: the length of each row */
} nbi_iter;

/* strides[k] are operand k's strides for shape (rank entries each). */
void nbi_iter_init(nbi_iter *it, int rank, const int64_t *shape, int n_ops,
                   const int64_t *const *strides);

/* The iteration of n_ops contiguous operands of n elements: one row. Cheaper than
 * nbi_iter_init when the caller knows the operands are contiguous and of one shape. */
void nbi_iter_flat(nbi_iter *it, int64_t n, int n_ops);

/* Position of one row: the element offset of its first element, per operand. */
typedef struct nbi_cursor {
    int64_t index[NB_MAX_RANK];
    int64_t offset[NBI_ITER_MAX_OPS];
} nbi_cursor;

void nbi_cursor_seek(const nbi_iter *it, nbi_cursor *c, int64_t row);
void nbi_cursor_next(const nbi_iter *it, nbi_cursor *c);

/* Calls row(ctx, offsets, inner_strides, n) for every row, in parallel over blocks of rows
 * when the iteration is large enough (see threads.h). Rows never overlap between threads,
 * so kernels that write their own row are race-free and deterministic. */
typedef void (*nbi_row_fn)(void *ctx, const int64_t *offset, const int64_t *inner_strides, int64_t n);
void nbi_iter_run(const nbi_iter *it, nbi_row_fn row, void *ctx);

#endif
