/* Caching allocator for tensor storage, plus the bookkeeping allocator (see alloc.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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

/* Free lists are guarded by the lock; statistics are atomic counters, so that tensors
 * whose data lives inline (tensor_impl.h) can be counted without taking the lock. */
static struct {
    pthread_mutex_t lock;
    free_block *buckets[N_BUCKETS];
    int64_t cache_limit;
} heap = { .lock = PTHREAD_MUTEX_INITIALIZER, .cache_limit = -1 };

static struct {
    _Atomic int64_t live, peak, cached, allocations, hits;
} stats;

/* Live and peak bytes; allocations and cache hits count only allocator requests. */
static void count_live(int64_t bytes)
{
    int64_t live = atomic_fetch_add_explicit(&stats.live, bytes, memory_order_relaxed) + bytes;
    int64_t peak = atomic_load_explicit(&stats.peak, memory_order_relaxed);
    while (live > peak && !atomic_compare_exchange_weak_explicit(&stats.peak, &peak, live, memory_order_relaxed,
                                                                 memory_order_relaxed)) {
    }
}

static void count_request(bool from_cache)
{
    atomic_fetch_add_explicit(&stats.allocations, 1, memory_order_relaxed);
    if (from_cache)
        atomic_fetch_add_explicit(&stats.hits, 1, memory_order_relaxed);
}

void nbi_count_inline_storage(int64_t bytes)
{
    count_live(bytes);
}

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

