/* The module base, the basic layers and the initialisers: shapes, PyTorch's names and
 * defaults, enumeration order, training flag, summary, user-defined modules, errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/check.h"

static nb_module *mlp(nb_rng *rng)
{
    return nb_sequential(3, nb_linear(4, 3, true, rng), nb_relu_module(), nb_linear(3, 2, true, rng));
}

static void linear_has_pytorch_shapes_names_and_init_bounds(void **state)
{
    (void)state;
    nb_rng *rng = nb_rng_new(1);
    nb_module *fc = nb_linear(100, 7, true, rng);
    NOT_NULL(fc);
    nb_tensor *w = nb_module_get_param(fc, "weight"), *b = nb_module_get_param(fc, "bias");
    nbt_assert_shape(w, 2, (int64_t[]){ 7, 100 });
    nbt_assert_shape(b, 1, (int64_t[]){ 7 });
    assert_true(nb_tensor_requires_grad(w) && nb_tensor_is_leaf(w));
    double bound = 1.0 / sqrt(100.0), lo = 1, hi = -1;
    for (int64_t j = 0; j < 700; j++) {
        double v = nbt_value_at(w, j);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    assert_true(lo >= -bound && hi <= bound);
    assert_true(lo < -0.8 * bound && hi > 0.8 * bound);   /* 700 draws fill the range */
    assert_int_equal(nb_module_num_params(fc), 707);
    nb_module *no_bias = nb_linear(3, 2, false, rng);
    assert_null(nb_module_get_param(no_bias, "bias"));
    nb_module_free(no_bias);
    nb_module_free(fc);
    nb_rng_free(rng);
}

static void linear_forward_is_x_times_w_transposed_plus_b(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_module *fc = nb_linear(2, 2, true, NULL);
    float w[] = { 1, 2, 3, 4 }, b[] = { 10, 20 }, x[] = { 1, 1, 2, -1 };
    nb_no_grad_begin();
    ASSERT_OK(nb_copy_inplace(nb_module_get_param(fc, "weight"), nb_tensor_from_data(w, NB_F32, NB_SHAPE(2, 2))));
    ASSERT_OK(nb_copy_inplace(nb_module_get_param(fc, "bias"), nb_tensor_from_data(b, NB_F32, NB_SHAPE(2))));
    nb_no_grad_end();
    nb_tensor *y = nb_module_forward(fc, nb_tensor_from_data(x, NB_F32, NB_SHAPE(2, 2)));
    /* rows: [1,1] -> [1+2+10, 3+4+20]; [2,-1] -> [2-2+10, 6-4+20] */
    const double expected[] = { 13, 27, 10, 22 };
    for (int j = 0; j < 4; j++)
        assert_true(nbt_value_at(y, j) == expected[j]);
    nb_module_free(fc);
    nb_scope_end(s);
}

static void sequential_names_parameters_as_pytorch_state_dict(void **state)
{
    (void)state;
    nb_module *net = mlp(NULL);
    NOT_NULL(net);
    const char *expected[] = { "0.weight", "0.bias", "2.weight", "2.bias" };
    assert_int_equal(nb_module_parameters(net, NULL, 0), 4);
    nb_tensor *list[4];
    assert_int_equal(nb_module_parameters(net, list, 4), 4);
    for (int i = 0; i < 4; i++) {
        char name[64];
        nb_tensor *p = nb_module_parameter_at(net, i, name, sizeof name);
        assert_ptr_equal(p, list[i]);
        assert_string_equal(name, expected[i]);
        assert_ptr_equal(nb_module_find(net, expected[i]), p);
    }
    assert_null(nb_module_parameter_at(net, 4, NULL, 0));
    assert_int_equal(nb_module_num_params(net), 4 * 3 + 3 + 3 * 2 + 2);
    assert_null(nb_module_find(net, "1.weight"));
    ASSERT_CONTAINS(nb_error(), "no parameter or buffer named \"1.weight\"");
    nb_module_free(net);
}

