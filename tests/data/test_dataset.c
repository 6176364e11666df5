/* Datasets and loaders: batches by index, epochs that serve every example once, shuffling
 * that depends on the seed only, drop_last, resetting, ownership by scopes, and errors. */
#include "../common/check.h"
#include "core/alloc.h"

/* features [n, 2] with row i = (i, 100 + i) in f32, labels [n] = i % 3 in i64 */
static void make_data(int64_t n, nb_tensor **x, nb_tensor **y)
{
    *x = nb_empty(NB_F32, NB_SHAPE(n, 2));
    *y = nb_empty(NB_I64, NB_SHAPE(n));
    NOT_NULL(*x);
    NOT_NULL(*y);
    float *xs = nb_tensor_data(*x);
    int64_t *ys = nb_tensor_data(*y);
    for (int64_t i = 0; i < n; i++) {
        xs[2 * i] = (float)i;
        xs[2 * i + 1] = (float)(100 + i);
        ys[i] = i % 3;
    }
}

/* Checks that batch (x, y) holds rows consistent with make_data and records which. */
static int64_t check_batch(nb_tensor *x, nb_tensor *y, int64_t *seen, int64_t n)
{
    NOT_NULL(x);
    NOT_NULL(y);
    int64_t b = nb_tensor_dim(x, 0);
    nbt_assert_shape(x, 2, (int64_t[]){ b, 2 });
    nbt_assert_shape(y, 1, (int64_t[]){ b });
    for (int64_t r = 0; r < b; r++) {
        int64_t i = (int64_t)nbt_value_at(x, 2 * r);
        assert_true(i >= 0 && i < n);
        assert_true(nbt_value_at(x, 2 * r + 1) == 100 + i);
        assert_true(nbt_value_at(y, r) == i % 3);
        seen[i]++;
    }
    return b;
}

