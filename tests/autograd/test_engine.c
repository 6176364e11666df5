/* The backward engine and the autograd API (DESIGN §6): accumulation, retain_graph,
 * nb_grad, higher derivatives, hooks, grad mode, detach, anomaly mode with call sites,
 * deep graphs on a small stack, DOT export and nb_gradcheck catching wrong rules.
 *
 * Every expected gradient is a closed form evaluated here with libm, never a value read
 * back from nabla. The shared fixture (tests/common/check.h) clears the error and anomaly
 * mode and requires the live storage bytes to come back to where they started. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/check.h"

/* ---------------------------------------------------------------- helpers */

static nb_tensor *leaf_scalar(double v)
{
    nb_tensor *t = nb_scalar(NB_F64, v);
    NOT_NULL(t);
    ASSERT_OK(nb_requires_grad(t, true));
    return t;
}

/* Element j (C order) of an f64 tensor: every tensor this file reads back is f64. */
static double at(const nb_tensor *t, int64_t j)
{
    double v = nbt_value_at(t, j);
    assert_int_equal(nb_tensor_dtype(t), NB_F64);
    return v;
}

/* nbt_assert_close, for an f64 tensor only. */
static void assert_close(const nb_tensor *t, const double *expected, int64_t n, double tol)
{
    nbt_assert_close(t, expected, n, tol);
    assert_int_equal(nb_tensor_dtype(t), NB_F64);
}

/* nb_error() names this file and line as the call site of the op that failed. */
static void assert_error_names_line(int line)
{
    char where[64];
    snprintf(where, sizeof where, "test_engine.c:%d", line);
    ASSERT_CONTAINS(nb_error(), where);
}

/* ---------------------------------------------------------------- accumulation */

static void gradient_accumulates_across_two_backward_calls(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 1, -2, 3 }, NB_SHAPE(3));
    ASSERT_OK(nb_backward(nb_sum_all(nb_mul(x, x)), NULL));
    assert_close(nb_tensor_grad(x), (const double[]){ 2, -4, 6 }, 3, 0);
    ASSERT_OK(nb_backward(nb_sum_all(nb_mul_scalar(x, 5)), NULL));
    assert_close(nb_tensor_grad(x), (const double[]){ 7, 1, 11 }, 3, 0);
    nb_scope_end(s);
}

static void zero_grad_forgets_the_accumulated_gradient(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 1, -2, 3 }, NB_SHAPE(3));
    ASSERT_OK(nb_backward(nb_sum_all(nb_mul(x, x)), NULL));
    nb_zero_grad(x);
    assert_null(nb_tensor_grad(x));
    ASSERT_OK(nb_backward(nb_sum_all(nb_mul(x, x)), NULL));
    assert_close(nb_tensor_grad(x), (const double[]){ 2, -4, 6 }, 3, 0);
    nb_scope_end(s);
}

static void gradients_meeting_at_a_tensor_are_summed(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double v[3] = { 0.5, -1, 2 };
    nb_tensor *x = nbt_leaf(v, NB_SHAPE(3));
    nb_tensor *h = nb_mul_scalar(x, 3);   /* a non-leaf used by three ops */
    nb_tensor *y = nb_sum_all(nb_add(nb_mul(h, h), nb_add(nb_exp(h), h)));
    ASSERT_OK(nb_backward(y, NULL));
    double expected[3];
    for (int i = 0; i < 3; i++)   /* d/dx (9x^2 + e^(3x) + 3x) */
        expected[i] = 18 * v[i] + 3 * exp(3 * v[i]) + 3;
    assert_close(nb_tensor_grad(x), expected, 3, 1e-14);
    nb_scope_end(s);
}

static void backward_with_an_explicit_gradient_weights_each_output(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 1, 2, 3 }, NB_SHAPE(3));
    nb_tensor *y = nb_mul(x, x);
    nb_tensor *g = nb_tensor_from_data((const double[]){ 1, 0.5, -1 }, NB_F64, NB_SHAPE(3));
    ASSERT_OK(nb_backward_ex(y, g, &(nb_backward_opts){ .retain_graph = true }));
    assert_close(nb_tensor_grad(x), (const double[]){ 2, 2, -6 }, 3, 0);
    /* without a gradient, a three-element output is refused; so is a gradient of another shape */
    assert_int_equal(nb_backward(y, NULL), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "[3]");
    nb_error_clear();
    assert_int_equal(nb_backward(y, nb_ones(NB_F64, NB_SHAPE(1, 3))), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "[1, 3]");
    nb_scope_end(s);
}

