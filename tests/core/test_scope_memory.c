/* Ownership and memory: scopes own temporaries, nb_scope_keep hands a tensor outwards,
 * references for code that manages lifetimes itself, the caching allocator's statistics,
 * and out-of-memory paths through allocation failure injection (DESIGN §3, §4; STYLE §5).
 *
 * Whether a tensor is still alive is observed through wrapped memory whose deleter counts
 * calls (it runs exactly when the last view dies) and through live_bytes. */
#include <math.h>
#include <stdio.h>

#include "../common/check.h"
#include "core/alloc.h"

/* ---------------------------------------------------------------- helpers */

/* Wrapped memory whose deleter records that the last view died. */
typedef struct watched {
    double data[4];
    int deleted;
} watched;

static void watched_deleter(void *data, void *user)
{
    (void)data;
    ((watched *)user)->deleted++;
}

static nb_tensor *wrap_watched(watched *w)
{
    w->deleted = 0;
    for (int i = 0; i < 4; i++)
        w->data[i] = i + 1;
    nb_tensor *t = nb_tensor_wrap(w->data, NB_F64, NB_SHAPE(4), NULL, watched_deleter, w);
    NOT_NULL(t);
    return t;
}

/* ---------------------------------------------------------------- scopes */

static void scope_end_frees_every_temporary(void **state)
{
    (void)state;
    int64_t start = nbt_live_bytes();
    nb_scope *s = nb_scope_begin();
    NOT_NULL(s);
    nb_tensor *x = nb_ones(NB_F32, NB_SHAPE(64, 64));
    nb_tensor *y = nb_tanh(nb_mul(nb_add(x, x), x));
    nb_tensor *v = nb_transpose(y, 0, 1);
    NOT_NULL(v);
    assert_true(nbt_live_bytes() >= start + 3 * 64 * 64 * 4);   /* x, the sum, the product, tanh */
    nb_scope_end(s);
    assert_int_equal(nbt_live_bytes(), start);
}

static void scope_end_frees_wrapped_memory_through_its_deleter(void **state)
{
    (void)state;
    watched w;
    nb_scope *s = nb_scope_begin();
    nb_tensor *t = wrap_watched(&w);
    nb_tensor *v = nb_slice(t, 0, 1, 3, 1);
    NOT_NULL(v);
    assert_int_equal(w.deleted, 0);
    assert_int_equal(nb_scope_end(s), NB_OK);
    assert_int_equal(w.deleted, 1);
}

static void nested_scopes_free_their_own_tensors_only(void **state)
{
    (void)state;
    watched outer_w, inner_w;
    int64_t start = nbt_live_bytes();
    nb_scope *outer = nb_scope_begin();
    nb_tensor *a = wrap_watched(&outer_w);
    nb_tensor *big = nb_zeros(NB_F64, NB_SHAPE(1000));
    NOT_NULL(big);
    int64_t after_outer = nbt_live_bytes();
    nb_scope *inner = nb_scope_begin();
    nb_tensor *b = wrap_watched(&inner_w);
    nb_tensor *c = nb_add(a, b);   /* made in the inner scope from an outer tensor */
    NOT_NULL(c);
    assert_true(nbt_live_bytes() > after_outer);
    assert_int_equal(nb_scope_end(inner), NB_OK);
    assert_int_equal(inner_w.deleted, 1);
    assert_int_equal(outer_w.deleted, 0);
    assert_int_equal(nbt_live_bytes(), after_outer);
    assert_true(nb_tensor_get(a, (const int64_t[]){ 3 }) == 4);   /* a is still usable */
    assert_int_equal(nb_scope_end(outer), NB_OK);
    assert_int_equal(outer_w.deleted, 1);
    assert_int_equal(nbt_live_bytes(), start);
}

static void scope_keep_moves_a_tensor_to_the_enclosing_scope(void **state)
{
    (void)state;
    watched w;
    nb_scope *outer = nb_scope_begin();
    nb_scope *inner = nb_scope_begin();
    nb_tensor *t = wrap_watched(&w);
    assert_ptr_equal(nb_scope_keep(inner, t), t);
    assert_int_equal(nb_scope_end(inner), NB_OK);
    assert_int_equal(w.deleted, 0);   /* survived the inner scope */
    assert_true(nb_tensor_get(t, (const int64_t[]){ 0 }) == 1);
    assert_int_equal(nb_scope_end(outer), NB_OK);
    assert_int_equal(w.deleted, 1);   /* and died with the outer one */
}

