/* The shared N-d strided iterator (see iter.h). */
#include <string.h>

#include "core/iter.h"
#include "core/threads.h"

void nbi_iter_init(nbi_iter *it, int rank, const int64_t *shape, int n_ops,
                   const int64_t *const *strides)
{
    it->n_ops = n_ops;
    int r = 0;
    bool empty = false;
    for (int d = 0; d < rank; d++) {
        if (shape[d] == 0)
            empty = true;
        if (shape[d] == 1)
            continue;
        /* Merge into the previous kept axis when every operand steps through both as one. */
        bool merge = r > 0;
        for (int k = 0; k < n_ops && merge; k++)
            merge = strides[k][d] * shape[d] == it->strides[k][r - 1];
        if (merge) {
            it->shape[r - 1] *= shape[d];
            for (int k = 0; k < n_ops; k++)
                it->strides[k][r - 1] = strides[k][d];
            continue;
        }
        it->shape[r] = shape[d];
        for (int k = 0; k < n_ops; k++)
            it->strides[k][r] = strides[k][d];
        r++;
    }
    if (r == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < n_ops; k++)
            it->strides[k][0] = 0;
        r = 1;
    }
    it->rank = r;
    it->inner = empty ? 0 : it->shape[r - 1];
    it->rows = 1;
    for (int d = 0; d < r - 1; d++)
        it->rows *= it->shape[d];
    if (empty)
        it->rows = 0;
}

void nbi_iter_flat(nbi_iter *it, int64_t n, int n_ops)
{
    it->rank = 1;
    it->n_ops = n_ops;
    it->shape[0] = n;
    for (int k = 0; k < n_ops; k++)
        it->strides[k][0] = 1;
    it->rows = n ? 1 : 0;
    it->inner = n;
}

void nbi_cursor_seek(const nbi_iter *it, nbi_cursor *c, int64_t row)
{
    memset(c->offset, 0, sizeof c->offset);
    for (int d = it->rank - 2; d >= 0; d--) {
        c->index[d] = row % it->shape[d];
        row /= it->shape[d];
        for (int k = 0; k < it->n_ops; k++)
            c->offset[k] += c->index[d] * it->strides[k][d];
    }
}

void nbi_cursor_next(const nbi_iter *it, nbi_cursor *c)
{
    for (int d = it->rank - 2; d >= 0; d--) {
        if (++c->index[d] < it->shape[d]) {
            for (int k = 0; k < it->n_ops; k++)
                c->offset[k] += it->strides[k][d];
            return;
        }
        c->index[d] = 0;
        for (int k = 0; k < it->n_ops; k++)
            c->offset[k] -= (it->shape[d] - 1) * it->strides[k][d];
    }
}

static void run_rows(const nbi_iter *it, nbi_row_fn row, void *ctx, int64_t begin, int64_t end)
{
    int64_t inner_strides[NBI_ITER_MAX_OPS];
    for (int k = 0; k < it->n_ops; k++)
        inner_strides[k] = it->strides[k][it->rank - 1];
    nbi_cursor c;
    nbi_cursor_seek(it, &c, begin);
    for (int64_t r = begin; r < end; r++) {
        row(ctx, c.offset, inner_strides, it->inner);
        nbi_cursor_next(it, &c);
    }
}

void nbi_iter_run(const nbi_iter *it, nbi_row_fn row, void *ctx)
{
    int64_t rows = it->rows;
    if (rows == 0 || it->inner == 0)
        return;
    int threads = nbi_threads_for(rows * it->inner);
    if (threads <= 1 || rows == 1) {
        /* One long row (a contiguous tensor) is split into pieces instead. */
        if (rows == 1 && threads > 1) {
            int64_t n = it->inner;
            #pragma omp parallel for num_threads(threads) schedule(static)
            for (int t = 0; t < threads; t++) {
                int64_t b = n * t / threads, e = n * (t + 1) / threads;
                int64_t offset[NBI_ITER_MAX_OPS], inner_strides[NBI_ITER_MAX_OPS];
                for (int k = 0; k < it->n_ops; k++) {
                    inner_strides[k] = it->strides[k][it->rank - 1];
                    offset[k] = b * inner_strides[k];
                }
                if (e > b)
                    row(ctx, offset, inner_strides, e - b);
            }
            return;
        }
        run_rows(it, row, ctx, 0, rows);
        return;
    }
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; t++)
        run_rows(it, row, ctx, rows * t / threads, rows * (t + 1) / threads);
}
