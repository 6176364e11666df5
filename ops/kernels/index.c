/* Kernels of the indexing ops: picking rows, gathering, scattering, masks and one-hot
 * (declared in ops/kernels/index.h). Raw loops only.
 *
 * Rows are moved whole: a row is everything after the indexed axis, and when it is
 * contiguous in both tensors it is one memcpy (index_select along axis 0 of an embedding
 * table) or one vectorised add (its gradient). Determinism (DESIGN §8): work is split by
 * output rows or fibers, never by the index, so each output element is written by one
 * thread, and sums run in index order: results are bit-identical for any thread count. */
#include <string.h>

#include "core/alloc.h"
#include "core/iter.h"
#include "core/tensor_impl.h"
#include "core/threads.h"
#include "ops/kernels/index.h"

/* Offset of position o (C order over the n axes of shape) through strides. */
static int64_t offset_of(int n, const int64_t *shape, const int64_t *strides, int64_t o)
{
    int64_t off = 0;
    for (int d = n - 1; d >= 0; d--) {
        off += (o % shape[d]) * strides[d];
        o /= shape[d];
    }
    return off;
}

static bool nonzero_at(const char *m, nb_dtype dtype, int64_t off)
{
    switch (dtype) {
    case NB_F32:
        return ((const float *)m)[off] != 0;   /* NaN counts as true, as in PyTorch's bool() */
    case NB_F64:
        return ((const double *)m)[off] != 0;
    default:
        return ((const int64_t *)m)[off] != 0;
    }
}

/* ---------------------------------------------------------------- index checks */

bool nbk_find_bad_index(const nb_tensor *index, int64_t limit, int64_t *value, int64_t *position)
{
    nbi_iter it;
    nbi_iter_init(&it, index->rank, index->shape, 1, (const int64_t *const[]){ index->strides });
    if (it.rows == 0 || it.inner == 0)
        return false;
    const int64_t *id = (const int64_t *)nbi_data(index);
    int64_t s = it.strides[0][it.rank - 1], p = 0;
    nbi_cursor c;
    nbi_cursor_seek(&it, &c, 0);
    for (int64_t r = 0; r < it.rows; r++, nbi_cursor_next(&it, &c))
        for (int64_t k = 0; k < it.inner; k++, p++) {
            int64_t v = id[c.offset[0] + k * s];
            if ((uint64_t)v >= (uint64_t)limit) {   /* one test for v < 0 and v >= limit */
                *value = v;
                *position = p;
                return true;
            }
        }
    return false;
}

int64_t nbk_max_index(const nb_tensor *index)
{
    nbi_iter it;
    nbi_iter_init(&it, index->rank, index->shape, 1, (const int64_t *const[]){ index->strides });
    const int64_t *id = (const int64_t *)nbi_data(index);
    int64_t s = it.strides[0][it.rank - 1], best = INT64_MIN;
    nbi_cursor c;
    nbi_cursor_seek(&it, &c, 0);
    for (int64_t r = 0; r < it.rows; r++, nbi_cursor_next(&it, &c))
        for (int64_t k = 0; k < it.inner; k++)
            if (id[c.offset[0] + k * s] > best)
                best = id[c.offset[0] + k * s];
    return best;
}

/* Nonzero elements of operand k (a mask of dtype) in rows [begin, end) of it. */
static int64_t count_rows(const nbi_iter *it, int k, const char *m, nb_dtype dtype, int64_t begin, int64_t end)
{
    if (begin >= end || it->inner == 0)
        return 0;
    int64_t s = it->strides[k][it->rank - 1], count = 0;
    nbi_cursor c;
    nbi_cursor_seek(it, &c, begin);
    for (int64_t r = begin; r < end; r++, nbi_cursor_next(it, &c))
        for (int64_t i = 0; i < it->inner; i++)
            count += nonzero_at(m, dtype, c.offset[k] + i * s);
    return count;
}

int64_t nbk_count_nonzero(const nb_tensor *mask, int rank, const int64_t *shape)
{
    int64_t ms[NB_MAX_RANK];
    nbi_broadcast_strides(mask->rank, mask->shape, mask->strides, rank, shape, ms);
    nbi_iter it;
    nbi_iter_init(&it, rank, shape, 1, (const int64_t *const[]){ ms });
    return count_rows(&it, 0, nbi_data(mask), mask->dtype, 0, it.rows);
}

