/* Every check of optim/ fails cleanly: the status (or NULL), the code, and a message that
 * names the function, the parameter index or option, and what was wrong. One test per
 * check, plus allocation failures that must leave the optimizer as it was. The fixture
 * fails a test that leaks storage, so failing constructors are checked to free everything. */
#include <math.h>
#include <stdio.h>

#include "../common/check.h"
#include "core/alloc.h"
#include "core/tensor_impl.h"

/* call returns code, and nb_error() contains text. */
#define EXPECT_STATUS(call, code, text)                                        \
    do {                                                                       \
        nb_error_clear();                                                      \
        nb_status st_ = (call);                                                \
        assert_int_equal(st_, (code));                                         \
        ASSERT_CONTAINS(nb_error(), (text));                                   \
    } while (0)

/* call returns NULL with code, and nb_error() contains text. */
#define EXPECT_NULL(call, code, text)                                          \
    do {                                                                       \
        nb_error_clear();                                                      \
        const void *r_ = (call);                                               \
        assert_null(r_);                                                       \
        assert_int_equal(nb_error_code(), (code));                             \
        ASSERT_CONTAINS(nb_error(), (text));                                   \
    } while (0)

static nb_tensor *leaf(nb_dtype dtype)
{
    nb_tensor *t = nb_ones(dtype, NB_SHAPE(2));
    NOT_NULL(t);
    ASSERT_OK(nb_requires_grad(t, true));
    return t;
}

static nb_sgd_opts sgd_lr(double lr)
{
    nb_sgd_opts o = nb_sgd_opts_default();
    o.lr = lr;
    return o;
}

/* ---------------------------------------------------------------- parameters */

static void constructor_needs_at_least_one_parameter(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = leaf(NB_F32);
    EXPECT_NULL(nb_adam_new(NULL, 1, NULL), NB_ERR_ARG, "nb_adam_new: needs at least one parameter (got NULL");
    EXPECT_NULL(nb_adam_new(&p, 0, NULL), NB_ERR_ARG, "nb_adam_new: needs at least one parameter (got an array, n = 0)");
    nb_scope_end(s);
}

static void constructor_names_a_null_parameter(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { leaf(NB_F32), NULL };
    EXPECT_NULL(nb_rmsprop_new(p, 2, NULL), NB_ERR_NULL, "nb_rmsprop_new: parameter 1 is NULL");
    nb_scope_end(s);
}

static void constructor_refuses_an_integer_parameter(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { leaf(NB_F64), nb_zeros(NB_I64, NB_SHAPE(3)) };
    EXPECT_NULL(nb_adagrad_new(p, 2, NULL), NB_ERR_DTYPE,
                "nb_adagrad_new: parameter 1 has dtype i64; only f32 and f64 parameters can be optimized");
    nb_scope_end(s);
}

static void constructor_refuses_a_non_leaf(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = leaf(NB_F32);
    nb_tensor *y = nb_mul(x, x);
    EXPECT_NULL(nb_adamw_new(&y, 1, NULL), NB_ERR_AUTOGRAD, "nb_adamw_new: parameter 0 is not a leaf (op 'mul' made it)");
    nb_scope_end(s);
}

static void constructor_refuses_a_parameter_that_does_not_require_grad(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { leaf(NB_F32), nb_ones(NB_F32, NB_SHAPE(2)) };
    nb_sgd_opts o = sgd_lr(0.1);
    EXPECT_NULL(nb_sgd_new(p, 2, &o), NB_ERR_AUTOGRAD, "nb_sgd_new: parameter 1 does not require grad");
    nb_scope_end(s);
}

static void constructor_refuses_overlapping_elements(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *row = nb_ones(NB_F32, NB_SHAPE(1, 3));
    nb_tensor *p = nb_expand(row, NB_SHAPE(4, 3));   /* a leaf view with stride 0 */
    ASSERT_OK(nb_requires_grad(p, true));
    EXPECT_NULL(nb_adam_new(&p, 1, NULL), NB_ERR_ARG,
                "nb_adam_new: parameter 0 has overlapping elements (stride 0 along axis 0 of size 4)");
    nb_scope_end(s);
}

static void constructor_refuses_a_parameter_listed_twice(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = leaf(NB_F32), *b = leaf(NB_F32);
    nb_tensor *p[3] = { a, b, a };
    EXPECT_NULL(nb_adam_new(p, 3, NULL), NB_ERR_ARG, "nb_adam_new: parameter 2 is the same tensor as parameter 0");
    nb_scope_end(s);
}