static void backward_of_an_output_that_does_not_require_grad_fails(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_ones(NB_F64, NB_SHAPE(2));
    assert_int_equal(nb_backward(nb_sum_all(x), NULL), NB_ERR_AUTOGRAD);
    ASSERT_CONTAINS(nb_error(), "does not require grad");
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- retain_graph */

static void retain_graph_lets_backward_run_twice(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 0.5, 2 }, NB_SHAPE(2));
    nb_tensor *y = nb_sum_all(nb_mul(nb_tanh(x), x));
    ASSERT_OK(nb_backward_ex(y, NULL, &(nb_backward_opts){ .retain_graph = true }));
    ASSERT_OK(nb_backward(y, NULL));
    double expected[2];
    for (int i = 0; i < 2; i++) {   /* twice d/dx (x tanh x) */
        double v = i ? 2 : 0.5, t = tanh(v);
        expected[i] = 2 * (t + v * (1 - t * t));
    }
    assert_close(nb_tensor_grad(x), expected, 2, 1e-14);
    nb_scope_end(s);
}

static void second_backward_without_retain_fails_cleanly(void **state)
{
    (void)state;
    int64_t start = nb_memory_stats().live_bytes;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 1, 2 }, NB_SHAPE(2));
    int line = __LINE__ + 1;
    nb_tensor *y = nb_sum_all(nb_mul(x, x));
    ASSERT_OK(nb_backward(y, NULL));
    assert_int_equal(nb_backward(y, NULL), NB_ERR_AUTOGRAD);
    ASSERT_CONTAINS(nb_error(), "freed");
    ASSERT_CONTAINS(nb_error(), "mul");
    ASSERT_CONTAINS(nb_error(), "retain_graph");
    assert_error_names_line(line);
    assert_close(nb_tensor_grad(x), (const double[]){ 2, 4 }, 2, 0);   /* untouched by the failed run */
    nb_scope_end(s);
    assert_int_equal(nb_memory_stats().live_bytes, start);
}

static void freeing_temporaries_does_not_break_a_later_backward(void **state)
{
    (void)state;
    nb_scope *outer = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 0.25, -0.5 }, NB_SHAPE(2));
    nb_scope *inner = nb_scope_begin();
    nb_tensor *y = nb_sum_all(nb_mul(nb_exp(x), nb_mul_scalar(x, 2)));
    nb_scope_keep(inner, y);
    nb_scope_end(inner);   /* every intermediate's handle is gone; the graph holds what it saved */
    ASSERT_OK(nb_backward(y, NULL));
    double expected[2];
    for (int i = 0; i < 2; i++) {   /* d/dx 2x e^x */
        double v = i ? -0.5 : 0.25;
        expected[i] = 2 * exp(v) * (1 + v);
    }
    assert_close(nb_tensor_grad(x), expected, 2, 1e-14);
    nb_scope_end(outer);
}

/* ---------------------------------------------------------------- nb_grad */

static void grad_returns_gradients_without_touching_dot_grad(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 1, 2, 3 }, NB_SHAPE(3));
    nb_tensor *y = nbt_leaf((const double[]){ -1, 0.5, 4 }, NB_SHAPE(3));
    nb_tensor *unused = nbt_leaf((const double[]){ 7, 8 }, NB_SHAPE(2, 1));
    nb_tensor *f = nb_sum_all(nb_mul(x, y));
    nb_tensor *grads[3];
    ASSERT_OK(nb_grad(&f, NULL, 1, (nb_tensor *const[]){ x, y, unused }, 3, grads, NULL));
    assert_close(grads[0], (const double[]){ -1, 0.5, 4 }, 3, 0);
    assert_close(grads[1], (const double[]){ 1, 2, 3 }, 3, 0);
    nbt_assert_shape(grads[2], 2, (const int64_t[]){ 2, 1 });
    assert_close(grads[2], (const double[]){ 0, 0 }, 2, 0);
    assert_null(nb_tensor_grad(x));
    assert_null(nb_tensor_grad(y));
    assert_null(nb_tensor_grad(unused));
    nb_scope_end(s);
}

static void grad_of_several_outputs_sums_their_weighted_contributions(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 1, -2 }, NB_SHAPE(2));
    nb_tensor *outs[2] = { nb_mul(x, x), nb_mul_scalar(x, 3) };
    nb_tensor *weights[2] = { nb_tensor_from_data((const double[]){ 1, 2 }, NB_F64, NB_SHAPE(2)),
                              nb_tensor_from_data((const double[]){ -1, 10 }, NB_F64, NB_SHAPE(2)) };
    nb_tensor *g;
    ASSERT_OK(nb_grad(outs, weights, 2, &x, 1, &g, NULL));
    /* 2x * w0 + 3 * w1 */
    assert_close(g, (const double[]){ 2 * 1 * 1 - 3, 2 * -2 * 2 + 30 }, 2, 0);
    nb_tensor *c = nb_ones(NB_F64, NB_SHAPE(2));
    assert_int_equal(nb_grad(outs, weights, 2, &c, 1, &g, NULL), NB_ERR_AUTOGRAD);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- higher derivatives */

