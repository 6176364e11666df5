/* Reduction kernels: sum, argmax/argmin, and the gather/scatter pair that moves values
 * between a tensor and the positions argmax chose. Raw loops only.
 *
 * Determinism: each output element is reduced by one thread, in a fixed order; a very long
 * reduction is cut into blocks of fixed size (not per thread) that are combined in order.
 * So results are bit-identical for any thread count. */
#include <math.h>
#include <string.h>

#include "core/error_impl.h"
#include "core/iter.h"
#include "core/tensor_impl.h"
#include "core/threads.h"
#include "ops/kernels/kernels.h"

/* The axes of x split into kept ones (as in z) and reduced ones, with x's strides. */
typedef struct split {
    int n_kept, n_red;
    int64_t kept_shape[NB_MAX_RANK], kept_x[NB_MAX_RANK];
    int64_t red_shape[NB_MAX_RANK], red_x[NB_MAX_RANK];
    int64_t n_out, block;      /* outputs, and elements reduced into each */
} split;

static void split_axes(const nb_tensor *x, unsigned mask, split *s)
{
    s->n_kept = s->n_red = 0;
    for (int d = 0; d < x->rank; d++) {
        if (mask & (1u << d)) {
            s->red_shape[s->n_red] = x->shape[d];
            s->red_x[s->n_red++] = x->strides[d];
        } else {
            s->kept_shape[s->n_kept] = x->shape[d];
            s->kept_x[s->n_kept++] = x->strides[d];
        }
    }
    s->n_out = nbi_numel(s->n_kept, s->kept_shape);
    s->block = nbi_numel(s->n_red, s->red_shape);
}

/* Offset in x of the first element of output o's block. */
static int64_t kept_offset(const split *s, int64_t o)
{
    int64_t off = 0;
    for (int d = s->n_kept - 1; d >= 0; d--) {
        off += (o % s->kept_shape[d]) * s->kept_x[d];
        o /= s->kept_shape[d];
    }
    return off;
}

/* Offset in x of the element at C-order position p within a reduced block. */
static int64_t reduced_offset(const split *s, int64_t p)
{
    int64_t off = 0;
    for (int d = s->n_red - 1; d >= 0; d--) {
        off += (p % s->red_shape[d]) * s->red_x[d];
        p /= s->red_shape[d];
    }
    return off;
}

/* ---------------------------------------------------------------- sums */

/* 16 running sums that the compiler keeps in one vector register, folded pairwise. */
#define CONTIGUOUS_SUM(name, T)                                    \
    static T name(const T *x, int64_t n)                           \
    {                                                              \
        T acc[16] = { 0 };                                         \
        int64_t i = 0;                                             \
        for (; i + 16 <= n; i += 16)                               \
            for (int j = 0; j < 16; j++)                           \
                acc[j] += x[i + j];                                \
        T tail = 0;                                                \
        for (; i < n; i++)                                         \
            tail += x[i];                                          \
        for (int w = 8; w >= 1; w /= 2)                            \
            for (int j = 0; j < w; j++)                            \
                acc[j] += acc[j + w];                              \
        return acc[0] + tail;                                      \
    }
CONTIGUOUS_SUM(sum_contiguous_f32, float)
CONTIGUOUS_SUM(sum_contiguous_f64, double)

/* Sum of positions [begin, end) of one reduced block starting at x (C order over the block). */
#define RANGE_SUM(name, T, CONTIG)                                                         \
    static T name(const T *x, const nbi_iter *it, int64_t begin, int64_t end)             \
    {                                                                                      \
        T total = 0;                                                                       \
        int64_t stride = it->strides[0][it->rank - 1];                                     \
        nbi_cursor c;                                                                      \
        int64_t row = begin / it->inner, col = begin % it->inner;                          \
        nbi_cursor_seek(it, &c, row);                                                      \
        for (int64_t p = begin; p < end; row++) {                                          \
            int64_t n = it->inner - col < end - p ? it->inner - col : end - p;             \
            const T *r = x + c.offset[0] + col * stride;                                   \
            if (stride == 1) {                                                             \
                total += CONTIG(r, n);                                                     \
            } else {                                                                       \
                for (int64_t i = 0; i < n; i++)                                            \
                    total += r[i * stride];                                                \
            }                                                                              \
            p += n;                                                                        \
            col = 0;                                                                       \
            nbi_cursor_next(it, &c);                                                       \
        }                                                                                  \
        return total;                                                                      \
    }
RANGE_SUM(range_sum_f32, float, sum_contiguous_f32)
RANGE_SUM(range_sum_f64, double, sum_contiguous_f64)

enum { SUM_BLOCK = 1 << 16 };   /* fixed piece of a long reduction */

