/* Kernels of the ops in ops/join.c. Raw loops only.
 *
 * cat and stack copy each input once into its window of the output. pad, flip, roll and
 * repeat are one kernel: a gather in which each output axis has a map from output index to
 * input index (or to the fill value), so every output element is read from one place. The
 * last axis is cut into runs where its map steps by +1, -1 or 0 (a copy, a reversed copy,
 * a broadcast edge) or fills, which the compiler turns into vector loops. pad_backward is
 * that gather's transpose, summed one padded axis at a time so that each output element is
 * a sum in a fixed order: bit-identical results for any thread count. */
#include <string.h>

#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/threads.h"
#include "ops/kernels/join.h"
#include "ops/kernels/loops.h"

/* ---------------------------------------------------------------- cat and stack */

/* Copies x into the window of z that starts offset elements into z and steps by strides. */
static void copy_into(const nb_tensor *z, const int64_t *strides, int64_t offset, const nb_tensor *x)
{
    nb_tensor window = { .dtype = z->dtype, .rank = x->rank, .offset = z->offset + offset, .numel = x->numel,
                         .storage = z->storage };
    memcpy(window.shape, x->shape, (size_t)x->rank * sizeof *x->shape);
    memcpy(window.strides, strides, (size_t)x->rank * sizeof *strides);
    nbi_copy_strided(&window, x);
}

nb_status nbk_cat(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    int axis = ((const nbk_axis_attrs *)attrs)->axis;
    int64_t at = 0;
    for (int i = 0; x[i]; i++) {
        copy_into(z[0], z[0]->strides, at * z[0]->strides[axis], x[i]);
        at += x[i]->shape[axis];
    }
    return NB_OK;
}

nb_status nbk_stack(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    int axis = ((const nbk_axis_attrs *)attrs)->axis;
    int64_t strides[NB_MAX_RANK];
    for (int d = 0, k = 0; d < z[0]->rank; d++)
        if (d != axis)
            strides[k++] = z[0]->strides[d];
    for (int i = 0; x[i]; i++)
        copy_into(z[0], strides, i * z[0]->strides[axis], x[i]);
    return NB_OK;
}

/* ---------------------------------------------------------------- the axis-map gather */

typedef struct gather_plan {
    int rank;                          /* >= 1: rank 0 is planned as one axis of size 1 */
    int64_t shape[NB_MAX_RANK];        /* of the output */
    const int64_t *map[NB_MAX_RANK];   /* output index -> input index, -1 for the fill; NULL: identity */
    int64_t strides[NB_MAX_RANK];      /* of the input, per output axis */
    double fill;
} gather_plan;

/* A piece of the last axis: len outputs from dst on, reading input index src, src + step, ...
 * (step -1, 0 or 1), or the fill. */
typedef struct run {
    int64_t dst, len, src, step;
    bool fill;
} run;

/* Cuts the last axis' map into runs; returns how many. With runs NULL it only counts, so
 * that the caller allocates what is needed (a handful, usually) rather than one per column. */
static int64_t plan_runs(const gather_plan *p, run *runs)
{
    int last = p->rank - 1;
    int64_t count = 0, prev = 0;
    run cur = { 0 };
    for (int64_t j = 0; j < p->shape[last]; j++) {
        int64_t m = p->map[last] ? p->map[last][j] : j;
        bool extends = false;
        if (count > 0 && cur.fill && m < 0) {
            extends = true;
        } else if (count > 0 && !cur.fill && m >= 0) {
            int64_t step = m - prev;
            if (cur.len == 1 && step >= -1 && step <= 1)
                cur.step = step;
            extends = step == cur.step;
        }
        if (extends) {
            cur.len++;
        } else {
            if (count > 0 && runs)
                runs[count - 1] = cur;
            cur = (run){ .dst = j, .len = 1, .src = m, .step = 1, .fill = m < 0 };
            count++;
        }
        prev = m;
    }
    if (count > 0 && runs)
        runs[count - 1] = cur;
    return count;
}

/* The input offset of output row `row` (every axis but the last), or -1 when the row lies in
 * the fill. idx receives the row's multi-index. */