static nb_tensor *grad1(nb_tensor *f, nb_tensor *x, bool create)
{
    nb_tensor *g = NULL;
    nb_backward_opts o = { .create_graph = create };
    ASSERT_OK(nb_grad(&f, NULL, 1, &x, 1, &g, &o));
    return g;
}

static void second_derivative_of_tanh_matches_closed_form(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double v[4] = { 0.3, -0.7, 1.2, 0 };
    nb_tensor *x = nbt_leaf(v, NB_SHAPE(2, 2));
    nb_tensor *g = grad1(nb_sum_all(nb_tanh(x)), x, true);
    assert_true(nb_tensor_requires_grad(g));
    nb_tensor *g2 = grad1(nb_sum_all(g), x, true);
    nb_tensor *g3 = grad1(nb_sum_all(g2), x, false);
    double d1[4], d2[4], d3[4];
    for (int i = 0; i < 4; i++) {
        double t = tanh(v[i]), sech2 = 1 - t * t;
        d1[i] = sech2;
        d2[i] = -2 * t * sech2;
        d3[i] = -2 * sech2 * sech2 + 4 * t * t * sech2;
    }
    assert_close(g, d1, 4, 1e-14);
    assert_close(g2, d2, 4, 1e-14);
    assert_close(g3, d3, 4, 1e-13);
    nb_scope_end(s);
}

static void mixed_partials_of_x_x_y_match_closed_form(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double xv = 1.5, yv = -0.8;
    nb_tensor *x = leaf_scalar(xv), *y = leaf_scalar(yv);
    nb_tensor *f = nb_mul(nb_mul(x, x), y);
    nb_tensor *g[2], *gg[2];
    nb_backward_opts create = { .create_graph = true };
    ASSERT_OK(nb_grad(&f, NULL, 1, (nb_tensor *const[]){ x, y }, 2, g, &create));
    assert_close(g[0], (const double[]){ 2 * xv * yv }, 1, 1e-15);
    assert_close(g[1], (const double[]){ xv * xv }, 1, 1e-15);
    /* row x of the Hessian: (d2f/dx2, d2f/dxdy) = (2y, 2x) */
    ASSERT_OK(nb_grad(&g[0], NULL, 1, (nb_tensor *const[]){ x, y }, 2, gg, NULL));
    assert_close(gg[0], (const double[]){ 2 * yv }, 1, 1e-15);
    assert_close(gg[1], (const double[]){ 2 * xv }, 1, 1e-15);
    /* row y: (d2f/dydx, d2f/dy2) = (2x, 0); the mixed partials agree */
    ASSERT_OK(nb_grad(&g[1], NULL, 1, (nb_tensor *const[]){ x, y }, 2, gg, NULL));
    assert_close(gg[0], (const double[]){ 2 * xv }, 1, 1e-15);
    assert_close(gg[1], (const double[]){ 0 }, 1, 0);
    nb_scope_end(s);
}

static void every_derivative_of_exp_is_exp(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double v[3] = { 0.5, -1, 2.25 };
    double e[3];
    for (int i = 0; i < 3; i++)
        e[i] = exp(v[i]);
    nb_tensor *x = nbt_leaf(v, NB_SHAPE(3));
    nb_tensor *g = nb_exp(x);
    for (int order = 1; order <= 3; order++) {
        g = grad1(nb_sum_all(g), x, order < 3);
        assert_close(g, e, 3, 1e-14);
    }
    nb_scope_end(s);
}

/* f(x, A) = x A x^T with x [1, 3]: df/dx = x (A + A^T), d2f/dx2 = A + A^T, df/dA = x^T x. */
static void hessian_vector_products_of_a_matmul_expression_match_closed_form(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double xv[3] = { 0.5, -1, 2 };
    const double av[9] = { 1, 2, -1, 0.5, -3, 4, 2, 1, 0.25 };
    const double vv[3] = { 1, -0.5, 0.25 };
    const double wv[9] = { 0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, 0.9 };
    nb_tensor *x = nbt_leaf(xv, NB_SHAPE(1, 3));
    nb_tensor *a = nbt_leaf(av, NB_SHAPE(3, 3));
    nb_tensor *f = nb_sum_all(nb_matmul(nb_matmul(x, a), nb_transpose(x, 0, 1)));
    nb_tensor *g[2];
    nb_backward_opts create = { .create_graph = true };
    ASSERT_OK(nb_grad(&f, NULL, 1, (nb_tensor *const[]){ x, a }, 2, g, &create));

    double gx[3], ga[9], hv[3], mixed[3];
    for (int k = 0; k < 3; k++) {
        gx[k] = hv[k] = mixed[k] = 0;
        for (int j = 0; j < 3; j++) {
            gx[k] += xv[j] * (av[j * 3 + k] + av[k * 3 + j]);
            hv[k] += (av[k * 3 + j] + av[j * 3 + k]) * vv[j];
            mixed[k] += (wv[k * 3 + j] + wv[j * 3 + k]) * xv[j];
            ga[k * 3 + j] = xv[k] * xv[j];
        }
    }
    assert_close(g[0], gx, 3, 1e-14);
    assert_close(g[1], ga, 9, 1e-14);
    /* H v = d/dx <df/dx, v>; it runs through the forward graph, which the next product
     * needs again, so the graph is retained */
    nb_tensor *v = nb_tensor_from_data(vv, NB_F64, NB_SHAPE(1, 3));
    nb_tensor *hv_root = nb_sum_all(nb_mul(g[0], v)), *hvp;
    ASSERT_OK(nb_grad(&hv_root, NULL, 1, &x, 1, &hvp, &(nb_backward_opts){ .retain_graph = true }));
    assert_close(hvp, hv, 3, 1e-14);
    /* d/dx <df/dA, W> = x (W + W^T) */
    nb_tensor *w = nb_tensor_from_data(wv, NB_F64, NB_SHAPE(3, 3));
    nb_tensor *m = grad1(nb_sum_all(nb_mul(g[1], w)), x, false);
    assert_close(m, mixed, 3, 1e-14);
    nb_scope_end(s);
}