#define SUM_KERNEL(name, T, RANGE)                                                         \
    static void name(const nb_tensor *x, nb_tensor *z, const split *s)                     \
    {                                                                                      \
        const T *xd = (const T *)nbi_data(x);                                              \
        T *zd = (T *)nbi_data(z);                                                          \
        nbi_iter it;                                                                       \
        nbi_iter_init(&it, s->n_red, s->red_shape, 1, (const int64_t *const[]){ s->red_x }); \
        if (s->n_out == 1 && s->block > SUM_BLOCK) {                                       \
            int64_t pieces = (s->block + SUM_BLOCK - 1) / SUM_BLOCK;                       \
            T partial[pieces];                                                             \
            int threads = nbi_threads_for(s->block);                                       \
            _Pragma("omp parallel for num_threads(threads) schedule(static)")              \
            for (int64_t b = 0; b < pieces; b++) {                                         \
                int64_t end = (b + 1) * SUM_BLOCK;                                         \
                partial[b] = RANGE(xd, &it, b * SUM_BLOCK, end < s->block ? end : s->block); \
            }                                                                              \
            T total = 0;                                                                   \
            for (int64_t b = 0; b < pieces; b++)                                           \
                total += partial[b];                                                       \
            zd[0] = total;                                                                 \
            return;                                                                        \
        }                                                                                  \
        int threads = nbi_threads_for(s->n_out * s->block);                                \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                  \
        for (int64_t o = 0; o < s->n_out; o++)                                             \
            zd[o] = RANGE(xd + kept_offset(s, o), &it, 0, s->block);                       \
    }
SUM_KERNEL(sum_f32, float, range_sum_f32)
SUM_KERNEL(sum_f64, double, range_sum_f64)

/* When x's innermost kept axis is contiguous and the reduced axes are outer (a sum over the
 * batch, as in bias gradients), rows of x are added into rows of z: z stays in cache and
 * every load is contiguous. Each z element still sums in the reduced axes' order. */
#define COLUMN_SUM_KERNEL(name, T)                                                          \
    static void name(const nb_tensor *x, nb_tensor *z, const split *s)                      \
    {                                                                                       \
        const T *xd = (const T *)nbi_data(x);                                               \
        T *zd = (T *)nbi_data(z);                                                           \
        int64_t zstrides[NB_MAX_RANK];                                                      \
        nbi_contiguous_strides(s->n_kept, s->kept_shape, zstrides);                         \
        nbi_iter kit, rit;                                                                  \
        nbi_iter_init(&kit, s->n_kept, s->kept_shape, 2, (const int64_t *const[]){ s->kept_x, zstrides }); \
        nbi_iter_init(&rit, s->n_red, s->red_shape, 1, (const int64_t *const[]){ s->red_x }); \
        int64_t n = kit.inner, red_rows = rit.rows, red_inner = rit.inner;                  \
        int64_t rstride = rit.strides[0][rit.rank - 1];                                     \
        int threads = nbi_threads_for(s->n_out * s->block);                                 \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                   \
        for (int64_t row = 0; row < kit.rows; row++) {                                      \
            nbi_cursor kc, rc;                                                              \
            nbi_cursor_seek(&kit, &kc, row);                                                \
            T *zr = zd + kc.offset[1];                                                      \
            const T *xr = xd + kc.offset[0];                                                \
            for (int64_t j = 0; j < n; j++)                                                 \
                zr[j] = 0;                                                                  \
            nbi_cursor_seek(&rit, &rc, 0);                                                  \
            for (int64_t r = 0; r < red_rows; r++, nbi_cursor_next(&rit, &rc))              \
                for (int64_t q = 0; q < red_inner; q++) {                                   \
                    const T *src = xr + rc.offset[0] + q * rstride;                         \
                    for (int64_t j = 0; j < n; j++)                                         \
                        zr[j] += src[j];                                                    \
                }                                                                           \
        }                                                                                   \
    }
COLUMN_SUM_KERNEL(column_sum_f32, float)
COLUMN_SUM_KERNEL(column_sum_f64, double)

/* ---------------------------------------------------------------- argmax / argmin */

/* First position of the largest (want_max) or smallest element; NaN counts as the extreme,
 * as in PyTorch. */
#define ARG_KERNEL(name, T)                                                                 \
    static void name(const nb_tensor *x, nb_tensor *z, const split *s, bool want_max)       \
    {                                                                                       \
        const T *xd = (const T *)nbi_data(x);                                               \
        int64_t *zd = (int64_t *)nbi_data(z);                                               \
        nbi_iter it;                                                                        \
        nbi_iter_init(&it, s->n_red, s->red_shape, 1, (const int64_t *const[]){ s->red_x }); \
        int64_t stride = it.strides[0][it.rank - 1];                                        \
        int threads = nbi_threads_for(s->n_out * s->block);                                 \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                   \
        for (int64_t o = 0; o < s->n_out; o++) {                                            \
            const T *base = xd + kept_offset(s, o);                                         \
            nbi_cursor c;                                                                   \
            nbi_cursor_seek(&it, &c, 0);                                                    \
            T best = base[c.offset[0]];                                                     \
            int64_t best_at = 0, p = 0;                                                     \
            for (int64_t r = 0; r < it.rows; r++, nbi_cursor_next(&it, &c))                 \
                for (int64_t i = 0; i < it.inner; i++, p++) {                               \
                    T v = base[c.offset[0] + i * stride];                                   \
                    if (best != best)                                                       \
                        break;                                                              \
                    if (v != v || (want_max ? v > best : v < best)) {                       \
                        best = v;                                                           \
                        best_at = p;                                                        \
                    }                                                                       \
                }                                                                           \
            zd[o] = best_at;                                                                \
        }                                                                                   \
    }