/* ---------------------------------------------------------------- moving rows */

/* The axes after the indexed one, in a destination (contiguous) and a source (any strides). */
typedef struct row_pair {
    nbi_iter it;
    int64_t numel;
    bool flat;      /* both step by one element throughout: one run of numel elements */
} row_pair;

static void row_pair_init(row_pair *rp, int rank, const int64_t *shape, const int64_t *dst_strides,
                          const int64_t *src_strides)
{
    nbi_iter_init(&rp->it, rank, shape, 2, (const int64_t *const[]){ dst_strides, src_strides });
    int last = rp->it.rank - 1;
    rp->numel = nbi_numel(rank, shape);
    rp->flat = rp->it.rows == 1
               && (rp->it.inner == 1 || (rp->it.strides[0][last] == 1 && rp->it.strides[1][last] == 1));
}

/* Runs STATEMENT for every element of a strided row pair, with d_ and s_ the element's
 * offsets in the destination and the source. */
#define STRIDED_ROW(rp, STATEMENT)                                                          \
    do {                                                                                    \
        int last_ = (rp)->it.rank - 1;                                                      \
        int64_t sd_ = (rp)->it.strides[0][last_], ss_ = (rp)->it.strides[1][last_];         \
        nbi_cursor c_;                                                                      \
        nbi_cursor_seek(&(rp)->it, &c_, 0);                                                 \
        for (int64_t r_ = 0; r_ < (rp)->it.rows; r_++, nbi_cursor_next(&(rp)->it, &c_))     \
            for (int64_t k_ = 0; k_ < (rp)->it.inner; k_++) {                               \
                int64_t d_ = c_.offset[0] + k_ * sd_, s_ = c_.offset[1] + k_ * ss_;         \
                STATEMENT;                                                                  \
            }                                                                               \
    } while (0)

/* dst row = src row (a single element when the indexed axis is the last), and += */
#define ROW_MOVES(sfx, T)                                                                   \
    static void copy_row_##sfx(const row_pair *rp, T *dst, const T *src)                    \
    {                                                                                       \
        if (rp->flat && rp->numel == 1)                                                     \
            *dst = *src;                                                                    \
        else if (rp->flat)                                                                  \
            memcpy(dst, src, (size_t)rp->numel * sizeof(T));                                \
        else                                                                                \
            STRIDED_ROW(rp, dst[d_] = src[s_]);                                             \
    }                                                                                       \
    static void add_row_##sfx(const row_pair *rp, T *dst, const T *src)                     \
    {                                                                                       \
        if (rp->flat) {                                                                     \
            for (int64_t k = 0; k < rp->numel; k++)                                         \
                dst[k] += src[k];                                                           \
        } else {                                                                            \
            STRIDED_ROW(rp, dst[d_] += src[s_]);                                            \
        }                                                                                   \
    }
ROW_MOVES(f32, float)
ROW_MOVES(f64, double)

/* The same on byte pointers, in the dtype of both (f32 or f64). */
static void copy_row(const row_pair *rp, char *dst, const char *src, nb_dtype dtype)
{
    if (dtype == NB_F32)
        copy_row_f32(rp, (float *)dst, (const float *)src);
    else
        copy_row_f64(rp, (double *)dst, (const double *)src);
}

static void add_row(const row_pair *rp, char *dst, const char *src, nb_dtype dtype)
{
    if (dtype == NB_F32)
        add_row_f32(rp, (float *)dst, (const float *)src);
    else
        add_row_f64(rp, (double *)dst, (const double *)src);
}

/* ---------------------------------------------------------------- index_select, index_add */