static void create_graph_backward_leaves_a_differentiable_grad(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double v[2] = { 1.5, -2 };
    nb_tensor *x = nbt_leaf(v, NB_SHAPE(2));
    ASSERT_OK(nb_backward_ex(nb_sum_all(nb_mul(nb_mul(x, x), x)), NULL, &(nb_backward_opts){ .create_graph = true }));
    nb_tensor *g = nb_tensor_grad(x);
    assert_close(g, (const double[]){ 3 * v[0] * v[0], 3 * v[1] * v[1] }, 2, 1e-15);
    assert_true(nb_tensor_requires_grad(g));
    nb_tensor *penalty = nb_sum_all(g);   /* a gradient penalty: d/dx sum(3x^2) = 6x */
    nb_zero_grad(x);
    ASSERT_OK(nb_backward(penalty, NULL));
    assert_close(nb_tensor_grad(x), (const double[]){ 6 * v[0], 6 * v[1] }, 2, 1e-15);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- hooks */

static nb_tensor *double_it(nb_tensor *g, void *user)
{
    (void)user;
    return nb_mul_scalar(g, 2);
}

static nb_tensor *add_one(nb_tensor *g, void *user)
{
    (void)user;
    return nb_add_scalar(g, 1);
}

typedef struct hook_log {
    char order[8];
    int calls;
    double seen;
} hook_log;

static nb_tensor *log_a(nb_tensor *g, void *user)
{
    hook_log *l = user;
    l->order[l->calls++] = 'a';
    return add_one(g, NULL);
}

static nb_tensor *log_b(nb_tensor *g, void *user)
{
    hook_log *l = user;
    l->order[l->calls++] = 'b';
    return double_it(g, NULL);
}

static nb_tensor *watch(nb_tensor *g, void *user)
{
    hook_log *l = user;
    l->calls++;
    l->seen = at(g, 0);
    return NULL;   /* keep the gradient */
}

static void leaf_hook_can_double_the_gradient(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 1, 2 }, NB_SHAPE(2));
    ASSERT_OK(nb_tensor_add_hook(x, double_it, NULL));
    ASSERT_OK(nb_backward(nb_sum_all(nb_mul_scalar(x, 3)), NULL));
    assert_close(nb_tensor_grad(x), (const double[]){ 6, 6 }, 2, 0);
    nb_scope_end(s);
}

static void hooks_run_in_the_order_they_were_added(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    hook_log l = { "", 0, 0 };
    nb_tensor *x = nbt_leaf((const double[]){ 1, 2 }, NB_SHAPE(2));
    ASSERT_OK(nb_tensor_add_hook(x, log_a, &l));
    ASSERT_OK(nb_tensor_add_hook(x, log_b, &l));
    ASSERT_OK(nb_backward(nb_sum_all(x), NULL));
    assert_string_equal(l.order, "ab");
    assert_close(nb_tensor_grad(x), (const double[]){ 4, 4 }, 2, 0);   /* (1 + 1) * 2, not 1 * 2 + 1 */
    /* the same on a non-leaf: h = 5x, hooks on h, so dx = 5 * ((1 + 1) * 2) */
    hook_log l2 = { "", 0, 0 };
    nb_tensor *y = nbt_leaf((const double[]){ 1 }, NB_SHAPE(1));
    nb_tensor *h = nb_mul_scalar(y, 5);
    ASSERT_OK(nb_tensor_add_hook(h, log_a, &l2));
    ASSERT_OK(nb_tensor_add_hook(h, log_b, &l2));
    ASSERT_OK(nb_backward(nb_sum_all(h), NULL));
    assert_string_equal(l2.order, "ab");
    assert_close(nb_tensor_grad(y), (const double[]){ 20 }, 1, 0);
    nb_scope_end(s);
}