static void scope_keep_of_the_outermost_scope_hands_the_tensor_to_the_caller(void **state)
{
    (void)state;
    watched w;
    nb_scope *s = nb_scope_begin();
    nb_tensor *t = wrap_watched(&w);
    assert_ptr_equal(nb_scope_keep(s, t), t);
    assert_int_equal(nb_scope_end(s), NB_OK);
    assert_int_equal(w.deleted, 0);
    nb_release(t);
    assert_int_equal(w.deleted, 1);
}

static void scope_keep_of_a_tensor_the_scope_does_not_own_fails(void **state)
{
    (void)state;
    watched w;
    nb_scope *outer = nb_scope_begin();
    nb_tensor *t = wrap_watched(&w);
    nb_scope *inner = nb_scope_begin();
    assert_null(nb_scope_keep(inner, t));
    assert_int_equal(nb_error_code(), NB_ERR_STATE);
    nb_error_clear();
    assert_null(nb_scope_keep(inner, NULL));
    assert_int_equal(nb_error_code(), NB_ERR_NULL);
    assert_int_equal(nb_scope_end(inner), NB_OK);
    assert_int_equal(w.deleted, 0);
    assert_int_equal(nb_scope_end(outer), NB_OK);
    assert_int_equal(w.deleted, 1);
}

static void ending_an_outer_scope_with_an_inner_open_fails_and_frees_both(void **state)
{
    (void)state;
    watched outer_w, inner_w;
    int64_t start = nbt_live_bytes();
    nb_scope *outer = nb_scope_begin();
    nb_tensor *a = wrap_watched(&outer_w);
    nb_tensor *a2 = nb_mul(a, a);
    nb_scope *inner = nb_scope_begin();
    nb_tensor *b = wrap_watched(&inner_w);
    nb_tensor *b2 = nb_add(b, a2);
    NOT_NULL(b2);
    assert_non_null(inner);
    assert_int_equal(nb_scope_end(outer), NB_ERR_STATE);
    ASSERT_CONTAINS(nb_error(), "inner scope");
    assert_int_equal(inner_w.deleted, 1);
    assert_int_equal(outer_w.deleted, 1);
    assert_int_equal(nbt_live_bytes(), start);
    /* Both are closed: a new scope is the innermost and owns what follows. */
    nb_error_clear();
    watched w;
    nb_scope *s = nb_scope_begin();
    wrap_watched(&w);
    assert_int_equal(nb_scope_end(s), NB_OK);
    assert_int_equal(w.deleted, 1);
}

static void ending_a_scope_that_is_not_open_fails(void **state)
{
    (void)state;
    nb_scope *outer = nb_scope_begin();
    nb_scope *s = nb_scope_begin();
    assert_int_equal(nb_scope_end(s), NB_OK);
    /* s is freed now; a NULL or foreign pointer stands for a scope that is not open. */
    assert_int_equal(nb_scope_end(NULL), NB_ERR_NULL);
    nb_error_clear();
    assert_int_equal(nb_scope_end((nb_scope *)&outer), NB_ERR_STATE);
    assert_int_equal(nb_scope_end(outer), NB_OK);
}

static void retain_and_release_manage_lifetime_without_a_scope(void **state)
{
    (void)state;
    watched w;
    int64_t start = nbt_live_bytes();
    nb_tensor *t = wrap_watched(&w);   /* no scope open: the caller owns it */
    assert_ptr_equal(nb_retain(t), t);
    nb_release(t);
    assert_int_equal(w.deleted, 0);
    assert_true(nb_tensor_get(t, (const int64_t[]){ 1 }) == 2);
    nb_release(t);
    assert_int_equal(w.deleted, 1);

    nb_tensor *z = nb_zeros(NB_F32, NB_SHAPE(100));
    NOT_NULL(z);
    assert_true(nbt_live_bytes() > start);
    nb_tensor *z2 = nb_mul(z, z);   /* ops too: owned by the caller */
    NOT_NULL(z2);
    nb_release(z2);
    nb_release(z);
    assert_int_equal(nbt_live_bytes(), start);
    nb_release(NULL);   /* no-op */
}

static void retain_inside_a_scope_outlives_the_scope(void **state)
{
    (void)state;
    watched w;
    nb_scope *s = nb_scope_begin();
    nb_tensor *t = nb_retain(wrap_watched(&w));
    nb_scope_end(s);
    assert_int_equal(w.deleted, 0);
    assert_true(nb_tensor_get(t, (const int64_t[]){ 2 }) == 3);
    nb_release(t);
    assert_int_equal(w.deleted, 1);
}