static int64_t row_source(const gather_plan *p, int64_t row, int64_t *idx)
{
    for (int d = p->rank - 2; d >= 0; d--) {
        idx[d] = row % p->shape[d];
        row /= p->shape[d];
    }
    int64_t off = 0;
    for (int d = 0; d < p->rank - 1; d++) {
        int64_t m = p->map[d] ? p->map[d][idx[d]] : idx[d];
        if (m < 0)
            return -1;
        off += m * p->strides[d];
    }
    return off;
}

/* Rows [begin, end) of the output; the row source is recomputed from the multi-index, which
 * costs a few operations per row next to the row's copy. */
#define GATHER_ROWS(name, T)                                                                       \
    static void name(const gather_plan *p, const run *runs, int64_t n_runs, const T *x, T *z,     \
                     int64_t begin, int64_t end)                                                  \
    {                                                                                             \
        int64_t idx[NB_MAX_RANK];                                                                 \
        int64_t inner = p->shape[p->rank - 1], sx = p->strides[p->rank - 1];                      \
        const T fill = (T)p->fill;                                                                \
        for (int64_t row = begin; row < end; row++) {                                             \
            T *zr = z + row * inner;                                                              \
            int64_t src = row_source(p, row, idx);                                                \
            if (src < 0) {                                                                        \
                for (int64_t i = 0; i < inner; i++)                                               \
                    zr[i] = fill;                                                                 \
                continue;                                                                         \
            }                                                                                     \
            for (int64_t k = 0; k < n_runs; k++) {                                                \
                const run *r = &runs[k];                                                          \
                T *d = zr + r->dst;                                                               \
                if (r->fill) {                                                                    \
                    for (int64_t i = 0; i < r->len; i++)                                          \
                        d[i] = fill;                                                              \
                    continue;                                                                     \
                }                                                                                 \
                const T *s = x + src + r->src * sx;                                               \
                int64_t step = r->step * sx;                                                      \
                if (step == 1)                                                                    \
                    for (int64_t i = 0; i < r->len; i++)                                          \
                        d[i] = s[i];                                                              \
                else if (step == -1)   /* a constant stride the compiler can vectorise */         \
                    for (int64_t i = 0; i < r->len; i++)                                          \
                        d[i] = s[-i];                                                             \
                else                                                                              \
                    for (int64_t i = 0; i < r->len; i++)                                          \
                        d[i] = s[i * step];                                                       \
            }                                                                                     \
        }                                                                                         \
    }

GATHER_ROWS(gather_rows_f32, float)
GATHER_ROWS(gather_rows_f64, double)

/* z (contiguous) from x through the plan; rows are split between threads. */
static nb_status gather(const nb_tensor *x, nb_tensor *z, const gather_plan *p)
{
    int64_t inner = p->shape[p->rank - 1], rows = inner ? z->numel / inner : 0;
    if (z->numel == 0)
        return NB_OK;
    int64_t n_runs = plan_runs(p, NULL);
    run *runs = nbi_malloc((size_t)n_runs * sizeof *runs);
    if (!runs)
        return NB_ERR_MEMORY;
    plan_runs(p, runs);
    int threads = rows > 1 ? nbi_threads_for(z->numel) : 1;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; t++) {
        int64_t begin = rows * t / threads, end = rows * (t + 1) / threads;
        if (z->dtype == NB_F32)
            gather_rows_f32(p, runs, n_runs, (const float *)nbi_data(x), (float *)nbi_data(z), begin, end);
        else
            gather_rows_f64(p, runs, n_runs, (const double *)nbi_data(x), (double *)nbi_data(z), begin, end);
    }
    nbi_free(runs);
    return NB_OK;
}

/* A plan over z's axes reading x's strides, all maps identity; rank 0 becomes [1]. */
static void plan_init(gather_plan *p, const nb_tensor *z, const int64_t *x_strides)
{
    memset(p, 0, sizeof *p);
    p->rank = z->rank ? z->rank : 1;
    p->shape[0] = 1;
    memcpy(p->shape, z->shape, (size_t)z->rank * sizeof *z->shape);
    memcpy(p->strides, x_strides, (size_t)z->rank * sizeof *x_strides);
}

