/* Seeded generators: xoshiro256** (Blackman and Vigna), seeded through splitmix64; tensors
 * of draws and in-place random fills. */
#include <math.h>
#include <pthread.h>

#include "autograd/node.h"
#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/iter.h"
#include "core/rng_impl.h"
#include "core/tensor_impl.h"
#include "nabla/rng.h"

struct nb_rng {
    uint64_t s[4];
    bool has_spare;       /* Box-Muller makes normals in pairs */
    double spare;
};

static nb_rng default_rng;
static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static bool default_seeded;

static uint64_t splitmix64(uint64_t *x)
{
    return nbi_mix64(*x += NBI_SPLITMIX_GAMMA);
}

static void rng_seed(nb_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
    r->has_spare = false;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_bits(nb_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static double next_uniform(nb_rng *r)
{
    return (double)(next_bits(r) >> 11) * 0x1p-53;
}

static double next_normal(nb_rng *r)
{
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u1 = next_uniform(r), u2 = next_uniform(r);
    double radius = sqrt(-2.0 * log(1.0 - u1));   /* 1 - u1 is in (0, 1]: log is finite */
    double angle = 2.0 * M_PI * u2;
    r->spare = radius * sin(angle);
    r->has_spare = true;
    return radius * cos(angle);
}

/* The default generator is shared by all threads, so every use of it takes the lock. */
static nb_rng *lock_rng(nb_rng *r)
{
    if (r)
        return r;
    pthread_mutex_lock(&default_lock);
    if (!default_seeded) {
        rng_seed(&default_rng, 0x6e61626c61ull);   /* "nabla" */
        default_seeded = true;
    }
    return &default_rng;
}

static void unlock_rng(nb_rng *r)
{
    if (r == &default_rng)
        pthread_mutex_unlock(&default_lock);
}

NB_API nb_rng *nb_rng_new(uint64_t seed)
{
    nb_rng *r = nbi_malloc(sizeof *r);
    if (r)
        rng_seed(r, seed);
    return r;
}

NB_API void nb_rng_free(nb_rng *rng)
{
    nbi_free(rng);
}

NB_API void nb_manual_seed(uint64_t seed)
{
    pthread_mutex_lock(&default_lock);
    rng_seed(&default_rng, seed);
    default_seeded = true;
    pthread_mutex_unlock(&default_lock);
}

NB_API uint64_t nb_rng_next(nb_rng *rng)
{
    nb_rng *r = lock_rng(rng);
    uint64_t v = next_bits(r);
    unlock_rng(r);
    return v;
}

NB_API double nb_rng_uniform(nb_rng *rng)
{
    nb_rng *r = lock_rng(rng);
    double v = next_uniform(r);
    unlock_rng(r);
    return v;
}

NB_API double nb_rng_normal(nb_rng *rng)
{
    nb_rng *r = lock_rng(rng);
    double v = next_normal(r);
    unlock_rng(r);
    return v;
}

__extension__ typedef unsigned __int128 u128;

/* Uniform integer in [0, range) without modulo bias (Lemire's multiply-and-reject). */
static uint64_t next_below(nb_rng *r, uint64_t range)
{
    u128 m = (u128)next_bits(r) * range;
    uint64_t low = (uint64_t)m;
    if (low < range) {
        uint64_t threshold = -range % range;
        while (low < threshold) {
            m = (u128)next_bits(r) * range;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

NB_API int64_t nb_rng_int(nb_rng *rng, int64_t low, int64_t high)
{
    if (high <= low) {
        nbi_error(NB_ERR_ARG, "nb_rng_int: empty range [%lld, %lld)", (long long)low, (long long)high);
        return low;
    }
    nb_rng *r = lock_rng(rng);
    int64_t v = (int64_t)((uint64_t)low + next_below(r, (uint64_t)high - (uint64_t)low));   /* wraps, no overflow */
    unlock_rng(r);
    return v;
}

enum draw { UNIFORM, NORMAL, INTEGER };

typedef struct draw_spec {
    enum draw kind;
    double a, b;            /* UNIFORM: [a, b); NORMAL: mean a, standard deviation b */
    int64_t low, high;      /* INTEGER: [low, high) */
} draw_spec;

/* One draw as a double; f32 uniforms take 24 random bits, so that every float in [0, 1) on
 * the grid 2^-24 can come out. */
static inline double draw_float(nb_rng *r, const draw_spec *d, bool f32)
{
    if (d->kind == NORMAL)
        return d->a + d->b * next_normal(r);
    if (f32)
        return d->a + (d->b - d->a) * (double)((float)(next_bits(r) >> 40) * 0x1p-24f);
    return d->a + (d->b - d->a) * next_uniform(r);
}

static void draw_row(nb_rng *r, const draw_spec *d, nb_dtype dtype, char *data, int64_t stride, int64_t n)
{
    if (dtype == NB_I64) {
        uint64_t range = (uint64_t)d->high - (uint64_t)d->low;
        for (int64_t i = 0; i < n; i++)
            ((int64_t *)data)[i * stride] = (int64_t)((uint64_t)d->low + next_below(r, range));
    } else if (dtype == NB_F32) {
        for (int64_t i = 0; i < n; i++)
            ((float *)data)[i * stride] = (float)draw_float(r, d, true);
    } else {
        for (int64_t i = 0; i < n; i++)
            ((double *)data)[i * stride] = draw_float(r, d, false);
    }
}

/* Draws into t's elements in C order from one generator, whatever t's strides, so a fill
 * and a fresh tensor of the same generator state hold the same numbers, and neither
 * depends on threads. */
static void draw_into(nb_rng *rng, const draw_spec *d, nb_tensor *t)
{
    nbi_iter it;
    nbi_iter_init(&it, t->rank, t->shape, 1, (const int64_t *const[]){ t->strides });
    char *base = nbi_data(t);
    size_t size = nb_dtype_size(t->dtype);
    nbi_cursor c;
    nbi_cursor_seek(&it, &c, 0);
    nb_rng *r = lock_rng(rng);
    for (int64_t row = 0; row < it.rows; row++) {
        draw_row(r, d, t->dtype, base + c.offset[0] * (int64_t)size, it.strides[0][it.rank - 1], it.inner);
        nbi_cursor_next(&it, &c);
    }
    unlock_rng(r);
}

static nb_tensor *draw_tensor(const char *fn, nb_rng *rng, const draw_spec *d, nb_dtype dtype, int rank,
                              const int64_t *shape)
{
    uint64_t errors_before = nbi_error_count();
    nb_tensor *t = nb_empty(dtype, rank, shape);
    if (!t) {
        nbi_error_prefix(fn, errors_before);   /* "nb_randn: nb_empty: rank 9 is out of range" */
        return NULL;
    }
    draw_into(rng, d, t);
    return t;
}

NB_API nb_tensor *nb_rand(nb_rng *rng, nb_dtype dtype, int rank, const int64_t *shape)
{
    return nb_uniform(rng, dtype, rank, shape, 0.0, 1.0);
}

NB_API nb_tensor *nb_uniform(nb_rng *rng, nb_dtype dtype, int rank, const int64_t *shape,
                             double low, double high)
{
    if (dtype == NB_I64) {
        nbi_error(NB_ERR_DTYPE, "nb_uniform: dtype i64 is not a floating type (use nb_randint)");
        return NULL;
    }
    if (!(low <= high)) {
        nbi_error(NB_ERR_ARG, "nb_uniform: low %g is above high %g", low, high);
        return NULL;
    }
    return draw_tensor("nb_uniform", rng, &(draw_spec){ UNIFORM, low, high, 0, 0 }, dtype, rank, shape);
}

NB_API nb_tensor *nb_randn(nb_rng *rng, nb_dtype dtype, int rank, const int64_t *shape)
{
    if (dtype == NB_I64) {
        nbi_error(NB_ERR_DTYPE, "nb_randn: dtype i64 is not a floating type");
        return NULL;
    }
    return draw_tensor("nb_randn", rng, &(draw_spec){ NORMAL, 0, 1, 0, 0 }, dtype, rank, shape);
}

NB_API nb_tensor *nb_randint(nb_rng *rng, int64_t low, int64_t high, int rank, const int64_t *shape)
{
    if (high <= low) {
        nbi_error(NB_ERR_ARG, "nb_randint: empty range [%lld, %lld)", (long long)low, (long long)high);
        return NULL;
    }
    return draw_tensor("nb_randint", rng, &(draw_spec){ INTEGER, 0, 0, low, high }, NB_I64, rank, shape);
}

/* ---------------------------------------------------------------- in-place fills */

/* The checks of every in-place update (as nb_fill_inplace), plus the ones a random fill adds:
 * a floating dtype, and no two elements sharing memory (an expanded tensor would keep only
 * the last of the draws written to each place). */
static nb_status check_fill(const char *fn, const nb_tensor *t)
{
    if (!t)
        return nbi_error_keep(NB_ERR_NULL, "%s: tensor is NULL", fn);
    if (t->requires_grad && nbi_grad_enabled())
        return nbi_error(NB_ERR_AUTOGRAD,
                         "%s: tensor requires grad and grad mode is on; update it inside "
                         "nb_no_grad_begin/end (an in-place change would corrupt its gradient)", fn);
    if (t->dtype != NB_F32 && t->dtype != NB_F64)
        return nbi_error(NB_ERR_DTYPE, "%s: dtype %s is not a floating type", fn, nb_dtype_name(t->dtype));
    for (int d = 0; d < t->rank; d++)
        if (t->strides[d] == 0 && t->shape[d] > 1) {
            char buf[160];
            return nbi_error(NB_ERR_ARG, "%s: tensor of shape %s is expanded along axis %d (stride 0): its elements "
                             "share memory, so they cannot each get a draw (fill a contiguous copy)",
                             fn, nb_shape_str(t->rank, t->shape, buf, sizeof buf), d);
        }
    return NB_OK;
}

NB_API nb_status nb_normal_inplace(nb_tensor *t, double mean, double std, nb_rng *rng)
{
    nb_status st = check_fill("nb_normal_inplace", t);
    if (st)
        return st;
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean))
        return nbi_error(NB_ERR_ARG, "nb_normal_inplace: mean %g and std %g must be finite, std at least 0", mean, std);
    draw_into(rng, &(draw_spec){ NORMAL, mean, std, 0, 0 }, t);
    nbi_bump_version(t);
    return NB_OK;
}

NB_API nb_status nb_uniform_inplace(nb_tensor *t, double low, double high, nb_rng *rng)
{
    nb_status st = check_fill("nb_uniform_inplace", t);
    if (st)
        return st;
    if (!(low <= high) || !isfinite(low) || !isfinite(high))
        return nbi_error(NB_ERR_ARG, "nb_uniform_inplace: low %g and high %g must be finite with low <= high", low,
                         high);
    draw_into(rng, &(draw_spec){ UNIFORM, low, high, 0, 0 }, t);
    nbi_bump_version(t);
    return NB_OK;
}