void nbk_index_select(const nb_tensor *x, const nb_tensor *index, nb_tensor *z, int axis)
{
    size_t size = nb_dtype_size(x->dtype);
    const char *xd = nbi_data(x);
    char *zd = nbi_data(z);
    const int64_t *id = (const int64_t *)nbi_data(index);
    int64_t si = index->rank ? index->strides[0] : 0, sa = x->strides[axis];
    int64_t m = z->shape[axis], rows = nbi_numel(axis, x->shape) * m;
    row_pair rp;
    row_pair_init(&rp, x->rank - axis - 1, x->shape + axis + 1, z->strides + axis + 1, x->strides + axis + 1);
    if (rows == 0 || rp.numel == 0)
        return;
    /* Output row r is (outer position o, index position i); each thread takes a run of rows
     * and steps o and i along it, recomputing x's outer offset only when o changes. */
    int threads = nbi_threads_for(rows * rp.numel);
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; t++) {
        int64_t r = rows * t / threads, end = rows * (t + 1) / threads;
        int64_t o = r / m, i = r % m;
        int64_t base = r < end ? offset_of(axis, x->shape, x->strides, o) : 0;
        for (; r < end; r++) {
            copy_row(&rp, zd + r * rp.numel * (int64_t)size, xd + (base + id[i * si] * sa) * (int64_t)size, x->dtype);
            if (++i == m && r + 1 < end) {
                i = 0;
                base = offset_of(axis, x->shape, x->strides, ++o);
            }
        }
    }
}

nb_status nbk_index_add(const nb_tensor *x, const nb_tensor *index, const nb_tensor *src, nb_tensor *z, int axis)
{
    nbi_copy_strided(z, x);
    size_t size = nb_dtype_size(z->dtype);
    const char *sd = nbi_data(src);
    char *zd = nbi_data(z);
    const int64_t *id = (const int64_t *)nbi_data(index);
    int64_t si = index->rank ? index->strides[0] : 0, ss = src->strides[axis];
    int64_t n = z->shape[axis], m = index->numel, n_outer = nbi_numel(axis, z->shape);
    row_pair rp;
    row_pair_init(&rp, z->rank - axis - 1, z->shape + axis + 1, z->strides + axis + 1, src->strides + axis + 1);
    if (m == 0 || n_outer == 0 || rp.numel == 0)
        return NB_OK;
    int64_t row_bytes = rp.numel * (int64_t)size;
    int threads = nbi_threads_for(n_outer * m * rp.numel);
    if (threads <= 1) {
        for (int64_t o = 0; o < n_outer; o++) {
            const char *s_outer = sd + offset_of(axis, src->shape, src->strides, o) * (int64_t)size;
            char *z_outer = zd + o * n * row_bytes;
            for (int64_t i = 0; i < m; i++)
                add_row(&rp, z_outer + id[i * si] * row_bytes, s_outer + i * ss * (int64_t)size, z->dtype);
        }
        return NB_OK;
    }
    /* On several threads each owns whole target rows: the sources of target j are listed
     * in index order (a stable counting sort), so every element sums in the order the
     * single-threaded loop above uses. */
    int64_t *start = nbi_malloc((size_t)(2 * n + 1 + m) * sizeof *start);
    if (!start)
        return NB_ERR_MEMORY;
    int64_t *next = start + n + 1, *order = next + n;
    memset(start, 0, (size_t)(n + 1) * sizeof *start);
    for (int64_t i = 0; i < m; i++)
        start[id[i * si] + 1]++;
    for (int64_t j = 0; j < n; j++) {
        start[j + 1] += start[j];
        next[j] = start[j];
    }
    for (int64_t i = 0; i < m; i++)
        order[next[id[i * si]]++] = i;
    int64_t rows = n_outer * n;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; t++) {
        int64_t r = rows * t / threads, end = rows * (t + 1) / threads;
        int64_t o = r / n, j = r % n;
        const char *s_outer = r < end ? sd + offset_of(axis, src->shape, src->strides, o) * (int64_t)size : sd;
        for (; r < end; r++) {
            for (int64_t k = start[j]; k < start[j + 1]; k++)
                add_row(&rp, zd + r * row_bytes, s_outer + order[k] * ss * (int64_t)size, z->dtype);
            if (++j == n && r + 1 < end) {
                j = 0;
                s_outer = sd + offset_of(axis, src->shape, src->strides, ++o) * (int64_t)size;
            }
        }
    }
    nbi_free(start);
    return NB_OK;
}

/* ---------------------------------------------------------------- gather, scatter */

typedef struct gather_ctx {
    const char *x;
    const int64_t *index;
    char *z;
    int64_t sa;          /* x's stride along the axis */
    nb_dtype dtype;
} gather_ctx;

