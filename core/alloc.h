/* The one place nabla gets memory from (internal).
 *
 * Tensor storage comes from a caching allocator: 64-byte aligned blocks in size buckets
 * (four per power of two), kept on free lists when released so that a training loop reuses
 * the same blocks each step instead of faulting in fresh pages. Small bookkeeping objects
 * use nbi_malloc. Both can be told to fail, so tests can check out-of-memory paths. */
#ifndef NABLA_CORE_ALLOC_H
#define NABLA_CORE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Storage blocks: nbytes may be 0. Returns NULL (error set) on failure. */
void *nbi_storage_alloc(size_t nbytes);
void nbi_storage_free(void *p, size_t nbytes);

/* Counts live bytes of storage kept inline in a storage struct: made (bytes > 0) or freed
 * (bytes < 0) without the allocator, so not an allocation or cache hit. */
void nbi_count_inline_storage(int64_t bytes);

/* Bookkeeping: like malloc/calloc/free; NULL (error set) on failure. */
void *nbi_malloc(size_t nbytes);
void *nbi_calloc(size_t count, size_t size);
void *nbi_realloc(void *p, size_t nbytes);
/* Zeroed, 64-byte aligned objects from a per-thread pool, for the structs every op makes
 * (tensors, storages, graph nodes). Free with the same size. */
void *nbi_object_alloc(size_t nbytes);
void nbi_object_free(void *p, size_t nbytes);
void nbi_free(void *p);

/* Test hook: the n-th allocation from now (1 = the next) and every one after it fails,
 * until called again with 0. */
void nbi_alloc_fail_after(long n);

#endif
