/* Scopes: per-thread stack of owners of temporaries (DESIGN §4). */
#include <pthread.h>

#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/tensor_impl.h"

struct nb_scope {
    nb_tensor **items;
    int64_t count, capacity;
    nb_scope *parent;
};

static _Thread_local nb_scope *innermost;

/* Ended scopes kept for reuse with their item arrays: backward opens one per graph node.
 * A thread's pool is freed when the thread exits. */
enum { POOLED_SCOPES = 16 };
static _Thread_local nb_scope *pool[POOLED_SCOPES];
static _Thread_local int pooled;
static pthread_key_t pool_key;
static pthread_once_t pool_key_once = PTHREAD_ONCE_INIT;

static void free_pool(void *unused)
{
    (void)unused;
    while (pooled > 0) {
        nb_scope *s = pool[--pooled];
        nbi_free(s->items);
        nbi_free(s);
    }
}

static void make_pool_key(void)
{
    pthread_key_create(&pool_key, free_pool);
}

static bool scope_push(nb_scope *s, nb_tensor *t)
{
    if (s->count == s->capacity) {
        int64_t cap = s->capacity ? 2 * s->capacity : 64;
        nb_tensor **items = nbi_realloc(s->items, (size_t)cap * sizeof *items);
        if (!items)
            return false;
        s->items = items;
        s->capacity = cap;
    }
    s->items[s->count++] = t;
    return true;
}

nb_tensor *nbi_scope_add(nb_tensor *t)
{
    if (!t || !innermost)
        return t;
    if (!scope_push(innermost, t)) {
        nb_release(t);
        return NULL;
    }
    return t;
}

NB_API nb_scope *nb_scope_begin(void)
{
    nb_scope *s = pooled > 0 ? pool[--pooled] : nbi_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->parent = innermost;
    innermost = s;
    return s;
}

static void scope_free(nb_scope *s)
{
    /* Latest first: temporaries die before what they were computed from. */
    for (int64_t i = s->count - 1; i >= 0; i--)
        nb_release(s->items[i]);
    s->count = 0;
    if (pooled < POOLED_SCOPES && s->capacity <= 4096) {
        if (pooled == 0) {
            pthread_once(&pool_key_once, make_pool_key);
            pthread_setspecific(pool_key, &pool_key);   /* non-NULL: free_pool runs at exit */
        }
        pool[pooled++] = s;
        return;
    }
    nbi_free(s->items);
    nbi_free(s);
}

NB_API nb_status nb_scope_end(nb_scope *s)
{
    if (!s)
        return nbi_error_keep(NB_ERR_NULL, "nb_scope_end: scope is NULL");
    nb_scope *p = innermost;
    while (p && p != s)
        p = p->parent;
    if (!p)
        return nbi_error(NB_ERR_STATE, "nb_scope_end: scope is not open on this thread");
    nb_status st = NB_OK;
    while (innermost != s) {
        nb_scope *inner = innermost;
        innermost = inner->parent;
        scope_free(inner);
        st = nbi_error(NB_ERR_STATE, "nb_scope_end: an inner scope was still open; ended it too");
    }
    innermost = s->parent;
    scope_free(s);
    return st;
}

NB_API nb_tensor *nb_scope_keep(nb_scope *s, nb_tensor *t)
{
    if (!t) {
        nbi_error_keep(NB_ERR_NULL, "nb_scope_keep: tensor is NULL");
        return NULL;
    }
    if (!s) {
        nbi_error_keep(NB_ERR_NULL, "nb_scope_keep: scope is NULL");
        return NULL;
    }
    nb_scope *open = innermost;   /* s may be ended (freed): compare, never read it before */
    while (open && open != s)
        open = open->parent;
    if (!open) {
        nbi_error(NB_ERR_STATE, "nb_scope_keep: scope is not open on this thread");
        return NULL;
    }
    for (int64_t i = s->count - 1; i >= 0; i--) {
        if (s->items[i] != t)
            continue;
        if (s->parent && !scope_push(s->parent, t))
            return NULL;
        s->items[i] = s->items[--s->count];
        return t;
    }
    nbi_error(NB_ERR_STATE, "nb_scope_keep: the scope does not own this tensor");
    return NULL;
}