static void views_keep_storage_alive_after_the_base_is_released(void **state)
{
    (void)state;
    int64_t start = nbt_live_bytes();
    nb_tensor *x = nb_arange(NB_F64, 0, 8, 1);
    nb_tensor *v = nb_slice(x, 0, 4, 8, 2);
    NOT_NULL(v);
    nb_release(x);
    assert_true(nbt_live_bytes() > start);
    assert_true(nb_tensor_get(v, (const int64_t[]){ 1 }) == 6);
    nb_release(v);
    assert_int_equal(nbt_live_bytes(), start);
}

/* ---------------------------------------------------------------- caching allocator */

static void a_second_allocation_of_the_same_size_is_a_cache_hit(void **state)
{
    (void)state;
    nb_memory_release_cache();
    nb_mem_stats before = nb_memory_stats();
    assert_int_equal(before.cached_bytes, 0);
    nb_tensor *a = nb_empty(NB_F32, NB_SHAPE(3000));
    NOT_NULL(a);
    nb_mem_stats after_first = nb_memory_stats();
    assert_int_equal(after_first.allocations, before.allocations + 1);
    assert_int_equal(after_first.cache_hits, before.cache_hits);   /* the cache was empty */
    void *first = nb_tensor_data(a);
    nb_release(a);
    nb_mem_stats freed = nb_memory_stats();
    assert_true(freed.cached_bytes >= 3000 * 4);
    assert_int_equal(freed.live_bytes, before.live_bytes);

    nb_tensor *b = nb_empty(NB_F32, NB_SHAPE(3000));
    NOT_NULL(b);
    nb_mem_stats again = nb_memory_stats();
    assert_int_equal(again.allocations, before.allocations + 2);
    assert_int_equal(again.cache_hits, before.cache_hits + 1);
    assert_ptr_equal(nb_tensor_data(b), first);   /* the very same block */
    assert_int_equal(again.cached_bytes, 0);
    nb_release(b);
}

static void sizes_in_one_size_class_share_cached_blocks_and_others_do_not(void **state)
{
    (void)state;
    nb_memory_release_cache();
    /* 1000 and 1020 bytes both round up to the 1024-byte class (768 < n <= 1024 is one
     * quarter-power-of-two class); 4096 bytes is another class. */
    nb_tensor *a = nb_empty(NB_F32, NB_SHAPE(250));
    NOT_NULL(a);
    nb_release(a);
    int64_t hits = nb_memory_stats().cache_hits;
    nb_tensor *big = nb_empty(NB_F32, NB_SHAPE(1024));
    NOT_NULL(big);
    assert_int_equal(nb_memory_stats().cache_hits, hits);
    nb_tensor *b = nb_empty(NB_F32, NB_SHAPE(255));
    NOT_NULL(b);
    assert_int_equal(nb_memory_stats().cache_hits, hits + 1);
    nb_release(b);
    nb_release(big);
}

static void peak_bytes_tracks_the_largest_live_total(void **state)
{
    (void)state;
    nb_memory_reset_peak();
    int64_t start = nbt_live_bytes();
    assert_int_equal(nb_memory_stats().peak_bytes, start);
    /* Powers of two are their own size class, so the byte counts are exact. */
    nb_tensor *a = nb_empty(NB_F32, NB_SHAPE(262144));   /* 1 MiB */
    nb_tensor *b = nb_empty(NB_F32, NB_SHAPE(65536));    /* 256 KiB */
    NOT_NULL(a);
    NOT_NULL(b);
    assert_int_equal(nbt_live_bytes(), start + 1310720);
    nb_release(a);
    nb_release(b);
    nb_tensor *c = nb_empty(NB_F64, NB_SHAPE(65536));    /* 512 KiB */
    NOT_NULL(c);
    nb_mem_stats s = nb_memory_stats();
    assert_int_equal(s.live_bytes, start + 524288);
    assert_int_equal(s.peak_bytes, start + 1310720);
    nb_release(c);
    nb_memory_reset_peak();
    assert_int_equal(nb_memory_stats().peak_bytes, start);
}

static void release_cache_empties_the_cache(void **state)
{
    (void)state;
    nb_tensor *a = nb_empty(NB_F64, NB_SHAPE(5000));
    NOT_NULL(a);
    nb_release(a);
    assert_true(nb_memory_stats().cached_bytes >= 5000 * 8);
    nb_memory_release_cache();
    assert_int_equal(nb_memory_stats().cached_bytes, 0);
    int64_t hits = nb_memory_stats().cache_hits;
    nb_tensor *b = nb_empty(NB_F64, NB_SHAPE(5000));
    NOT_NULL(b);
    assert_int_equal(nb_memory_stats().cache_hits, hits);   /* nothing left to reuse */
    nb_release(b);
}