static void non_leaf_hook_sees_the_summed_gradient_once(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    hook_log l = { "", 0, 0 };
    nb_tensor *x = nbt_leaf((const double[]){ 1, 2 }, NB_SHAPE(2));
    nb_tensor *h = nb_mul_scalar(x, 2);
    ASSERT_OK(nb_tensor_add_hook(h, watch, &l));
    ASSERT_OK(nb_tensor_add_hook(h, double_it, NULL));
    /* h reaches the loss three ways: d loss / dh = 1 + 1 + 3 = 5 */
    nb_tensor *loss = nb_sum_all(nb_add(nb_add(h, h), nb_mul_scalar(h, 3)));
    ASSERT_OK(nb_backward(loss, NULL));
    assert_int_equal(l.calls, 1);
    assert_true(l.seen == 5);
    assert_close(nb_tensor_grad(x), (const double[]){ 20, 20 }, 2, 0);   /* 5, doubled, times 2 */
    nb_scope_end(s);
}

static nb_tensor *wrong_shape(nb_tensor *g, void *user)
{
    (void)g;
    (void)user;
    return nb_zeros(NB_F64, NB_SHAPE(5));
}

static void hook_returning_a_wrong_shape_fails_backward_cleanly(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 1, 2, 3 }, NB_SHAPE(3));
    nb_tensor *h = nb_exp(x);
    ASSERT_OK(nb_tensor_add_hook(h, wrong_shape, NULL));
    assert_int_equal(nb_backward(nb_sum_all(h), NULL), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "hook");
    ASSERT_CONTAINS(nb_error(), "[5]");
    assert_null(nb_tensor_grad(x));
    nb_error_clear();
    nb_tensor *c = nb_ones(NB_F64, NB_SHAPE(2));   /* no gradient would ever reach it */
    assert_int_equal(nb_tensor_add_hook(c, double_it, NULL), NB_ERR_AUTOGRAD);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- grad mode, detach, leaves */

static void no_grad_nests_and_ops_inside_record_nothing(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 1, 2 }, NB_SHAPE(2));
    assert_true(nb_grad_enabled());
    nb_no_grad_begin();
    assert_false(nb_grad_enabled());
    nb_no_grad_begin();
    nb_tensor *a = nb_mul(x, x);
    nb_no_grad_end();
    assert_false(nb_grad_enabled());   /* still inside the outer block */
    nb_tensor *b = nb_exp(x);
    nb_no_grad_end();
    assert_true(nb_grad_enabled());
    nb_tensor *c = nb_mul(x, x);
    NOT_NULL(a);
    NOT_NULL(b);
    NOT_NULL(c);
    assert_false(nb_tensor_requires_grad(a));
    assert_true(nb_tensor_is_leaf(a));
    assert_false(nb_tensor_requires_grad(b));
    assert_true(nb_tensor_requires_grad(c));
    assert_false(nb_tensor_is_leaf(c));
    assert_close(a, (const double[]){ 1, 4 }, 2, 0);   /* the values are computed all the same */
    assert_int_equal(nb_backward(nb_sum_all(a), NULL), NB_ERR_AUTOGRAD);
    nb_error_clear();
    nb_no_grad_end();   /* unmatched */
    assert_int_equal(nb_error_code(), NB_ERR_STATE);
    assert_true(nb_grad_enabled());
    nb_scope_end(s);
}

static void detach_shares_data_and_blocks_the_gradient(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 3, -1 }, NB_SHAPE(2));
    nb_tensor *h = nb_mul_scalar(x, 2);
    nb_tensor *d = nb_detach(h);
    NOT_NULL(d);
    assert_ptr_equal(nb_tensor_data(d), nb_tensor_data(h));
    assert_false(nb_tensor_requires_grad(d));
    assert_true(nb_tensor_is_leaf(d));
    /* loss = sum(x * stop(2x)): the gradient is 2x, not 4x */
    ASSERT_OK(nb_backward(nb_sum_all(nb_mul(x, d)), NULL));
    assert_close(nb_tensor_grad(x), (const double[]){ 6, -2 }, 2, 0);
    nb_scope_end(s);
}

