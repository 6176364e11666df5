/* Optimizers (include/nabla/optim.h): updates against closed forms, skipping parameters
 * without gradients, versions, grad mode, zero_grad, parameter groups and learning rates,
 * state names and checkpoint restore, strided parameters and gradients, thread-count
 * independence and the absence of per-step allocations.
 *
 * Exact agreement with torch.optim over 100 steps is parity.py's job; here each expected
 * value is a formula evaluated with libm. Gradients are set by a backward of sum(p * c),
 * whose gradient is exactly c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../common/check.h"
#include "core/tensor_impl.h"

/* ---------------------------------------------------------------- helpers */

/* A leaf of dtype with the given values that requires grad, owned by the current scope. */
static nb_tensor *param(nb_dtype dtype, const double *v, int rank, const int64_t *shape)
{
    nb_tensor *t = nb_tensor_from_data(v, NB_F64, rank, shape);
    if (dtype != NB_F64)
        t = nb_cast(t, dtype);
    NOT_NULL(t);
    ASSERT_OK(nb_requires_grad(t, true));
    return t;
}

/* Replaces p's gradient by c (p's shape, C order). */
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

/* |got - want| <= tol (tol 0: exactly equal). */
static void assert_near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, expected %.17g (tolerance %g)", got, want, tol);
}

static void assert_values(const nb_tensor *t, const double *expected, int64_t n, double tol)
{
    nbt_assert_close(t, expected, n, tol);
}

static double tol_of(nb_dtype dtype)
{
    return dtype == NB_F32 ? 2e-6 : 1e-14;
}

/* ---------------------------------------------------------------- updates against closed forms */

static void sgd_plain_step_is_p_minus_lr_grad(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        nb_dtype dtype = d ? NB_F64 : NB_F32;
        nb_scope *s = nb_scope_begin();
        nb_tensor *p = param(dtype, (const double[]){ 1, -2, 3 }, NB_SHAPE(3));
        nb_sgd_opts o = nb_sgd_opts_default();
        o.lr = 0.5;
        nb_optimizer *opt = nb_sgd_new(&p, 1, &o);
        NOT_NULL(opt);
        set_grad(p, (const double[]){ 0.5, 1, -4 });
        ASSERT_OK(nb_optimizer_step(opt));
        assert_values(p, (const double[]){ 0.75, -2.5, 5 }, 3, tol_of(dtype));
        nb_optimizer_free(opt);
        nb_scope_end(s);
    }
}

static void sgd_momentum_buffer_starts_as_the_gradient_then_dampens(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F64, (const double[]){ 1, 2 }, NB_SHAPE(2));
    nb_sgd_opts o = nb_sgd_opts_default();
    o.lr = 0.1, o.momentum = 0.9, o.dampening = 0.5, o.weight_decay = 0.2;
    nb_optimizer *opt = nb_sgd_new(&p, 1, &o);
    const double g1[2] = { 1, -1 }, g2[2] = { 0.5, 2 };
    double x[2] = { 1, 2 }, buf[2];
    set_grad(p, g1);
    ASSERT_OK(nb_optimizer_step(opt));
    for (int i = 0; i < 2; i++) {
        double d = g1[i] + 0.2 * x[i];
        buf[i] = d;                         /* first step: no dampening */
        x[i] -= 0.1 * buf[i];
    }
    assert_values(p, x, 2, 1e-15);
    set_grad(p, g2);
    ASSERT_OK(nb_optimizer_step(opt));
    for (int i = 0; i < 2; i++) {
        double d = g2[i] + 0.2 * x[i];
        buf[i] = 0.9 * buf[i] + 0.5 * d;
        x[i] -= 0.1 * buf[i];
    }
    assert_values(p, x, 2, 1e-15);
    const char *name;
    assert_values(nb_optimizer_state_tensor(opt, 0, &name), buf, 2, 1e-15);
    assert_string_equal(name, "state.0.momentum_buffer");
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void sgd_nesterov_looks_ahead_along_the_buffer(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F64, (const double[]){ 0 }, NB_SHAPE(1));
    nb_sgd_opts o = nb_sgd_opts_default();
    o.lr = 1, o.momentum = 0.5, o.nesterov = true;
    nb_optimizer *opt = nb_sgd_new(&p, 1, &o);
    set_grad(p, (const double[]){ 1 });
    ASSERT_OK(nb_optimizer_step(opt));      /* buf = 1, d = 1 + 0.5 * 1 */
    assert_values(p, (const double[]){ -1.5 }, 1, 1e-15);
    set_grad(p, (const double[]){ 2 });
    ASSERT_OK(nb_optimizer_step(opt));      /* buf = 0.5 + 2, d = 2 + 0.5 * 2.5 */
    assert_values(p, (const double[]){ -1.5 - 3.25 }, 1, 1e-15);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