#define GATHER_LOOP(T)                                                                      \
    do {                                                                                    \
        T *z = (T *)c->z + off[0];                                                          \
        const T *x = (const T *)c->x + off[2];                                              \
        for (int64_t k = 0; k < n; k++)                                                     \
            z[k * st[0]] = x[k * st[2] + id[k * st[1]] * c->sa];                            \
    } while (0)

/* Operands: 0 z, 1 index, 2 x with its axis stride set to 0 (the axis comes from index). */
static void gather_row(void *ctx, const int64_t *off, const int64_t *st, int64_t n)
{
    const gather_ctx *c = ctx;
    const int64_t *id = c->index + off[1];
    if (c->dtype == NB_F32)
        GATHER_LOOP(float);
    else
        GATHER_LOOP(double);
}

void nbk_gather(const nb_tensor *x, const nb_tensor *index, nb_tensor *z, int axis)
{
    int64_t xs[NB_MAX_RANK];
    memcpy(xs, x->strides, sizeof xs);
    xs[axis] = 0;
    nbi_iter it;
    nbi_iter_init(&it, index->rank, index->shape, 3, (const int64_t *const[]){ z->strides, index->strides, xs });
    gather_ctx c = { .x = nbi_data(x), .index = (const int64_t *)nbi_data(index), .z = nbi_data(z),
                     .sa = x->strides[axis], .dtype = x->dtype };
    nbi_iter_run(&it, gather_row, &c);
}

typedef struct scatter_ctx {
    char *z;
    const int64_t *index;
    const char *src;
    int64_t len;                 /* index's size along the axis: the length of each fiber */
    int64_t sz, si, ss;          /* strides along the axis of z, index and src */
    nb_dtype dtype;
    bool accumulate;
} scatter_ctx;

/* One fiber at a time, along the axis in order: later positions overwrite (scatter) or add
 * after (scatter_add) earlier ones, and fibers never share an element of z. */
#define SCATTER_FIBERS(T)                                                                     \
    do {                                                                                      \
        T *z = (T *)c->z + off[0];                                                            \
        const T *src = (const T *)c->src + off[2];                                            \
        for (int64_t k = 0; k < n; k++) {                                                     \
            T *zf = z + k * st[0];                                                            \
            const int64_t *idf = id + k * st[1];                                              \
            const T *sf = src + k * st[2];                                                    \
            if (c->accumulate)                                                                \
                for (int64_t t = 0; t < c->len; t++)                                          \
                    zf[idf[t * c->si] * c->sz] += sf[t * c->ss];                              \
            else                                                                              \
                for (int64_t t = 0; t < c->len; t++)                                          \
                    zf[idf[t * c->si] * c->sz] = sf[t * c->ss];                               \
        }                                                                                     \
    } while (0)

/* Operands: 0 z, 1 index, 2 src, over index's axes other than the scatter axis. */
static void scatter_row(void *ctx, const int64_t *off, const int64_t *st, int64_t n)
{
    const scatter_ctx *c = ctx;
    const int64_t *id = c->index + off[1];
    if (c->dtype == NB_F32)
        SCATTER_FIBERS(float);
    else
        SCATTER_FIBERS(double);
}

void nbk_scatter(const nb_tensor *x, const nb_tensor *index, const nb_tensor *src, nb_tensor *z, int axis,
                 bool accumulate)
{
    nbi_copy_strided(z, x);
    if (index->numel == 0)
        return;
    int64_t shape[NB_MAX_RANK], zs[NB_MAX_RANK], is[NB_MAX_RANK], ss[NB_MAX_RANK];
    int r = 0;
    for (int d = 0; d < index->rank; d++) {
        if (d == axis)
            continue;
        shape[r] = index->shape[d];
        zs[r] = z->strides[d];
        is[r] = index->strides[d];
        ss[r++] = src->strides[d];
    }
    nbi_iter it;
    nbi_iter_init(&it, r, shape, 3, (const int64_t *const[]){ zs, is, ss });
    scatter_ctx c = { .z = nbi_data(z), .index = (const int64_t *)nbi_data(index), .src = nbi_data(src),
                      .len = index->shape[axis], .sz = z->strides[axis], .si = index->strides[axis],
                      .ss = src->strides[axis], .dtype = z->dtype, .accumulate = accumulate };
    nbi_iter_run(&it, scatter_row, &c);
}

