/* Seeded generators: xoshiro256** (Blackman and Vigna), seeded through splitmix64. */
#include <math.h>
#include <pthread.h>

#include "core/alloc.h"
#include "core/error_impl.h"
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
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
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

/* Draws in C order from one generator, so results do not depend on threads. Uniform on
 * [a, b) for floats; integers in [low, high). */
static nb_tensor *draw_tensor(const char *fn, nb_rng *rng, enum draw kind, nb_dtype dtype, int rank,
                              const int64_t *shape, double a, double b, int64_t low, int64_t high)
{
    uint64_t errors_before = nbi_error_count();
    nb_tensor *t = nb_empty(dtype, rank, shape);
    if (!t) {
        nbi_error_prefix(fn, errors_before);   /* "nb_randn: nb_empty: rank 9 is out of range" */
        return NULL;
    }
    void *data = t->storage->data;
    nb_rng *r = lock_rng(rng);
    for (int64_t i = 0; i < t->numel; i++) {
        if (kind == INTEGER) {
            ((int64_t *)data)[i] = (int64_t)((uint64_t)low + next_below(r, (uint64_t)high - (uint64_t)low));
            continue;
        }
        double v;
        if (kind == NORMAL)
            v = next_normal(r);
        else if (dtype == NB_F32)   /* 24 random bits: every float in [0, 1) on the grid 2^-24 */
            v = a + (b - a) * (double)((float)(next_bits(r) >> 40) * 0x1p-24f);
        else
            v = a + (b - a) * next_uniform(r);
        nbi_store(dtype, data, i, v);
    }
    unlock_rng(r);
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
    return draw_tensor("nb_uniform", rng, UNIFORM, dtype, rank, shape, low, high, 0, 0);
}

NB_API nb_tensor *nb_randn(nb_rng *rng, nb_dtype dtype, int rank, const int64_t *shape)
{
    if (dtype == NB_I64) {
        nbi_error(NB_ERR_DTYPE, "nb_randn: dtype i64 is not a floating type");
        return NULL;
    }
    return draw_tensor("nb_randn", rng, NORMAL, dtype, rank, shape, 0, 0, 0, 0);
}

NB_API nb_tensor *nb_randint(nb_rng *rng, int64_t low, int64_t high, int rank, const int64_t *shape)
{
    if (high <= low) {
        nbi_error(NB_ERR_ARG, "nb_randint: empty range [%lld, %lld)", (long long)low, (long long)high);
        return NULL;
    }
    return draw_tensor("nb_randint", rng, INTEGER, NB_I64, rank, shape, 0, 0, low, high);
}