static void nested_modules_compose_dotted_names_and_buffers(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_module *outer = nb_sequential_new();
    nb_module *block = nb_sequential(1, nb_linear(2, 2, false, NULL));
    ASSERT_OK(nb_module_add_buffer(block, "running", nb_zeros(NB_F32, NB_SHAPE(2))));
    ASSERT_OK(nb_module_add_child_steal(outer, "encoder", block));
    char name[64];
    NOT_NULL(nb_module_parameter_at(outer, 0, name, sizeof name));
    assert_string_equal(name, "encoder.0.weight");
    assert_int_equal(nb_module_buffer_count(outer), 1);
    NOT_NULL(nb_module_buffer_at(outer, 0, name, sizeof name));
    assert_string_equal(name, "encoder.running");
    assert_false(nb_tensor_requires_grad(nb_module_find(outer, "encoder.running")));
    nb_module_free(outer);
    nb_scope_end(s);
}

static void training_flag_reaches_every_child(void **state)
{
    (void)state;
    nb_module *net = mlp(NULL);
    assert_true(nb_module_is_training(nb_module_get_child(net, "2")));
    nb_module_train(net, false);
    assert_false(nb_module_is_training(net));
    assert_false(nb_module_is_training(nb_module_get_child(net, "0")));
    assert_false(nb_module_is_training(nb_module_get_child(net, "2")));
    nb_module_free(net);
}

static void backward_through_a_sequential_fills_every_parameter_and_zero_grad_clears_them(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_rng *rng = nb_rng_new(5);
    nb_module *net = mlp(rng);
    nb_tensor *x = nb_randn(rng, NB_F32, NB_SHAPE(8, 4));
    ASSERT_OK(nb_backward(nb_sum_all(nb_square(nb_module_forward(net, x))), NULL));
    for (int i = 0; i < 4; i++)
        NOT_NULL(nb_tensor_grad(nb_module_parameter_at(net, i, NULL, 0)));
    nb_module_zero_grad(net);
    for (int i = 0; i < 4; i++)
        assert_null(nb_tensor_grad(nb_module_parameter_at(net, i, NULL, 0)));
    nb_module_free(net);
    nb_rng_free(rng);
    nb_scope_end(s);
}

/* A user-defined module: y = x + tanh(x W^T), its own class and state. */
typedef struct residual_state {
    int64_t width;
} residual_state;

static nb_tensor *residual_forward(nb_module *m, nb_tensor *x)
{
    return nb_add(x, nb_tanh(nb_matmul(x, nb_transpose(nb_module_get_param(m, "weight"), 0, 1))));
}

static const nb_module_class residual_class = {
    .name = "Residual", .state_size = sizeof(residual_state), .forward = residual_forward,
};

static nb_module *residual(int64_t width, nb_rng *rng)
{
    nb_module *m = nb_module_new(&residual_class);
    ((residual_state *)nb_module_state(m))->width = width;
    nb_scope *s = nb_scope_begin();
    nb_module_add_param(m, "weight", nb_randn(rng, NB_F64, NB_SHAPE(width, width)));
    nb_scope_end(s);
    return m;
}

typedef struct module_input {
    nb_module *m;
} module_input;

static nb_tensor *apply_module(nb_tensor *const *x, void *user)
{
    return nb_module_forward(((module_input *)user)->m, x[0]);
}

static void user_defined_modules_are_differentiated_by_autograd(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_rng *rng = nb_rng_new(9);
    nb_module *m = residual(3, rng);
    assert_int_equal(((residual_state *)nb_module_state(m))->width, 3);
    assert_string_equal(nb_module_class_of(m)->name, "Residual");
    nb_tensor *x = nb_randn(rng, NB_F64, NB_SHAPE(2, 3));
    ASSERT_OK(nb_requires_grad(x, true));
    nb_gradcheck_opts o = nb_gradcheck_opts_default();
    o.second_order = true;
    module_input in = { m };
    ASSERT_OK(nb_gradcheck(apply_module, &in, &x, 1, &o));
    nb_module_free(m);
    nb_rng_free(rng);
    nb_scope_end(s);
}