/* Adam's first update is lr * g / (|g| + eps') for every element: m / sqrt(v) = g / |g|
 * once both are bias-corrected. */
static void adam_first_step_moves_each_element_by_about_lr(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        nb_dtype dtype = d ? NB_F64 : NB_F32;
        nb_scope *s = nb_scope_begin();
        nb_tensor *p = param(dtype, (const double[]){ 1, 1, 1 }, NB_SHAPE(3));
        nb_adam_opts o = nb_adam_opts_default();
        o.lr = 0.01;
        nb_optimizer *opt = nb_adam_new(&p, 1, &o);
        const double g[3] = { 3, -0.001, 1e-3 };
        set_grad(p, g);
        ASSERT_OK(nb_optimizer_step(opt));
        double expected[3];
        for (int i = 0; i < 3; i++)
            expected[i] = 1 - 0.01 * g[i] / (fabs(g[i]) + 1e-8);
        assert_values(p, expected, 3, tol_of(dtype) * 10);
        nb_optimizer_free(opt);
        nb_scope_end(s);
    }
}

/* Two Adam steps by the formula, amsgrad and L2 decay included. */
static void adam_two_steps_match_the_formula_with_amsgrad_and_weight_decay(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F64, (const double[]){ 0.5, -0.25 }, NB_SHAPE(2));
    nb_adam_opts o = nb_adam_opts_default();
    o.lr = 0.1, o.beta1 = 0.8, o.beta2 = 0.9, o.eps = 1e-3, o.weight_decay = 0.1, o.amsgrad = true;
    nb_optimizer *opt = nb_adam_new(&p, 1, &o);
    const double gs[2][2] = { { 1, -2 }, { -0.1, 0.05 } };
    double x[2] = { 0.5, -0.25 }, m[2] = { 0 }, v[2] = { 0 }, vmax[2] = { 0 };
    for (int t = 1; t <= 2; t++) {
        set_grad(p, gs[t - 1]);
        ASSERT_OK(nb_optimizer_step(opt));
        for (int i = 0; i < 2; i++) {
            double g = gs[t - 1][i] + 0.1 * x[i];
            m[i] = 0.8 * m[i] + 0.2 * g;
            v[i] = 0.9 * v[i] + 0.1 * g * g;
            vmax[i] = fmax(vmax[i], v[i]);
            double denom = sqrt(vmax[i]) / sqrt(1 - pow(0.9, t)) + 1e-3;   /* eps after the correction */
            x[i] -= 0.1 / (1 - pow(0.8, t)) * m[i] / denom;
        }
    }
    assert_values(p, x, 2, 1e-14);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void adamw_decays_the_weight_not_the_gradient(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F64, (const double[]){ 2 }, NB_SHAPE(1));
    nb_adamw_opts o = nb_adamw_opts_default();
    assert_near(o.weight_decay, 1e-2, 0);
    o.lr = 0.1, o.weight_decay = 0.5;
    nb_optimizer *opt = nb_adamw_new(&p, 1, &o);
    set_grad(p, (const double[]){ 4 });
    ASSERT_OK(nb_optimizer_step(opt));
    /* p * (1 - lr wd), then the plain first Adam step of size lr. */
    assert_values(p, (const double[]){ 2 * (1 - 0.05) - 0.1 * 4 / (4 + 1e-8) }, 1, 1e-14);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void rmsprop_centered_with_momentum_matches_the_formula(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F64, (const double[]){ 1, -1 }, NB_SHAPE(2));
    nb_rmsprop_opts o = nb_rmsprop_opts_default();
    o.lr = 0.01, o.alpha = 0.9, o.centered = true, o.momentum = 0.5, o.eps = 1e-4;
    nb_optimizer *opt = nb_rmsprop_new(&p, 1, &o);
    const double gs[3][2] = { { 1, 2 }, { -1, 0.5 }, { 0.25, 0.25 } };
    double x[2] = { 1, -1 }, sq[2] = { 0 }, ga[2] = { 0 }, buf[2] = { 0 };
    for (int t = 0; t < 3; t++) {
        set_grad(p, gs[t]);
        ASSERT_OK(nb_optimizer_step(opt));
        for (int i = 0; i < 2; i++) {
            double g = gs[t][i];
            sq[i] = 0.9 * sq[i] + 0.1 * g * g;
            ga[i] = 0.9 * ga[i] + 0.1 * g;
            double avg = sqrt(sq[i] - ga[i] * ga[i]) + 1e-4;
            buf[i] = 0.5 * buf[i] + g / avg;
            x[i] -= 0.01 * buf[i];
        }
    }
    assert_values(p, x, 2, 1e-13);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void adagrad_decays_its_rate_with_the_step_count(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F64, (const double[]){ 0 }, NB_SHAPE(1));
    nb_adagrad_opts o = nb_adagrad_opts_default();
    o.lr = 1, o.lr_decay = 0.5, o.initial_accumulator_value = 1;
    nb_optimizer *opt = nb_adagrad_new(&p, 1, &o);
    double x = 0, sum = 1;
    for (int t = 1; t <= 3; t++) {
        set_grad(p, (const double[]){ 1 });
        ASSERT_OK(nb_optimizer_step(opt));
        sum += 1;
        x -= 1 / (1 + (t - 1) * 0.5) * 1 / (sqrt(sum) + 1e-10);
    }
    assert_values(p, &x, 1, 1e-15);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void maximize_climbs_as_minimizing_the_negated_gradient(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = param(NB_F64, (const double[]){ 1, 2 }, NB_SHAPE(2));
    nb_tensor *b = param(NB_F64, (const double[]){ 1, 2 }, NB_SHAPE(2));
    nb_rmsprop_opts o = nb_rmsprop_opts_default();
    o.momentum = 0.9;
    nb_optimizer *up = nb_rmsprop_new(&a, 1, &o);
    o.maximize = true;
    nb_optimizer *down = nb_rmsprop_new(&b, 1, &o);
    for (int t = 0; t < 3; t++) {
        set_grad(a, (const double[]){ 0.5, -t });
        set_grad(b, (const double[]){ -0.5, t });
        ASSERT_OK(nb_optimizer_step(up));
        ASSERT_OK(nb_optimizer_step(down));
    }
    for (int i = 0; i < 2; i++)
        assert_near(nbt_value_at(a, i), nbt_value_at(b, i), 0);
    nb_optimizer_free(up);
    nb_optimizer_free(down);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- step semantics */

static void parameters_without_gradient_are_skipped_and_keep_their_state(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { param(NB_F32, (const double[]){ 1 }, NB_SHAPE(1)),
                        param(NB_F32, (const double[]){ 2 }, NB_SHAPE(1)) };
    nb_optimizer *opt = nb_adam_new(p, 2, NULL);
    set_grad(p[0], (const double[]){ 1 });
    ASSERT_OK(nb_optimizer_step(opt));
    assert_int_equal(nb_optimizer_state_count(opt), 3);   /* only p[0]'s step, exp_avg, exp_avg_sq */
    assert_near(nbt_value_at(p[1], 0), 2, 0);
    nb_optimizer_zero_grad(opt);
    set_grad(p[1], (const double[]){ 1 });
    ASSERT_OK(nb_optimizer_step(opt));
    const char *name;
    nb_tensor *step0 = nb_optimizer_state_tensor(opt, 0, &name);
    assert_string_equal(name, "state.0.step");
    assert_near(nb_tensor_item(step0), 1, 0);   /* p[0] was skipped the second time */
    nb_tensor *step1 = nb_optimizer_state_tensor(opt, 3, &name);
    assert_string_equal(name, "state.1.step");
    assert_near(nb_tensor_item(step1), 1, 0);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void step_bumps_the_version_so_a_graph_that_saved_the_old_value_refuses_backward(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F64, (const double[]){ 1, 2 }, NB_SHAPE(2));
    nb_sgd_opts o = nb_sgd_opts_default();
    o.lr = 0.1;
    nb_optimizer *opt = nb_sgd_new(&p, 1, &o);
    set_grad(p, (const double[]){ 1, 1 });
    nb_tensor *y = nb_sum_all(nb_mul(p, p));    /* saves p */
    ASSERT_OK(nb_optimizer_step(opt));
    assert_int_equal(nb_backward(y, NULL), NB_ERR_AUTOGRAD);
    ASSERT_CONTAINS(nb_error(), "version");
    nb_error_clear();
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void step_under_grad_mode_records_nothing_and_keeps_leaves(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F32, (const double[]){ 1 }, NB_SHAPE(1));
    nb_optimizer *opt = nb_adagrad_new(&p, 1, NULL);
    set_grad(p, (const double[]){ 1 });
    assert_true(nb_grad_enabled());
    ASSERT_OK(nb_optimizer_step(opt));
    assert_true(nb_tensor_is_leaf(p));
    assert_true(nb_tensor_requires_grad(p));
    nb_no_grad_begin();
    ASSERT_OK(nb_optimizer_step(opt));          /* and under no-grad too */
    nb_no_grad_end();
    assert_true(nb_tensor_is_leaf(p));
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void zero_grad_forgets_every_gradient(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { param(NB_F32, (const double[]){ 1 }, NB_SHAPE(1)),
                        param(NB_F32, (const double[]){ 2, 3 }, NB_SHAPE(2)) };
    nb_optimizer *opt = nb_sgd_new(p, 2, &(nb_sgd_opts){ .kind = NB_OPTIM_SGD, .lr = 1 });
    NOT_NULL(opt);
    set_grad(p[0], (const double[]){ 1 });
    set_grad(p[1], (const double[]){ 1, 1 });
    nb_optimizer_zero_grad(opt);
    assert_null(nb_tensor_grad(p[0]));
    assert_null(nb_tensor_grad(p[1]));
    ASSERT_OK(nb_optimizer_step(opt));          /* nothing to do */
    assert_near(nbt_value_at(p[0], 0), 1, 0);
    nb_optimizer_zero_grad(NULL);
    nb_optimizer_free(NULL);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void groups_have_their_own_hyper_parameters_and_learning_rates(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = param(NB_F64, (const double[]){ 1 }, NB_SHAPE(1));
    nb_tensor *b = param(NB_F64, (const double[]){ 1 }, NB_SHAPE(1));
    nb_tensor *c = param(NB_F64, (const double[]){ 1 }, NB_SHAPE(1));
    nb_sgd_opts o = nb_sgd_opts_default();
    o.lr = 0.1;
    nb_optimizer *opt = nb_sgd_new(&a, 1, &o);
    nb_sgd_opts o2 = o;
    o2.lr = 0.01, o2.weight_decay = 1;
    ASSERT_OK(nb_optimizer_add_group(opt, &b, 1, &o2));
    ASSERT_OK(nb_optimizer_add_group(opt, &c, 1, NULL));   /* the constructor's options */
    assert_int_equal(nb_optimizer_group_count(opt), 3);
    assert_int_equal(nb_optimizer_param_count(opt), 3);
    assert_int_equal(nb_optimizer_kind(opt), NB_OPTIM_SGD);
    assert_near(nb_optimizer_lr(opt, 1), 0.01, 0);
    assert_near(nb_optimizer_lr(opt, 2), 0.1, 0);
    ASSERT_OK(nb_optimizer_set_lr(opt, 2, 0.5));
    assert_near(nb_optimizer_lr(opt, 2), 0.5, 0);
    set_grad(a, (const double[]){ 1 });
    set_grad(b, (const double[]){ 1 });
    set_grad(c, (const double[]){ 1 });
    ASSERT_OK(nb_optimizer_step(opt));
    assert_near(nbt_value_at(a, 0), 0.9, 1e-15);
    assert_near(nbt_value_at(b, 0), 1 - 0.01 * 2, 1e-15);
    assert_near(nbt_value_at(c, 0), 0.5, 1e-15);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- state */

static void state_names_follow_pytorch_state_dict(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { param(NB_F32, (const double[]){ 1, 2 }, NB_SHAPE(2)),
                        param(NB_F32, (const double[]){ 3 }, NB_SHAPE(1)) };
    struct {
        nb_optimizer *opt;
    } cases[4];
    nb_adam_opts ao = nb_adam_opts_default();
    ao.amsgrad = true;
    cases[0].opt = nb_adam_new(p, 2, &ao);
    nb_rmsprop_opts ro = nb_rmsprop_opts_default();
    ro.momentum = 0.1, ro.centered = true;
    cases[1].opt = nb_rmsprop_new(p, 1, &ro);
    nb_rmsprop_opts plain = nb_rmsprop_opts_default();
    ASSERT_OK(nb_optimizer_add_group(cases[1].opt, p + 1, 1, &plain));
    cases[2].opt = nb_adagrad_new(p, 2, NULL);
    nb_sgd_opts so = nb_sgd_opts_default();
    so.lr = 0.1, so.momentum = 0.9;
    cases[3].opt = nb_sgd_new(p, 2, &so);
    const char *adam[] = { "state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq", "state.0.max_exp_avg_sq",
                           "state.1.step", "state.1.exp_avg", "state.1.exp_avg_sq", "state.1.max_exp_avg_sq" };
    const char *rms[] = { "state.0.step", "state.0.square_avg", "state.0.momentum_buffer", "state.0.grad_avg",
                          "state.1.step", "state.1.square_avg" };
    const char *ada[] = { "state.0.step", "state.0.sum", "state.1.step", "state.1.sum" };
    const char *sgd[] = { "state.0.momentum_buffer", "state.1.momentum_buffer" };
    const char *const *expect[4] = { adam, rms, ada, sgd };
    const int counts[4] = { 8, 6, 4, 2 };
    const int before[4] = { 0, 0, 4, 0 };   /* Adagrad makes its state when parameters join */
    for (int k = 0; k < 4; k++) {
        NOT_NULL(cases[k].opt);
        assert_int_equal(nb_optimizer_state_count(cases[k].opt), before[k]);
        set_grad(p[0], (const double[]){ 1, 1 });
        set_grad(p[1], (const double[]){ 1 });
        ASSERT_OK(nb_optimizer_step(cases[k].opt));
        assert_int_equal(nb_optimizer_state_count(cases[k].opt), counts[k]);
        for (int i = 0; i < counts[k]; i++) {
            const char *name = NULL;
            nb_tensor *t = nb_optimizer_state_tensor(cases[k].opt, i, &name);
            NOT_NULL(t);
            assert_string_equal(name, expect[k][i]);
            if (strstr(name, ".step")) {
                assert_int_equal(nb_tensor_rank(t), 0);
                assert_int_equal(nb_tensor_dtype(t), NB_F64);
                assert_near(nb_tensor_item(t), 1, 0);
            } else {
                assert_int_equal(nb_tensor_dtype(t), NB_F32);
                assert_true(nb_tensor_is_contiguous(t));
                assert_int_equal(nb_tensor_numel(t), nb_tensor_numel(p[name[6] - '0']));
            }
        }
        nb_optimizer_free(cases[k].opt);
    }
    nb_scope_end(s);
}

/* Gradient sequence shared by both runs of the restore test. */
static void feed(nb_tensor *const *p, int t)
{
    set_grad(p[0], (const double[]){ sin(t), cos(3 * t), 0.5 - t % 3 });
    set_grad(p[1], (const double[]){ 0.1 * t - 0.3, t % 2 ? 1 : -2 });
}

typedef nb_optimizer *(*make_fn)(nb_tensor *const *p);

static nb_optimizer *make_sgd(nb_tensor *const *p)
{
    nb_sgd_opts o = nb_sgd_opts_default();
    o.lr = 0.05, o.momentum = 0.9, o.dampening = 0.3;
    return nb_sgd_new(p, 2, &o);
}

static nb_optimizer *make_adam(nb_tensor *const *p)
{
    nb_adam_opts o = nb_adam_opts_default();
    o.lr = 0.05, o.amsgrad = true;
    return nb_adam_new(p, 2, &o);
}

static nb_optimizer *make_rmsprop(nb_tensor *const *p)
{
    nb_rmsprop_opts o = nb_rmsprop_opts_default();
    o.centered = true, o.momentum = 0.5;
    return nb_rmsprop_new(p, 2, &o);
}

/* A checkpoint taken after 5 steps (weights and every state tensor, through the names)
 * and loaded into a fresh optimizer continues exactly as the original. */
static void restored_state_continues_the_run_bit_for_bit(void **state)
{
    (void)state;
    make_fn makers[3] = { make_sgd, make_adam, make_rmsprop };
    for (int m = 0; m < 3; m++) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *a[2] = { param(NB_F32, (const double[]){ 1, 2, 3 }, NB_SHAPE(3)),
                            param(NB_F32, (const double[]){ -1, 0.5 }, NB_SHAPE(2)) };
        nb_optimizer *oa = makers[m](a);
        NOT_NULL(oa);
        for (int t = 0; t < 5; t++) {
            feed(a, t);
            ASSERT_OK(nb_optimizer_step(oa));
        }
        nb_no_grad_begin();
        nb_tensor *b[2] = { nb_clone(a[0]), nb_clone(a[1]) };   /* leaves: cloned unrecorded */
        nb_no_grad_end();
        ASSERT_OK(nb_requires_grad(b[0], true));
        ASSERT_OK(nb_requires_grad(b[1], true));
        nb_optimizer *ob = makers[m](b);
        ASSERT_OK(nb_optimizer_init_state(ob));
        assert_int_equal(nb_optimizer_state_count(ob), nb_optimizer_state_count(oa));
        for (int i = 0; i < nb_optimizer_state_count(oa); i++) {
            const char *na, *nb;
            nb_tensor *ta = nb_optimizer_state_tensor(oa, i, &na), *tb = nb_optimizer_state_tensor(ob, i, &nb);
            assert_string_equal(na, nb);
            ASSERT_OK(nb_copy_inplace(tb, ta));
        }
        for (int t = 5; t < 10; t++) {
            feed(a, t);
            feed(b, t);
            ASSERT_OK(nb_optimizer_step(oa));
            ASSERT_OK(nb_optimizer_step(ob));
        }
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < nb_tensor_numel(a[i]); j++)
                assert_true(nbt_value_at(a[i], j) == nbt_value_at(b[i], j));
        nb_optimizer_free(oa);
        nb_optimizer_free(ob);
        nb_scope_end(s);
    }
}

static void state_tensor_without_name_pointer_and_init_state_twice(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F64, (const double[]){ 1 }, NB_SHAPE(1));
    nb_optimizer *opt = nb_adam_new(&p, 1, NULL);
    ASSERT_OK(nb_optimizer_init_state(opt));
    ASSERT_OK(nb_optimizer_init_state(opt));    /* nothing new to make */
    assert_int_equal(nb_optimizer_state_count(opt), 3);
    NOT_NULL(nb_optimizer_state_tensor(opt, 2, NULL));
    assert_near(nb_tensor_item(nb_optimizer_state_tensor(opt, 0, NULL)), 0, 0);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- layouts, threads, memory */

/* A transposed (non-contiguous) parameter ends where its contiguous twin ends, for the
 * optimizers with the most state buffers. */
static void strided_parameter_matches_its_contiguous_twin(void **state)
{
    (void)state;
    for (int m = 0; m < 3; m++) {
        nb_scope *s = nb_scope_begin();
        const double v[6] = { 1, 2, 3, 4, 5, 6 };
        nb_tensor *base = nb_tensor_from_data(v, NB_F64, NB_SHAPE(3, 2));
        nb_tensor *strided = nb_transpose(base, 0, 1);                 /* [2, 3], strides (1, 2) */
        ASSERT_OK(nb_requires_grad(strided, true));
        assert_false(nb_tensor_is_contiguous(strided));
        nb_tensor *twin = nb_contiguous(nb_transpose(base, 0, 1));
        ASSERT_OK(nb_requires_grad(twin, true));
        nb_optimizer *o1, *o2;
        if (m == 0) {
            nb_adam_opts o = nb_adam_opts_default();
            o.amsgrad = true, o.weight_decay = 0.1, o.lr = 0.1;
            o1 = nb_adam_new(&strided, 1, &o), o2 = nb_adam_new(&twin, 1, &o);
        } else if (m == 1) {
            nb_rmsprop_opts o = nb_rmsprop_opts_default();
            o.centered = true, o.momentum = 0.9;
            o1 = nb_rmsprop_new(&strided, 1, &o), o2 = nb_rmsprop_new(&twin, 1, &o);
        } else {
            nb_sgd_opts o = nb_sgd_opts_default();
            o.lr = 0.1, o.momentum = 0.5, o.nesterov = true;
            o1 = nb_sgd_new(&strided, 1, &o), o2 = nb_sgd_new(&twin, 1, &o);
        }
        for (int t = 0; t < 4; t++) {
            double g[6];
            for (int j = 0; j < 6; j++)
                g[j] = sin(7 * t + j);
            set_grad(strided, g);
            set_grad(twin, g);
            ASSERT_OK(nb_optimizer_step(o1));
            ASSERT_OK(nb_optimizer_step(o2));
        }
        for (int j = 0; j < 6; j++)
            assert_true(nbt_value_at(strided, j) == nbt_value_at(twin, j));
        nb_optimizer_free(o1);
        nb_optimizer_free(o2);
        nb_scope_end(s);
    }
}

/* A gradient that is a non-contiguous view (a hook or create_graph can leave one) is read
 * through its strides. */
static void strided_gradient_is_read_through_its_strides(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F32, (const double[]){ 0, 0, 0, 0, 0, 0 }, NB_SHAPE(2, 3));
    nb_tensor *g_base = nb_tensor_from_data((const float[]){ 1, 4, 2, 5, 3, 6 }, NB_F32, NB_SHAPE(3, 2));
    nb_tensor *g = nb_transpose(g_base, 0, 1);   /* [[1, 2, 3], [4, 5, 6]], strided */
    nb_sgd_opts o = nb_sgd_opts_default();
    o.lr = 1;
    nb_optimizer *opt = nb_sgd_new(&p, 1, &o);
    p->grad = nb_retain(g);
    ASSERT_OK(nb_optimizer_step(opt));
    assert_values(p, (const double[]){ -1, -2, -3, -4, -5, -6 }, 6, 0);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

/* Updates split across threads give the very bits of one thread. */
static void large_parameter_gives_the_same_bits_on_one_and_two_threads(void **state)
{
    (void)state;
    int threads = nb_get_num_threads();
    nb_scope *s = nb_scope_begin();
    enum { N = 100000 };
    nb_rng *rng = nb_rng_new(5);
    nb_tensor *init = nb_randn(rng, NB_F32, NB_SHAPE(N));
    nb_tensor *grad = nb_randn(rng, NB_F32, NB_SHAPE(N));
    nb_tensor *p[2];
    for (int k = 0; k < 2; k++) {
        nb_set_num_threads(k + 1);
        p[k] = nb_clone(init);
        ASSERT_OK(nb_requires_grad(p[k], true));
        nb_optimizer *opt = nb_adam_new(&p[k], 1, NULL);
        for (int t = 0; t < 3; t++) {
            nb_zero_grad(p[k]);
            ASSERT_OK(nb_backward(nb_sum_all(nb_mul(p[k], grad)), NULL));
            ASSERT_OK(nb_optimizer_step(opt));
        }
        nb_optimizer_free(opt);
    }
    nb_set_num_threads(threads);
    assert_memory_equal(nb_tensor_data(p[0]), nb_tensor_data(p[1]), N * sizeof(float));
    nb_rng_free(rng);
    nb_scope_end(s);
}

/* Once the state exists, a step allocates no storage at all: the update is one fused loop
 * with no temporary tensor. */
static void step_after_the_first_allocates_nothing(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { param(NB_F32, (const double[]){ 1, 2, 3, 4 }, NB_SHAPE(2, 2)),
                        param(NB_F64, (const double[]){ 1, 2 }, NB_SHAPE(2)) };
    nb_rmsprop_opts ro = nb_rmsprop_opts_default();
    ro.centered = true, ro.momentum = 0.9, ro.weight_decay = 0.1;
    nb_adam_opts ao = nb_adam_opts_default();
    ao.amsgrad = true;
    nb_sgd_opts so = nb_sgd_opts_default();
    so.lr = 0.1, so.momentum = 0.9;
    nb_optimizer *opts[5] = { nb_rmsprop_new(p, 2, &ro), nb_adam_new(p, 2, &ao), nb_adamw_new(p, 2, NULL),
                              nb_sgd_new(p, 2, &so), nb_adagrad_new(p, 2, NULL) };
    set_grad(p[0], (const double[]){ 1, 1, 1, 1 });
    set_grad(p[1], (const double[]){ 1, 1 });
    for (int k = 0; k < 5; k++) {
        NOT_NULL(opts[k]);
        ASSERT_OK(nb_optimizer_step(opts[k]));
        nb_mem_stats before = nb_memory_stats();
        ASSERT_OK(nb_optimizer_step(opts[k]));
        nb_mem_stats after = nb_memory_stats();
        assert_int_equal(after.allocations, before.allocations);
        assert_int_equal(after.live_bytes, before.live_bytes);
        nb_optimizer_free(opts[k]);
    }
    nb_scope_end(s);
}

static void optimizer_keeps_its_parameters_alive(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = param(NB_F64, (const double[]){ 1, 2 }, NB_SHAPE(2));
    nb_sgd_opts o = nb_sgd_opts_default();
    o.lr = 1;
    nb_optimizer *opt = nb_sgd_new(&p, 1, &o);
    set_grad(p, (const double[]){ 1, 1 });
    nb_scope_end(s);            /* the scope's reference to p is gone; the optimizer's remains */
    ASSERT_OK(nb_optimizer_step(opt));
    nb_optimizer_free(opt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(sgd_plain_step_is_p_minus_lr_grad),
        TEST(sgd_momentum_buffer_starts_as_the_gradient_then_dampens),
        TEST(sgd_nesterov_looks_ahead_along_the_buffer),
        TEST(adam_first_step_moves_each_element_by_about_lr),
        TEST(adam_two_steps_match_the_formula_with_amsgrad_and_weight_decay),
        TEST(adamw_decays_the_weight_not_the_gradient),
        TEST(rmsprop_centered_with_momentum_matches_the_formula),
        TEST(adagrad_decays_its_rate_with_the_step_count),
        TEST(maximize_climbs_as_minimizing_the_negated_gradient),
        TEST(parameters_without_gradient_are_skipped_and_keep_their_state),
        TEST(step_bumps_the_version_so_a_graph_that_saved_the_old_value_refuses_backward),
        TEST(step_under_grad_mode_records_nothing_and_keeps_leaves),
        TEST(zero_grad_forgets_every_gradient),
        TEST(groups_have_their_own_hyper_parameters_and_learning_rates),
        TEST(state_names_follow_pytorch_state_dict),
        TEST(restored_state_continues_the_run_bit_for_bit),
        TEST(state_tensor_without_name_pointer_and_init_state_twice),
        TEST(strided_parameter_matches_its_contiguous_twin),
        TEST(strided_gradient_is_read_through_its_strides),
        TEST(large_parameter_gives_the_same_bits_on_one_and_two_threads),
        TEST(step_after_the_first_allocates_nothing),
        TEST(optimizer_keeps_its_parameters_alive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