/* One block for the maps of every axis that needs one (sizes[d] > 0 gives axis d a map of
 * that many entries); the caller fills them and frees *block. */
static nb_status plan_maps(gather_plan *p, const int64_t *sizes, int64_t **maps, int64_t **block)
{
    int64_t total = 0;
    for (int d = 0; d < p->rank; d++)
        total += sizes[d];
    *block = nbi_malloc((size_t)(total ? total : 1) * sizeof **block);
    if (!*block)
        return NB_ERR_MEMORY;
    int64_t *next = *block;
    for (int d = 0; d < p->rank; d++) {
        maps[d] = sizes[d] ? next : NULL;
        p->map[d] = maps[d];
        next += sizes[d];
    }
    return NB_OK;
}

/* Where output index k of a padded axis of size n reads (-1: the fill). The shape rule
 * guarantees reflect pads below n and replicate axes of size at least 1. */
static int64_t pad_source(int mode, int64_t k, int64_t before, int64_t n)
{
    int64_t s = k - before;
    if (s >= 0 && s < n)
        return s;
    if (mode == NBK_PAD_REFLECT)
        return s < 0 ? -s : 2 * (n - 1) - s;
    if (mode == NBK_PAD_REPLICATE)
        return s < 0 ? 0 : n - 1;
    return -1;
}

/* The maps of pad: identity on unpadded axes. sizes: the padded (output) sizes. */
static nb_status pad_plan(gather_plan *p, const nbk_pad_attrs *a, const int64_t *in_shape, const int64_t *out_shape,
                          int64_t **block)
{
    int64_t sizes[NB_MAX_RANK] = { 0 }, *maps[NB_MAX_RANK];
    for (int d = 0; d < a->rank; d++)
        if (a->before[d] || a->after[d])
            sizes[d] = out_shape[d];
    nb_status st = plan_maps(p, sizes, maps, block);
    for (int d = 0; d < a->rank && !st; d++)
        for (int64_t k = 0; k < sizes[d]; k++)
            maps[d][k] = pad_source(a->mode, k, a->before[d], in_shape[d]);
    return st;
}

nb_status nbk_pad(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    const nbk_pad_attrs *a = attrs;
    gather_plan p;
    int64_t *block;
    plan_init(&p, z[0], x[0]->strides);
    p.fill = a->value;
    nb_status st = pad_plan(&p, a, x[0]->shape, z[0]->shape, &block);
    if (!st)
        st = gather(x[0], z[0], &p);
    nbi_free(block);
    return st;
}

nb_status nbk_flip(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    unsigned mask = ((const nbk_flip_attrs *)attrs)->mask;
    gather_plan p;
    int64_t sizes[NB_MAX_RANK] = { 0 }, *maps[NB_MAX_RANK], *block;
    plan_init(&p, z[0], x[0]->strides);
    for (int d = 0; d < z[0]->rank; d++)
        if (mask & (1u << d))
            sizes[d] = z[0]->shape[d];
    nb_status st = plan_maps(&p, sizes, maps, &block);
    for (int d = 0; d < z[0]->rank && !st; d++)
        for (int64_t k = 0; k < sizes[d]; k++)
            maps[d][k] = sizes[d] - 1 - k;
    if (!st)
        st = gather(x[0], z[0], &p);
    nbi_free(block);
    return st;
}

nb_status nbk_roll(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    const nbk_roll_attrs *a = attrs;
    gather_plan p;
    int64_t sizes[NB_MAX_RANK] = { 0 }, *maps[NB_MAX_RANK], *block;
    plan_init(&p, z[0], x[0]->strides);
    for (int d = 0; d < a->rank; d++)
        if (a->shifts[d])
            sizes[d] = z[0]->shape[d];
    nb_status st = plan_maps(&p, sizes, maps, &block);
    for (int d = 0; d < a->rank && !st; d++)
        for (int64_t k = 0; k < sizes[d]; k++)   /* output k reads k - shift, wrapped */
            maps[d][k] = k >= a->shifts[d] ? k - a->shifts[d] : k - a->shifts[d] + sizes[d];
    if (!st)
        st = gather(x[0], z[0], &p);
    nbi_free(block);
    return st;
}