static void summary_lists_layers_shapes_and_counts(void **state)
{
    (void)state;
    nb_module *net = mlp(NULL);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    ASSERT_OK(nb_module_summary(net, 2, (int64_t[]){ 5, 4 }, f));
    fclose(f);
    ASSERT_CONTAINS(text, "0 (Linear)");
    ASSERT_CONTAINS(text, "[5, 3]");
    ASSERT_CONTAINS(text, "1 (ReLU)");
    ASSERT_CONTAINS(text, "2 (Linear)");
    ASSERT_CONTAINS(text, "[5, 2]");
    ASSERT_CONTAINS(text, "Total params: 23");
    assert_true(nb_module_is_training(net));   /* summary runs in eval mode and puts the flag back */
    free(text);
    nb_module_free(net);
}

static void module_mistakes_fail_clearly(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_module *m = nb_sequential_new();
    nb_tensor *t = nb_zeros(NB_F32, NB_SHAPE(2));
    ASSERT_OK(nb_module_add_param(m, "w", t));
    assert_int_equal(nb_module_add_param(m, "w", t), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "already has an entry named \"w\"");
    assert_int_equal(nb_module_add_buffer(m, "a.b", t), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "contain no '.'");
    assert_int_equal(nb_module_add_param(m, "i", nb_zeros(NB_I64, NB_SHAPE(2))), NB_ERR_DTYPE);
    ASSERT_CONTAINS(nb_error(), "parameter \"i\" is i64");
    assert_int_equal(nb_module_add_param(m, "made", nb_mul_scalar(t, 2)), NB_ERR_AUTOGRAD);
    ASSERT_CONTAINS(nb_error(), "made by op 'mul_scalar'");
    nb_error_clear();
    assert_int_equal(nb_module_add_child_steal(m, "c", NULL), NB_ERR_NULL);
    assert_null(nb_linear(0, 3, true, NULL));
    ASSERT_CONTAINS(nb_error(), "nb_linear: sizes in=0, out=3");
    nb_error_clear();
    assert_null(nb_sequential(2, nb_relu_module(), NULL));   /* frees the ReLU */
    ASSERT_CONTAINS(nb_error(), "layer 1 is NULL");
    assert_int_equal(nb_sequential_add_steal(nb_module_get_child(m, "w"), nb_relu_module()), NB_ERR_NULL);
    nb_module *fc = nb_linear(3, 2, true, NULL);
    assert_null(nb_module_forward(fc, nb_zeros(NB_F32, NB_SHAPE(4, 5))));
    ASSERT_CONTAINS(nb_error(), "nb_matmul");
    nb_module_free(fc);
    nb_module_free(m);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- initialisers */

static void mean_and_std(const nb_tensor *t, double *mean, double *std)
{
    int64_t n = nb_tensor_numel(t);
    double sum = 0, sq = 0;
    for (int64_t j = 0; j < n; j++) {
        double v = nbt_value_at(t, j);
        sum += v;
        sq += v * v;
    }
    *mean = sum / (double)n;
    *std = sqrt(sq / (double)n - *mean * *mean);
}

static void initialisers_draw_the_documented_distributions(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_rng *rng = nb_rng_new(11);
    nb_tensor *w = nb_zeros(NB_F32, NB_SHAPE(200, 300));   /* fan_in 300, fan_out 200 */
    double mean, std;
    ASSERT_OK(nb_init_normal(w, 2.0, 0.5, rng));
    mean_and_std(w, &mean, &std);
    assert_true(fabs(mean - 2.0) < 0.01 && fabs(std - 0.5) < 0.01);
    ASSERT_OK(nb_init_xavier_normal(w, 1.0, rng));
    mean_and_std(w, &mean, &std);
    assert_true(fabs(std - sqrt(2.0 / 500.0)) < 0.002);
    ASSERT_OK(nb_init_kaiming_normal(w, 0, NB_FAN_IN, "relu", rng));
    mean_and_std(w, &mean, &std);
    assert_true(fabs(std - sqrt(2.0) / sqrt(300.0)) < 0.002);
    ASSERT_OK(nb_init_kaiming_uniform(w, 0, NB_FAN_OUT, "relu", rng));
    mean_and_std(w, &mean, &std);   /* uniform on +-b has std b / sqrt(3) = gain / sqrt(fan) */
    assert_true(fabs(std - sqrt(2.0) / sqrt(200.0)) < 0.002);
    ASSERT_OK(nb_init_xavier_uniform(w, 2.0, rng));
    double bound = 2.0 * sqrt(6.0 / 500.0), hi = 0;
    for (int64_t j = 0; j < 60000; j++)
        hi = fmax(hi, fabs(nbt_value_at(w, j)));
    assert_true(hi <= bound && hi > 0.99 * bound);
    ASSERT_OK(nb_init_constant(w, 3.5));
    assert_true(nbt_value_at(w, 123) == 3.5);
    assert_true(nb_init_gain("tanh", 0) == 5.0 / 3.0);
    assert_true(fabs(nb_init_gain("leaky_relu", 0.2) - sqrt(2.0 / 1.04)) < 1e-15);
    assert_true(isnan(nb_init_gain("swish", 0)));
    ASSERT_CONTAINS(nb_error(), "unknown nonlinearity \"swish\"");
    assert_int_equal(nb_init_xavier_uniform(nb_zeros(NB_F32, NB_SHAPE(5)), 1, rng), NB_ERR_SHAPE);
    ASSERT_CONTAINS(nb_error(), "at least 2 axes, got shape [5]");
    assert_int_equal(nb_init_zeros(nb_zeros(NB_I64, NB_SHAPE(2))), NB_ERR_DTYPE);
    nb_rng_free(rng);
    nb_scope_end(s);
}

/* Q^T Q (tall) or Q Q^T (wide) must be gain^2 times the identity. */
static void assert_orthogonal(const nb_tensor *q, int64_t rows, int64_t cols, double gain)
{
    bool tall = rows >= cols;
    int64_t k = tall ? cols : rows;
    for (int64_t a = 0; a < k; a++)
        for (int64_t b = 0; b < k; b++) {
            double dot = 0;
            for (int64_t i = 0; i < (tall ? rows : cols); i++)
                dot += tall ? nbt_value_at(q, i * cols + a) * nbt_value_at(q, i * cols + b)
                            : nbt_value_at(q, a * cols + i) * nbt_value_at(q, b * cols + i);
            assert_true(fabs(dot - (a == b ? gain * gain : 0)) < 1e-9);
        }
}

static void orthogonal_init_gives_orthonormal_rows_or_columns(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_rng *rng = nb_rng_new(2);
    nb_tensor *tall = nb_zeros(NB_F64, NB_SHAPE(6, 4)), *wide = nb_zeros(NB_F64, NB_SHAPE(3, 2, 4));
    ASSERT_OK(nb_init_orthogonal(tall, 1.0, rng));
    assert_orthogonal(tall, 6, 4, 1.0);
    ASSERT_OK(nb_init_orthogonal(wide, 2.0, rng));   /* flattened to 3 x 8 */
    assert_orthogonal(wide, 3, 8, 2.0);
    nb_rng_free(rng);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- normalisation */

static void batchnorm_normalises_batches_and_tracks_running_statistics(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_module *bn = nb_batchnorm1d(2, 1e-5, 0.1, true);
    /* feature 0: 1, 2, 3, 6 (mean 3, biased var 3.5, unbiased 14/3); feature 1: all 4 */
    const float xv[] = { 1, 4, 2, 4, 3, 4, 6, 4 };
    nb_tensor *x = nb_tensor_from_data(xv, NB_F32, NB_SHAPE(4, 2));
    nb_tensor *y = nb_module_forward(bn, x);
    NOT_NULL(y);
    for (int i = 0; i < 4; i++) {
        assert_true(fabs(nbt_value_at(y, 2 * i) - (xv[2 * i] - 3) / sqrt(3.5 + 1e-5)) < 1e-5);
        assert_true(fabs(nbt_value_at(y, 2 * i + 1)) < 1e-6);   /* constant feature: 0 */
    }
    nb_tensor *rm = nb_module_get_buffer(bn, "running_mean"), *rv = nb_module_get_buffer(bn, "running_var");
    assert_true(fabs(nbt_value_at(rm, 0) - 0.3) < 1e-6 && fabs(nbt_value_at(rm, 1) - 0.4) < 1e-6);
    assert_true(fabs(nbt_value_at(rv, 0) - (0.9 + 0.1 * 14.0 / 3.0)) < 1e-6 && fabs(nbt_value_at(rv, 1) - 0.9) < 1e-6);
    nb_module_train(bn, false);   /* eval: (x - running_mean) / sqrt(running_var + eps) */
    nb_tensor *z = nb_module_forward(bn, x);
    assert_true(fabs(nbt_value_at(z, 0) - (1 - 0.3) / sqrt(0.9 + 0.1 * 14.0 / 3.0 + 1e-5)) < 1e-5);
    assert_true(fabs(nbt_value_at(rm, 0) - 0.3) < 1e-6);   /* eval leaves the statistics alone */
    assert_null(nb_module_forward(bn, nb_zeros(NB_F32, NB_SHAPE(4, 3))));
    ASSERT_CONTAINS(nb_error(), "BatchNorm1d: input [4, 3] must be [N, 2] or [N, 2, L]");
    nb_module_free(bn);
    nb_scope_end(s);
}

static void layernorm_normalises_each_row(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_module *ln = nb_layernorm(1, (int64_t[]){ 4 }, 1e-5, true);
    const float xv[] = { 1, 2, 3, 6, -1, -1, 1, 1 };   /* rows: mean 3 var 3.5; mean 0 var 1 */
    nb_tensor *y = nb_module_forward(ln, nb_tensor_from_data(xv, NB_F32, NB_SHAPE(2, 4)));
    for (int j = 0; j < 4; j++) {
        assert_true(fabs(nbt_value_at(y, j) - (xv[j] - 3) / sqrt(3.5 + 1e-5)) < 1e-5);
        assert_true(fabs(nbt_value_at(y, 4 + j) - xv[4 + j] / sqrt(1 + 1e-5)) < 1e-5);
    }
    nbt_assert_shape(nb_module_get_param(ln, "weight"), 1, (int64_t[]){ 4 });
    assert_null(nb_module_forward(ln, nb_zeros(NB_F32, NB_SHAPE(2, 3))));
    ASSERT_CONTAINS(nb_error(), "LayerNorm: input [2, 3] does not end in the normalised shape [4]");
    nb_module_free(ln);
    nb_scope_end(s);
}

/* A module applied to an f64 input: checked by finite differences. */
static nb_tensor *module_of(nb_tensor *const *x, void *user)
{
    return nb_module_forward(user, x[0]);
}

static void normalisation_gradients_pass_gradcheck(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_rng *rng = nb_rng_new(21);
    nb_module *ln = nb_layernorm(1, (int64_t[]){ 5 }, 1e-5, false), *bn = nb_batchnorm1d(3, 1e-5, 0.1, false);
    nb_tensor *x = nb_randn(rng, NB_F64, NB_SHAPE(3, 5)), *xb = nb_randn(rng, NB_F64, NB_SHAPE(6, 3, 2));
    ASSERT_OK(nb_requires_grad(x, true));
    ASSERT_OK(nb_requires_grad(xb, true));
    nb_gradcheck_opts o = nb_gradcheck_opts_default();
    o.second_order = true;
    ASSERT_OK(nb_gradcheck(module_of, ln, &x, 1, &o));
    /* batch norm in training mode: the running statistics (f32 buffers) change as a side
     * effect of each call, the output does not depend on them */
    ASSERT_OK(nb_gradcheck(module_of, bn, &xb, 1, &o));
    assert_int_equal(nb_tensor_dtype(nb_module_get_buffer(bn, "running_mean")), NB_F32);
    nb_module_free(ln);
    nb_module_free(bn);
    nb_rng_free(rng);
    nb_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(linear_has_pytorch_shapes_names_and_init_bounds),
        TEST(linear_forward_is_x_times_w_transposed_plus_b),
        TEST(sequential_names_parameters_as_pytorch_state_dict),
        TEST(nested_modules_compose_dotted_names_and_buffers),
        TEST(training_flag_reaches_every_child),
        TEST(backward_through_a_sequential_fills_every_parameter_and_zero_grad_clears_them),
        TEST(user_defined_modules_are_differentiated_by_autograd),
        TEST(summary_lists_layers_shapes_and_counts),
        TEST(module_mistakes_fail_clearly),
        TEST(initialisers_draw_the_documented_distributions),
        TEST(orthogonal_init_gives_orthonormal_rows_or_columns),
        TEST(batchnorm_normalises_batches_and_tracks_running_statistics),
        TEST(layernorm_normalises_each_row),
        TEST(normalisation_gradients_pass_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
