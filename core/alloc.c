/* Caching allocator for tensor storage, plus the bookkeeping allocator (see alloc.h). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error_impl.h"
#include "nabla/tensor.h"

enum { ALIGNMENT = 64, MIN_BLOCK = 64, N_BUCKETS = 64 * 4 };

/* A cached block stores the link to the next one in its own first bytes. */
typedef struct free_block {
    struct free_block *next;
} free_block;

static struct {
    pthread_mutex_t lock;
    free_block *buckets[N_BUCKETS];
    nb_mem_stats stats;
    int64_t cache_limit;
} heap = { .lock = PTHREAD_MUTEX_INITIALIZER, .cache_limit = -1 };

static _Atomic long fail_countdown;   /* 0: never fail */

static bool should_fail(void)
{
    if (fail_countdown == 0)
        return false;
    if (fail_countdown > 1) {
        fail_countdown--;
        return false;
    }
    return true;    /* stays at 1: every later allocation fails too */
}

void nbi_alloc_fail_after(long n)
{
    fail_countdown = n < 0 ? 0 : n;
}

/* Rounds nbytes up to its size class: 64 bytes at least, then four classes per power of
 * two (2^p * {1.25, 1.5, 1.75, 2}), so at most a quarter of a block is wasted. */
static size_t size_class(size_t nbytes, int *bucket)
{
    if (nbytes <= MIN_BLOCK) {
        *bucket = 0;
        return MIN_BLOCK;
    }
    int p = 63 - __builtin_clzll((unsigned long long)(nbytes - 1));  /* 2^p < nbytes <= 2^(p+1) */
    size_t quarter = (size_t)1 << (p - 2);
    size_t q = (nbytes - ((size_t)1 << p) + quarter - 1) / quarter;   /* 1..4 */
    *bucket = p * 4 + (int)q - 1;
    return ((size_t)1 << p) + q * quarter;
}

static int64_t cache_limit(void)
{
    if (heap.cache_limit < 0) {
        const char *v = getenv("NB_CACHE_LIMIT_MB");
        long mb = v ? atol(v) : 2048;
        heap.cache_limit = (int64_t)(mb < 0 ? 0 : mb) << 20;
    }
    return heap.cache_limit;
}

void *nbi_storage_alloc(size_t nbytes)
{
    int bucket;
    size_t size = size_class(nbytes, &bucket);
    if (should_fail() || bucket >= N_BUCKETS) {
        nbi_error(NB_ERR_MEMORY, "out of memory: cannot allocate %zu bytes of tensor storage", nbytes);
        return NULL;
    }
    pthread_mutex_lock(&heap.lock);
    free_block *b = heap.buckets[bucket];
    heap.stats.allocations++;
    if (b) {
        heap.buckets[bucket] = b->next;
        heap.stats.cached_bytes -= (int64_t)size;
        heap.stats.cache_hits++;
    }
    heap.stats.live_bytes += (int64_t)size;
    if (heap.stats.live_bytes > heap.stats.peak_bytes)
        heap.stats.peak_bytes = heap.stats.live_bytes;
    pthread_mutex_unlock(&heap.lock);
    if (b)
        return b;

    /* aligned_alloc wants a multiple of the alignment; small classes (80, 96, ...) are not. */
    size_t padded = (size + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    void *p = aligned_alloc(ALIGNMENT, padded);
    if (!p) {
        /* The cache may hold what the system lacks: give it back and try once more. */
        nb_memory_release_cache();
        p = aligned_alloc(ALIGNMENT, padded);
    }
    if (!p) {
        pthread_mutex_lock(&heap.lock);
        heap.stats.live_bytes -= (int64_t)size;
        pthread_mutex_unlock(&heap.lock);
        nbi_error(NB_ERR_MEMORY, "out of memory: cannot allocate %zu bytes of tensor storage", nbytes);
    }
    return p;
}

void nbi_storage_free(void *p, size_t nbytes)
{
    if (!p)
        return;
    int bucket;
    size_t size = size_class(nbytes, &bucket);
    bool keep;
    pthread_mutex_lock(&heap.lock);
    heap.stats.live_bytes -= (int64_t)size;
    keep = heap.stats.cached_bytes + (int64_t)size <= cache_limit();
    if (keep) {
        free_block *b = p;
        b->next = heap.buckets[bucket];
        heap.buckets[bucket] = b;
        heap.stats.cached_bytes += (int64_t)size;
    }
    pthread_mutex_unlock(&heap.lock);
    if (!keep)
        free(p);
}

NB_API nb_mem_stats nb_memory_stats(void)
{
    pthread_mutex_lock(&heap.lock);
    nb_mem_stats s = heap.stats;
    pthread_mutex_unlock(&heap.lock);
    return s;
}

NB_API void nb_memory_reset_peak(void)
{
    pthread_mutex_lock(&heap.lock);
    heap.stats.peak_bytes = heap.stats.live_bytes;
    pthread_mutex_unlock(&heap.lock);
}

NB_API void nb_memory_release_cache(void)
{
    free_block *lists[N_BUCKETS];
    pthread_mutex_lock(&heap.lock);
    memcpy(lists, heap.buckets, sizeof lists);
    memset(heap.buckets, 0, sizeof heap.buckets);
    heap.stats.cached_bytes = 0;
    pthread_mutex_unlock(&heap.lock);
    for (int i = 0; i < N_BUCKETS; i++) {
        while (lists[i]) {
            free_block *next = lists[i]->next;
            free(lists[i]);
            lists[i] = next;
        }
    }
}

void *nbi_malloc(size_t nbytes)
{
    void *p = should_fail() ? NULL : malloc(nbytes ? nbytes : 1);
    if (!p)
        nbi_error(NB_ERR_MEMORY, "out of memory: cannot allocate %zu bytes", nbytes);
    return p;
}

void *nbi_calloc(size_t count, size_t size)
{
    void *p = should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
    if (!p)
        nbi_error(NB_ERR_MEMORY, "out of memory: cannot allocate %zu x %zu bytes", count, size);
    return p;
}

void *nbi_realloc(void *p, size_t nbytes)
{
    void *q = should_fail() ? NULL : realloc(p, nbytes ? nbytes : 1);
    if (!q)
        nbi_error(NB_ERR_MEMORY, "out of memory: cannot grow a block to %zu bytes", nbytes);
    return q;
}

void nbi_free(void *p)
{
    free(p);
}