nb_status nbk_repeat(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    const nbk_repeat_attrs *a = attrs;
    int lead = a->rank - x[0]->rank;   /* new leading axes of size 1: stride 0 */
    int64_t strides[NB_MAX_RANK] = { 0 }, sizes[NB_MAX_RANK] = { 0 }, *maps[NB_MAX_RANK], *block;
    memcpy(strides + lead, x[0]->strides, (size_t)x[0]->rank * sizeof *strides);
    gather_plan p;
    plan_init(&p, z[0], strides);
    for (int d = 0; d < a->rank; d++)
        if (a->repeats[d] > 1)
            sizes[d] = z[0]->shape[d];
    nb_status st = plan_maps(&p, sizes, maps, &block);
    for (int d = 0; d < a->rank && !st; d++) {
        int64_t n = d < lead ? 1 : x[0]->shape[d - lead];
        for (int64_t k = 0; k < sizes[d]; k++)
            maps[d][k] = k % n;
    }
    if (!st)
        st = gather(x[0], z[0], &p);
    nbi_free(block);
    return st;
}

/* ---------------------------------------------------------------- pad_backward */

/* Columns per work unit: enough to stream, small enough to spread [1, K, Q] shapes (the
 * first axis padded) over threads. */
#define SCATTER_COLUMNS 512

/* One padded axis summed down: in is [P, K, Q], out [P, N, Q], both contiguous, and
 * before is the axis' leading pad. Position j of out first takes in's position j + before
 * (its own copy: a plain copy, or 0 where it was cropped), then the positions of the
 * padding that copied it are added in ascending order: a fixed order, so the sums are the
 * same for every thread count. With Q = 1 (the last axis) the rows are single elements,
 * written out as scalar loops. */
#define SCATTER_AXIS(name, T)                                                                      \
    static void name(const T *in, T *out, int64_t P, int64_t K, int64_t N, int64_t Q,             \
                     const int64_t *map, int64_t before)                                          \
    {                                                                                             \
        int64_t q_blocks = (Q + SCATTER_COLUMNS - 1) / SCATTER_COLUMNS, units = P * q_blocks;     \
        /* out positions [lo, hi) have their own copy in `in` */                                 \
        int64_t lo = before < 0 ? -before : 0, hi = K - before < N ? K - before : N;              \
        if (hi < lo)                                                                              \
            hi = lo;                                                                              \
        int threads = units > 1 ? nbi_threads_for(P * (K + N) * Q) : 1;                           \
        (void)threads;   /* read only by OpenMP */                                                \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                         \
        for (int64_t u = 0; u < units; u++) {                                                     \
            int64_t p = u / q_blocks, q0 = (u % q_blocks) * SCATTER_COLUMNS;                      \
            int64_t len = Q - q0 < SCATTER_COLUMNS ? Q - q0 : SCATTER_COLUMNS;                    \
            const T *s = in + p * K * Q + q0;                                                     \
            T *o = out + p * N * Q + q0;                                                          \
            if (Q == 1) {                                                                         \
                for (int64_t j = 0; j < lo; j++)                                                  \
                    o[j] = 0;                                                                     \
                for (int64_t j = lo; j < hi; j++)                                                 \
                    o[j] = s[j + before];                                                         \
                for (int64_t j = hi; j < N; j++)                                                  \
                    o[j] = 0;                                                                     \
            } else {                                                                              \
                for (int64_t j = 0; j < N; j++) {                                                 \
                    if (j >= lo && j < hi)                                                        \
                        memcpy(o + j * Q, s + (j + before) * Q, (size_t)len * sizeof(T));         \
                    else                                                                          \
                        memset(o + j * Q, 0, (size_t)len * sizeof(T));                            \
                }                                                                                 \
            }                                                                                     \
            for (int64_t k = 0; k < K; k++) {                                                     \
                if (map[k] < 0 || (k - before >= lo && k - before < hi))                          \
                    continue;   /* the fill, or the position's own copy */                        \
                T *oj = o + map[k] * Q;                                                           \
                const T *sk = s + k * Q;                                                          \
                for (int64_t i = 0; i < len; i++)                                                 \
                    oj[i] += sk[i];                                                               \
            }                                                                                     \
        }                                                                                         \
    }

