/* Learning-rate schedules against their closed forms, PyTorch's epoch counting (the
 * constructor takes the epoch-0 step), composition of schedulers on one optimizer,
 * initial learning rates shared between schedulers, hand-set rates, groups added later,
 * reduce-on-plateau's patience, cooldown, thresholds and floors, and scheduler lifetime.
 * Step-by-step agreement with torch.optim.lr_scheduler is parity.py's job. */
#include <math.h>
#include <stdio.h>

#include "../common/check.h"

/* An SGD optimizer over one fresh parameter per entry of lrs (one group each). */
static nb_optimizer *optimizer_with_groups(const double *lrs, int n)
{
    nb_optimizer *opt = NULL;
    for (int g = 0; g < n; g++) {
        nb_tensor *p = nb_zeros(NB_F64, NB_SHAPE(1));
        ASSERT_OK(nb_requires_grad(p, true));
        nb_sgd_opts o = nb_sgd_opts_default();
        o.lr = lrs[g];
        if (g == 0)
            opt = nb_sgd_new(&p, 1, &o);
        else
            ASSERT_OK(nb_optimizer_add_group(opt, &p, 1, &o));
        NOT_NULL(opt);
    }
    return opt;
}

static void assert_lr(const nb_optimizer *opt, int group, double want, double rtol)
{
    double got = nb_optimizer_lr(opt, group);
    if (!(fabs(got - want) <= rtol * fabs(want)))
        fail_msg("group %d: lr %.17g, expected %.17g", group, got, want);
}

