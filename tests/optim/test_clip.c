/* Gradient clipping by global norm and by value, and the L1/L2 penalties, against closed
 * forms: which gradients change and by how much, the returned norm for p = 1, 2, 3 and
 * infinity, versions, non-finite gradients, broadcast gradients, and penalties' values and
 * gradients. Parity with torch.nn.utils.clip_grad_norm_ over a training run is parity.py's. */
#include <math.h>
#include <stdio.h>

#include "../common/check.h"
#include "core/tensor_impl.h"

static nb_tensor *param(nb_dtype dtype, const double *v, int rank, const int64_t *shape)
{
    nb_tensor *t = nb_tensor_from_data(v, NB_F64, rank, shape);
    if (dtype != NB_F64)
        t = nb_cast(t, dtype);
    NOT_NULL(t);
    ASSERT_OK(nb_requires_grad(t, true));
    return t;
}

/* Sets p's gradient to c (C order) through a backward of sum(p * c). */
static void set_grad(nb_tensor *p, const double *c)
{
    nb_scope *s = nb_scope_begin();
    nb_tensor *k = nb_tensor_from_data(c, NB_F64, nb_tensor_rank(p), nb_tensor_shape(p));
    if (nb_tensor_dtype(p) != NB_F64)
        k = nb_cast(k, nb_tensor_dtype(p));
    nb_zero_grad(p);
    ASSERT_OK(nb_backward(nb_sum_all(nb_mul(p, k)), NULL));
    nb_scope_end(s);
}

static void assert_near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol * (1 + fabs(want))))
        fail_msg("got %.17g, expected %.17g", got, want);
}

/* ---------------------------------------------------------------- by norm */

static void clip_grad_norm_scales_every_gradient_by_one_coefficient(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        nb_dtype dtype = d ? NB_F64 : NB_F32;
        double tol = d ? 1e-15 : 1e-7;
        nb_scope *s = nb_scope_begin();
        nb_tensor *p[3] = { param(dtype, (const double[]){ 0, 0 }, NB_SHAPE(2)),
                            param(dtype, (const double[]){ 0 }, NB_SHAPE(1)),
                            param(dtype, (const double[]){ 5 }, NB_SHAPE(1)) };
        set_grad(p[0], (const double[]){ 3, -4 });
        set_grad(p[1], (const double[]){ 12 });          /* p[2] has no gradient: skipped */
        double total = 0;
        ASSERT_OK(nb_clip_grad_norm(p, 3, 1, 2, &total));
        assert_near(total, 13, tol);
        double coef = 1 / (13 + 1e-6);
        assert_near(nbt_value_at(nb_tensor_grad(p[0]), 0), 3 * coef, tol);
        assert_near(nbt_value_at(nb_tensor_grad(p[0]), 1), -4 * coef, tol);
        assert_near(nbt_value_at(nb_tensor_grad(p[1]), 0), 12 * coef, tol);
        assert_null(nb_tensor_grad(p[2]));
        nb_scope_end(s);
    }
}

static void clip_grad_norm_leaves_gradients_below_the_limit_alone(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F32, (const double[]){ 0, 0 }, NB_SHAPE(2));
    set_grad(p, (const double[]){ 0.3, 0.4 });
    nb_tensor *g = nb_tensor_grad(p);
    uint64_t version = g->storage->version;
    double total;
    ASSERT_OK(nb_clip_grad_norm(&p, 1, 1, 2, &total));
    assert_near(total, 0.5, 1e-7);
    assert_true(nb_tensor_grad(p) == g);
    assert_true(nbt_value_at(g, 0) == 0.3f && nbt_value_at(g, 1) == 0.4f);
    assert_int_equal(g->storage->version, version);
    nb_scope_end(s);
}

static void clip_grad_norm_of_other_orders(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { param(NB_F64, (const double[]){ 0, 0 }, NB_SHAPE(2)),
                        param(NB_F64, (const double[]){ 0 }, NB_SHAPE(1)) };
    const double g0[2] = { 1, -2 }, g1[1] = { -3 };
    const double orders[3] = { 1, 3, INFINITY }, want[3] = { 6, cbrt(36), 3 };
    for (int k = 0; k < 3; k++) {
        set_grad(p[0], g0);
        set_grad(p[1], g1);
        double total;
        ASSERT_OK(nb_clip_grad_norm(p, 2, 0.5, orders[k], &total));
        assert_near(total, want[k], 1e-15);
        assert_near(nbt_value_at(nb_tensor_grad(p[1]), 0), -3 * 0.5 / (want[k] + 1e-6), 1e-15);
    }
    nb_scope_end(s);
}

static void clip_grad_norm_bumps_the_version_of_what_it_changes(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F64, (const double[]){ 0 }, NB_SHAPE(1));
    set_grad(p, (const double[]){ 10 });
    nb_tensor *g = nb_tensor_grad(p);
    uint64_t version = g->storage->version;
    ASSERT_OK(nb_clip_grad_norm(&p, 1, 1, 2, NULL));
    assert_int_equal(g->storage->version, version + 1);
    ASSERT_OK(nb_clip_grad_value(&p, 1, 0.5));
    assert_int_equal(g->storage->version, version + 2);
    nb_scope_end(s);
}

/* As PyTorch (error_if_nonfinite=False): a NaN gradient makes the norm NaN and every
 * gradient NaN; an infinite one makes the norm infinite and the finite gradients 0. */