/* One epoch's first examples, in order, into out (n of them). */
static void epoch_order(nb_loader *l, int64_t *out, int64_t n)
{
    nb_tensor *x, *y;
    int64_t k = 0;
    nb_scope *s = nb_scope_begin();
    while (nb_loader_next(l, &x, &y)) {
        for (int64_t r = 0; r < nb_tensor_dim(x, 0) && k < n; r++)
            out[k++] = (int64_t)nbt_value_at(x, 2 * r);
        nb_scope_end(s);
        s = nb_scope_begin();
    }
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- datasets */

static void dataset_keeps_its_tensors_after_their_scope_ends(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    make_data(10, &x, &y);
    nb_dataset *ds = nb_dataset_new(x, y);
    assert_non_null(ds);
    nb_scope_end(s);
    assert_int_equal(nb_dataset_len(ds), 10);
    nbt_assert_shape(nb_dataset_features(ds), 2, (int64_t[]){ 10, 2 });
    assert_true(nbt_value_at(nb_dataset_labels(ds), 5) == 2);
    nb_dataset_free(ds);
    nb_dataset_free(NULL);
}

static void get_gathers_rows_in_the_order_asked_repeats_allowed(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y, *bx, *by;
    make_data(10, &x, &y);
    nb_dataset *ds = nb_dataset_new(x, y);
    ASSERT_OK(nb_dataset_get(ds, (int64_t[]){ 7, 2, 7 }, 3, &bx, &by));
    nbt_assert_close(bx, (double[]){ 7, 107, 2, 102, 7, 107 }, 6, 0);
    nbt_assert_close(by, (double[]){ 1, 2, 1 }, 3, 0);
    assert_true(nb_tensor_is_contiguous(bx));
    ASSERT_OK(nb_dataset_get(ds, NULL, 0, &bx, NULL));
    nbt_assert_shape(bx, 2, (int64_t[]){ 0, 2 });
    nb_dataset_free(ds);
    nb_scope_end(s);
}

static void non_contiguous_features_are_copied(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y, *bx;
    make_data(4, &x, &y);
    nb_tensor *cols = nb_transpose(x, 0, 1);   /* a [2, 4] view */
    assert_false(nb_tensor_is_contiguous(cols));
    nb_dataset *ds = nb_dataset_new(cols, NULL);
    assert_non_null(ds);
    assert_true(nb_tensor_is_contiguous(nb_dataset_features(ds)));
    ASSERT_OK(nb_dataset_get(ds, (int64_t[]){ 1 }, 1, &bx, NULL));
    nbt_assert_close(bx, (double[]){ 100, 101, 102, 103 }, 4, 0);
    assert_null(nb_dataset_labels(ds));
    nb_dataset_free(ds);
    nb_scope_end(s);
}

static void dataset_errors_name_the_shapes_and_indices(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y, *bx, *by;
    make_data(10, &x, &y);
    assert_null(nb_dataset_new(x, nb_zeros(NB_I64, NB_SHAPE(9))));
    assert_int_equal(nb_error_code(), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "nb_dataset_new: features [10, 2] and labels [9]: expected the same number of examples");
    assert_null(nb_dataset_new(nb_scalar(NB_F32, 1), NULL));
    ASSERT_CONTAINS(nb_error(), "nb_dataset_new: features must have an axis of examples");
    nb_error_clear();
    assert_null(nb_dataset_new(NULL, y));
    assert_int_equal(nb_error_code(), NB_ERR_NULL);
    nb_dataset *ds = nb_dataset_new(x, y);
    assert_int_equal(nb_dataset_get(ds, (int64_t[]){ 0, 10 }, 2, &bx, &by), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "nb_dataset_get: indices[1] = 10 is out of range [0, 10)");
    assert_null(bx);
    assert_null(by);
    assert_int_equal(nb_dataset_get(ds, (int64_t[]){ -1 }, 1, &bx, &by), NB_ERR_ARG);
    assert_int_equal(nb_dataset_get(ds, NULL, 3, &bx, &by), NB_ERR_ARG);
    assert_int_equal(nb_dataset_get(NULL, (int64_t[]){ 0 }, 1, &bx, &by), NB_ERR_NULL);
    nb_dataset_free(ds);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- loaders */

static void an_epoch_serves_every_example_once_in_order_without_shuffle(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y, *bx, *by;
    make_data(10, &x, &y);
    nb_dataset *ds = nb_dataset_new(x, y);
    nb_loader_opts o = nb_loader_opts_default();
    assert_int_equal(o.batch_size, 32);
    o.batch_size = 4;
    nb_loader *l = nb_loader_new(ds, &o);
    assert_non_null(l);
    assert_int_equal(nb_loader_batches(l), 3);
    int64_t seen[10] = { 0 }, sizes[4], batches = 0;
    while (nb_loader_next(l, &bx, &by)) {
        assert_true(nbt_value_at(bx, 0) == 4 * batches);   /* dataset order */
        sizes[batches++] = check_batch(bx, by, seen, 10);
    }
    assert_null(bx);
    assert_null(by);
    assert_int_equal(batches, 3);
    assert_int_equal(sizes[0], 4);
    assert_int_equal(sizes[2], 2);
    for (int i = 0; i < 10; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(nb_loader_epoch(l), 1);
    /* the next call starts epoch 2 */
    assert_true(nb_loader_next(l, &bx, &by));
    assert_true(nbt_value_at(bx, 0) == 0);
    nb_loader_free(l);
    nb_dataset_free(ds);
    nb_scope_end(s);
}

static void drop_last_skips_the_short_batch(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y, *bx, *by;
    make_data(10, &x, &y);
    nb_dataset *ds = nb_dataset_new(x, y);
    nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){ .batch_size = 4, .shuffle = true, .seed = 3, .drop_last = true });
    assert_int_equal(nb_loader_batches(l), 2);
    for (int epoch = 0; epoch < 3; epoch++) {
        int64_t seen[10] = { 0 }, batches = 0;
        while (nb_loader_next(l, &bx, &by)) {
            assert_int_equal(check_batch(bx, by, seen, 10), 4);
            batches++;
        }
        assert_int_equal(batches, 2);
        assert_int_equal(nb_loader_epoch(l), epoch + 1);
    }
    nb_loader_free(l);
    nb_dataset_free(ds);
    nb_scope_end(s);
}

static void same_seed_same_orders_and_reset_repeats_them(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    make_data(50, &x, &y);
    nb_dataset *ds = nb_dataset_new(x, y);
    nb_loader_opts o = { .batch_size = 7, .shuffle = true, .seed = 42 };
    nb_loader *a = nb_loader_new(ds, &o), *b = nb_loader_new(ds, &o);
    o.seed = 43;
    nb_loader *c = nb_loader_new(ds, &o);
    int64_t a1[50], a2[50], b1[50], b2[50], c1[50], r1[50];
    epoch_order(a, a1, 50);
    epoch_order(a, a2, 50);
    epoch_order(b, b1, 50);
    epoch_order(b, b2, 50);
    epoch_order(c, c1, 50);
    assert_memory_equal(a1, b1, sizeof a1);
    assert_memory_equal(a2, b2, sizeof a2);
    assert_memory_not_equal(a1, a2, sizeof a1);   /* each epoch reshuffles */
    assert_memory_not_equal(a1, c1, sizeof a1);   /* another seed, another order */
    int64_t seen[50] = { 0 };
    for (int i = 0; i < 50; i++)
        seen[a1[i]]++;
    for (int i = 0; i < 50; i++)
        assert_int_equal(seen[i], 1);
    ASSERT_OK(nb_loader_reset(a));
    assert_int_equal(nb_loader_epoch(a), 0);
    epoch_order(a, r1, 50);
    assert_memory_equal(a1, r1, sizeof a1);
    nb_loader_free(a);
    nb_loader_free(b);
    nb_loader_free(c);
    nb_dataset_free(ds);
    nb_scope_end(s);
}

static void reset_in_the_middle_of_an_epoch_starts_over(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y, *bx, *by;
    make_data(10, &x, &y);
    nb_dataset *ds = nb_dataset_new(x, y);
    nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){ .batch_size = 3 });
    assert_true(nb_loader_next(l, &bx, &by));
    assert_true(nb_loader_next(l, &bx, &by));
    assert_true(nbt_value_at(bx, 0) == 3);
    ASSERT_OK(nb_loader_reset(l));
    assert_true(nb_loader_next(l, &bx, &by));
    assert_true(nbt_value_at(bx, 0) == 0);
    nb_loader_free(l);
    nb_dataset_free(ds);
    nb_scope_end(s);
}