static void step_lr_multiplies_by_gamma_every_step_size_epochs(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = optimizer_with_groups((const double[]){ 0.1, 0.04 }, 2);
    nb_lr_scheduler *sch = nb_step_lr_new(opt, 3, 0.5);
    NOT_NULL(sch);
    assert_int_equal(nb_lr_scheduler_last_epoch(sch), 0);
    for (int e = 0; e <= 10; e++) {
        if (e > 0)
            ASSERT_OK(nb_lr_scheduler_step(sch));
        assert_int_equal(nb_lr_scheduler_last_epoch(sch), e);
        assert_lr(opt, 0, 0.1 * pow(0.5, e / 3), 0);
        assert_lr(opt, 1, 0.04 * pow(0.5, e / 3), 0);
    }
    nb_lr_scheduler_free(sch);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void multistep_lr_counts_a_repeated_milestone_twice(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = optimizer_with_groups((const double[]){ 1 }, 1);
    nb_lr_scheduler *sch = nb_multistep_lr_new(opt, (const int[]){ 4, 2, 4 }, 3, 0.1);
    const double want[7] = { 1, 1, 0.1, 0.1, 0.1 * 0.1 * 0.1, 0.1 * 0.1 * 0.1, 0.1 * 0.1 * 0.1 };
    for (int e = 0; e < 7; e++) {
        if (e > 0)
            ASSERT_OK(nb_lr_scheduler_step(sch));
        assert_lr(opt, 0, want[e], 1e-15);
    }
    nb_lr_scheduler_free(sch);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void exponential_lr_is_gamma_to_the_epoch(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = optimizer_with_groups((const double[]){ 0.3 }, 1);
    nb_lr_scheduler *sch = nb_exponential_lr_new(opt, 0.9);
    for (int e = 0; e <= 30; e++) {
        if (e > 0)
            ASSERT_OK(nb_lr_scheduler_step_metric(sch, 123));   /* the metric is ignored */
        assert_lr(opt, 0, 0.3 * pow(0.9, e), 1e-14);
    }
    nb_lr_scheduler_free(sch);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

/* The recursive form follows eta_min + (base - eta_min)(1 + cos(pi e / T)) / 2 for every
 * epoch, down to eta_min at T and back up to base at 2 T. */
static void cosine_annealing_follows_the_closed_form_past_t_max(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = optimizer_with_groups((const double[]){ 0.1 }, 1);
    const int t_max = 8;
    const double eta_min = 0.002;
    nb_lr_scheduler *sch = nb_cosine_annealing_lr_new(opt, t_max, eta_min);
    for (int e = 0; e <= 3 * t_max; e++) {
        if (e > 0)
            ASSERT_OK(nb_lr_scheduler_step(sch));
        assert_lr(opt, 0, eta_min + (0.1 - eta_min) * (1 + cos(M_PI * e / t_max)) / 2, 1e-12);
    }
    nb_lr_scheduler_free(sch);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void linear_warmup_scales_from_start_factor_to_end_factor(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = optimizer_with_groups((const double[]){ 0.6, 0.3 }, 2);
    nb_lr_scheduler *sch = nb_linear_lr_new(opt, 1.0 / 3, 1, 5);
    for (int e = 0; e <= 9; e++) {
        if (e > 0)
            ASSERT_OK(nb_lr_scheduler_step(sch));
        double factor = 1.0 / 3 + (1 - 1.0 / 3) * (e < 5 ? e : 5) / 5;
        assert_lr(opt, 0, 0.6 * factor, 1e-14);
        assert_lr(opt, 1, 0.3 * factor, 1e-14);
    }
    nb_lr_scheduler_free(sch);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

/* Chainable forms compose: a warm-up and a cosine annealing stepped together give the
 * product of their factors. */
static void warmup_and_cosine_on_one_optimizer_multiply(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = optimizer_with_groups((const double[]){ 0.1 }, 1);
    nb_lr_scheduler *warm = nb_linear_lr_new(opt, 0.25, 1, 4);
    nb_lr_scheduler *cosine = nb_cosine_annealing_lr_new(opt, 20, 0);
    for (int e = 0; e < 20; e++) {
        if (e > 0) {
            ASSERT_OK(nb_lr_scheduler_step(warm));
            ASSERT_OK(nb_lr_scheduler_step(cosine));
        }
        double w = 0.25 + 0.75 * (e < 4 ? e : 4) / 4, c = (1 + cos(M_PI * e / 20)) / 2;
        assert_lr(opt, 0, 0.1 * w * c, 1e-12);
    }
    nb_lr_scheduler_free(cosine);   /* freed in either order */
    nb_lr_scheduler_free(warm);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

/* As PyTorch's group.setdefault('initial_lr', ...): a scheduler made after another one has
 * changed the rate still takes the first recorded rate as its base. Cosine annealing reads
 * the base at the bottom of its cycle: lr(T + 1) = lr(T) + (base - eta_min)(1 - cos(pi / T)) / 2. */
static void later_scheduler_reuses_the_initial_lr_recorded_by_the_first(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = optimizer_with_groups((const double[]){ 0.1 }, 1);
    nb_lr_scheduler *decay = nb_step_lr_new(opt, 1, 0.5);
    ASSERT_OK(nb_lr_scheduler_step(decay));
    ASSERT_OK(nb_lr_scheduler_step(decay));
    assert_lr(opt, 0, 0.025, 0);
    nb_lr_scheduler_free(decay);
    const int t_max = 4;
    nb_lr_scheduler *cosine = nb_cosine_annealing_lr_new(opt, t_max, 0);
    for (int e = 1; e <= t_max; e++)
        ASSERT_OK(nb_lr_scheduler_step(cosine));
    assert_lr(opt, 0, 0, 0);                      /* the bottom: 0.025 * 0 */
    ASSERT_OK(nb_lr_scheduler_step(cosine));
    assert_lr(opt, 0, 0.1 * (1 - cos(M_PI / t_max)) / 2, 1e-15);   /* base 0.1, not 0.025 */
    nb_lr_scheduler_free(cosine);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void hand_set_rate_is_where_the_next_step_starts(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = optimizer_with_groups((const double[]){ 0.1 }, 1);
    nb_lr_scheduler *sch = nb_step_lr_new(opt, 2, 0.5);
    ASSERT_OK(nb_lr_scheduler_step(sch));          /* epoch 1: unchanged */
    ASSERT_OK(nb_optimizer_set_lr(opt, 0, 0.7));
    ASSERT_OK(nb_lr_scheduler_step(sch));          /* epoch 2: halved */
    assert_lr(opt, 0, 0.35, 0);
    nb_lr_scheduler_free(sch);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void group_added_after_the_scheduler_is_left_alone(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = optimizer_with_groups((const double[]){ 0.1 }, 1);
    nb_lr_scheduler *sch = nb_exponential_lr_new(opt, 0.5);
    nb_tensor *p = nb_zeros(NB_F64, NB_SHAPE(1));
    ASSERT_OK(nb_requires_grad(p, true));
    nb_sgd_opts o = nb_sgd_opts_default();
    o.lr = 0.3;
    ASSERT_OK(nb_optimizer_add_group(opt, &p, 1, &o));
    ASSERT_OK(nb_lr_scheduler_step(sch));
    assert_lr(opt, 0, 0.05, 0);
    assert_lr(opt, 1, 0.3, 0);
    nb_lr_scheduler_free(sch);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- reduce-on-plateau */

static void plateau_reduces_after_patience_bad_epochs_then_cools_down(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = optimizer_with_groups((const double[]){ 1, 0.5 }, 2);
    nb_plateau_opts o = nb_plateau_opts_default();
    o.patience = 2, o.factor = 0.5, o.cooldown = 2, o.min_lrs = (const double[]){ 0.3, 0.2 };
    nb_lr_scheduler *sch = nb_reduce_on_plateau_new(opt, &o);
    NOT_NULL(sch);
    assert_lr(opt, 0, 1, 0);                       /* construction changes nothing */
    assert_int_equal(nb_lr_scheduler_last_epoch(sch), 0);
    /* epoch:           1  2  3  4    5  6  7  8    9  10 11 12 */
    const double metric[12] = { 1, 1, 1, 1, 1, 1, 1, 1, 0.5, 1, 1, 1 };
    const double want0[12] = { 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.3 };
    const double want1[12] = { 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.2 };
    for (int e = 0; e < 12; e++) {
        ASSERT_OK(nb_lr_scheduler_step_metric(sch, metric[e]));
        assert_int_equal(nb_lr_scheduler_last_epoch(sch), e + 1);
        assert_lr(opt, 0, want0[e], 0);
        assert_lr(opt, 1, want1[e], 0);
    }
    nb_lr_scheduler_free(sch);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

/* Max mode with an absolute threshold: a rise smaller than the threshold is no improvement;
 * a reduction smaller than eps is skipped. */
static void plateau_in_max_mode_with_absolute_threshold_and_eps(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = optimizer_with_groups((const double[]){ 0.01 }, 1);
    nb_plateau_opts o = nb_plateau_opts_default();
    o.mode = NB_PLATEAU_MAX, o.threshold_mode = NB_THRESHOLD_ABS, o.threshold = 0.1, o.patience = 0;
    o.factor = 0.5, o.eps = 0.004;
    nb_lr_scheduler *sch = nb_reduce_on_plateau_new(opt, &o);
    ASSERT_OK(nb_lr_scheduler_step_metric(sch, 0.5));    /* better than -inf */
    assert_lr(opt, 0, 0.01, 0);
    ASSERT_OK(nb_lr_scheduler_step_metric(sch, 0.55));   /* +0.05 < threshold: bad, patience 0 */
    assert_lr(opt, 0, 0.005, 0);
    ASSERT_OK(nb_lr_scheduler_step_metric(sch, 0.7));    /* +0.2: better */
    assert_lr(opt, 0, 0.005, 0);
    ASSERT_OK(nb_lr_scheduler_step_metric(sch, 0.7));    /* bad, but 0.005 - 0.0025 < eps */
    assert_lr(opt, 0, 0.005, 0);
    ASSERT_OK(nb_lr_scheduler_step_metric(sch, NAN));    /* NaN is never better */
    assert_lr(opt, 0, 0.005, 0);
    nb_lr_scheduler_free(sch);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void plateau_relative_threshold_in_min_mode(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = optimizer_with_groups((const double[]){ 1 }, 1);
    nb_plateau_opts o = nb_plateau_opts_default();
    o.patience = 0, o.threshold = 0.1;               /* better means below 0.9 best */
    nb_lr_scheduler *sch = nb_reduce_on_plateau_new(opt, &o);
    ASSERT_OK(nb_lr_scheduler_step_metric(sch, 10));
    ASSERT_OK(nb_lr_scheduler_step_metric(sch, 8.9)); /* < 9: better */
    assert_lr(opt, 0, 1, 0);
    ASSERT_OK(nb_lr_scheduler_step_metric(sch, 8.1)); /* not < 8.01 */
    assert_lr(opt, 0, 0.1, 1e-15);
    nb_lr_scheduler_free(sch);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- lifetime */

static void freeing_the_optimizer_first_leaves_schedulers_that_fail_cleanly(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = optimizer_with_groups((const double[]){ 0.1, 0.2 }, 2);
    nb_lr_scheduler *a = nb_step_lr_new(opt, 1, 0.5), *b = nb_exponential_lr_new(opt, 0.5);
    nb_lr_scheduler *c = nb_reduce_on_plateau_new(opt, NULL);
    nb_lr_scheduler_free(b);        /* from the middle of the optimizer's list */
    nb_optimizer_free(opt);
    assert_int_equal(nb_lr_scheduler_step(a), NB_ERR_STATE);
    assert_int_equal(nb_lr_scheduler_step_metric(c, 0), NB_ERR_STATE);
    nb_error_clear();
    assert_int_equal(nb_lr_scheduler_last_epoch(a), 0);
    assert_int_equal(nb_lr_scheduler_last_epoch(NULL), -1);
    nb_lr_scheduler_free(a);
    nb_lr_scheduler_free(c);
    nb_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(step_lr_multiplies_by_gamma_every_step_size_epochs),
        TEST(multistep_lr_counts_a_repeated_milestone_twice),
        TEST(exponential_lr_is_gamma_to_the_epoch),
        TEST(cosine_annealing_follows_the_closed_form_past_t_max),
        TEST(linear_warmup_scales_from_start_factor_to_end_factor),
        TEST(warmup_and_cosine_on_one_optimizer_multiply),
        TEST(later_scheduler_reuses_the_initial_lr_recorded_by_the_first),
        TEST(hand_set_rate_is_where_the_next_step_starts),
        TEST(group_added_after_the_scheduler_is_left_alone),
        TEST(plateau_reduces_after_patience_bad_epochs_then_cools_down),
        TEST(plateau_in_max_mode_with_absolute_threshold_and_eps),
        TEST(plateau_relative_threshold_in_min_mode),
        TEST(freeing_the_optimizer_first_leaves_schedulers_that_fail_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