ARG_KERNEL(arg_f32, float)
ARG_KERNEL(arg_f64, double)

nb_status nbk_reduce(nbk_reduce_kind kind, const nb_tensor *x, nb_tensor *z, unsigned mask)
{
    split s;
    split_axes(x, mask, &s);
    if (s.n_out == 0)
        return NB_OK;
    if (kind != NBK_SUM) {
        if (x->dtype == NB_F32)
            arg_f32(x, z, &s, kind == NBK_ARGMAX);
        else
            arg_f64(x, z, &s, kind == NBK_ARGMAX);
        return NB_OK;
    }
    if (s.block == 0) {
        memset(nbi_data(z), 0, (size_t)z->numel * nb_dtype_size(z->dtype));
        return NB_OK;
    }
    /* Column order pays when the kept axes hold x's unit stride and there is a batch to sum. */
    bool column = s.n_kept > 0 && s.n_red > 0 && s.kept_x[s.n_kept - 1] == 1 && s.kept_shape[s.n_kept - 1] > 1;
    if (x->dtype == NB_F32)
        (column ? column_sum_f32 : sum_f32)(x, z, &s);
    else
        (column ? column_sum_f64 : sum_f64)(x, z, &s);
    return NB_OK;
}

/* ---------------------------------------------------------------- gather / scatter */

/* Walks the kept positions o of x together with a tensor t of the kept shape (keepdim or
 * not: its size-1 reduced axes are skipped), giving t's offset for each o. */
static void kept_strides_of(const nb_tensor *t, unsigned mask, int x_rank, int64_t *strides)
{
    int k = 0;
    bool keepdim = t->rank == x_rank;
    for (int d = 0, td = 0; d < x_rank; d++) {
        bool reduced = mask & (1u << d);
        if (!reduced)
            strides[k++] = t->strides[td];
        if (!reduced || keepdim)
            td++;
    }
}

static int64_t offset_in(const split *s, const int64_t *strides, int64_t o)
{
    int64_t off = 0;
    for (int d = s->n_kept - 1; d >= 0; d--) {
        off += (o % s->kept_shape[d]) * strides[d];
        o /= s->kept_shape[d];
    }
    return off;
}

nb_status nbk_reduce_gather(const nb_tensor *x, const nb_tensor *index, nb_tensor *z, unsigned mask)
{
    split s;
    split_axes(x, mask, &s);
    int64_t istr[NB_MAX_RANK];
    kept_strides_of(index, mask, x->rank, istr);
    const int64_t *id = (const int64_t *)nbi_data(index);
    size_t size = nb_dtype_size(x->dtype);
    const char *xd = nbi_data(x);
    char *zd = nbi_data(z);
    for (int64_t o = 0; o < s.n_out; o++) {
        int64_t p = id[offset_in(&s, istr, o)];
        if (p < 0 || p >= s.block)
            return nbi_error(NB_ERR_ARG, "nb_reduce_gather: index %lld is out of range for a reduced block of %lld elements",
                             (long long)p, (long long)s.block);
        memcpy(zd + o * (int64_t)size, xd + (kept_offset(&s, o) + reduced_offset(&s, p)) * (int64_t)size, size);
    }
    return NB_OK;
}

nb_status nbk_reduce_scatter(const nb_tensor *gz, const nb_tensor *index, nb_tensor *g, unsigned mask)
{
    split s;
    split_axes(g, mask, &s);   /* g is contiguous and has the full shape */
    int64_t istr[NB_MAX_RANK], gstr[NB_MAX_RANK];
    kept_strides_of(index, mask, g->rank, istr);
    kept_strides_of(gz, mask, g->rank, gstr);
    const int64_t *id = (const int64_t *)nbi_data(index);
    size_t size = nb_dtype_size(g->dtype);
    const char *gzd = nbi_data(gz);
    char *gd = nbi_data(g);
    memset(gd, 0, (size_t)g->numel * size);
    for (int64_t o = 0; o < s.n_out; o++) {
        int64_t p = id[offset_in(&s, istr, o)];
        if (p < 0 || p >= s.block)
            return nbi_error(NB_ERR_ARG, "nb_reduce_scatter: index %lld is out of range for a reduced block of %lld elements",
                             (long long)p, (long long)s.block);
        memcpy(gd + (kept_offset(&s, o) + reduced_offset(&s, p)) * (int64_t)size,
               gzd + offset_in(&s, gstr, o) * (int64_t)size, size);
    }
    return NB_OK;
}