static void constructor_refuses_options_not_made_by_their_initializer(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = leaf(NB_F32);
    nb_adam_opts zeroed = { .lr = 1e-3 };
    EXPECT_NULL(nb_adam_new(&p, 1, &zeroed), NB_ERR_ARG,
                "nb_adam_new: the options were not made by nb_adam_opts_default() (their kind tag is 0");
    nb_adamw_opts w = nb_adamw_opts_default();
    EXPECT_NULL(nb_adam_new(&p, 1, (const nb_adam_opts *)(const void *)&w), NB_ERR_ARG,
                "not made by nb_adam_opts_default()");
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- options, one test per check */

static void sgd_without_learning_rate_says_to_set_it(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = leaf(NB_F32);
    EXPECT_NULL(nb_sgd_new(&p, 1, NULL), NB_ERR_ARG, "nb_sgd_new: lr is not set: SGD has no default learning rate");
    nb_sgd_opts o = nb_sgd_opts_default();
    EXPECT_NULL(nb_sgd_new(&p, 1, &o), NB_ERR_ARG, "set opts.lr");
    nb_scope_end(s);
}

static void sgd_checks_each_option(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = leaf(NB_F32);
    nb_sgd_opts o = sgd_lr(-0.1);
    EXPECT_NULL(nb_sgd_new(&p, 1, &o), NB_ERR_ARG, "nb_sgd_new: lr must be a finite number >= 0, got -0.1");
    o = sgd_lr(INFINITY);
    EXPECT_NULL(nb_sgd_new(&p, 1, &o), NB_ERR_ARG, "nb_sgd_new: lr must be a finite number >= 0, got inf");
    o = sgd_lr(0.1), o.momentum = -0.5;
    EXPECT_NULL(nb_sgd_new(&p, 1, &o), NB_ERR_ARG, "nb_sgd_new: momentum must be a finite number >= 0, got -0.5");
    o = sgd_lr(0.1), o.weight_decay = -1;
    EXPECT_NULL(nb_sgd_new(&p, 1, &o), NB_ERR_ARG, "nb_sgd_new: weight_decay must be a finite number >= 0, got -1");
    o = sgd_lr(0.1), o.dampening = NAN;
    EXPECT_NULL(nb_sgd_new(&p, 1, &o), NB_ERR_ARG, "nb_sgd_new: dampening must be finite, got nan");
    o = sgd_lr(0.1), o.nesterov = true;
    EXPECT_NULL(nb_sgd_new(&p, 1, &o), NB_ERR_ARG,
                "nb_sgd_new: nesterov momentum needs momentum > 0 and dampening = 0 (got momentum 0, dampening 0)");
    o = sgd_lr(0.1), o.nesterov = true, o.momentum = 0.9, o.dampening = 0.1;
    EXPECT_NULL(nb_sgd_new(&p, 1, &o), NB_ERR_ARG, "(got momentum 0.9, dampening 0.1)");
    nb_scope_end(s);
}

static void adam_checks_each_option(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = leaf(NB_F32);
    nb_adam_opts o = nb_adam_opts_default();
    o.lr = -1;
    EXPECT_NULL(nb_adam_new(&p, 1, &o), NB_ERR_ARG, "nb_adam_new: lr must be a finite number >= 0, got -1");
    o = nb_adam_opts_default(), o.eps = -1e-8;
    EXPECT_NULL(nb_adam_new(&p, 1, &o), NB_ERR_ARG, "nb_adam_new: eps must be a finite number >= 0, got -1e-08");
    o = nb_adam_opts_default(), o.beta1 = 1;
    EXPECT_NULL(nb_adam_new(&p, 1, &o), NB_ERR_ARG, "nb_adam_new: beta1 must be in [0, 1), got 1");
    o = nb_adam_opts_default(), o.beta1 = NAN;
    EXPECT_NULL(nb_adam_new(&p, 1, &o), NB_ERR_ARG, "nb_adam_new: beta1 must be in [0, 1), got nan");
    o = nb_adam_opts_default(), o.beta2 = -0.1;
    EXPECT_NULL(nb_adam_new(&p, 1, &o), NB_ERR_ARG, "nb_adam_new: beta2 must be in [0, 1), got -0.1");
    o = nb_adam_opts_default(), o.weight_decay = -0.01;
    EXPECT_NULL(nb_adam_new(&p, 1, &o), NB_ERR_ARG, "nb_adam_new: weight_decay must be a finite number >= 0");
    nb_scope_end(s);
}

static void adamw_checks_each_option(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = leaf(NB_F64);
    nb_adamw_opts o = nb_adamw_opts_default();
    o.lr = NAN;
    EXPECT_NULL(nb_adamw_new(&p, 1, &o), NB_ERR_ARG, "nb_adamw_new: lr must be a finite number >= 0, got nan");
    o = nb_adamw_opts_default(), o.eps = -1;
    EXPECT_NULL(nb_adamw_new(&p, 1, &o), NB_ERR_ARG, "nb_adamw_new: eps must be");
    o = nb_adamw_opts_default(), o.beta1 = 1.5;
    EXPECT_NULL(nb_adamw_new(&p, 1, &o), NB_ERR_ARG, "nb_adamw_new: beta1 must be in [0, 1), got 1.5");
    o = nb_adamw_opts_default(), o.beta2 = 1;
    EXPECT_NULL(nb_adamw_new(&p, 1, &o), NB_ERR_ARG, "nb_adamw_new: beta2 must be in [0, 1), got 1");
    o = nb_adamw_opts_default(), o.weight_decay = -1;
    EXPECT_NULL(nb_adamw_new(&p, 1, &o), NB_ERR_ARG, "nb_adamw_new: weight_decay must be");
    nb_scope_end(s);
}

static void rmsprop_checks_each_option(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = leaf(NB_F32);
    nb_rmsprop_opts o = nb_rmsprop_opts_default();
    o.lr = -1;
    EXPECT_NULL(nb_rmsprop_new(&p, 1, &o), NB_ERR_ARG, "nb_rmsprop_new: lr must be");
    o = nb_rmsprop_opts_default(), o.eps = -1;
    EXPECT_NULL(nb_rmsprop_new(&p, 1, &o), NB_ERR_ARG, "nb_rmsprop_new: eps must be");
    o = nb_rmsprop_opts_default(), o.momentum = -1;
    EXPECT_NULL(nb_rmsprop_new(&p, 1, &o), NB_ERR_ARG, "nb_rmsprop_new: momentum must be");
    o = nb_rmsprop_opts_default(), o.weight_decay = -1;
    EXPECT_NULL(nb_rmsprop_new(&p, 1, &o), NB_ERR_ARG, "nb_rmsprop_new: weight_decay must be");
    o = nb_rmsprop_opts_default(), o.alpha = 1.01;
    EXPECT_NULL(nb_rmsprop_new(&p, 1, &o), NB_ERR_ARG, "nb_rmsprop_new: alpha must be in [0, 1], got 1.01");
    o = nb_rmsprop_opts_default(), o.alpha = -0.5;
    EXPECT_NULL(nb_rmsprop_new(&p, 1, &o), NB_ERR_ARG, "nb_rmsprop_new: alpha must be in [0, 1], got -0.5");
    nb_scope_end(s);
}

static void adagrad_checks_each_option(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = leaf(NB_F32);
    nb_adagrad_opts o = nb_adagrad_opts_default();
    o.lr = -1;
    EXPECT_NULL(nb_adagrad_new(&p, 1, &o), NB_ERR_ARG, "nb_adagrad_new: lr must be");
    o = nb_adagrad_opts_default(), o.lr_decay = -1;
    EXPECT_NULL(nb_adagrad_new(&p, 1, &o), NB_ERR_ARG, "nb_adagrad_new: lr_decay must be");
    o = nb_adagrad_opts_default(), o.weight_decay = -1;
    EXPECT_NULL(nb_adagrad_new(&p, 1, &o), NB_ERR_ARG, "nb_adagrad_new: weight_decay must be");
    o = nb_adagrad_opts_default(), o.initial_accumulator_value = -1;
    EXPECT_NULL(nb_adagrad_new(&p, 1, &o), NB_ERR_ARG, "nb_adagrad_new: initial_accumulator_value must be");
    o = nb_adagrad_opts_default(), o.eps = -1;
    EXPECT_NULL(nb_adagrad_new(&p, 1, &o), NB_ERR_ARG, "nb_adagrad_new: eps must be");
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- groups */

static void add_group_checks_optimizer_kind_parameters_and_options(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *a = leaf(NB_F32), *b = leaf(NB_F32);
    nb_sgd_opts o = sgd_lr(0.1);
    nb_optimizer *opt = nb_sgd_new(&a, 1, &o);
    NOT_NULL(opt);
    EXPECT_STATUS(nb_optimizer_add_group(NULL, &b, 1, NULL), NB_ERR_NULL, "nb_optimizer_add_group: optimizer is NULL");
    nb_adam_opts wrong = nb_adam_opts_default();
    EXPECT_STATUS(nb_optimizer_add_group(opt, &b, 1, &wrong), NB_ERR_ARG,
                  "nb_optimizer_add_group: the options were not made by nb_sgd_opts_default() (their kind tag is 2, expected 1)");
    nb_tensor *both[2] = { b, a };
    EXPECT_STATUS(nb_optimizer_add_group(opt, both, 2, NULL), NB_ERR_ARG,
                  "nb_optimizer_add_group: parameter 1 is already in group 0 of this optimizer");
    nb_sgd_opts bad = sgd_lr(-2);
    EXPECT_STATUS(nb_optimizer_add_group(opt, &b, 1, &bad), NB_ERR_ARG,
                  "nb_optimizer_add_group: lr must be a finite number >= 0, got -2");
    EXPECT_STATUS(nb_optimizer_add_group(opt, &b, 0, NULL), NB_ERR_ARG,
                  "nb_optimizer_add_group: needs at least one parameter");
    assert_int_equal(nb_optimizer_group_count(opt), 1);     /* failed calls added nothing */
    assert_int_equal(nb_optimizer_param_count(opt), 1);
    ASSERT_OK(nb_optimizer_add_group(opt, &b, 1, NULL));
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- step */

static void step_of_null_fails(void **state)
{
    (void)state;
    EXPECT_STATUS(nb_optimizer_step(NULL), NB_ERR_NULL, "nb_optimizer_step: optimizer is NULL");
}

/* A gradient that does not fit its parameter (only a bug can make one) fails the step
 * before any parameter changes. */
static void step_checks_every_gradient_before_changing_anything(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { leaf(NB_F32), leaf(NB_F32) };
    nb_sgd_opts o = sgd_lr(1);
    nb_optimizer *opt = nb_sgd_new(p, 2, &o);
    p[0]->grad = nb_retain(nb_ones(NB_F32, NB_SHAPE(2)));
    p[1]->grad = nb_retain(nb_ones(NB_F32, NB_SHAPE(3)));
    EXPECT_STATUS(nb_optimizer_step(opt), NB_ERR_SHAPE,
                  "nb_optimizer_step: parameter 1: its gradient [3] f32 does not match the parameter [2] f32");
    assert_true(nbt_value_at(p[0], 0) == 1);
    nb_zero_grad(p[1]);
    p[1]->grad = nb_retain(nb_ones(NB_F64, NB_SHAPE(2)));
    EXPECT_STATUS(nb_optimizer_step(opt), NB_ERR_SHAPE, "its gradient [2] f64 does not match the parameter [2] f32");
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

/* The first step makes state; when that allocation fails, the step reports it, changes
 * no parameter and leaves no half-made state, and a later step works as a first one. */
static void step_whose_state_allocation_fails_changes_nothing(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { leaf(NB_F32), leaf(NB_F64) };
    nb_sgd_opts o = sgd_lr(1);
    o.momentum = 0.5, o.dampening = 0.5;
    nb_optimizer *opt = nb_sgd_new(p, 2, &o);
    ASSERT_OK(nb_backward(nb_add(nb_sum_all(p[0]), nb_cast(nb_sum_all(p[1]), NB_F32)), NULL));
    int failures = 0;
    for (long k = 1; k < 50; k++, failures++) {
        nbi_alloc_fail_after(k);
        nb_error_clear();
        nb_status st = nb_optimizer_step(opt);
        nbi_alloc_fail_after(0);
        if (st == NB_OK)
            break;
        assert_int_equal(st, NB_ERR_MEMORY);
        assert_int_equal(nb_optimizer_state_count(opt), 0);
        assert_true(nbt_value_at(p[0], 0) == 1 && nbt_value_at(p[1], 0) == 1);
    }
    assert_true(failures >= 2);                 /* both buffers' allocations were failed */
    assert_true(nbt_value_at(p[0], 0) == 0);    /* buf = g on a first step: 1 - 1 * 1 */
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void constructor_whose_allocation_fails_leaks_nothing(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { leaf(NB_F32), leaf(NB_F32) };
    for (long k = 1; k < 50; k++) {
        nbi_alloc_fail_after(k);
        nb_optimizer *opt = nb_adagrad_new(p, 2, NULL);
        nbi_alloc_fail_after(0);
        if (opt) {
            nb_optimizer_free(opt);
            break;
        }
        assert_int_equal(nb_error_code(), NB_ERR_MEMORY);
        nb_error_clear();
    }
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- learning rates and state */

static void learning_rate_accessors_check_the_group_and_the_value(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = leaf(NB_F32);
    nb_optimizer *opt = nb_adam_new(&p, 1, NULL);
    nb_error_clear();
    assert_true(isnan(nb_optimizer_lr(opt, 1)));
    ASSERT_CONTAINS(nb_error(), "nb_optimizer_lr: group 1 is out of range (the optimizer has 1 group)");
    nb_error_clear();
    assert_true(isnan(nb_optimizer_lr(NULL, 0)));
    ASSERT_CONTAINS(nb_error(), "nb_optimizer_lr: optimizer is NULL");
    EXPECT_STATUS(nb_optimizer_set_lr(opt, -1, 0.1), NB_ERR_ARG, "nb_optimizer_set_lr: group -1 is out of range");
    EXPECT_STATUS(nb_optimizer_set_lr(opt, 0, -0.1), NB_ERR_ARG, "nb_optimizer_set_lr: lr must be a finite number >= 0");
    EXPECT_STATUS(nb_optimizer_set_lr(opt, 0, NAN), NB_ERR_ARG, "got nan");
    EXPECT_STATUS(nb_optimizer_set_lr(NULL, 0, 0.1), NB_ERR_NULL, "nb_optimizer_set_lr: optimizer is NULL");
    assert_true(nb_optimizer_lr(opt, 0) == 1e-3);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void state_accessors_check_the_index(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = leaf(NB_F32);
    nb_optimizer *opt = nb_adam_new(&p, 1, NULL);
    const char *name = "untouched";
    EXPECT_NULL(nb_optimizer_state_tensor(opt, 0, &name), NB_ERR_ARG,
                "nb_optimizer_state_tensor: index 0 is out of range (the optimizer has 0 state tensors)");
    assert_null(name);
    ASSERT_OK(nb_optimizer_init_state(opt));
    EXPECT_NULL(nb_optimizer_state_tensor(opt, 3, NULL), NB_ERR_ARG, "index 3 is out of range (the optimizer has 3");
    EXPECT_NULL(nb_optimizer_state_tensor(opt, -1, NULL), NB_ERR_ARG, "index -1 is out of range");
    EXPECT_NULL(nb_optimizer_state_tensor(NULL, 0, NULL), NB_ERR_NULL, "nb_optimizer_state_tensor: optimizer is NULL");
    EXPECT_STATUS(nb_optimizer_init_state(NULL), NB_ERR_NULL, "nb_optimizer_init_state: optimizer is NULL");
    assert_int_equal(nb_optimizer_state_count(NULL), 0);
    assert_int_equal(nb_optimizer_group_count(NULL), 0);
    assert_int_equal(nb_optimizer_param_count(NULL), 0);
    assert_int_equal(nb_optimizer_kind(NULL), 0);
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- schedulers */

static nb_optimizer *sgd_of(nb_tensor *p)
{
    nb_sgd_opts o = sgd_lr(0.1);
    nb_optimizer *opt = nb_sgd_new(&p, 1, &o);
    NOT_NULL(opt);
    return opt;
}

static void schedulers_refuse_a_null_optimizer(void **state)
{
    (void)state;
    EXPECT_NULL(nb_step_lr_new(NULL, 1, 0.1), NB_ERR_NULL, "nb_step_lr_new: optimizer is NULL");
    EXPECT_NULL(nb_multistep_lr_new(NULL, (const int[]){ 1 }, 1, 0.1), NB_ERR_NULL, "nb_multistep_lr_new: optimizer is NULL");
    EXPECT_NULL(nb_exponential_lr_new(NULL, 0.1), NB_ERR_NULL, "nb_exponential_lr_new: optimizer is NULL");
    EXPECT_NULL(nb_cosine_annealing_lr_new(NULL, 10, 0), NB_ERR_NULL, "nb_cosine_annealing_lr_new: optimizer is NULL");
    EXPECT_NULL(nb_linear_lr_new(NULL, 0.5, 1, 5), NB_ERR_NULL, "nb_linear_lr_new: optimizer is NULL");
    EXPECT_NULL(nb_reduce_on_plateau_new(NULL, NULL), NB_ERR_NULL, "nb_reduce_on_plateau_new: optimizer is NULL");
}

static void epoch_schedules_check_their_arguments(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = sgd_of(leaf(NB_F32));
    EXPECT_NULL(nb_step_lr_new(opt, 0, 0.1), NB_ERR_ARG, "nb_step_lr_new: step_size must be >= 1, got 0");
    EXPECT_NULL(nb_step_lr_new(opt, 2, -0.1), NB_ERR_ARG, "nb_step_lr_new: gamma must be a finite number >= 0, got -0.1");
    EXPECT_NULL(nb_multistep_lr_new(opt, NULL, 1, 0.1), NB_ERR_ARG, "nb_multistep_lr_new: needs at least one milestone (got NULL");
    EXPECT_NULL(nb_multistep_lr_new(opt, (const int[]){ 1 }, 0, 0.1), NB_ERR_ARG, "needs at least one milestone (got an array, n = 0)");
    EXPECT_NULL(nb_multistep_lr_new(opt, (const int[]){ 3, 0 }, 2, 0.1), NB_ERR_ARG,
                "nb_multistep_lr_new: milestone 1 is 0; milestones are epochs >= 1");
    EXPECT_NULL(nb_multistep_lr_new(opt, (const int[]){ 3 }, 1, NAN), NB_ERR_ARG, "nb_multistep_lr_new: gamma must be");
    EXPECT_NULL(nb_exponential_lr_new(opt, INFINITY), NB_ERR_ARG, "nb_exponential_lr_new: gamma must be a finite number >= 0, got inf");
    EXPECT_NULL(nb_cosine_annealing_lr_new(opt, 0, 0), NB_ERR_ARG, "nb_cosine_annealing_lr_new: t_max must be >= 1, got 0");
    EXPECT_NULL(nb_cosine_annealing_lr_new(opt, 5, -1e-3), NB_ERR_ARG, "nb_cosine_annealing_lr_new: eta_min must be");
    EXPECT_NULL(nb_linear_lr_new(opt, 0, 1, 5), NB_ERR_ARG, "nb_linear_lr_new: start_factor must be in (0, 1], got 0");
    EXPECT_NULL(nb_linear_lr_new(opt, 1.5, 1, 5), NB_ERR_ARG, "start_factor must be in (0, 1], got 1.5");
    EXPECT_NULL(nb_linear_lr_new(opt, 0.5, 1.1, 5), NB_ERR_ARG, "nb_linear_lr_new: end_factor must be in [0, 1], got 1.1");
    EXPECT_NULL(nb_linear_lr_new(opt, 0.5, 1, 0), NB_ERR_ARG, "nb_linear_lr_new: total_iters must be >= 1, got 0");
    assert_true(nb_optimizer_lr(opt, 0) == 0.1);      /* no failed constructor touched it */
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void plateau_checks_each_option(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = sgd_of(leaf(NB_F32));
    const char *fn = "nb_reduce_on_plateau_new: ";
    char text[160];
    nb_plateau_opts o = nb_plateau_opts_default();
    o.mode = (nb_plateau_mode)7;
    snprintf(text, sizeof text, "%smode 7 is neither NB_PLATEAU_MIN nor NB_PLATEAU_MAX", fn);
    EXPECT_NULL(nb_reduce_on_plateau_new(opt, &o), NB_ERR_ARG, text);
    o = nb_plateau_opts_default(), o.threshold_mode = (nb_threshold_mode)-1;
    EXPECT_NULL(nb_reduce_on_plateau_new(opt, &o), NB_ERR_ARG, "threshold_mode -1 is neither NB_THRESHOLD_REL nor NB_THRESHOLD_ABS");
    o = nb_plateau_opts_default(), o.factor = 1;
    EXPECT_NULL(nb_reduce_on_plateau_new(opt, &o), NB_ERR_ARG, "nb_reduce_on_plateau_new: factor must be in [0, 1), got 1");
    o = nb_plateau_opts_default(), o.factor = -0.1;
    EXPECT_NULL(nb_reduce_on_plateau_new(opt, &o), NB_ERR_ARG, "factor must be in [0, 1), got -0.1");
    o = nb_plateau_opts_default(), o.patience = -1;
    EXPECT_NULL(nb_reduce_on_plateau_new(opt, &o), NB_ERR_ARG, "nb_reduce_on_plateau_new: patience must be >= 0, got -1");
    o = nb_plateau_opts_default(), o.cooldown = -2;
    EXPECT_NULL(nb_reduce_on_plateau_new(opt, &o), NB_ERR_ARG, "nb_reduce_on_plateau_new: cooldown must be >= 0, got -2");
    o = nb_plateau_opts_default(), o.threshold = -1e-4;
    EXPECT_NULL(nb_reduce_on_plateau_new(opt, &o), NB_ERR_ARG, "nb_reduce_on_plateau_new: threshold must be");
    o = nb_plateau_opts_default(), o.eps = -1;
    EXPECT_NULL(nb_reduce_on_plateau_new(opt, &o), NB_ERR_ARG, "nb_reduce_on_plateau_new: eps must be");
    o = nb_plateau_opts_default(), o.min_lr = -1;
    EXPECT_NULL(nb_reduce_on_plateau_new(opt, &o), NB_ERR_ARG, "nb_reduce_on_plateau_new: min_lr must be");
    o = nb_plateau_opts_default(), o.min_lrs = (const double[]){ -0.5 };
    EXPECT_NULL(nb_reduce_on_plateau_new(opt, &o), NB_ERR_ARG,
                "nb_reduce_on_plateau_new: min_lrs[0] must be a finite number >= 0, got -0.5");
    nb_optimizer_free(opt);
    nb_scope_end(s);
}

static void stepping_checks_the_scheduler_its_kind_and_its_optimizer(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_optimizer *opt = sgd_of(leaf(NB_F32));
    nb_lr_scheduler *plateau = nb_reduce_on_plateau_new(opt, NULL);
    nb_lr_scheduler *step = nb_step_lr_new(opt, 2, 0.5);
    EXPECT_STATUS(nb_lr_scheduler_step(NULL), NB_ERR_NULL, "nb_lr_scheduler_step: scheduler is NULL");
    EXPECT_STATUS(nb_lr_scheduler_step_metric(NULL, 1), NB_ERR_NULL, "nb_lr_scheduler_step_metric: scheduler is NULL");
    EXPECT_STATUS(nb_lr_scheduler_step(plateau), NB_ERR_ARG,
                  "nb_lr_scheduler_step: reduce-on-plateau needs the metric: call nb_lr_scheduler_step_metric");
    nb_optimizer_free(opt);
    EXPECT_STATUS(nb_lr_scheduler_step(step), NB_ERR_STATE,
                  "nb_lr_scheduler_step: the optimizer this scheduler was bound to has been freed");
    EXPECT_STATUS(nb_lr_scheduler_step_metric(plateau, 1), NB_ERR_STATE,
                  "nb_lr_scheduler_step_metric: the optimizer this scheduler was bound to has been freed");
    nb_lr_scheduler_free(step);
    nb_lr_scheduler_free(plateau);
    nb_lr_scheduler_free(NULL);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- clipping and penalties */

static void clip_grad_norm_checks_its_arguments(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { leaf(NB_F32), NULL };
    double total = 0;
    EXPECT_STATUS(nb_clip_grad_norm(p, -1, 1, 2, &total), NB_ERR_ARG,
                  "nb_clip_grad_norm: needs an array of n >= 0 parameters (got an array, n = -1)");
    assert_true(isnan(total));
    EXPECT_STATUS(nb_clip_grad_norm(NULL, 2, 1, 2, NULL), NB_ERR_ARG, "(got NULL, n = 2)");
    EXPECT_STATUS(nb_clip_grad_norm(p, 2, 1, 2, NULL), NB_ERR_NULL, "nb_clip_grad_norm: parameter 1 is NULL");
    EXPECT_STATUS(nb_clip_grad_norm(p, 1, -1, 2, NULL), NB_ERR_ARG, "nb_clip_grad_norm: max_norm must be >= 0, got -1");
    EXPECT_STATUS(nb_clip_grad_norm(p, 1, NAN, 2, NULL), NB_ERR_ARG, "max_norm must be >= 0, got nan");
    EXPECT_STATUS(nb_clip_grad_norm(p, 1, 1, 0, NULL), NB_ERR_ARG,
                  "nb_clip_grad_norm: norm_type must be > 0 (or INFINITY), got 0");
    EXPECT_STATUS(nb_clip_grad_norm(p, 1, 1, -INFINITY, NULL), NB_ERR_ARG, "norm_type must be > 0 (or INFINITY), got -inf");
    EXPECT_STATUS(nb_clip_grad_norm(p, 1, 1, NAN, NULL), NB_ERR_ARG, "norm_type must be > 0 (or INFINITY), got nan");
    ASSERT_OK(nb_clip_grad_norm(NULL, 0, 1, 2, &total));    /* nothing to clip */
    assert_true(total == 0);
    nb_scope_end(s);
}

static void clip_grad_value_checks_its_arguments(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { leaf(NB_F32), NULL };
    EXPECT_STATUS(nb_clip_grad_value(p, 2, 1), NB_ERR_NULL, "nb_clip_grad_value: parameter 1 is NULL");
    EXPECT_STATUS(nb_clip_grad_value(p, -3, 1), NB_ERR_ARG, "nb_clip_grad_value: needs an array of n >= 0 parameters");
    EXPECT_STATUS(nb_clip_grad_value(p, 1, -0.5), NB_ERR_ARG, "nb_clip_grad_value: clip_value must be >= 0, got -0.5");
    EXPECT_STATUS(nb_clip_grad_value(p, 1, NAN), NB_ERR_ARG, "clip_value must be >= 0, got nan");
    nb_scope_end(s);
}

static void penalties_check_their_parameters(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p[2] = { leaf(NB_F32), leaf(NB_F64) };
    EXPECT_NULL(nb_l1_penalty(p, 0), NB_ERR_ARG, "nb_l1_penalty: needs at least one parameter (got an array, n = 0)");
    EXPECT_NULL(nb_l2_penalty(NULL, 1), NB_ERR_ARG, "nb_l2_penalty: needs at least one parameter (got NULL, n = 1)");
    EXPECT_NULL(nb_l2_penalty(p, 2), NB_ERR_DTYPE, "nb_l2_penalty: parameter 1 has dtype f64, parameter 0 f32");
    nb_tensor *q[2] = { p[0], NULL };
    EXPECT_NULL(nb_l1_penalty(q, 2), NB_ERR_NULL, "nb_l1_penalty: parameter 1 is NULL");
    /* A NULL from an earlier failure keeps that failure's message. */
    nb_error_clear();
    q[1] = nb_add(p[0], p[1]);
    assert_null(q[1]);
    assert_null(nb_l1_penalty(q, 2));
    ASSERT_CONTAINS(nb_error(), "add");
    nb_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(constructor_needs_at_least_one_parameter),
        TEST(constructor_names_a_null_parameter),
        TEST(constructor_refuses_an_integer_parameter),
        TEST(constructor_refuses_a_non_leaf),
        TEST(constructor_refuses_a_parameter_that_does_not_require_grad),
        TEST(constructor_refuses_overlapping_elements),
        TEST(constructor_refuses_a_parameter_listed_twice),
        TEST(constructor_refuses_options_not_made_by_their_initializer),
        TEST(sgd_without_learning_rate_says_to_set_it),
        TEST(sgd_checks_each_option),
        TEST(adam_checks_each_option),
        TEST(adamw_checks_each_option),
        TEST(rmsprop_checks_each_option),
        TEST(adagrad_checks_each_option),
        TEST(add_group_checks_optimizer_kind_parameters_and_options),
        TEST(step_of_null_fails),
        TEST(step_checks_every_gradient_before_changing_anything),
        TEST(step_whose_state_allocation_fails_changes_nothing),
        TEST(constructor_whose_allocation_fails_leaks_nothing),
        TEST(learning_rate_accessors_check_the_group_and_the_value),
        TEST(state_accessors_check_the_index),
        TEST(schedulers_refuse_a_null_optimizer),
        TEST(epoch_schedules_check_their_arguments),
        TEST(plateau_checks_each_option),
        TEST(stepping_checks_the_scheduler_its_kind_and_its_optimizer),
        TEST(clip_grad_norm_checks_its_arguments),
        TEST(clip_grad_value_checks_its_arguments),
        TEST(penalties_check_their_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