static void requires_grad_refuses_integer_tensors_and_non_leaves(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *i = nb_arange(NB_I64, 0, 3, 1);
    assert_int_equal(nb_requires_grad(i, true), NB_ERR_DTYPE);
    ASSERT_CONTAINS(nb_error(), "i64");
    assert_false(nb_tensor_requires_grad(i));
    nb_error_clear();
    nb_tensor *x = nbt_leaf((const double[]){ 1, 2 }, NB_SHAPE(2));
    nb_tensor *y = nb_mul(x, x);
    assert_int_equal(nb_requires_grad(y, false), NB_ERR_AUTOGRAD);
    ASSERT_CONTAINS(nb_error(), "mul");
    assert_true(nb_tensor_requires_grad(y));
    nb_error_clear();
    ASSERT_OK(nb_requires_grad(x, false));   /* a leaf can be unmarked */
    assert_false(nb_tensor_requires_grad(nb_mul(x, x)));
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- anomaly mode */

static void anomaly_mode_names_log_and_its_call_site(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_tensor_from_data((const double[]){ 2, -1 }, NB_F64, NB_SHAPE(2));
    /* off: NaN flows through silently */
    nb_tensor *quiet = nb_log(x);
    NOT_NULL(quiet);
    assert_true(isnan(at(quiet, 1)));
    nb_set_anomaly_mode(true);
    assert_true(nb_anomaly_mode());
    int line = __LINE__ + 1;
    nb_tensor *y = nb_log(x);
    assert_null(y);
    assert_int_equal(nb_error_code(), NB_ERR_NUMERIC);
    ASSERT_CONTAINS(nb_error(), "nb_log");
    assert_error_names_line(line);
    nb_set_anomaly_mode(false);
    nb_scope_end(s);
}

static void anomaly_mode_names_the_op_whose_backward_made_inf(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 4, 0 }, NB_SHAPE(2));
    nb_set_anomaly_mode(true);
    int line = __LINE__ + 1;
    nb_tensor *r = nb_sqrt(x);   /* finite: sqrt(0) = 0, but its gradient there is inf */
    NOT_NULL(r);
    nb_tensor *loss = nb_sum_all(r);
    assert_int_equal(nb_backward(loss, NULL), NB_ERR_NUMERIC);
    ASSERT_CONTAINS(nb_error(), "sqrt");
    assert_error_names_line(line);
    assert_null(nb_tensor_grad(x));
    nb_set_anomaly_mode(false);
    nb_error_clear();
    /* off: the same backward goes through and yields inf */
    nb_tensor *loss2 = nb_sum_all(nb_sqrt(x));
    ASSERT_OK(nb_backward(loss2, NULL));
    assert_true(at(nb_tensor_grad(x), 0) == 0.25);
    assert_true(isinf(at(nb_tensor_grad(x), 1)));
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- deep graphs on a small stack */

enum { SMALL_STACK = 256 * 1024 };

typedef struct chain_job {
    int ops;                 /* number of ops in the chain (half adds, half muls) */
    bool backward;
    nb_status status;
    double y, gx, gc;
    bool built;
    int64_t live_before, live_after;
    char error[512];
} chain_job;

/* y = x; repeat: y = (y + c) * m. With n = ops / 2 rounds:
 *   y = x m^n + c (m + m^2 + ... + m^n),  dy/dx = m^n,  dy/dc = m (m^n - 1) / (m - 1). */
static const double CHAIN_M = 1.0001, CHAIN_X = 1, CHAIN_C = 0.5;

static void *chain_thread(void *arg)
{
    chain_job *job = arg;
    job->live_before = nb_memory_stats().live_bytes;
    nb_scope *outer = nb_scope_begin();
    nb_tensor *x = nb_full(NB_F64, NB_SHAPE(1), CHAIN_X);
    nb_tensor *c = nb_full(NB_F64, NB_SHAPE(1), CHAIN_C);
    nb_tensor *m = nb_full(NB_F64, NB_SHAPE(1), CHAIN_M);
    nb_requires_grad(x, true);
    nb_requires_grad(c, true);
    nb_scope *inner = nb_scope_begin();
    nb_tensor *y = x;
    for (int k = 0; k < job->ops / 2; k++)
        y = nb_mul(nb_add(y, c), m);
    job->built = y != NULL;
    if (y) {
        nb_scope_keep(inner, y);
        /* Only y holds the chain now: every intermediate lives through graph nodes alone. */
        nb_scope_end(inner);
        job->y = nb_tensor_item(y);
        if (job->backward) {
            job->status = nb_backward(y, NULL);
            job->gx = nb_tensor_grad(x) ? nb_tensor_item(nb_tensor_grad(x)) : NAN;
            job->gc = nb_tensor_grad(c) ? nb_tensor_item(nb_tensor_grad(c)) : NAN;
        }
    } else {
        nb_scope_end(inner);
    }
    snprintf(job->error, sizeof job->error, "%s", nb_error());
    nb_scope_end(outer);   /* releasing y frees the whole chain */
    job->live_after = nb_memory_stats().live_bytes;
    return NULL;
}