static void a_training_loop_reuses_cached_blocks_every_step(void **state)
{
    (void)state;
    nb_scope *outer = nb_scope_begin();
    nb_tensor *w = nb_full(NB_F32, NB_SHAPE(16, 16), 0.1);
    nb_requires_grad(w, true);
    nb_tensor *x = nb_ones(NB_F32, NB_SHAPE(8, 16));
    int64_t allocs = 0, hits = 0;
    for (int step = 0; step < 5; step++) {
        nb_mem_stats before = nb_memory_stats();
        nb_scope *s = nb_scope_begin();
        nb_tensor *loss = nb_sum_all(nb_tanh(nb_matmul(x, w)));
        assert_int_equal(nb_backward(loss, NULL), NB_OK);
        nb_zero_grad(w);
        nb_scope_end(s);
        nb_mem_stats after = nb_memory_stats();
        allocs = after.allocations - before.allocations;
        hits = after.cache_hits - before.cache_hits;
    }
    assert_true(allocs > 0);
    assert_int_equal(hits, allocs);   /* after the first steps, no fresh memory at all */
    nb_scope_end(outer);
}

/* ---------------------------------------------------------------- allocation failures */

static void a_failed_allocation_makes_ops_return_null_with_a_memory_error(void **state)
{
    (void)state;
    int64_t start = nbt_live_bytes();
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_ones(NB_F32, NB_SHAPE(4, 4));
    NOT_NULL(x);
    nbi_alloc_fail_after(1);
    assert_null(nb_exp(x));
    assert_int_equal(nb_error_code(), NB_ERR_MEMORY);
    ASSERT_CONTAINS(nb_error(), "out of memory");
    assert_null(nb_zeros(NB_F64, NB_SHAPE(3)));
    nbi_alloc_fail_after(0);
    nb_error_clear();
    nb_tensor *y = nb_exp(x);   /* works again once allocations succeed */
    NOT_NULL(y);
    assert_true(fabs(nb_tensor_get(y, (const int64_t[]){ 3, 3 }) - exp(1.0)) < 1e-6);
    nb_scope_end(s);
    assert_int_equal(nbt_live_bytes(), start);
}

/* x [3, 4] and w [4, 2]: L = sum(tanh(x @ w)) + sum(x). Closed forms, with t = tanh(x @ w):
 *   dL/dx = (1 - t^2) @ w^T + 1,   dL/dw = x^T @ (1 - t^2). */
enum { M = 3, K = 4, N = 2 };

static void expected_grads(const double *x, const double *w, double *gx, double *gw)
{
    double d[M][N];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += x[i * K + k] * w[k * N + j];
            double t = tanh(acc);
            d[i][j] = 1 - t * t;
        }
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) {
            double acc = 1;
            for (int j = 0; j < N; j++)
                acc += d[i][j] * w[k * N + j];
            gx[i * K + k] = acc;
        }
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int i = 0; i < M; i++)
                acc += x[i * K + k] * d[i][j];
            gw[k * N + j] = acc;
        }
}

