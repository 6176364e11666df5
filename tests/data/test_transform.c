/* Transforms and splits: standardisation (population std, as scikit-learn's StandardScaler),
 * min-max scaling, one-hot, train/test splits plain and stratified; values worked out by
 * hand, and one test per error. */
#include <math.h>

#include "../common/check.h"
#include "core/alloc.h"

/* x [3, 2] = [[1, 10], [2, 10], [6, 10]]: column 0 has mean 3, population std
 * sqrt(((1-3)^2 + (2-3)^2 + (6-3)^2) / 3) = sqrt(14/3); column 1 is constant. */
static nb_tensor *train_x(nb_dtype dtype)
{
    nb_tensor *x = nb_cast(nb_tensor_from_data((double[]){ 1, 10, 2, 10, 6, 10 }, NB_F64, NB_SHAPE(3, 2)), dtype);
    NOT_NULL(x);
    return x;
}

/* ---------------------------------------------------------------- standardizer */

static void standardizer_uses_population_std_per_feature(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = train_x(NB_F64);
    nb_standardizer *st = nb_standardizer_fit(x, (int[]){ 0 }, 1);
    assert_non_null(st);
    double sd = sqrt(14.0 / 3.0);
    nbt_assert_shape(nb_standardizer_mean(st), 2, (int64_t[]){ 1, 2 });
    nbt_assert_close(nb_standardizer_mean(st), (double[]){ 3, 10 }, 2, 1e-15);
    nbt_assert_close(nb_standardizer_std(st), (double[]){ sd, 1 }, 2, 1e-15);   /* constant: 1, not 0 */
    nb_tensor *z = nb_standardizer_apply(st, x);
    nbt_assert_shape(z, 2, (int64_t[]){ 3, 2 });
    nbt_assert_close(z, (double[]){ -2 / sd, 0, -1 / sd, 0, 3 / sd, 0 }, 6, 1e-15);
    /* fit on train, apply to test: the train statistics */
    nb_tensor *test = nb_tensor_from_data((double[]){ 3, 11, 0, 9 }, NB_F64, NB_SHAPE(2, 2));
    nbt_assert_close(nb_standardizer_apply(st, test), (double[]){ 0, 1, -3 / sd, -1 }, 4, 1e-15);
    nb_standardizer_free(st);
    nb_standardizer_free(NULL);
    nb_scope_end(s);
}

static void standardizer_over_all_axes_and_per_pixel(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = train_x(NB_F32);
    nb_standardizer *all = nb_standardizer_fit(x, NULL, 0);
    /* mean 39/6 = 6.5; squares of deviations 30.25 + 12.25 + 20.25 + 12.25 + 0.25 + 12.25 = 87.5 */
    nbt_assert_shape(nb_standardizer_mean(all), 2, (int64_t[]){ 1, 1 });
    nbt_assert_close(nb_standardizer_mean(all), (double[]){ 6.5 }, 1, 1e-7);
    nbt_assert_close(nb_standardizer_std(all), (double[]){ sqrt(87.5 / 6) }, 1, 1e-7);
    assert_int_equal(nb_tensor_dtype(nb_standardizer_std(all)), NB_F32);
    nb_standardizer_free(all);
    /* images [N, 2, 2], statistics per pixel over N (a negative axis works too) */
    nb_tensor *img = nb_tensor_from_data((float[]){ 0, 1, 2, 3, 4, 5, 6, 7 }, NB_F32, NB_SHAPE(2, 2, 2));
    nb_standardizer *px = nb_standardizer_fit(img, (int[]){ -3 }, 1);
    nbt_assert_shape(nb_standardizer_mean(px), 3, (int64_t[]){ 1, 2, 2 });
    nbt_assert_close(nb_standardizer_mean(px), (double[]){ 2, 3, 4, 5 }, 4, 1e-7);
    nbt_assert_close(nb_standardizer_std(px), (double[]){ 2, 2, 2, 2 }, 4, 1e-7);
    nbt_assert_close(nb_standardizer_apply(px, img), (double[]){ -1, -1, -1, -1, 1, 1, 1, 1 }, 8, 1e-7);
    /* axes {0, 2}: one statistic per row of each image */
    nb_standardizer *rows = nb_standardizer_fit(img, (int[]){ 0, 2 }, 2);
    nbt_assert_shape(nb_standardizer_mean(rows), 3, (int64_t[]){ 1, 2, 1 });
    nbt_assert_close(nb_standardizer_mean(rows), (double[]){ 2.5, 4.5 }, 2, 1e-7);
    nb_standardizer_free(px);
    nb_standardizer_free(rows);
    nb_scope_end(s);
}