static void clip_grad_norm_with_non_finite_gradients(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { param(NB_F32, (const double[]){ 0 }, NB_SHAPE(1)),
                        param(NB_F32, (const double[]){ 0 }, NB_SHAPE(1)) };
    double total;
    set_grad(p[0], (const double[]){ NAN });
    set_grad(p[1], (const double[]){ 1 });
    ASSERT_OK(nb_clip_grad_norm(p, 2, 1, 2, &total));
    assert_true(isnan(total));
    assert_true(isnan(nbt_value_at(nb_tensor_grad(p[1]), 0)));
    set_grad(p[0], (const double[]){ INFINITY });
    set_grad(p[1], (const double[]){ 1 });
    ASSERT_OK(nb_clip_grad_norm(p, 2, 1, INFINITY, &total));
    assert_true(isinf(total));
    assert_true(nbt_value_at(nb_tensor_grad(p[1]), 0) == 0);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- by value */

static void clip_grad_value_clamps_each_element_and_keeps_nan(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F32, (const double[]){ 0, 0, 0, 0, 0 }, NB_SHAPE(5));
    set_grad(p, (const double[]){ -3, -0.25, 0.5, 7, NAN });
    ASSERT_OK(nb_clip_grad_value(&p, 1, 0.5));
    const nb_tensor *g = nb_tensor_grad(p);
    const double want[4] = { -0.5, -0.25, 0.5, 0.5 };
    for (int j = 0; j < 4; j++)
        assert_true(nbt_value_at(g, j) == want[j]);
    assert_true(isnan(nbt_value_at(g, 4)));
    nb_scope_end(s);
}

/* A gradient that is a broadcast view (stride 0, as a create_graph backward can leave) is
 * not written through: it is replaced by a contiguous clipped copy, and the memory it
 * viewed is left alone. */
static void broadcast_gradient_is_replaced_not_written_through(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F64, (const double[]){ 0, 0, 0, 0, 0, 0 }, NB_SHAPE(3, 2));
    nb_tensor *row = nb_tensor_from_data((const double[]){ 2, -5 }, NB_F64, NB_SHAPE(1, 2));
    nb_tensor *wide = nb_expand(row, NB_SHAPE(3, 2));
    p->grad = nb_retain(wide);
    ASSERT_OK(nb_clip_grad_value(&p, 1, 1));
    const nb_tensor *g = nb_tensor_grad(p);
    assert_true(g != wide);
    assert_true(nb_tensor_is_contiguous(g));
    for (int j = 0; j < 6; j++)
        assert_true(nbt_value_at(g, j) == (j % 2 ? -1 : 1));
    assert_true(nbt_value_at(row, 0) == 2 && nbt_value_at(row, 1) == -5);
    nb_zero_grad(p);                    /* the same through the norm */
    p->grad = nb_retain(wide);
    double total;
    ASSERT_OK(nb_clip_grad_norm(&p, 1, 1, 2, &total));
    assert_near(total, sqrt(3 * (4 + 25)), 1e-15);
    assert_near(nbt_value_at(nb_tensor_grad(p), 5), -5 / (total + 1e-6), 1e-15);
    assert_true(nbt_value_at(row, 1) == -5);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- penalties */

static void l1_and_l2_penalties_and_their_gradients(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        nb_dtype dtype = d ? NB_F64 : NB_F32;
        nb_scope *s = nb_scope_begin();
        nb_tensor *base = param(dtype, (const double[]){ 1, -2, 0, 3 }, NB_SHAPE(2, 2));
        ASSERT_OK(nb_requires_grad(base, false));
        nb_tensor *p[2] = { nb_transpose(base, 0, 1), param(dtype, (const double[]){ -0.5 }, NB_SHAPE(1)) };
        ASSERT_OK(nb_requires_grad(p[0], true));
        nb_tensor *l1 = nb_l1_penalty(p, 2), *l2 = nb_l2_penalty(p, 2);
        NOT_NULL(l1);
        NOT_NULL(l2);
        assert_int_equal(nb_tensor_rank(l1), 0);
        assert_int_equal(nb_tensor_dtype(l1), dtype);
        assert_near(nb_tensor_item(l1), 6.5, 1e-15);
        assert_near(nb_tensor_item(l2), 14.25, 1e-15);
        ASSERT_OK(nb_backward(nb_add(l1, nb_mul_scalar(l2, 0.5)), NULL));
        /* d/dp (|p| + p^2 / 2) = sign(p) + p, with sign(0) = 0; p[0] is the transpose of base. */
        const double want0[4] = { 2, 0, -3, 4 };
        for (int j = 0; j < 4; j++)
            assert_near(nbt_value_at(nb_tensor_grad(p[0]), j), want0[j], 1e-15);
        assert_near(nbt_value_at(nb_tensor_grad(p[1]), 0), -1.5, 1e-15);
        nb_scope_end(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(clip_grad_norm_scales_every_gradient_by_one_coefficient),
        TEST(clip_grad_norm_leaves_gradients_below_the_limit_alone),
        TEST(clip_grad_norm_of_other_orders),
        TEST(clip_grad_norm_bumps_the_version_of_what_it_changes),
        TEST(clip_grad_norm_with_non_finite_gradients),
        TEST(clip_grad_value_clamps_each_element_and_keeps_nan),
        TEST(broadcast_gradient_is_replaced_not_written_through),
        TEST(l1_and_l2_penalties_and_their_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