static void every_allocation_failure_in_forward_and_backward_is_clean(void **state)
{
    (void)state;
    double xv[M * K], wv[K * N], gx[M * K], gw[K * N];
    for (int i = 0; i < M * K; i++)
        xv[i] = 0.1 * (i % 5) - 0.2;
    for (int i = 0; i < K * N; i++)
        wv[i] = 0.15 * (i % 3) - 0.1;
    expected_grads(xv, wv, gx, gw);

    int64_t start = nbt_live_bytes();
    int failures = 0, succeeded_at = 0;
    for (long n = 1; n <= 1000 && !succeeded_at; n++) {
        nb_error_clear();
        nb_scope *s = nb_scope_begin();
        NOT_NULL(s);
        nb_tensor *x = nb_tensor_from_data(xv, NB_F64, NB_SHAPE(M, K));
        nb_tensor *w = nb_tensor_from_data(wv, NB_F64, NB_SHAPE(K, N));
        NOT_NULL(x);
        NOT_NULL(w);
        nb_requires_grad(x, true);
        nb_requires_grad(w, true);

        nbi_alloc_fail_after(n);
        nb_tensor *loss = nb_add(nb_sum_all(nb_tanh(nb_matmul(x, w))), nb_sum_all(x));
        nb_status st = loss ? nb_backward(loss, NULL) : nb_error_code();
        if (st == NB_OK) {
            succeeded_at = (int)n;
        } else {
            if (st != NB_ERR_MEMORY || nb_error_code() != NB_ERR_MEMORY)
                fail_msg("failing allocation %ld: status %d, error %d: %s", n, (int)st, (int)nb_error_code(),
                         nb_error());
            failures++;
        }
        /* The scope ends while allocations still fail: freeing must not need memory. */
        nb_scope_end(s);
        nbi_alloc_fail_after(0);
        if (nbt_live_bytes() != start)
            fail_msg("failing allocation %ld leaked %lld bytes of storage", n, (long long)(nbt_live_bytes() - start));

        if (succeeded_at) {
            /* The run that got through computed the right gradients. */
            nb_scope *check = nb_scope_begin();
            nb_tensor *x2 = nb_tensor_from_data(xv, NB_F64, NB_SHAPE(M, K));
            nb_tensor *w2 = nb_tensor_from_data(wv, NB_F64, NB_SHAPE(K, N));
            nb_requires_grad(x2, true);
            nb_requires_grad(w2, true);
            nb_tensor *l2 = nb_add(nb_sum_all(nb_tanh(nb_matmul(x2, w2))), nb_sum_all(x2));
            assert_int_equal(nb_backward(l2, NULL), NB_OK);
            for (int i = 0; i < M * K; i++)
                assert_true(fabs(nb_tensor_get(nb_tensor_grad(x2), (const int64_t[]){ i / K, i % K }) - gx[i]) < 1e-12);
            for (int i = 0; i < K * N; i++)
                assert_true(fabs(nb_tensor_get(nb_tensor_grad(w2), (const int64_t[]){ i / N, i % N }) - gw[i]) < 1e-12);
            nb_scope_end(check);
        }
    }
    assert_true(succeeded_at > 0);
    assert_int_equal(failures, succeeded_at - 1);   /* every earlier position did fail */
    assert_true(failures >= 20);                     /* the expression allocates at many points */
    assert_int_equal(nbt_live_bytes(), start);
}

static void allocation_failure_while_recording_leaves_no_half_built_graph(void **state)
{
    (void)state;
    int64_t start = nbt_live_bytes();
    /* Fail each allocation of one recorded op in turn (storage, node, attributes, scope). */
    for (long n = 1; n <= 10; n++) {
        nb_error_clear();
        nb_scope *s = nb_scope_begin();
        nb_tensor *x = nb_full(NB_F64, NB_SHAPE(2, 3), 0.5);
        nb_requires_grad(x, true);
        nbi_alloc_fail_after(n);
        nb_tensor *y = nb_sum(x, (const int[]){ 1 }, 1, false);
        nbi_alloc_fail_after(0);
        if (!y) {
            assert_int_equal(nb_error_code(), NB_ERR_MEMORY);
        } else {
            /* Once it succeeds the graph is whole: d sum(y) / dx = 1 everywhere. */
            assert_int_equal(nb_backward(nb_sum_all(y), NULL), NB_OK);
            assert_true(nb_tensor_get(nb_tensor_grad(x), (const int64_t[]){ 1, 2 }) == 1);
        }
        nb_scope_end(s);
        assert_int_equal(nbt_live_bytes(), start);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(scope_end_frees_every_temporary),
        TEST(scope_end_frees_wrapped_memory_through_its_deleter),
        TEST(nested_scopes_free_their_own_tensors_only),
        TEST(scope_keep_moves_a_tensor_to_the_enclosing_scope),
        TEST(scope_keep_of_the_outermost_scope_hands_the_tensor_to_the_caller),
        TEST(scope_keep_of_a_tensor_the_scope_does_not_own_fails),
        TEST(ending_an_outer_scope_with_an_inner_open_fails_and_frees_both),
        TEST(ending_a_scope_that_is_not_open_fails),
        TEST(retain_and_release_manage_lifetime_without_a_scope),
        TEST(retain_inside_a_scope_outlives_the_scope),
        TEST(views_keep_storage_alive_after_the_base_is_released),
        TEST(a_second_allocation_of_the_same_size_is_a_cache_hit),
        TEST(sizes_in_one_size_class_share_cached_blocks_and_others_do_not),
        TEST(peak_bytes_tracks_the_largest_live_total),
        TEST(release_cache_empties_the_cache),
        TEST(a_training_loop_reuses_cached_blocks_every_step),
        TEST(a_failed_allocation_makes_ops_return_null_with_a_memory_error),
        TEST(every_allocation_failure_in_forward_and_backward_is_clean),
        TEST(allocation_failure_while_recording_leaves_no_half_built_graph),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