static void standardizer_fits_a_strided_view(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *xt = nb_transpose(train_x(NB_F64), 0, 1);   /* [2, 3], not contiguous */
    nb_standardizer *st = nb_standardizer_fit(xt, (int[]){ 1 }, 1);
    nbt_assert_close(nb_standardizer_mean(st), (double[]){ 3, 10 }, 2, 1e-15);
    nb_standardizer_free(st);
    nb_scope_end(s);
}

static void standardizer_apply_is_differentiable(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = train_x(NB_F64);
    nb_standardizer *st = nb_standardizer_fit(x, (int[]){ 0 }, 1);
    nb_tensor *leaf = nbt_leaf((double[]){ 1, 10, 2, 10, 6, 10 }, NB_SHAPE(3, 2));
    ASSERT_OK(nb_backward(nb_sum_all(nb_standardizer_apply(st, leaf)), NULL));
    double g = 1 / sqrt(14.0 / 3.0);
    nbt_assert_close(nb_tensor_grad(leaf), (double[]){ g, 1, g, 1, g, 1 }, 6, 1e-15);
    nb_standardizer_free(st);
    nb_scope_end(s);
}

static void standardizer_errors(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = train_x(NB_F32);
    assert_null(nb_standardizer_fit(nb_zeros(NB_I64, NB_SHAPE(3)), NULL, 0));
    assert_int_equal(nb_error_code(), NB_ERR_DTYPE);
    ASSERT_CONTAINS(nb_error(), "nb_standardizer_fit: x is i64, expected f32 or f64");
    assert_null(nb_standardizer_fit(x, (int[]){ 2 }, 1));
    ASSERT_CONTAINS(nb_error(), "nb_standardizer_fit: axis 2 is out of range for a rank-2 x");
    assert_null(nb_standardizer_fit(x, (int[]){ 0, -2 }, 2));
    ASSERT_CONTAINS(nb_error(), "nb_standardizer_fit: axis -2 is given twice");
    assert_null(nb_standardizer_fit(nb_zeros(NB_F32, NB_SHAPE(0, 3)), (int[]){ 0 }, 1));
    ASSERT_CONTAINS(nb_error(), "nb_standardizer_fit: x [0, 3] has no elements along the axes to fit over");
    nb_standardizer *st = nb_standardizer_fit(x, (int[]){ 0 }, 1);
    assert_null(nb_standardizer_apply(st, nb_zeros(NB_F32, NB_SHAPE(3, 3))));
    assert_int_equal(nb_error_code(), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "nb_standardizer_apply: x [3, 3] does not fit statistics of shape [1, 2]");
    assert_null(nb_standardizer_apply(st, nb_zeros(NB_F64, NB_SHAPE(3, 2))));
    ASSERT_CONTAINS(nb_error(), "nb_standardizer_apply: x is f64, the statistics were fitted on f32");
    nb_error_clear();
    assert_null(nb_standardizer_apply(st, NULL));
    assert_int_equal(nb_error_code(), NB_ERR_NULL);
    nb_standardizer_free(st);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- min-max */

static void minmax_maps_the_fitted_range_onto_low_high(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = train_x(NB_F64);
    nb_minmax_scaler *m = nb_minmax_scaler_fit(x, (int[]){ 0 }, 1, 0, 1);
    assert_non_null(m);
    nbt_assert_close(nb_minmax_scaler_min(m), (double[]){ 1, 10 }, 2, 0);
    nbt_assert_close(nb_minmax_scaler_max(m), (double[]){ 6, 10 }, 2, 0);
    nbt_assert_close(nb_minmax_scaler_apply(m, x), (double[]){ 0, 0, 0.2, 0, 1, 0 }, 6, 1e-15);
    /* outside the fitted range is not clipped; the constant feature is shifted only */
    nb_tensor *t = nb_tensor_from_data((double[]){ 11, 12 }, NB_F64, NB_SHAPE(1, 2));
    nbt_assert_close(nb_minmax_scaler_apply(m, t), (double[]){ 2, 2 }, 2, 1e-15);
    nb_minmax_scaler_free(m);
    m = nb_minmax_scaler_fit(x, (int[]){ 0 }, 1, -1, 1);
    nbt_assert_close(nb_minmax_scaler_apply(m, x), (double[]){ -1, -1, -0.6, -1, 1, -1 }, 6, 1e-15);
    nb_minmax_scaler_free(m);
    nb_minmax_scaler_free(NULL);
    nb_scope_end(s);
}

static void minmax_errors(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = train_x(NB_F32);
    assert_null(nb_minmax_scaler_fit(x, NULL, 0, 1, 1));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "nb_minmax_scaler_fit: the range [1, 1] is empty, expected low < high");
    nb_minmax_scaler *m = nb_minmax_scaler_fit(x, NULL, 0, 0, 1);
    assert_null(nb_minmax_scaler_apply(m, nb_zeros(NB_F32, NB_SHAPE(3))));
    ASSERT_CONTAINS(nb_error(), "nb_minmax_scaler_apply: x [3] does not fit statistics of shape [1, 1]");
    assert_null(nb_minmax_scaler_apply(NULL, x));
    ASSERT_CONTAINS(nb_error(), "nb_minmax_scaler_apply: scaler is NULL");
    nb_minmax_scaler_free(m);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- one-hot */

static void one_hot_puts_a_one_at_each_label(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *y = nb_tensor_from_data((int64_t[]){ 2, 0, 1 }, NB_I64, NB_SHAPE(3));
    nb_tensor *z = nb_one_hot(y, 4, NB_F32);
    nbt_assert_shape(z, 2, (int64_t[]){ 3, 4 });
    assert_int_equal(nb_tensor_dtype(z), NB_F32);
    nbt_assert_close(z, (double[]){ 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0 }, 12, 0);
    z = nb_one_hot(y, 0, NB_I64);   /* inferred: 3 classes */
    nbt_assert_shape(z, 2, (int64_t[]){ 3, 3 });
    nbt_assert_close(z, (double[]){ 0, 0, 1, 1, 0, 0, 0, 1, 0 }, 9, 0);
    nb_tensor *y2 = nb_tensor_from_data((int64_t[]){ 1, 0, 0, 1 }, NB_I64, NB_SHAPE(2, 2));
    z = nb_one_hot(nb_transpose(y2, 0, 1), 2, NB_F64);   /* strided labels [2, 2] -> [2, 2, 2] */
    nbt_assert_shape(z, 3, (int64_t[]){ 2, 2, 2 });
    nbt_assert_close(z, (double[]){ 0, 1, 1, 0, 1, 0, 0, 1 }, 8, 0);
    nb_scope_end(s);
}

static void one_hot_errors(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *y = nb_tensor_from_data((int64_t[]){ 2, 5, 1 }, NB_I64, NB_SHAPE(3));
    assert_null(nb_one_hot(y, 4, NB_F32));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "nb_one_hot: index 5 at position [1] is out of range for 4 classes");
    assert_null(nb_one_hot(nb_tensor_from_data((int64_t[]){ -1 }, NB_I64, NB_SHAPE(1)), 0, NB_F32));
    ASSERT_CONTAINS(nb_error(), "index -1 at position [0] is out of range");
    assert_null(nb_one_hot(nb_zeros(NB_F32, NB_SHAPE(3)), 4, NB_F32));
    assert_int_equal(nb_error_code(), NB_ERR_DTYPE);
    ASSERT_CONTAINS(nb_error(), "nb_one_hot: index (input 0) has dtype f32, expected i64");
    assert_null(nb_one_hot(nb_zeros(NB_I64, NB_SHAPE(0)), 0, NB_F32));
    ASSERT_CONTAINS(nb_error(), "cannot count the classes of an empty index [0]");
    nbt_assert_shape(nb_one_hot(nb_zeros(NB_I64, NB_SHAPE(0)), 3, NB_F32), 2, (int64_t[]){ 0, 3 });
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- splits */

/* x [n, 2] rows (i, -i), y [n] = label(i) */
static void split_data(int64_t n, int64_t (*label)(int64_t), nb_tensor **x, nb_tensor **y)
{
    *x = nb_empty(NB_F64, NB_SHAPE(n, 2));
    *y = nb_empty(NB_I64, NB_SHAPE(n));
    double *xs = nb_tensor_data(*x);
    int64_t *ys = nb_tensor_data(*y);
    for (int64_t i = 0; i < n; i++) {
        xs[2 * i] = (double)i;
        xs[2 * i + 1] = -(double)i;
        ys[i] = label(i);
    }
}

static int64_t mod3(int64_t i)
{
    return i % 3;
}

/* Rows of x and y still belong together; counts which rows appear into seen. */
static void check_part(nb_tensor *x, nb_tensor *y, int64_t rows, int64_t (*label)(int64_t), int *seen)
{
    nbt_assert_shape(x, 2, (int64_t[]){ rows, 2 });
    nbt_assert_shape(y, 1, (int64_t[]){ rows });
    for (int64_t r = 0; r < rows; r++) {
        int64_t i = (int64_t)nbt_value_at(x, 2 * r);
        assert_true(nbt_value_at(x, 2 * r + 1) == -(double)i);
        assert_true(nbt_value_at(y, r) == label(i));
        seen[i]++;
    }
}

static void split_sizes_follow_scikit_learn_and_cover_every_row_once(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y, *xtr, *xte, *ytr, *yte;
    split_data(10, mod3, &x, &y);
    ASSERT_OK(nb_train_test_split(x, y, 0.25, 7, &xtr, &xte, &ytr, &yte));
    int seen[10] = { 0 };
    check_part(xtr, ytr, 7, mod3, seen);   /* ceil(2.5) = 3 test rows */
    check_part(xte, yte, 3, mod3, seen);
    for (int i = 0; i < 10; i++)
        assert_int_equal(seen[i], 1);
    /* same seed, same split; another seed, another */
    nb_tensor *xtr2, *xte2, *ytr2, *yte2;
    ASSERT_OK(nb_train_test_split(x, y, 0.25, 7, &xtr2, &xte2, &ytr2, &yte2));
    assert_memory_equal(nb_tensor_data(xte), nb_tensor_data(xte2), 3 * 2 * sizeof(double));
    assert_memory_equal(nb_tensor_data(xtr), nb_tensor_data(xtr2), 7 * 2 * sizeof(double));
    ASSERT_OK(nb_train_test_split(x, NULL, 0.25, 8, &xtr2, &xte2, NULL, NULL));
    assert_memory_not_equal(nb_tensor_data(xtr), nb_tensor_data(xtr2), 7 * 2 * sizeof(double));
    nb_scope_end(s);
}

static int64_t skewed(int64_t i)
{
    return i < 80 ? 0 : i < 95 ? 1 : 2;   /* 80, 15 and 5 examples */
}

static void stratified_split_keeps_class_proportions(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y, *xtr, *xte, *ytr, *yte;
    split_data(100, skewed, &x, &y);
    ASSERT_OK(nb_train_test_split_stratified(x, y, 0.2, 1, &xtr, &xte, &ytr, &yte));
    int seen[100] = { 0 };
    check_part(xtr, ytr, 80, skewed, seen);
    check_part(xte, yte, 20, skewed, seen);
    int64_t counts[3] = { 0 };
    for (int64_t r = 0; r < 20; r++)
        counts[(int64_t)nbt_value_at(yte, r)]++;
    assert_int_equal(counts[0], 16);
    assert_int_equal(counts[1], 3);
    assert_int_equal(counts[2], 1);
    /* remainders: 10 examples of classes 0..2 (4, 3, 3) at 0.5 -> 2, 1.5, 1.5 -> ceil 5 test:
     * floors 2 + 1 + 1 = 4, one more for the largest remainder, lowest id first: class 1 */
    split_data(10, mod3, &x, &y);
    ASSERT_OK(nb_train_test_split_stratified(x, y, 0.5, 2, &xtr, &xte, &ytr, &yte));
    int64_t c2[3] = { 0 };
    for (int64_t r = 0; r < 5; r++)
        c2[(int64_t)nbt_value_at(yte, r)]++;
    assert_int_equal(c2[0], 2);
    assert_int_equal(c2[1], 2);
    assert_int_equal(c2[2], 1);
    nb_scope_end(s);
}

static void split_errors(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y, *xtr, *xte, *ytr, *yte;
    split_data(10, mod3, &x, &y);
    assert_int_equal(nb_train_test_split(x, y, 1.0, 0, &xtr, &xte, &ytr, &yte), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "nb_train_test_split: test_fraction 1 is outside (0, 1)");
    assert_null(xtr);
    assert_null(yte);
    assert_int_equal(nb_train_test_split(x, y, 0.01, 0, &xtr, &xte, &ytr, &yte), NB_OK);   /* 1 test row */
    assert_int_equal(nb_train_test_split(x, y, 0.95, 0, &xtr, &xte, &ytr, &yte), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "leaves 0 for training and 10 for testing");
    assert_int_equal(nb_train_test_split(x, nb_zeros(NB_I64, NB_SHAPE(9)), 0.5, 0, &xtr, &xte, &ytr, &yte),
                     NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "x [10, 2] and y [9]: expected the same number of examples");
    assert_int_equal(nb_train_test_split(x, y, 0.5, 0, &xtr, &xte, NULL, NULL), NB_ERR_NULL);
    assert_int_equal(nb_train_test_split_stratified(x, NULL, 0.5, 0, &xtr, &xte, NULL, NULL), NB_ERR_NULL);
    ASSERT_CONTAINS(nb_error(), "a stratified split needs the class ids");
    assert_int_equal(nb_train_test_split_stratified(x, nb_cast(y, NB_F32), 0.5, 0, &xtr, &xte, &ytr, &yte),
                     NB_ERR_DTYPE);
    ASSERT_CONTAINS(nb_error(), "nb_train_test_split_stratified: y is f32 [10], expected class ids: i64 of rank 1");
    nb_scope_end(s);
}

static void allocation_failures_in_fit_apply_and_split_leak_nothing(void **state)
{
    (void)state;
    nb_scope *outer = nb_scope_begin();
    nb_tensor *x, *y, *xtr, *xte, *ytr, *yte;
    split_data(100, mod3, &x, &y);
    for (long n = 1; n < 30; n++) {
        nb_scope *s = nb_scope_begin();
        nb_error_clear();
        nbi_alloc_fail_after(n);
        nb_standardizer *st = nb_standardizer_fit(x, (int[]){ 0 }, 1);
        nb_tensor *z = st ? nb_standardizer_apply(st, x) : NULL;
        nb_minmax_scaler *m = nb_minmax_scaler_fit(x, NULL, 0, 0, 1);
        nb_status split = nb_train_test_split_stratified(x, y, 0.3, 1, &xtr, &xte, &ytr, &yte);
        nb_tensor *oh = nb_one_hot(y, 3, NB_F32);
        nbi_alloc_fail_after(0);
        if (!st || !z || !m || split != NB_OK || !oh)
            assert_int_equal(nb_error_code(), NB_ERR_MEMORY);
        if (split != NB_OK)
            assert_null(xtr);
        nb_standardizer_free(st);
        nb_minmax_scaler_free(m);
        nb_scope_end(s);
    }
    nb_scope_end(outer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(standardizer_uses_population_std_per_feature),
        TEST(standardizer_over_all_axes_and_per_pixel),
        TEST(standardizer_fits_a_strided_view),
        TEST(standardizer_apply_is_differentiable),
        TEST(standardizer_errors),
        TEST(minmax_maps_the_fitted_range_onto_low_high),
        TEST(minmax_errors),
        TEST(one_hot_puts_a_one_at_each_label),
        TEST(one_hot_errors),
        TEST(split_sizes_follow_scikit_learn_and_cover_every_row_once),
        TEST(stratified_split_keeps_class_proportions),
        TEST(split_errors),
        TEST(allocation_failures_in_fit_apply_and_split_leak_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
