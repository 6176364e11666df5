/* Kernels of the ops in ops/random.c. Raw loops only.
 *
 * Element i of an output (C order) reads draw i of the op's stream (core/rng_impl.h): a
 * pure function of the key and i, so rows can go to any thread in any order. */
#include "core/error_impl.h"
#include "core/rng_impl.h"
#include "ops/kernels/loops.h"
#include "ops/kernels/random.h"

typedef struct random_ctx {
    const char *x;
    char *z, *mask;
    double p;
    uint64_t keep_from;   /* dropout keeps element i when the top 53 bits of draw i reach this */
    uint64_t key;
} random_ctx;

/* The outputs are contiguous, so a row's offset in z is the C-order index of its first element. */
#define DROPOUT_ROW(name, T)                                                                  \
    static void name(void *ctx, const int64_t *off, const int64_t *st, int64_t n)            \
    {                                                                                         \
        const random_ctx *c = ctx;                                                            \
        T *z = (T *)c->z + off[0], *mask = (T *)c->mask + off[1];                             \
        const T *x = (const T *)c->x + off[2];                                                \
        const T scale = (T)(1.0 / (1.0 - c->p));                                              \
        int64_t sx = st[2];                                                                   \
        uint64_t first = (uint64_t)off[0];                                                    \
        for (int64_t i = 0; i < n; i++) {                                                     \
            T m = nbi_stream_bits(c->key, first + (uint64_t)i) >> 11 >= c->keep_from ? scale : (T)0; \
            mask[i] = m;                                                                      \
            z[i] = x[i * sx] * m;                                                             \
        }                                                                                     \
    }

DROPOUT_ROW(dropout_row_f32, float)
DROPOUT_ROW(dropout_row_f64, double)

static void run_dropout(nb_tensor *const *x, nb_tensor *const *z, const void *attrs, nbi_row_fn row)
{
    const nbk_dropout_attrs *a = attrs;
    nbi_iter it;
    nbi_iter_init(&it, z[0]->rank, z[0]->shape, 3,
                  (const int64_t *const[]){ z[0]->strides, z[1]->strides, x[0]->strides });
    /* The draw u = b 2^-53 (b the top 53 bits) is at least p exactly when b >= ceil(p 2^53):
     * the same test as nbi_stream_uniform(...) >= p, without converting b to double. */
    random_ctx c = { .x = nbi_data(x[0]), .z = nbi_data(z[0]), .mask = nbi_data(z[1]), .p = a->p,
                     .keep_from = (uint64_t)ceil(a->p * 0x1p53), .key = a->key };
    nbi_iter_run(&it, row, &c);
}

nb_status nbk_dropout_f32(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    run_dropout(x, z, attrs, dropout_row_f32);
    return NB_OK;
}

nb_status nbk_dropout_f64(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    run_dropout(x, z, attrs, dropout_row_f64);
    return NB_OK;
}

#define BERNOULLI_ROW(name, T)                                                                \
    static void name(void *ctx, const int64_t *off, const int64_t *st, int64_t n)            \
    {                                                                                         \
        const random_ctx *c = ctx;                                                            \
        T *z = (T *)c->z + off[0];                                                            \
        const T *x = (const T *)c->x + off[1];                                                \
        int64_t sx = st[1];                                                                   \
        uint64_t first = (uint64_t)off[0];                                                    \
        for (int64_t i = 0; i < n; i++)                                                       \
            z[i] = nbi_stream_uniform(c->key, first + (uint64_t)i) < (double)x[i * sx];      \
    }

BERNOULLI_ROW(bernoulli_row_f32, float)
BERNOULLI_ROW(bernoulli_row_f64, double)

/* The first probability outside [0, 1] (NaN included), in C order; false when there is none. */
#define FIND_BAD_PROBABILITY(name, T)                                                         \
    static bool name(const nbi_iter *it, const T *x, int64_t *where, double *value)          \
    {                                                                                         \
        nbi_cursor c;                                                                         \
        nbi_cursor_seek(it, &c, 0);                                                           \
        int64_t sx = it->strides[1][it->rank - 1];                                            \
        for (int64_t r = 0; r < it->rows; r++) {                                              \
            const T *row = x + c.offset[1];                                                   \
            for (int64_t i = 0; i < it->inner; i++)                                           \
                if (!(row[i * sx] >= 0 && row[i * sx] <= 1)) {                                \
                    *where = c.offset[0] + i;                                                 \
                    *value = row[i * sx];                                                     \
                    return true;                                                              \
                }                                                                             \
            nbi_cursor_next(it, &c);                                                          \
        }                                                                                     \
        return false;                                                                         \
    }

FIND_BAD_PROBABILITY(find_bad_f32, float)
FIND_BAD_PROBABILITY(find_bad_f64, double)

static nb_status run_bernoulli(nb_tensor *const *x, nb_tensor *const *z, const void *attrs, nbi_row_fn row)
{
    nbi_iter it;
    nbi_iter_init(&it, z[0]->rank, z[0]->shape, 2, (const int64_t *const[]){ z[0]->strides, x[0]->strides });
    int64_t where;
    double value;
    bool bad = x[0]->dtype == NB_F32 ? find_bad_f32(&it, (const float *)nbi_data(x[0]), &where, &value)
                                     : find_bad_f64(&it, (const double *)nbi_data(x[0]), &where, &value);
    if (bad)
        return nbi_error(NB_ERR_ARG, "nb_bernoulli: probability %g at element %lld (C order) is outside [0, 1]",
                         value, (long long)where);
    random_ctx c = { .x = nbi_data(x[0]), .z = nbi_data(z[0]), .key = ((const nbk_bernoulli_attrs *)attrs)->key };
    nbi_iter_run(&it, row, &c);
    return NB_OK;
}

nb_status nbk_bernoulli_f32(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    return run_bernoulli(x, z, attrs, bernoulli_row_f32);
}

nb_status nbk_bernoulli_f64(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    return run_bernoulli(x, z, attrs, bernoulli_row_f64);
}
