/* Tensors: creation, views over shared storage, copies and casts, broadcasting, element
 * access, in-place updates and their version counter, printing (DESIGN §3, §7).
 *
 * Expected values are written out by hand or computed here with plain C loops, never read
 * back from another nabla function. Every test runs in the shared fixture of
 * tests/common/check.h: a setup that clears the error and notes the live storage bytes and
 * a teardown that requires them back (no leaks). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"

/* ---------------------------------------------------------------- helpers */

static void assert_strides(const nb_tensor *t, int rank, const int64_t *strides)
{
    assert_int_equal(nb_tensor_rank(t), rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(nb_tensor_strides(t)[i], strides[i]);
}

/* t has n elements, element j within tol (absolute) of expected[j]; any dtype. */
static void assert_values(const nb_tensor *t, const double *expected, int64_t n, double tol)
{
    assert_int_equal(nb_tensor_numel(t), n);
    for (int64_t j = 0; j < n; j++) {
        double v = nbt_value_at(t, j);
        if (!(fabs(v - expected[j]) <= tol))
            fail_msg("element %lld is %.17g, expected %.17g", (long long)j, v, expected[j]);
    }
}

static nb_tensor *f64_tensor(const double *data, int rank, const int64_t *shape)
{
    nb_tensor *t = nb_tensor_from_data(data, NB_F64, rank, shape);
    NOT_NULL(t);
    return t;
}

/* ---------------------------------------------------------------- creation */

static void from_data_copies_the_callers_buffer(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    float buf[6] = { 1, 2, 3, 4, 5, 6 };
    nb_tensor *t = nb_tensor_from_data(buf, NB_F32, NB_SHAPE(2, 3));
    NOT_NULL(t);
    assert_ptr_not_equal(nb_tensor_data(t), buf);
    buf[0] = 100;   /* the tensor has its own copy */
    nbt_assert_shape(t, 2, (const int64_t[]){ 2, 3 });
    assert_strides(t, 2, (const int64_t[]){ 3, 1 });
    assert_true(nb_tensor_is_contiguous(t));
    assert_int_equal(nb_tensor_dtype(t), NB_F32);
    assert_values(t, (const double[]){ 1, 2, 3, 4, 5, 6 }, 6, 0);
    nb_scope_end(s);
}

static int deleter_calls;
static void *deleter_data, *deleter_user;

static void count_deleter(void *data, void *user)
{
    deleter_calls++;
    deleter_data = data;
    deleter_user = user;
}

static void wrap_shares_memory_and_deletes_after_the_last_view(void **state)
{
    (void)state;
    double buf[6] = { 1, 2, 3, 4, 5, 6 };
    int token;
    deleter_calls = 0;
    /* No scope open: the caller owns both references. */
    nb_tensor *t = nb_tensor_wrap(buf, NB_F64, NB_SHAPE(2, 3), NULL, count_deleter, &token);
    NOT_NULL(t);
    assert_ptr_equal(nb_tensor_data(t), buf);
    nb_tensor *v = nb_transpose(t, 0, 1);
    NOT_NULL(v);
    buf[1] = 20;   /* seen through both views: no copy was made */
    assert_true(nb_tensor_get(t, (const int64_t[]){ 0, 1 }) == 20);
    assert_true(nb_tensor_get(v, (const int64_t[]){ 1, 0 }) == 20);
    nb_release(t);
    assert_int_equal(deleter_calls, 0);   /* the transpose still views the memory */
    assert_true(nb_tensor_get(v, (const int64_t[]){ 2, 1 }) == 6);
    nb_release(v);
    assert_int_equal(deleter_calls, 1);
    assert_ptr_equal(deleter_data, buf);
    assert_ptr_equal(deleter_user, &token);
}

static void wrap_with_strides_reads_through_them(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    /* A column-major 2x3 matrix: element (i, j) at i + 2 j. */
    double buf[6] = { 1, 4, 2, 5, 3, 6 };
    nb_tensor *t = nb_tensor_wrap(buf, NB_F64, NB_SHAPE(2, 3), (const int64_t[]){ 1, 2 }, NULL, NULL);
    NOT_NULL(t);
    assert_false(nb_tensor_is_contiguous(t));
    assert_values(t, (const double[]){ 1, 2, 3, 4, 5, 6 }, 6, 0);
    assert_null(nb_tensor_wrap(buf, NB_F64, NB_SHAPE(2, 3), (const int64_t[]){ -1, 2 }, NULL, NULL));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    nb_scope_end(s);
}

static void filled_creators_have_the_requested_values(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *z = nb_zeros(NB_F64, NB_SHAPE(2, 2));
    nb_tensor *o = nb_ones(NB_F32, NB_SHAPE(3));
    nb_tensor *f = nb_full(NB_F64, NB_SHAPE(2, 1, 2), -2.5);
    nb_tensor *fi = nb_full(NB_I64, NB_SHAPE(2), 7);
    nb_tensor *sc = nb_scalar(NB_F64, 3.25);
    NOT_NULL(z);
    NOT_NULL(o);
    NOT_NULL(f);
    NOT_NULL(fi);
    NOT_NULL(sc);
    assert_values(z, (const double[]){ 0, 0, 0, 0 }, 4, 0);
    assert_values(o, (const double[]){ 1, 1, 1 }, 3, 0);
    assert_int_equal(nb_tensor_dtype(o), NB_F32);
    assert_values(f, (const double[]){ -2.5, -2.5, -2.5, -2.5 }, 4, 0);
    nbt_assert_shape(f, 3, (const int64_t[]){ 2, 1, 2 });
    assert_values(fi, (const double[]){ 7, 7 }, 2, 0);
    assert_int_equal(nb_tensor_dtype(fi), NB_I64);
    assert_int_equal(nb_tensor_rank(sc), 0);
    assert_int_equal(nb_tensor_numel(sc), 1);
    assert_true(nb_tensor_item(sc) == 3.25);

    nb_tensor *zl = nb_zeros_like(f), *ol = nb_ones_like(fi);
    NOT_NULL(zl);
    NOT_NULL(ol);
    nbt_assert_shape(zl, 3, (const int64_t[]){ 2, 1, 2 });
    assert_int_equal(nb_tensor_dtype(zl), NB_F64);
    assert_values(zl, (const double[]){ 0, 0, 0, 0 }, 4, 0);
    assert_int_equal(nb_tensor_dtype(ol), NB_I64);
    assert_values(ol, (const double[]){ 1, 1 }, 2, 0);
    nb_scope_end(s);
}

static void arange_excludes_stop_like_numpy(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = nb_arange(NB_I64, 0, 5, 1);
    nb_tensor *b = nb_arange(NB_F64, 1, 2, 0.25);
    nb_tensor *c = nb_arange(NB_F32, 3, -1, -1.5);
    nb_tensor *e = nb_arange(NB_F64, 2, 1, 1);
    NOT_NULL(a);
    NOT_NULL(b);
    NOT_NULL(c);
    NOT_NULL(e);
    assert_values(a, (const double[]){ 0, 1, 2, 3, 4 }, 5, 0);
    assert_int_equal(nb_tensor_dtype(a), NB_I64);
    assert_values(b, (const double[]){ 1, 1.25, 1.5, 1.75 }, 4, 0);
    assert_values(c, (const double[]){ 3, 1.5, 0 }, 3, 0);
    nbt_assert_shape(e, 1, (const int64_t[]){ 0 });
    assert_null(nb_arange(NB_F64, 0, 1, 0));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    nb_scope_end(s);
}

static void linspace_includes_both_ends(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = nb_linspace(NB_F64, 0, 1, 5);
    nb_tensor *b = nb_linspace(NB_F64, 2, -1, 4);
    nb_tensor *one = nb_linspace(NB_F64, 7, 9, 1);
    nb_tensor *none = nb_linspace(NB_F64, 7, 9, 0);
    NOT_NULL(a);
    NOT_NULL(b);
    NOT_NULL(one);
    NOT_NULL(none);
    assert_values(a, (const double[]){ 0, 0.25, 0.5, 0.75, 1 }, 5, 1e-15);
    assert_values(b, (const double[]){ 2, 1, 0, -1 }, 4, 1e-15);
    assert_values(one, (const double[]){ 7 }, 1, 0);
    assert_int_equal(nb_tensor_numel(none), 0);
    assert_null(nb_linspace(NB_F64, 0, 1, -1));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    nb_scope_end(s);
}

static void eye_has_ones_on_the_diagonal_only(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *e = nb_eye(NB_F32, 3);
    NOT_NULL(e);
    nbt_assert_shape(e, 2, (const int64_t[]){ 3, 3 });
    assert_values(e, (const double[]){ 1, 0, 0, 0, 1, 0, 0, 0, 1 }, 9, 0);
    nb_tensor *e0 = nb_eye(NB_F64, 0);
    NOT_NULL(e0);
    assert_int_equal(nb_tensor_numel(e0), 0);
    nb_scope_end(s);
}

static void empty_has_the_shape_contiguous_strides_and_64_byte_alignment(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = nb_empty(NB_F32, NB_SHAPE(2, 3, 4));
    nb_tensor *r0 = nb_empty(NB_F64, 0, NULL);
    nb_tensor *z = nb_empty(NB_I64, NB_SHAPE(3, 0, 2));
    NOT_NULL(a);
    NOT_NULL(r0);
    NOT_NULL(z);
    nbt_assert_shape(a, 3, (const int64_t[]){ 2, 3, 4 });
    assert_strides(a, 3, (const int64_t[]){ 12, 4, 1 });
    assert_int_equal(nb_tensor_numel(a), 24);
    assert_int_equal((uintptr_t)nb_tensor_data(a) % 64, 0);
    assert_int_equal(nb_tensor_dim(a, -1), 4);
    assert_int_equal(nb_tensor_dim(a, 0), 2);
    assert_int_equal(nb_tensor_dim(a, 3), -1);
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    assert_int_equal(nb_tensor_rank(r0), 0);
    assert_int_equal(nb_tensor_numel(r0), 1);
    nbt_assert_shape(z, 3, (const int64_t[]){ 3, 0, 2 });
    assert_int_equal(nb_tensor_numel(z), 0);
    assert_true(nb_tensor_is_contiguous(z));
    nb_scope_end(s);
}

static void creation_rejects_rank_9(void **state)
{
    (void)state;
    const int64_t shape[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    assert_null(nb_zeros(NB_F32, 9, shape));
    assert_int_equal(nb_error_code(), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "rank 9");
    nb_error_clear();
    assert_null(nb_empty(NB_F32, -1, shape));
    assert_int_equal(nb_error_code(), NB_ERR_SHAPE);
    nb_error_clear();
    /* Rank 8 is the largest allowed. */
    nb_tensor *t = nb_zeros(NB_F32, 8, shape);
    NOT_NULL(t);
    nb_release(t);
}

static void creation_rejects_negative_sizes_naming_the_shape(void **state)
{
    (void)state;
    assert_null(nb_ones(NB_F64, NB_SHAPE(2, -1)));
    assert_int_equal(nb_error_code(), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "[2, -1]");
    ASSERT_CONTAINS(nb_error(), "negative");
    ASSERT_CONTAINS(nb_error(), "nb_ones");
    nb_error_clear();
    double d = 0;
    assert_null(nb_tensor_from_data(&d, NB_F64, NB_SHAPE(-3)));
    assert_int_equal(nb_error_code(), NB_ERR_SHAPE);
}

static void creation_rejects_null_shape_data_and_bad_dtype(void **state)
{
    (void)state;
    assert_null(nb_zeros(NB_F32, 2, NULL));
    assert_int_equal(nb_error_code(), NB_ERR_NULL);
    ASSERT_CONTAINS(nb_error(), "shape is NULL");
    nb_error_clear();
    assert_null(nb_tensor_from_data(NULL, NB_F32, NB_SHAPE(2)));
    assert_int_equal(nb_error_code(), NB_ERR_NULL);
    nb_error_clear();
    assert_null(nb_zeros((nb_dtype)7, NB_SHAPE(2)));
    assert_int_equal(nb_error_code(), NB_ERR_DTYPE);
}

/* ---------------------------------------------------------------- views */

/* base = [[0, 1, 2], [3, 4, 5]] as f64 */
static nb_tensor *matrix_2x3(void)
{
    return f64_tensor((const double[]){ 0, 1, 2, 3, 4, 5 }, NB_SHAPE(2, 3));
}

static void transpose_is_a_view_with_swapped_strides(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = matrix_2x3();
    nb_tensor *t = nb_transpose(x, 0, -1);
    NOT_NULL(t);
    nbt_assert_shape(t, 2, (const int64_t[]){ 3, 2 });
    assert_strides(t, 2, (const int64_t[]){ 1, 3 });
    assert_ptr_equal(nb_tensor_data(t), nb_tensor_data(x));
    assert_false(nb_tensor_is_contiguous(t));
    assert_values(t, (const double[]){ 0, 3, 1, 4, 2, 5 }, 6, 0);
    assert_null(nb_transpose(x, 0, 2));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    nb_scope_end(s);
}

static void permute_reorders_shape_and_strides(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_arange(NB_F64, 0, 24, 1);
    nb_tensor *x3 = nb_reshape(x, NB_SHAPE(2, 3, 4));
    nb_tensor *p = nb_permute(x3, (const int[]){ 2, 0, 1 });
    NOT_NULL(p);
    nbt_assert_shape(p, 3, (const int64_t[]){ 4, 2, 3 });
    assert_strides(p, 3, (const int64_t[]){ 1, 12, 4 });
    assert_ptr_equal(nb_tensor_data(p), nb_tensor_data(x));
    /* p[i, j, k] = x3[j, k, i] = 12 j + 4 k + i */
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 2; j++)
            for (int64_t k = 0; k < 3; k++)
                assert_true(nb_tensor_get(p, (const int64_t[]){ i, j, k }) == (double)(12 * j + 4 * k + i));
    assert_null(nb_permute(x3, (const int[]){ 0, 0, 1 }));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    nb_scope_end(s);
}

static void slice_with_step_is_a_strided_view(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_arange(NB_F64, 0, 10, 1);
    nb_tensor *a = nb_slice(x, 0, 1, 8, 3);
    NOT_NULL(a);
    nbt_assert_shape(a, 1, (const int64_t[]){ 3 });
    assert_strides(a, 1, (const int64_t[]){ 3 });
    assert_ptr_equal(nb_tensor_data(a), (double *)nb_tensor_data(x) + 1);
    assert_values(a, (const double[]){ 1, 4, 7 }, 3, 0);
    /* slicing a slice composes offsets and strides */
    nb_tensor *b = nb_slice(a, 0, 1, 3, 1);
    NOT_NULL(b);
    assert_values(b, (const double[]){ 4, 7 }, 2, 0);
    nb_scope_end(s);
}

static void slice_counts_negative_bounds_from_the_end_and_clamps(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_arange(NB_F64, 0, 10, 1);
    nb_tensor *a = nb_slice(x, 0, -4, -1, 1);
    nb_tensor *b = nb_slice(x, -1, -100, 100, 4);
    nb_tensor *e = nb_slice(x, 0, 6, 2, 1);
    NOT_NULL(a);
    NOT_NULL(b);
    NOT_NULL(e);
    assert_values(a, (const double[]){ 6, 7, 8 }, 3, 0);
    assert_values(b, (const double[]){ 0, 4, 8 }, 3, 0);
    nbt_assert_shape(e, 1, (const int64_t[]){ 0 });
    /* along the second axis of a matrix */
    nb_tensor *m = matrix_2x3();
    nb_tensor *c = nb_slice(m, 1, -2, 3, 1);
    NOT_NULL(c);
    nbt_assert_shape(c, 2, (const int64_t[]){ 2, 2 });
    assert_values(c, (const double[]){ 1, 2, 4, 5 }, 4, 0);
    assert_null(nb_slice(x, 0, 0, 5, 0));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    nb_scope_end(s);
}

static void expand_gives_stride_zero_on_broadcast_axes(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *row = f64_tensor((const double[]){ 1, 2, 3 }, NB_SHAPE(1, 3));
    nb_tensor *e = nb_expand(row, NB_SHAPE(4, 3));
    NOT_NULL(e);
    nbt_assert_shape(e, 2, (const int64_t[]){ 4, 3 });
    assert_strides(e, 2, (const int64_t[]){ 0, 1 });
    assert_ptr_equal(nb_tensor_data(e), nb_tensor_data(row));
    assert_values(e, (const double[]){ 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3 }, 12, 0);
    /* new leading axes, and -1 keeping a size */
    nb_tensor *v = f64_tensor((const double[]){ 5, 6 }, NB_SHAPE(2));
    nb_tensor *e2 = nb_expand(v, NB_SHAPE(2, 3, -1));
    NOT_NULL(e2);
    nbt_assert_shape(e2, 3, (const int64_t[]){ 2, 3, 2 });
    assert_strides(e2, 3, (const int64_t[]){ 0, 0, 1 });
    /* only size-1 axes can grow */
    assert_null(nb_expand(v, NB_SHAPE(3)));
    assert_int_equal(nb_error_code(), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "[2]");
    ASSERT_CONTAINS(nb_error(), "[3]");
    nb_scope_end(s);
}

static void squeeze_and_unsqueeze_are_views(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = f64_tensor((const double[]){ 1, 2, 3, 4, 5, 6 }, NB_SHAPE(3, 1, 2));
    nb_tensor *sq = nb_squeeze(x, 1);
    nb_tensor *u0 = nb_unsqueeze(sq, 0);
    nb_tensor *ul = nb_unsqueeze(sq, -1);
    NOT_NULL(sq);
    NOT_NULL(u0);
    NOT_NULL(ul);
    nbt_assert_shape(sq, 2, (const int64_t[]){ 3, 2 });
    nbt_assert_shape(u0, 3, (const int64_t[]){ 1, 3, 2 });
    nbt_assert_shape(ul, 3, (const int64_t[]){ 3, 2, 1 });
    assert_ptr_equal(nb_tensor_data(sq), nb_tensor_data(x));
    assert_ptr_equal(nb_tensor_data(u0), nb_tensor_data(x));
    assert_ptr_equal(nb_tensor_data(ul), nb_tensor_data(x));
    assert_values(ul, (const double[]){ 1, 2, 3, 4, 5, 6 }, 6, 0);
    assert_null(nb_squeeze(x, 0));   /* size 3 */
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    nb_error_clear();
    assert_null(nb_unsqueeze(sq, 3));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    nb_scope_end(s);
}

static void reshape_of_contiguous_shares_storage_both_ways(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_arange(NB_F64, 0, 12, 1);
    nb_tensor *r = nb_reshape(x, NB_SHAPE(3, -1));
    NOT_NULL(r);
    nbt_assert_shape(r, 2, (const int64_t[]){ 3, 4 });
    assert_ptr_equal(nb_tensor_data(r), nb_tensor_data(x));
    ((double *)nb_tensor_data(x))[5] = 42;   /* element 5 is r[1, 1] */
    assert_true(nb_tensor_get(r, (const int64_t[]){ 1, 1 }) == 42);
    ((double *)nb_tensor_data(r))[11] = -7;  /* r[2, 3] is element 11 */
    assert_true(nb_tensor_get(x, (const int64_t[]){ 11 }) == -7);
    assert_null(nb_reshape(x, NB_SHAPE(5, 2)));
    assert_int_equal(nb_error_code(), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "[12]");
    ASSERT_CONTAINS(nb_error(), "[5, 2]");
    nb_scope_end(s);
}

static void reshape_of_transposed_copies_in_c_order(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = matrix_2x3();
    nb_tensor *t = nb_transpose(x, 0, 1);
    nb_tensor *r = nb_reshape(t, NB_SHAPE(6));
    NOT_NULL(r);
    assert_ptr_not_equal(nb_tensor_data(r), nb_tensor_data(x));
    assert_true(nb_tensor_is_contiguous(r));
    assert_values(r, (const double[]){ 0, 3, 1, 4, 2, 5 }, 6, 0);
    ((double *)nb_tensor_data(x))[0] = 99;   /* the copy does not see later writes */
    assert_true(nb_tensor_get(r, (const int64_t[]){ 0 }) == 0);
    nb_scope_end(s);
}

static void contiguous_clone_and_cast_give_the_right_values(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = matrix_2x3();
    nb_tensor *same = nb_contiguous(x);
    NOT_NULL(same);
    assert_ptr_equal(nb_tensor_data(same), nb_tensor_data(x));   /* already contiguous: no copy */

    nb_tensor *t = nb_transpose(x, 0, 1);
    nb_tensor *c = nb_contiguous(t);
    NOT_NULL(c);
    assert_true(nb_tensor_is_contiguous(c));
    assert_ptr_not_equal(nb_tensor_data(c), nb_tensor_data(x));
    assert_strides(c, 2, (const int64_t[]){ 2, 1 });
    assert_values(c, (const double[]){ 0, 3, 1, 4, 2, 5 }, 6, 0);

    nb_tensor *k = nb_clone(x);
    NOT_NULL(k);
    assert_ptr_not_equal(nb_tensor_data(k), nb_tensor_data(x));
    ((double *)nb_tensor_data(x))[1] = 50;
    assert_values(k, (const double[]){ 0, 1, 2, 3, 4, 5 }, 6, 0);

    nb_tensor *third = f64_tensor((const double[]){ 1.0 / 3, -2.0 / 3 }, NB_SHAPE(2));
    nb_tensor *f = nb_cast(third, NB_F32);
    NOT_NULL(f);
    assert_int_equal(nb_tensor_dtype(f), NB_F32);
    assert_true(((float *)nb_tensor_data(f))[0] == (float)(1.0 / 3));
    assert_true(((float *)nb_tensor_data(f))[1] == (float)(-2.0 / 3));
    nb_tensor *i = nb_cast(t, NB_I64);   /* from a strided view */
    NOT_NULL(i);
    assert_int_equal(nb_tensor_dtype(i), NB_I64);
    assert_values(i, (const double[]){ 0, 3, 50, 4, 2, 5 }, 6, 0);
    nb_tensor *back = nb_cast(i, NB_F64);
    NOT_NULL(back);
    assert_values(back, (const double[]){ 0, 3, 50, 4, 2, 5 }, 6, 0);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- broadcasting */

static void add_broadcasts_column_with_row(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *col = nb_tensor_from_data((const float[]){ 1, 2, 3 }, NB_F32, NB_SHAPE(3, 1));
    nb_tensor *row = nb_tensor_from_data((const float[]){ 10, 20, 30, 40 }, NB_F32, NB_SHAPE(1, 4));
    nb_tensor *z = nb_add(col, row);
    NOT_NULL(z);
    nbt_assert_shape(z, 2, (const int64_t[]){ 3, 4 });
    double expected[12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            expected[i * 4 + j] = (i + 1) + 10.0 * (j + 1);
    assert_values(z, expected, 12, 0);
    nb_scope_end(s);
}

static void broadcasting_prepends_axes_to_the_shorter_shape(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_arange(NB_F64, 0, 24, 1);
    nb_tensor *x3 = nb_reshape(x, NB_SHAPE(2, 3, 4));
    nb_tensor *v = f64_tensor((const double[]){ 100, 200, 300, 400 }, NB_SHAPE(4));
    nb_tensor *sc = nb_scalar(NB_F64, 0.5);
    nb_tensor *z = nb_mul(nb_add(x3, v), sc);
    NOT_NULL(z);
    nbt_assert_shape(z, 3, (const int64_t[]){ 2, 3, 4 });
    double expected[24];
    for (int j = 0; j < 24; j++)
        expected[j] = (j + 100.0 * (j % 4 + 1)) * 0.5;
    assert_values(z, expected, 24, 0);
    nb_scope_end(s);
}

static void incompatible_broadcast_fails_naming_both_shapes(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = nb_zeros(NB_F32, NB_SHAPE(2, 3));
    nb_tensor *b = nb_zeros(NB_F32, NB_SHAPE(4));
    assert_null(nb_add(a, b));
    assert_int_equal(nb_error_code(), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "[2, 3]");
    ASSERT_CONTAINS(nb_error(), "[4]");
    ASSERT_CONTAINS(nb_error(), "add");
    /* A NULL input keeps the first error for the whole expression. */
    assert_null(nb_mul(nb_add(a, b), a));
    assert_int_equal(nb_error_code(), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "add");
    nb_error_clear();
    nb_tensor *d = nb_zeros(NB_F64, NB_SHAPE(2, 3));
    assert_null(nb_add(a, d));
    assert_int_equal(nb_error_code(), NB_ERR_DTYPE);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- element access */

static void get_accepts_negative_indices_and_rejects_out_of_range(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = matrix_2x3();
    assert_true(nb_tensor_get(x, (const int64_t[]){ 1, 2 }) == 5);
    assert_true(nb_tensor_get(x, (const int64_t[]){ -1, -3 }) == 3);
    assert_true(isnan(nb_tensor_get(x, (const int64_t[]){ 2, 0 })));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "[2, 3]");
    nb_error_clear();
    assert_true(isnan(nb_tensor_get(x, (const int64_t[]){ 0, -4 })));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    nb_scope_end(s);
}

static void item_reads_one_element_tensors_only(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *one = f64_tensor((const double[]){ -1.5 }, NB_SHAPE(1, 1));
    assert_true(nb_tensor_item(one) == -1.5);
    nb_tensor *big = nb_full(NB_I64, NB_SHAPE(1), 9007199254740992.0);   /* 2^53 */
    assert_true(nb_tensor_item(big) == 9007199254740992.0);
    nb_tensor *two = nb_zeros(NB_F64, NB_SHAPE(2));
    assert_true(isnan(nb_tensor_item(two)));
    assert_int_equal(nb_error_code(), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "[2]");
    nb_scope_end(s);
}

static void copy_to_writes_c_order_and_converts_dtype(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_tensor_from_data((const float[]){ 0.5f, 1, 2, 3, 4, 5 }, NB_F32, NB_SHAPE(2, 3));
    nb_tensor *t = nb_transpose(x, 0, 1);
    double out[7] = { -1, -1, -1, -1, -1, -1, -1 };
    assert_int_equal(nb_tensor_copy_to(t, out, NB_F64, 7), NB_OK);
    const double expected[7] = { 0.5, 3, 1, 4, 2, 5, -1 };   /* the spare slot is untouched */
    assert_memory_equal(out, expected, sizeof out);
    int64_t ints[6];
    assert_int_equal(nb_tensor_copy_to(nb_slice(x, 1, 1, 3, 1), ints, NB_I64, 6), NB_OK);
    assert_int_equal(ints[0], 1);
    assert_int_equal(ints[1], 2);
    assert_int_equal(ints[2], 4);
    assert_int_equal(ints[3], 5);
    assert_int_equal(nb_tensor_copy_to(t, out, NB_F64, 5), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "5");
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- in-place updates */

static void fill_inplace_writes_only_the_view(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = matrix_2x3();
    nb_tensor *col = nb_slice(x, 1, 1, 2, 1);   /* column 1 */
    assert_int_equal(nb_fill_inplace(col, -1), NB_OK);
    assert_values(x, (const double[]){ 0, -1, 2, 3, -1, 5 }, 6, 0);
    nb_tensor *e = nb_expand(nb_slice(x, 0, 0, 1, 1), NB_SHAPE(3, 3));
    assert_int_equal(nb_fill_inplace(nb_transpose(x, 0, 1), 2), NB_OK);
    assert_values(x, (const double[]){ 2, 2, 2, 2, 2, 2 }, 6, 0);
    assert_values(e, (const double[]){ 2, 2, 2, 2, 2, 2, 2, 2, 2 }, 9, 0);
    nb_scope_end(s);
}

static void copy_inplace_broadcasts_converts_and_handles_overlap(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *t = nb_zeros(NB_F32, NB_SHAPE(2, 3));
    nb_tensor *src = f64_tensor((const double[]){ 1.25, 2.5, 3.75 }, NB_SHAPE(3));
    assert_int_equal(nb_copy_inplace(t, src), NB_OK);
    assert_values(t, (const double[]){ 1.25, 2.5, 3.75, 1.25, 2.5, 3.75 }, 6, 0);
    /* a square matrix overwritten with its own transpose */
    nb_tensor *m = f64_tensor((const double[]){ 1, 2, 3, 4 }, NB_SHAPE(2, 2));
    assert_int_equal(nb_copy_inplace(m, nb_transpose(m, 0, 1)), NB_OK);
    assert_values(m, (const double[]){ 1, 3, 2, 4 }, 4, 0);
    /* the source must broadcast to the target, not the other way */
    assert_int_equal(nb_copy_inplace(src, t), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "[2, 3]");
    ASSERT_CONTAINS(nb_error(), "[3]");
    nb_scope_end(s);
}

/* x = [1, 2] requiring grad, c = [3, 4], and y = sum(x * c), which saves c for x's gradient. */
static nb_tensor *product_saving(nb_tensor **x, nb_tensor **c)
{
    *x = f64_tensor((const double[]){ 1, 2 }, NB_SHAPE(2));
    *c = f64_tensor((const double[]){ 3, 4 }, NB_SHAPE(2));
    ASSERT_OK(nb_requires_grad(*x, true));
    nb_tensor *y = nb_sum_all(nb_mul(*x, *c));
    NOT_NULL(y);
    return y;
}

static void backward_works_when_saved_tensors_are_untouched(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *c;
    nb_tensor *y = product_saving(&x, &c);
    assert_int_equal(nb_backward(y, NULL), NB_OK);
    assert_values(nb_tensor_grad(x), (const double[]){ 3, 4 }, 2, 0);
    nb_scope_end(s);
}

static void fill_inplace_of_a_saved_tensor_makes_backward_refuse(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *c;
    nb_tensor *y = product_saving(&x, &c);
    assert_int_equal(nb_fill_inplace(c, 5), NB_OK);
    assert_int_equal(nb_backward(y, NULL), NB_ERR_AUTOGRAD);
    ASSERT_CONTAINS(nb_error(), "modified in place");
    ASSERT_CONTAINS(nb_error(), "mul");
    assert_null(nb_tensor_grad(x));
    nb_scope_end(s);
}

static void copy_inplace_through_a_view_of_a_saved_tensor_makes_backward_refuse(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *c;
    nb_tensor *y = product_saving(&x, &c);
    nb_tensor *first = nb_slice(c, 0, 0, 1, 1);   /* shares c's storage */
    assert_int_equal(nb_copy_inplace(first, nb_scalar(NB_F64, 9)), NB_OK);
    assert_true(nb_tensor_get(c, (const int64_t[]){ 0 }) == 9);
    assert_int_equal(nb_backward(y, NULL), NB_ERR_AUTOGRAD);
    ASSERT_CONTAINS(nb_error(), "modified in place");
    nb_scope_end(s);
}

static void inplace_on_a_tensor_requiring_grad_needs_no_grad_mode(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *w = f64_tensor((const double[]){ 1, 2 }, NB_SHAPE(2));
    nb_requires_grad(w, true);
    assert_int_equal(nb_fill_inplace(w, 0), NB_ERR_AUTOGRAD);
    assert_values(w, (const double[]){ 1, 2 }, 2, 0);
    nb_error_clear();
    nb_no_grad_begin();
    assert_int_equal(nb_fill_inplace(w, 0), NB_OK);
    assert_int_equal(nb_copy_inplace(w, nb_scalar(NB_F64, 4)), NB_OK);
    nb_no_grad_end();
    assert_values(w, (const double[]){ 4, 4 }, 2, 0);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- printing */

static char *print_to_string(const nb_tensor *t)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    nb_tensor_print(t, f);
    fclose(f);
    return text;
}

static void print_shows_values_shape_and_dtype(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_tensor_from_data((const float[]){ 1.5f, -2, 3.25f, 4 }, NB_F32, NB_SHAPE(2, 2));
    char *text = print_to_string(x);
    ASSERT_CONTAINS(text, "1.5");
    ASSERT_CONTAINS(text, "-2");
    ASSERT_CONTAINS(text, "3.25");
    ASSERT_CONTAINS(text, "4");
    ASSERT_CONTAINS(text, "[2, 2]");
    ASSERT_CONTAINS(text, "f32");
    free(text);
    nb_tensor *t = nb_transpose(x, 0, 1);   /* printed in the view's order */
    text = print_to_string(t);
    ASSERT_CONTAINS(text, "[[1.5, 3.25]");
    free(text);
    text = print_to_string(nb_scalar(NB_I64, 42));
    ASSERT_CONTAINS(text, "42");
    ASSERT_CONTAINS(text, "i64");
    free(text);
    nb_scope_end(s);
}

static void print_abbreviates_long_axes(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_arange(NB_I64, 100, 200, 1);
    char *text = print_to_string(x);
    ASSERT_CONTAINS(text, "100, 101, 102");
    ASSERT_CONTAINS(text, "...");
    ASSERT_CONTAINS(text, "197, 198, 199");
    assert_null(strstr(text, "150"));
    free(text);
    nb_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(from_data_copies_the_callers_buffer),
        TEST(wrap_shares_memory_and_deletes_after_the_last_view),
        TEST(wrap_with_strides_reads_through_them),
        TEST(filled_creators_have_the_requested_values),
        TEST(arange_excludes_stop_like_numpy),
        TEST(linspace_includes_both_ends),
        TEST(eye_has_ones_on_the_diagonal_only),
        TEST(empty_has_the_shape_contiguous_strides_and_64_byte_alignment),
        TEST(creation_rejects_rank_9),
        TEST(creation_rejects_negative_sizes_naming_the_shape),
        TEST(creation_rejects_null_shape_data_and_bad_dtype),
        TEST(transpose_is_a_view_with_swapped_strides),
        TEST(permute_reorders_shape_and_strides),
        TEST(slice_with_step_is_a_strided_view),
        TEST(slice_counts_negative_bounds_from_the_end_and_clamps),
        TEST(expand_gives_stride_zero_on_broadcast_axes),
        TEST(squeeze_and_unsqueeze_are_views),
        TEST(reshape_of_contiguous_shares_storage_both_ways),
        TEST(reshape_of_transposed_copies_in_c_order),
        TEST(contiguous_clone_and_cast_give_the_right_values),
        TEST(add_broadcasts_column_with_row),
        TEST(broadcasting_prepends_axes_to_the_shorter_shape),
        TEST(incompatible_broadcast_fails_naming_both_shapes),
        TEST(get_accepts_negative_indices_and_rejects_out_of_range),
        TEST(item_reads_one_element_tensors_only),
        TEST(copy_to_writes_c_order_and_converts_dtype),
        TEST(fill_inplace_writes_only_the_view),
        TEST(copy_inplace_broadcasts_converts_and_handles_overlap),
        TEST(backward_works_when_saved_tensors_are_untouched),
        TEST(fill_inplace_of_a_saved_tensor_makes_backward_refuse),
        TEST(copy_inplace_through_a_view_of_a_saved_tensor_makes_backward_refuse),
        TEST(inplace_on_a_tensor_requiring_grad_needs_no_grad_mode),
        TEST(print_shows_values_shape_and_dtype),
        TEST(print_abbreviates_long_axes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