/* ---------------------------------------------------------------- masks */

typedef struct fill_ctx {
    char *z;
    const char *x, *mask;
    double value;
    nb_dtype dtype, mask_dtype;
} fill_ctx;

#define FILL_LOOP(T, M)                                                                       \
    do {                                                                                      \
        T *z = (T *)c->z + off[0];                                                            \
        const T *x = (const T *)c->x + off[1];                                                \
        const M *m = (const M *)c->mask + off[2];                                             \
        const T v = (T)c->value;                                                              \
        for (int64_t k = 0; k < n; k++)                                                       \
            z[k] = m[k * st[2]] != 0 ? v : x[k * st[1]];                                      \
    } while (0)

#define FILL_ROWS(T)                                                                          \
    do {                                                                                      \
        if (c->mask_dtype == NB_I64)                                                          \
            FILL_LOOP(T, int64_t);                                                            \
        else                                                                                  \
            FILL_LOOP(T, T);                                                                  \
    } while (0)

/* Operands: 0 z (unit inner stride), 1 x, 2 mask, both broadcast. */
static void fill_row(void *ctx, const int64_t *off, const int64_t *st, int64_t n)
{
    const fill_ctx *c = ctx;
    if (c->dtype == NB_F32)
        FILL_ROWS(float);
    else
        FILL_ROWS(double);
}

void nbk_masked_fill(const nb_tensor *x, const nb_tensor *mask, nb_tensor *z, double value)
{
    int64_t xs[NB_MAX_RANK], ms[NB_MAX_RANK];
    nbi_broadcast_strides(x->rank, x->shape, x->strides, z->rank, z->shape, xs);
    nbi_broadcast_strides(mask->rank, mask->shape, mask->strides, z->rank, z->shape, ms);
    nbi_iter it;
    nbi_iter_init(&it, z->rank, z->shape, 3, (const int64_t *const[]){ z->strides, xs, ms });
    fill_ctx c = { .z = nbi_data(z), .x = nbi_data(x), .mask = nbi_data(mask), .value = value,
                   .dtype = z->dtype, .mask_dtype = mask->dtype };
    nbi_iter_run(&it, fill_row, &c);
}

/* masked_select and its transpose write element k of the selection at a position that
 * depends on how many elements before it are selected. Above the grain the rows are cut
 * into one run per thread: the selected elements of each run are counted first, and their
 * running sum tells each run where its part of the selection starts. */
typedef struct mask_walk {
    nbi_iter it;          /* operand 0: the dense tensor, 1: the mask */
    const char *mask;
    nb_dtype mask_dtype;
    int threads;
} mask_walk;

/* first[t] = selected elements in the runs before run t. */
static void count_runs(const mask_walk *w, int64_t *first)
{
    int64_t rows = w->it.rows;
    first[0] = 0;
    if (w->threads == 1)
        return;
    #pragma omp parallel for num_threads(w->threads) schedule(static)
    for (int t = 0; t < w->threads; t++)
        first[t + 1] = count_rows(&w->it, 1, w->mask, w->mask_dtype, rows * t / w->threads,
                                  rows * (t + 1) / w->threads);
    for (int t = 0; t < w->threads; t++)
        first[t + 1] += first[t];
}

void nbk_masked_select(const nb_tensor *x, const nb_tensor *mask, nb_tensor *z, int rank, const int64_t *shape)
{
    int64_t xs[NB_MAX_RANK], ms[NB_MAX_RANK];
    nbi_broadcast_strides(x->rank, x->shape, x->strides, rank, shape, xs);
    nbi_broadcast_strides(mask->rank, mask->shape, mask->strides, rank, shape, ms);
    mask_walk w = { .mask = nbi_data(mask), .mask_dtype = mask->dtype };
    nbi_iter_init(&w.it, rank, shape, 2, (const int64_t *const[]){ xs, ms });
    if (w.it.rows == 0 || w.it.inner == 0 || z->numel == 0)
        return;
    int64_t rows = w.it.rows;
    w.threads = nbi_threads_for(rows * w.it.inner);
    if (w.threads > rows)
        w.threads = (int)rows;
    int64_t first[w.threads + 1];
    count_runs(&w, first);
    size_t size = nb_dtype_size(x->dtype);
    const char *xd = nbi_data(x);
    char *zd = nbi_data(z);
    int64_t sx = w.it.strides[0][w.it.rank - 1], sm = w.it.strides[1][w.it.rank - 1];
    #pragma omp parallel for num_threads(w.threads) schedule(static)
    for (int t = 0; t < w.threads; t++) {
        int64_t begin = rows * t / w.threads, end = rows * (t + 1) / w.threads, k = first[t];
        if (begin >= end)
            continue;
        nbi_cursor c;
        nbi_cursor_seek(&w.it, &c, begin);
        for (int64_t r = begin; r < end; r++, nbi_cursor_next(&w.it, &c))
            for (int64_t i = 0; i < w.it.inner; i++)
                if (nonzero_at(w.mask, w.mask_dtype, c.offset[1] + i * sm))
                    memcpy(zd + k++ * (int64_t)size, xd + (c.offset[0] + i * sx) * (int64_t)size, size);
    }
}