SCATTER_AXIS(scatter_axis_f32, float)
SCATTER_AXIS(scatter_axis_f64, double)

/* x is the padded gradient, z the unpadded one. Each padded axis in turn is summed down
 * to its input size; the intermediate results are contiguous scratch. */
nb_status nbk_pad_backward(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    const nbk_pad_attrs *a = attrs;
    const nb_tensor *g = x[0];
    nb_tensor *out = z[0];
    size_t size = nb_dtype_size(g->dtype);
    int padded[NB_MAX_RANK], n_padded = 0;
    for (int d = 0; d < a->rank; d++)
        if (a->before[d] || a->after[d])
            padded[n_padded++] = d;
    if (n_padded == 0 || out->numel == 0) {
        if (n_padded == 0)
            nbi_copy_strided(out, g);
        return NB_OK;
    }
    gather_plan p;
    int64_t *block;
    plan_init(&p, g, g->strides);
    nb_status st = pad_plan(&p, a, out->shape, g->shape, &block);
    if (st)
        return st;

    /* The steps read contiguous data: a strided gradient is copied once first. Scratch comes
     * from the storage cache, which hands back pages already touched: fresh pages fault in,
     * and that would cost more than the sums. */
    char *scratch[2] = { NULL, NULL }, *cur = nbi_data(g);
    size_t scratch_bytes[2] = { 0, 0 };
    int64_t shape[NB_MAX_RANK];
    memcpy(shape, g->shape, sizeof shape);
    if (!nbi_is_contiguous(g->rank, g->shape, g->strides)) {
        scratch_bytes[0] = (size_t)g->numel * size;
        if (!(scratch[0] = nbi_storage_alloc(scratch_bytes[0]))) {
            nbi_free(block);
            return NB_ERR_MEMORY;
        }
        nb_tensor dense = { .dtype = g->dtype, .rank = g->rank, .numel = g->numel,
                            .storage = &(nbi_storage){ .data = scratch[0] } };
        memcpy(dense.shape, g->shape, sizeof dense.shape);
        nbi_contiguous_strides(g->rank, g->shape, dense.strides);
        nbi_copy_strided(&dense, g);
        cur = scratch[0];
    }
    for (int s = 0; s < n_padded && !st; s++) {
        int d = padded[s];
        int64_t P = nbi_numel(d, shape), K = shape[d], N = out->shape[d];
        int64_t Q = nbi_numel(a->rank - d - 1, shape + d + 1);
        char *dst = nbi_data(out);
        if (s < n_padded - 1) {   /* alternate between two scratch buffers */
            int which = cur == scratch[0] ? 1 : 0;
            nbi_storage_free(scratch[which], scratch_bytes[which]);
            scratch_bytes[which] = (size_t)(P * N * Q) * size;
            if (!(scratch[which] = nbi_storage_alloc(scratch_bytes[which]))) {
                st = NB_ERR_MEMORY;
                break;
            }
            dst = scratch[which];
        }
        if (g->dtype == NB_F32)
            scatter_axis_f32((const float *)cur, (float *)dst, P, K, N, Q, p.map[d], a->before[d]);
        else
            scatter_axis_f64((const double *)cur, (double *)dst, P, K, N, Q, p.map[d], a->before[d]);
        shape[d] = N;
        cur = dst;
    }
    nbi_storage_free(scratch[0], scratch_bytes[0]);
    nbi_storage_free(scratch[1], scratch_bytes[1]);
    nbi_free(block);
    return st;
}

/* ---------------------------------------------------------------- tril and triu */

typedef struct tri_ctx {
    const char *x;
    char *z;
    int64_t m, n, k;   /* matrix rows and columns; k clamped to [-m - 1, n + 1] */
    bool lower;
} tri_ctx;

/* z is contiguous, so a row's offset in z tells the matrix row i and column j it starts at;
 * a row of the iterator may span several matrix rows (when the axes merged). */