static void run_on_small_stack(chain_job *job)
{
    pthread_attr_t attr;
    pthread_t thread;
    assert_int_equal(pthread_attr_init(&attr), 0);
    assert_int_equal(pthread_attr_setstacksize(&attr, SMALL_STACK), 0);
    assert_int_equal(pthread_create(&thread, &attr, chain_thread, job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    pthread_attr_destroy(&attr);
}

static void chain_of_10000_ops_runs_backward_and_frees_on_a_small_stack(void **state)
{
    (void)state;
    chain_job job = { .ops = 10000, .backward = true };
    run_on_small_stack(&job);
    if (!job.built)
        fail_msg("building the chain failed: %s", job.error);
    if (job.status != NB_OK)
        fail_msg("backward failed: %s", job.error);
    int n = job.ops / 2;
    double mn = pow(CHAIN_M, n), geometric = CHAIN_M * (mn - 1) / (CHAIN_M - 1);
    assert_true(fabs(job.y - (CHAIN_X * mn + CHAIN_C * geometric)) < 1e-9 * geometric);
    assert_true(fabs(job.gx - mn) < 1e-10 * mn);
    assert_true(fabs(job.gc - geometric) < 1e-9 * geometric);
    assert_int_equal(job.live_after, job.live_before);
}

static void chain_of_100000_ops_is_freed_by_scope_end_on_a_small_stack(void **state)
{
    (void)state;
    chain_job job = { .ops = 100000, .backward = false };
    run_on_small_stack(&job);
    if (!job.built)
        fail_msg("building the chain failed: %s", job.error);
    int n = job.ops / 2;
    double mn = pow(CHAIN_M, n), geometric = CHAIN_M * (mn - 1) / (CHAIN_M - 1);
    assert_true(fabs(job.y - (CHAIN_X * mn + CHAIN_C * geometric)) < 1e-8 * geometric);
    assert_int_equal(job.live_after, job.live_before);
}

/* ---------------------------------------------------------------- DOT export */

static nb_tensor *dot_example(nb_tensor **x_out)
{
    nb_tensor *x = nbt_leaf((const double[]){ 1, 2, 3, 4, 5, 6, 7, 8 }, NB_SHAPE(2, 4));
    nb_tensor *w = nb_ones(NB_F64, NB_SHAPE(4, 3));
    nb_tensor *b = nb_ones(NB_F64, NB_SHAPE(3));
    nb_tensor *y = nb_sum_all(nb_add(nb_tanh(nb_matmul(x, w)), b));
    NOT_NULL(y);
    *x_out = x;
    return y;
}

static void graph_dot_writes_a_digraph_naming_the_ops(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x;
    nb_tensor *y = dot_example(&x);
    char *text = nbt_graph_dot_text(y);
    ASSERT_CONTAINS(text, "digraph");
    ASSERT_CONTAINS(text, "matmul");
    ASSERT_CONTAINS(text, "tanh");
    ASSERT_CONTAINS(text, "\"add");
    ASSERT_CONTAINS(text, "\"sum");
    ASSERT_CONTAINS(text, "[2, 4]");          /* the leaf x */
    ASSERT_CONTAINS(text, "requires_grad");
    ASSERT_CONTAINS(text, "-> [2, 3] f64");   /* matmul's output */
    ASSERT_CONTAINS(text, "->");
    free(text);
    text = nbt_graph_dot_text(x);   /* a leaf on its own */
    ASSERT_CONTAINS(text, "digraph");
    ASSERT_CONTAINS(text, "leaf [2, 4] f64");
    assert_null(strstr(text, "matmul"));
    free(text);
    assert_int_equal(nb_graph_dot(y, NULL), NB_ERR_NULL);
    nb_scope_end(s);
}

static void graph_dot_output_parses_with_graphviz(void **state)
{
    (void)state;
    if (access("/usr/bin/dot", X_OK) != 0)
        skip();
    nb_scope *s = nb_scope_begin();
    nb_tensor *x;
    nb_tensor *y = dot_example(&x);
    char path[] = "/tmp/nabla_test_dot_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    ASSERT_OK(nb_graph_dot(y, f));
    fclose(f);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/dot -Tsvg %s -o /dev/null 2>/dev/null", path);
    int rc = system(cmd);
    unlink(path);
    nb_scope_end(s);
    assert_int_equal(rc, 0);
}

/* ---------------------------------------------------------------- gradcheck catches wrong rules */

/* Unregistered test ops z = x^2 whose backward rules are right, off by a factor (3x instead
 * of 2x), or right in value but cut from the graph (so second order is wrong). */
static nb_status same_shape(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    (void)attrs;
    if (nb_tensor_dtype(x[0]) != NB_F64)
        return nb_op_error(op, NB_ERR_DTYPE, "expected f64");
    z->dtype = NB_F64;
    z->rank = nb_tensor_rank(x[0]);
    memcpy(z->shape, nb_tensor_shape(x[0]), (size_t)z->rank * sizeof(int64_t));
    return NB_OK;
}

static nb_status square_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    (void)attrs;
    double *out = nb_tensor_data(z[0]);
    for (int64_t j = 0, n = nb_tensor_numel(z[0]); j < n; j++) {
        double v = at(x[0], j);
        out[j] = v * v;
    }
    return NB_OK;
}

static void square_right(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_mul(nb_grad_out(c, 0), nb_mul_scalar(nb_saved_input(c, 0), 2)));
}

static void square_off_by_a_factor(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_mul(nb_grad_out(c, 0), nb_mul_scalar(nb_saved_input(c, 0), 3)));
}