void nbk_masked_place(const nb_tensor *g, const nb_tensor *mask, nb_tensor *z)
{
    int64_t ms[NB_MAX_RANK];
    nbi_broadcast_strides(mask->rank, mask->shape, mask->strides, z->rank, z->shape, ms);
    mask_walk w = { .mask = nbi_data(mask), .mask_dtype = mask->dtype };
    nbi_iter_init(&w.it, z->rank, z->shape, 2, (const int64_t *const[]){ z->strides, ms });
    if (w.it.rows == 0 || w.it.inner == 0)
        return;
    int64_t rows = w.it.rows;
    w.threads = nbi_threads_for(rows * w.it.inner);
    if (w.threads > rows)
        w.threads = (int)rows;
    int64_t first[w.threads + 1];
    count_runs(&w, first);
    size_t size = nb_dtype_size(z->dtype);
    const char *gd = nbi_data(g);
    char *zd = nbi_data(z);
    int64_t sg = g->strides[0], sz = w.it.strides[0][w.it.rank - 1], sm = w.it.strides[1][w.it.rank - 1];
    #pragma omp parallel for num_threads(w.threads) schedule(static)
    for (int t = 0; t < w.threads; t++) {
        int64_t begin = rows * t / w.threads, end = rows * (t + 1) / w.threads, k = first[t];
        if (begin >= end)
            continue;
        nbi_cursor c;
        nbi_cursor_seek(&w.it, &c, begin);
        for (int64_t r = begin; r < end; r++, nbi_cursor_next(&w.it, &c))
            for (int64_t i = 0; i < w.it.inner; i++) {
                char *dst = zd + (c.offset[0] + i * sz) * (int64_t)size;
                if (nonzero_at(w.mask, w.mask_dtype, c.offset[1] + i * sm))
                    memcpy(dst, gd + k++ * sg * (int64_t)size, size);
                else
                    memset(dst, 0, size);
            }
    }
}

/* ---------------------------------------------------------------- one_hot */

typedef struct one_hot_ctx {
    char *z;
    const int64_t *index;
    nb_dtype dtype;
} one_hot_ctx;

/* Operands: 0 the start of z's class row for each index element, 1 index. */
static void one_hot_row(void *ctx, const int64_t *off, const int64_t *st, int64_t n)
{
    const one_hot_ctx *c = ctx;
    const int64_t *id = c->index + off[1];
    for (int64_t k = 0; k < n; k++) {
        int64_t p = off[0] + k * st[0] + id[k * st[1]];
        if (c->dtype == NB_F32)
            ((float *)c->z)[p] = 1;
        else if (c->dtype == NB_F64)
            ((double *)c->z)[p] = 1;
        else
            ((int64_t *)c->z)[p] = 1;
    }
}

void nbk_one_hot(const nb_tensor *index, nb_tensor *z)
{
    memset(nbi_data(z), 0, (size_t)z->numel * nb_dtype_size(z->dtype));
    if (z->numel == 0)
        return;
    nbi_iter it;
    nbi_iter_init(&it, index->rank, index->shape, 2, (const int64_t *const[]){ z->strides, index->strides });
    one_hot_ctx c = { .z = nbi_data(z), .index = (const int64_t *)nbi_data(index), .dtype = z->dtype };
    nbi_iter_run(&it, one_hot_row, &c);
}