static void batches_belong_to_the_scope_open_at_the_call(void **state)
{
    (void)state;
    nb_tensor *x, *y, *bx, *by;
    nb_scope *outer = nb_scope_begin();
    make_data(100, &x, &y);
    nb_dataset *ds = nb_dataset_new(x, y);
    nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){ .batch_size = 10, .shuffle = true });
    int64_t before = nbt_live_bytes();
    nb_scope *s = nb_scope_begin();
    while (nb_loader_next(l, &bx, &by)) {
        assert_true(nbt_live_bytes() > before);
        nb_scope_end(s);
        assert_int_equal(nbt_live_bytes(), before);
        s = nb_scope_begin();
    }
    nb_scope_end(s);
    nb_loader_free(l);
    nb_dataset_free(ds);
    nb_scope_end(outer);
}

static void labels_may_be_absent_or_skipped(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y, *bx, *by = (nb_tensor *)1;
    make_data(5, &x, &y);
    nb_dataset *ds = nb_dataset_new(x, NULL);
    nb_loader *l = nb_loader_new(ds, NULL);
    assert_true(nb_loader_next(l, &bx, &by));
    nbt_assert_shape(bx, 2, (int64_t[]){ 5, 2 });
    assert_null(by);
    assert_true(nb_loader_next(l, &bx, NULL) == false);
    nb_loader_free(l);
    nb_dataset_free(ds);
    nb_scope_end(s);
}

static void empty_dataset_ends_every_epoch_at_once(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *bx, *by;
    nb_dataset *ds = nb_dataset_new(nb_zeros(NB_F32, NB_SHAPE(0, 3)), nb_zeros(NB_I64, NB_SHAPE(0)));
    nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){ .batch_size = 4, .shuffle = true });
    assert_int_equal(nb_loader_batches(l), 0);
    assert_false(nb_loader_next(l, &bx, &by));
    assert_false(nb_loader_next(l, &bx, &by));
    assert_int_equal(nb_loader_epoch(l), 2);
    nb_loader_free(l);
    nb_dataset_free(ds);
    nb_scope_end(s);
}

static void loader_errors(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y, *bx;
    make_data(5, &x, &y);
    nb_dataset *ds = nb_dataset_new(x, y);
    assert_null(nb_loader_new(ds, &(nb_loader_opts){ .batch_size = 0 }));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "nb_loader_new: batch_size 0, expected at least 1");
    assert_null(nb_loader_new(NULL, NULL));
    ASSERT_CONTAINS(nb_error(), "nb_loader_new: dataset is NULL");
    assert_false(nb_loader_next(NULL, &bx, NULL));
    ASSERT_CONTAINS(nb_error(), "nb_loader_next: loader is NULL");
    assert_int_equal(nb_loader_reset(NULL), NB_ERR_NULL);
    nb_loader_free(NULL);
    nb_dataset_free(ds);
    nb_scope_end(s);
}

static void allocation_failure_in_next_keeps_the_epoch(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y, *bx, *by;
    make_data(1000, &x, &y);   /* batches of 8 KB and 8 KB: real allocations, not inline */
    nb_dataset *ds = nb_dataset_new(x, y);
    nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){ .batch_size = 500 });
    for (long n = 1; n <= 3; n++) {
        nb_error_clear();
        nbi_alloc_fail_after(n);
        bool got = nb_loader_next(l, &bx, &by);
        nbi_alloc_fail_after(0);
        if (got)
            break;
        assert_int_equal(nb_error_code(), NB_ERR_MEMORY);
        ASSERT_CONTAINS(nb_error(), "nb_loader_next: ");
        assert_null(bx);
        assert_null(by);
        assert_int_equal(nb_loader_epoch(l), 0);
    }
    /* the failed calls served nothing: the epoch still has both batches */
    int64_t seen[1000] = { 0 }, served = 0;
    while (nb_loader_next(l, &bx, &by))
        served += check_batch(bx, by, seen, 1000);
    assert_int_equal(served, 1000);
    nb_loader_free(l);
    nb_dataset_free(ds);
    nb_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(dataset_keeps_its_tensors_after_their_scope_ends),
        TEST(get_gathers_rows_in_the_order_asked_repeats_allowed),
        TEST(non_contiguous_features_are_copied),
        TEST(dataset_errors_name_the_shapes_and_indices),
        TEST(an_epoch_serves_every_example_once_in_order_without_shuffle),
        TEST(drop_last_skips_the_short_batch),
        TEST(same_seed_same_orders_and_reset_repeats_them),
        TEST(reset_in_the_middle_of_an_epoch_starts_over),
        TEST(batches_belong_to_the_scope_open_at_the_call),
        TEST(labels_may_be_absent_or_skipped),
        TEST(empty_dataset_ends_every_epoch_at_once),
        TEST(loader_errors),
        TEST(allocation_failure_in_next_keeps_the_epoch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