#define TRI_ROW(name, T)                                                                           \
    static void name(void *ctx, const int64_t *off, const int64_t *st, int64_t len)               \
    {                                                                                             \
        const tri_ctx *c = ctx;                                                                   \
        T *z = (T *)c->z + off[0];                                                                \
        const T *x = (const T *)c->x + off[1];                                                    \
        int64_t sx = st[1], j = off[0] % c->n, i = (off[0] / c->n) % c->m;                        \
        for (int64_t done = 0; done < len;) {                                                     \
            int64_t seg = len - done < c->n - j ? len - done : c->n - j;                          \
            /* tril keeps columns below cut, triu from cut on */                                  \
            int64_t cut = c->lower ? i + c->k + 1 : i + c->k;                                     \
            cut = cut < j ? j : (cut > j + seg ? j + seg : cut);                                  \
            int64_t keep_from = c->lower ? j : cut, keep_to = c->lower ? cut : j + seg;           \
            int64_t o = done - j;   /* element of this row at column t: o + t */                  \
            for (int64_t t = j; t < keep_from; t++)                                               \
                z[o + t] = 0;                                                                     \
            for (int64_t t = keep_from; t < keep_to; t++)                                         \
                z[o + t] = x[(o + t) * sx];                                                       \
            for (int64_t t = keep_to; t < j + seg; t++)                                           \
                z[o + t] = 0;                                                                     \
            done += seg;                                                                          \
            j = 0;                                                                                \
            i = i + 1 == c->m ? 0 : i + 1;                                                        \
        }                                                                                         \
    }

TRI_ROW(tri_row_f32, float)
TRI_ROW(tri_row_f64, double)

static nb_status tri(nb_tensor *const *x, nb_tensor *const *z, const void *attrs, bool lower)
{
    const nb_tensor *in = x[0], *out = z[0];
    int64_t m = in->shape[in->rank - 2], n = in->shape[in->rank - 1], k = ((const nbk_tri_attrs *)attrs)->k;
    if (out->numel == 0)
        return NB_OK;
    k = k < -m - 1 ? -m - 1 : (k > n + 1 ? n + 1 : k);   /* beyond these every mask is all or nothing */
    tri_ctx c = { nbi_data(in), nbi_data(out), m, n, k, lower };
    nbi_iter it;
    nbi_iter_init(&it, out->rank, out->shape, 2, (const int64_t *const[]){ out->strides, in->strides });
    nbi_iter_run(&it, out->dtype == NB_F32 ? tri_row_f32 : tri_row_f64, &c);
    return NB_OK;
}

nb_status nbk_tril(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    return tri(x, z, attrs, true);
}

nb_status nbk_triu(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    return tri(x, z, attrs, false);
}

/* ---------------------------------------------------------------- diagonal */

int64_t nbk_diagonal_span(const nb_tensor *x, const nbk_diagonal_attrs *a, int64_t *start)
{
    int64_t n1 = x->shape[a->axis1], n2 = x->shape[a->axis2], len;
    /* written so that no offset, however large, overflows */
    if (a->offset >= 0)
        len = a->offset >= n2 ? 0 : (n1 < n2 - a->offset ? n1 : n2 - a->offset);
    else
        len = a->offset <= -n1 ? 0 : (n1 + a->offset < n2 ? n1 + a->offset : n2);
    *start = len == 0 ? 0 : a->offset >= 0 ? a->offset * x->strides[a->axis2] : -a->offset * x->strides[a->axis1];
    return len;
}

nb_status nbk_diagonal_backward(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    const nbk_diagonal_attrs *a = attrs;
    nb_tensor *out = z[0];
    memset(nbi_data(out), 0, (size_t)out->numel * nb_dtype_size(out->dtype));
    int64_t start, strides[NB_MAX_RANK];
    nbk_diagonal_span(out, a, &start);
    int r = 0;
    for (int d = 0; d < out->rank; d++)
        if (d != a->axis1 && d != a->axis2)
            strides[r++] = out->strides[d];
    strides[r] = out->strides[a->axis1] + out->strides[a->axis2];
    copy_into(out, strides, start, x[0]);
    return NB_OK;
}