static void square_detached(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_mul(nb_grad_out(c, 0), nb_mul_scalar(nb_detach(nb_saved_input(c, 0)), 2)));
}

#define TEST_SQUARE(var, rule) \
    static const nb_op_def var = { .name = #var, .n_in = 1, .shape = same_shape, \
        .forward = { [NB_F64] = square_kernel }, .saves = NB_SAVE_INPUT(0), .backward = rule }
TEST_SQUARE(op_square_right, square_right);
TEST_SQUARE(op_square_wrong, square_off_by_a_factor);
TEST_SQUARE(op_square_detached, square_detached);

static nb_tensor *apply_op(nb_tensor *const *inputs, void *user)
{
    return nb_apply(user, inputs, NULL);
}

static nb_tensor *gradcheck_input(void)
{
    return nbt_leaf((const double[]){ 0.5, -1.25, 2, 0.75, -0.3, 1.1 }, NB_SHAPE(2, 3));
}

static void gradcheck_passes_a_right_rule_first_and_second_order(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = gradcheck_input();
    nb_gradcheck_opts o = nb_gradcheck_opts_default();
    o.second_order = true;
    ASSERT_OK(nb_gradcheck(apply_op, (void *)&op_square_right, &x, 1, &o));
    nb_scope_end(s);
}

static void gradcheck_detects_a_gradient_off_by_a_factor(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = gradcheck_input();
    assert_int_equal(nb_gradcheck(apply_op, (void *)&op_square_wrong, &x, 1, NULL), NB_ERR_NUMERIC);
    ASSERT_CONTAINS(nb_error(), "first-order");
    ASSERT_CONTAINS(nb_error(), "input 0");
    nb_scope_end(s);
}

static void gradcheck_detects_a_backward_that_is_not_differentiable(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = gradcheck_input();
    nb_gradcheck_opts o = nb_gradcheck_opts_default();
    ASSERT_OK(nb_gradcheck(apply_op, (void *)&op_square_detached, &x, 1, &o));   /* values are right */
    o.second_order = true;
    assert_int_equal(nb_gradcheck(apply_op, (void *)&op_square_detached, &x, 1, &o), NB_ERR_NUMERIC);
    ASSERT_CONTAINS(nb_error(), "second-order");
    nb_scope_end(s);
}

static void gradcheck_refuses_f32_inputs(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_ones(NB_F32, NB_SHAPE(2));
    nb_requires_grad(x, true);
    assert_int_equal(nb_gradcheck(apply_op, (void *)&op_square_right, &x, 1, NULL), NB_ERR_DTYPE);
    ASSERT_CONTAINS(nb_error(), "f32");
    nb_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(gradient_accumulates_across_two_backward_calls),
        TEST(zero_grad_forgets_the_accumulated_gradient),
        TEST(gradients_meeting_at_a_tensor_are_summed),
        TEST(backward_with_an_explicit_gradient_weights_each_output),
        TEST(backward_of_an_output_that_does_not_require_grad_fails),
        TEST(retain_graph_lets_backward_run_twice),
        TEST(second_backward_without_retain_fails_cleanly),
        TEST(freeing_temporaries_does_not_break_a_later_backward),
        TEST(grad_returns_gradients_without_touching_dot_grad),
        TEST(grad_of_several_outputs_sums_their_weighted_contributions),
        TEST(second_derivative_of_tanh_matches_closed_form),
        TEST(mixed_partials_of_x_x_y_match_closed_form),
        TEST(every_derivative_of_exp_is_exp),
        TEST(hessian_vector_products_of_a_matmul_expression_match_closed_form),
        TEST(create_graph_backward_leaves_a_differentiable_grad),
        TEST(leaf_hook_can_double_the_gradient),
        TEST(hooks_run_in_the_order_they_were_added),
        TEST(non_leaf_hook_sees_the_summed_gradient_once),
        TEST(hook_returning_a_wrong_shape_fails_backward_cleanly),
        TEST(no_grad_nests_and_ops_inside_record_nothing),
        TEST(detach_shares_data_and_blocks_the_gradient),
        TEST(requires_grad_refuses_integer_tensors_and_non_leaves),
        TEST(anomaly_mode_names_log_and_its_call_site),
        TEST(anomaly_mode_names_the_op_whose_backward_made_inf),
        TEST(chain_of_10000_ops_runs_backward_and_frees_on_a_small_stack),
        TEST(chain_of_100000_ops_is_freed_by_scope_end_on_a_small_stack),
        TEST(graph_dot_writes_a_digraph_naming_the_ops),
        TEST(graph_dot_output_parses_with_graphviz),
        TEST(gradcheck_passes_a_right_rule_first_and_second_order),
        TEST(gradcheck_detects_a_gradient_off_by_a_factor),
        TEST(gradcheck_detects_a_backward_that_is_not_differentiable),
        TEST(gradcheck_refuses_f32_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