/* The largest request that falls in bucket i (the inverse of size_class). */
static size_t bucket_bytes(int i)
{
    if (i == 0)
        return MIN_BLOCK;
    int p = (i + 1) / 4, q = (i + 1) % 4;
    if (q == 0)
        p -= 1, q = 4;
    return ((size_t)1 << p) + (size_t)q * ((size_t)1 << (p - 2));
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
    if (b)
        heap.buckets[bucket] = b->next;
    pthread_mutex_unlock(&heap.lock);
    if (b) {
        atomic_fetch_sub_explicit(&stats.cached, (int64_t)size, memory_order_relaxed);
        count_live((int64_t)size);
        count_request(true);
        return b;
    }
    /* aligned_alloc wants a multiple of the alignment; small classes (80, 96, ...) are not. */
    size_t padded = (size + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    void *p = aligned_alloc(ALIGNMENT, padded);
    if (!p) {
        /* The cache may hold what the system lacks: give it back and try once more. */
        nb_memory_release_cache();
        p = aligned_alloc(ALIGNMENT, padded);
    }
    if (!p) {
        nbi_error(NB_ERR_MEMORY, "out of memory: cannot allocate %zu bytes of tensor storage", nbytes);
        return NULL;
    }
    count_live((int64_t)size);
    count_request(false);
    return p;
}

void nbi_storage_free(void *p, size_t nbytes)
{
    if (!p)
        return;
    int bucket;
    size_t size = size_class(nbytes, &bucket);
    count_live(-(int64_t)size);
    int64_t cached = atomic_fetch_add_explicit(&stats.cached, (int64_t)size, memory_order_relaxed) + (int64_t)size;
    if (cached > cache_limit()) {
        atomic_fetch_sub_explicit(&stats.cached, (int64_t)size, memory_order_relaxed);
        free(p);
        return;
    }
    free_block *b = p;
    pthread_mutex_lock(&heap.lock);
    b->next = heap.buckets[bucket];
    heap.buckets[bucket] = b;
    pthread_mutex_unlock(&heap.lock);
}

NB_API nb_mem_stats nb_memory_stats(void)
{
    return (nb_mem_stats){
        .live_bytes = atomic_load(&stats.live),
        .peak_bytes = atomic_load(&stats.peak),
        .cached_bytes = atomic_load(&stats.cached),
        .allocations = atomic_load(&stats.allocations),
        .cache_hits = atomic_load(&stats.hits),
    };
}

NB_API void nb_memory_reset_peak(void)
{
    atomic_store(&stats.peak, atomic_load(&stats.live));
}

NB_API void nb_memory_release_cache(void)
{
    free_block *lists[N_BUCKETS];
    pthread_mutex_lock(&heap.lock);
    memcpy(lists, heap.buckets, sizeof lists);
    memset(heap.buckets, 0, sizeof heap.buckets);
    pthread_mutex_unlock(&heap.lock);
    for (int i = 0; i < N_BUCKETS; i++) {
        while (lists[i]) {
            free_block *next = lists[i]->next;
            int bucket;
            size_t size = size_class(bucket_bytes(i), &bucket);
            atomic_fetch_sub_explicit(&stats.cached, (int64_t)size, memory_order_relaxed);
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

/* ---------------------------------------------------------------- object pool
 * Tensors, storages and graph nodes are made and freed for every op; glibc's malloc and
 * free cost more than the rest of an op on small tensors. They come instead from per-thread
 * free lists in 64-byte classes, carved from 64 KiB slabs that are never returned (all
 * slabs stay on a global list, so nothing is lost, only kept). Sanitizer builds use plain
 * malloc so that AddressSanitizer still sees every object's lifetime. */
#if defined(__SANITIZE_ADDRESS__)
#define NBI_POOL 0
#else
#define NBI_POOL 1
#endif

enum { POOL_CLASSES = 32, SLAB_BYTES = 64 << 10 };

typedef struct slab {
    struct slab *next;
} slab;

static struct {
    pthread_mutex_t lock;
    slab *slabs;
} slabs = { .lock = PTHREAD_MUTEX_INITIALIZER };

static _Thread_local free_block *pool_lists[POOL_CLASSES + 1];

/* Free objects of threads that have exited, for the next thread that runs short. */
static free_block *orphans[POOL_CLASSES + 1];
static pthread_key_t pool_key;
static pthread_once_t pool_key_once = PTHREAD_ONCE_INIT;

static void give_back_pool(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&slabs.lock);
    for (int c = 1; c <= POOL_CLASSES; c++) {
        while (pool_lists[c]) {
            free_block *b = pool_lists[c];
            pool_lists[c] = b->next;
            b->next = orphans[c];
            orphans[c] = b;
        }
    }
    pthread_mutex_unlock(&slabs.lock);
}

static void make_pool_key(void)
{
    pthread_key_create(&pool_key, give_back_pool);
}

/* Refills class c (objects of c * 64 bytes): orphans first, else a new slab. */
static bool pool_refill(int c)
{
    pthread_once(&pool_key_once, make_pool_key);
    pthread_setspecific(pool_key, &pool_key);   /* any non-NULL value: run give_back_pool at exit */
    pthread_mutex_lock(&slabs.lock);
    if (orphans[c]) {
        pool_lists[c] = orphans[c];
        orphans[c] = NULL;
        pthread_mutex_unlock(&slabs.lock);
        return true;
    }
    pthread_mutex_unlock(&slabs.lock);
    slab *sl = aligned_alloc(ALIGNMENT, SLAB_BYTES);
    if (!sl)
        return false;
    pthread_mutex_lock(&slabs.lock);
    sl->next = slabs.slabs;
    slabs.slabs = sl;
    pthread_mutex_unlock(&slabs.lock);
    size_t size = (size_t)c * ALIGNMENT;
    for (char *p = (char *)sl + ALIGNMENT; p + size <= (char *)sl + SLAB_BYTES; p += size) {
        free_block *b = (free_block *)p;
        b->next = pool_lists[c];
        pool_lists[c] = b;
    }
    return true;
}

void *nbi_object_alloc(size_t nbytes)
{
    int c = (int)((nbytes + ALIGNMENT - 1) / ALIGNMENT);
    if (should_fail()) {
        nbi_error(NB_ERR_MEMORY, "out of memory: cannot allocate %zu bytes", nbytes);
        return NULL;
    }
    void *p = NULL;
    if (NBI_POOL && c <= POOL_CLASSES) {
        if (!pool_lists[c] && !pool_refill(c)) {
            nbi_error(NB_ERR_MEMORY, "out of memory: cannot allocate %zu bytes", nbytes);
            return NULL;
        }
        p = pool_lists[c];
        pool_lists[c] = pool_lists[c]->next;
    } else {
        p = aligned_alloc(ALIGNMENT, (size_t)(c ? c : 1) * ALIGNMENT);
        if (!p) {
            nbi_error(NB_ERR_MEMORY, "out of memory: cannot allocate %zu bytes", nbytes);
            return NULL;
        }
    }
    memset(p, 0, (size_t)(c ? c : 1) * ALIGNMENT);
    return p;
}

void nbi_object_free(void *p, size_t nbytes)
{
    int c = (int)((nbytes + ALIGNMENT - 1) / ALIGNMENT);
    if (!p)
        return;
    if (NBI_POOL && c <= POOL_CLASSES) {
        free_block *b = p;
        b->next = pool_lists[c];
        pool_lists[c] = b;
        return;
    }
    free(p);
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
