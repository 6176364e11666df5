/* The public custom-op path (DESIGN §5: custom ops are first class). Two user ops are
 * defined here with nothing but the public headers:
 *   cube:       z = x^3, f32 and f64 kernels reading any strides, backward gz * 3 x^2
 *               written with nabla ops (so it differentiates again), samples;
 *   split_sign: two outputs, max(x, 0) and min(x, 0).
 * They are registered, found, gradient-checked first and second order, and used through
 * nb_apply / nb_apply_multi. Registrations live only in this test process. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "../common/samples.h"

/* ---------------------------------------------------------------- the user's op: cube */

static nb_status float_unary_shape(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    (void)attrs;
    nb_dtype d = nb_tensor_dtype(x[0]);
    if (d != NB_F32 && d != NB_F64)
        return nb_op_error(op, NB_ERR_DTYPE, "input has dtype %s, expected f32 or f64", nb_dtype_name(d));
    int outputs = op->n_out ? op->n_out : 1;
    for (int i = 0; i < outputs; i++) {
        z[i].dtype = d;
        z[i].rank = nb_tensor_rank(x[0]);
        memcpy(z[i].shape, nb_tensor_shape(x[0]), (size_t)z[i].rank * sizeof(int64_t));
    }
    return NB_OK;
}

static int cube_calls_on_strided_input;

/* The output is fresh and contiguous; the input may be any view, read through its strides. */
#define CUBE_KERNEL(name, T)                                                            \
    static nb_status name(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)  \
    {                                                                                   \
        (void)attrs;                                                                    \
        const T *in = nb_tensor_data(x[0]);                                             \
        T *out = nb_tensor_data(z[0]);                                                  \
        if (!nb_tensor_is_contiguous(x[0]))                                             \
            cube_calls_on_strided_input++;                                              \
        for (int64_t j = 0, n = nb_tensor_numel(z[0]); j < n; j++) {                    \
            T v = in[nbt_offset_of(x[0], j)];                                           \
            out[j] = v * v * v;                                                         \
        }                                                                               \
        return NB_OK;                                                                   \
    }
CUBE_KERNEL(cube_f32, float)
CUBE_KERNEL(cube_f64, double)

/* d x^3 = 3 x^2 dx, in nabla ops so that a create_graph backward records it. */
static void cube_backward(nb_backward_ctx *c)
{
    nb_tensor *x = nb_saved_input(c, 0), *gz = nb_grad_out(c, 0);
    if (nb_needs_grad(c, 0))
        nb_set_grad_in(c, 0, nb_mul(gz, nb_mul_scalar(nb_square(x), 3)));
}

static const nb_sample cube_samples[] = {
    { .label = "matrix", .in = { { .rank = 2, .shape = { 3, 4 }, .layout = NB_LAYOUT_CONTIGUOUS } } },
    { .label = "transposed", .in = { { .rank = 2, .shape = { 4, 3 }, .layout = NB_LAYOUT_TRANSPOSED } } },
    { .label = "strided rank 3", .in = { { .rank = 3, .shape = { 2, 3, 2 }, .layout = NB_LAYOUT_STRIDED, .lo = -2, .hi = 2 } } },
    { .label = "rank 0", .in = { { .rank = 0 } } },
};

static const nb_op_def op_cube = {
    .name = "cube",
    .n_in = 1,
    .shape = float_unary_shape,
    .forward = { [NB_F32] = cube_f32, [NB_F64] = cube_f64 },
    .saves = NB_SAVE_INPUT(0),
    .backward = cube_backward,
    .samples = cube_samples,
    .n_samples = (int)(sizeof cube_samples / sizeof cube_samples[0]),
};

/* ---------------------------------------------------------------- the user's op: split_sign */

#define SPLIT_KERNEL(name, T)                                                           \
    static nb_status name(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)  \
    {                                                                                   \
        (void)attrs;                                                                    \
        const T *in = nb_tensor_data(x[0]);                                             \
        T *pos = nb_tensor_data(z[0]), *neg = nb_tensor_data(z[1]);                     \
        for (int64_t j = 0, n = nb_tensor_numel(z[0]); j < n; j++) {                    \
            T v = in[nbt_offset_of(x[0], j)];                                           \
            pos[j] = v > 0 ? v : 0;                                                     \
            neg[j] = v > 0 ? 0 : v;                                                     \
        }                                                                               \
        return NB_OK;                                                                   \
    }
SPLIT_KERNEL(split_f32, float)
SPLIT_KERNEL(split_f64, double)

/* gx = gz0 (x > 0) + gz1 (x <= 0); the mask is a comparison, not differentiable. */
static void split_backward(nb_backward_ctx *c)
{
    nb_tensor *x = nb_saved_input(c, 0);
    nb_tensor *positive = nb_gt(x, nb_zeros_like(x));
    nb_tensor *gx = nb_add(nb_mul(nb_grad_out(c, 0), positive), nb_mul(nb_grad_out(c, 1), nb_rsub_scalar(positive, 1)));
    nb_set_grad_in(c, 0, gx);
}

static const nb_sample split_samples[] = {
    { .label = "matrix", .in = { { .rank = 2, .shape = { 3, 4 }, .min_abs = 0.05 } } },
    { .label = "transposed", .in = { { .rank = 2, .shape = { 2, 5 }, .layout = NB_LAYOUT_TRANSPOSED, .min_abs = 0.05 } } },
};

static const nb_op_def op_split_sign = {
    .name = "split_sign",
    .n_in = 1,
    .n_out = 2,
    .shape = float_unary_shape,
    .forward = { [NB_F32] = split_f32, [NB_F64] = split_f64 },
    .saves = NB_SAVE_INPUT(0),
    .backward = split_backward,
    .samples = split_samples,
    .n_samples = (int)(sizeof split_samples / sizeof split_samples[0]),
};

/* Registered once for the whole group, as a program would at start-up. */
static int count_before_registration;

static int register_ops(void **state)
{
    (void)state;
    count_before_registration = nb_op_count();
    if (nb_op_register(&op_cube) != NB_OK || nb_op_register(&op_split_sign) != NB_OK) {
        print_error("registration failed: %s\n", nb_error());
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- registry */

static void registered_ops_are_found_by_name_and_counted(void **state)
{
    (void)state;
    assert_int_equal(nb_op_count(), count_before_registration + 2);
    assert_ptr_equal(nb_op_find("cube"), &op_cube);
    assert_ptr_equal(nb_op_find("split_sign"), &op_split_sign);
    assert_null(nb_op_find("cubes"));
    assert_null(nb_op_find(NULL));
    assert_non_null(nb_op_find("matmul"));   /* built-ins sit in the same registry */
    int seen = 0;
    for (int i = 0; i < nb_op_count(); i++)
        seen += nb_op_at(i) == &op_cube;
    assert_int_equal(seen, 1);
    assert_null(nb_op_at(nb_op_count()));
    assert_null(nb_op_at(-1));
}

static void registering_a_taken_name_fails(void **state)
{
    (void)state;
    int count = nb_op_count();
    assert_int_equal(nb_op_register(&op_cube), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "'cube'");
    ASSERT_CONTAINS(nb_error(), "already registered");
    nb_error_clear();
    static const nb_op_def fake_add = { .name = "add", .n_in = 2, .shape = float_unary_shape,
                                        .forward = { [NB_F64] = cube_f64 } };
    assert_int_equal(nb_op_register(&fake_add), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "'add'");
    assert_int_equal(nb_op_count(), count);
}

static void registering_an_incomplete_definition_fails(void **state)
{
    (void)state;
    int count = nb_op_count();
    static const nb_op_def no_name = { .n_in = 1, .shape = float_unary_shape, .forward = { [NB_F64] = cube_f64 } };
    static const nb_op_def no_shape = { .name = "no_shape", .n_in = 1, .forward = { [NB_F64] = cube_f64 } };
    static const nb_op_def no_kernel = { .name = "no_kernel", .n_in = 1, .shape = float_unary_shape };
    static const nb_op_def too_many_outputs = { .name = "too_many_outputs", .n_in = 1, .n_out = NB_MAX_OUTPUTS + 1,
                                                .shape = float_unary_shape, .forward = { [NB_F64] = cube_f64 } };
    assert_int_equal(nb_op_register(&no_name), NB_ERR_ARG);
    assert_int_equal(nb_op_register(&no_shape), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "no_shape");
    assert_int_equal(nb_op_register(&no_kernel), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "no_kernel");
    assert_int_equal(nb_op_register(&too_many_outputs), NB_ERR_ARG);
    nb_error_clear();   /* a NULL argument reports the error already set, if any */
    assert_int_equal(nb_op_register(NULL), NB_ERR_NULL);
    assert_int_equal(nb_op_count(), count);
    assert_null(nb_op_find("no_shape"));
}

static void an_op_registered_without_samples_is_visible_to_the_registry(void **state)
{
    (void)state;
    /* The registry harness would fail it; registrations stay in this test process. */
    static const nb_op_def bare = { .name = "bare_cube", .n_in = 1, .shape = float_unary_shape,
                                    .forward = { [NB_F64] = cube_f64 } };
    int count = nb_op_count();
    ASSERT_OK(nb_op_register(&bare));
    assert_int_equal(nb_op_count(), count + 1);
    assert_ptr_equal(nb_op_at(count), &bare);
    assert_ptr_equal(nb_op_find("bare_cube"), &bare);
    assert_null(nb_op_find("bare_cube")->samples);
    assert_int_equal(nb_op_find("bare_cube")->n_samples, 0);
}

/* ---------------------------------------------------------------- cube through nb_apply */

static nb_tensor *cube(nb_tensor *x)
{
    return nb_apply(nb_op_find("cube"), (nb_tensor *const[]){ x }, NULL);
}

static void cube_forward_matches_closed_form_on_strided_f32_and_f64_inputs(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double v[6] = { 0.5, -1.5, 2, -0.25, 3, 1 };
    nb_tensor *x64 = nb_tensor_from_data(v, NB_F64, NB_SHAPE(2, 3));
    nb_tensor *x32 = nb_cast(x64, NB_F32);
    cube_calls_on_strided_input = 0;
    /* transposed: z[i, j] = x[j, i]^3 */
    nb_tensor *zt = cube(nb_transpose(x64, 0, 1));
    NOT_NULL(zt);
    double expected_t[6];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++)
            expected_t[i * 2 + j] = pow(v[j * 3 + i], 3);
    nbt_assert_shape(zt, 2, (const int64_t[]){ 3, 2 });
    assert_true(nb_tensor_is_contiguous(zt));
    nbt_assert_close(zt, expected_t, 6, 0);
    /* f32, every other column */
    nb_tensor *z32 = cube(nb_slice(x32, 1, 0, 3, 2));
    NOT_NULL(z32);
    assert_int_equal(nb_tensor_dtype(z32), NB_F32);
    nbt_assert_close(z32, (const double[]){ 0.125, 8, -0.015625, 1 }, 4, 0);
    assert_int_equal(cube_calls_on_strided_input, 2);   /* the views reached the kernel uncopied */
    /* contiguous f64 */
    nb_tensor *z = cube(x64);
    double expected[6];
    for (int i = 0; i < 6; i++)
        expected[i] = v[i] * v[i] * v[i];
    nbt_assert_close(z, expected, 6, 0);
    nb_scope_end(s);
}

static void cube_rejects_integer_input_naming_the_op(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *i = nb_arange(NB_I64, 0, 4, 1);
    assert_null(cube(i));
    assert_int_equal(nb_error_code(), NB_ERR_DTYPE);
    ASSERT_CONTAINS(nb_error(), "nb_cube");
    ASSERT_CONTAINS(nb_error(), "i64");
    nb_error_clear();
    assert_null(cube(NULL));   /* NULL propagates */
    assert_int_equal(nb_error_code(), NB_ERR_NULL);
    nb_scope_end(s);
}

static void cube_gradient_is_three_x_squared(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double v[4] = { 0.5, -1.5, 2, -0.25 };
    nb_tensor *x = nbt_leaf(v, NB_SHAPE(4));
    nb_tensor *z = cube(x);
    assert_true(nb_tensor_requires_grad(z));
    assert_false(nb_tensor_is_leaf(z));
    ASSERT_OK(nb_backward(nb_sum_all(z), NULL));
    double expected[4];
    for (int i = 0; i < 4; i++)
        expected[i] = 3 * v[i] * v[i];
    nbt_assert_close(nb_tensor_grad(x), expected, 4, 1e-15);
    nb_scope_end(s);
}

static void cube_second_and_third_derivatives_come_from_its_backward(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double v[3] = { 0.5, -1.5, 2 };
    nb_tensor *x = nbt_leaf(v, NB_SHAPE(3));
    nb_tensor *f = nb_sum_all(cube(x)), *g1, *g2, *g3;
    nb_backward_opts create = { .create_graph = true };
    ASSERT_OK(nb_grad(&f, NULL, 1, &x, 1, &g1, &create));
    nb_tensor *f2 = nb_sum_all(g1);
    ASSERT_OK(nb_grad(&f2, NULL, 1, &x, 1, &g2, &create));
    nb_tensor *f3 = nb_sum_all(g2);
    ASSERT_OK(nb_grad(&f3, NULL, 1, &x, 1, &g3, NULL));
    nbt_assert_close(g2, (const double[]){ 6 * v[0], 6 * v[1], 6 * v[2] }, 3, 1e-15);
    nbt_assert_close(g3, (const double[]){ 6, 6, 6 }, 3, 1e-15);
    nb_scope_end(s);
}

static nb_tensor *apply_cube(nb_tensor *const *inputs, void *user)
{
    (void)user;
    return cube(inputs[0]);
}

static nb_tensor *apply_cube_transposed(nb_tensor *const *inputs, void *user)
{
    (void)user;
    return nb_mul(cube(nb_transpose(inputs[0], 0, 1)), inputs[1]);
}

static void cube_passes_gradcheck_first_and_second_order(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_gradcheck_opts o = nb_gradcheck_opts_default();
    o.second_order = true;
    nb_tensor *x = nbt_leaf((const double[]){ 0.5, -1.5, 2, -0.25, 0.9, 1.1 }, NB_SHAPE(2, 3));
    ASSERT_OK(nb_gradcheck(apply_cube, NULL, &x, 1, &o));
    nb_tensor *w = nbt_leaf((const double[]){ 1, -2, 0.5, 0.25, 3, -1 }, NB_SHAPE(3, 2));
    ASSERT_OK(nb_gradcheck(apply_cube_transposed, NULL, (nb_tensor *const[]){ x, w }, 2, &o));
    nb_scope_end(s);
}

typedef struct sample_closure {
    const nb_op_def *op;
    const nb_sample *sample;
    int output;
} sample_closure;

static nb_tensor *apply_sample(nb_tensor *const *bases, void *user)
{
    const sample_closure *c = user;
    nb_tensor *out[NB_MAX_OUTPUTS];
    if (nbt_run(c->op, c->sample, bases, out))
        return NULL;
    return out[c->output];
}

/* What the registry harness does for built-ins, done here for the user's ops. */
static void check_samples(const nb_op_def *op, int output)
{
    assert_true(op->n_samples > 0);
    for (int k = 0; k < op->n_samples; k++) {
        const nb_sample *sample = &op->samples[k];
        nb_scope *s = nb_scope_begin();
        nb_rng *rng = nb_rng_new(nbt_seed(op, k));
        nb_tensor *bases[NB_MAX_INPUTS];
        ASSERT_OK(nbt_make_bases(op, sample, NB_F64, rng, bases));
        for (int i = 0; i < op->n_in; i++)
            ASSERT_OK(nb_requires_grad(bases[i], true));
        nb_gradcheck_opts o = nb_gradcheck_opts_default();
        o.second_order = true;
        sample_closure c = { op, sample, output };
        if (nb_gradcheck(apply_sample, &c, bases, op->n_in, &o))
            fail_msg("%s / %s / output %d: %s", op->name, sample->label, output, nb_error());
        nb_rng_free(rng);
        nb_scope_end(s);
    }
}

static void cube_samples_pass_gradcheck(void **state)
{
    (void)state;
    check_samples(&op_cube, 0);
}

/* ---------------------------------------------------------------- split_sign: two outputs */

static void two_output_op_gives_both_outputs(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double v[5] = { 1.5, -2, 0.25, -0.5, 3 };
    nb_tensor *x = nb_tensor_from_data(v, NB_F64, NB_SHAPE(5));
    nb_tensor *out[2];
    ASSERT_OK(nb_apply_multi(nb_op_find("split_sign"), &x, NULL, out));
    nbt_assert_close(out[0], (const double[]){ 1.5, 0, 0.25, 0, 3 }, 5, 0);
    nbt_assert_close(out[1], (const double[]){ 0, -2, 0, -0.5, 0 }, 5, 0);
    assert_ptr_not_equal(nb_tensor_data(out[0]), nb_tensor_data(out[1]));
    /* nb_apply returns one output, so it refuses the op */
    assert_null(nb_apply(&op_split_sign, &x, NULL));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "nb_apply_multi");
    nb_scope_end(s);
}

static void both_outputs_of_a_two_output_op_carry_gradients(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double v[4] = { 1.5, -2, 0.25, -0.5 }, w1[4] = { 1, 2, 3, 4 }, w2[4] = { -1, -2, -3, -4 };
    nb_tensor *x = nbt_leaf(v, NB_SHAPE(2, 2));
    nb_tensor *out[2];
    ASSERT_OK(nb_apply_multi(&op_split_sign, &x, NULL, out));
    assert_true(nb_tensor_requires_grad(out[0]));
    assert_true(nb_tensor_requires_grad(out[1]));
    nb_tensor *a = nb_tensor_from_data(w1, NB_F64, NB_SHAPE(2, 2));
    nb_tensor *b = nb_tensor_from_data(w2, NB_F64, NB_SHAPE(2, 2));
    nb_tensor *loss = nb_add(nb_sum_all(nb_mul(out[0], a)), nb_sum_all(nb_mul(out[1], b)));
    ASSERT_OK(nb_backward(loss, NULL));
    double expected[4];
    for (int i = 0; i < 4; i++)
        expected[i] = v[i] > 0 ? w1[i] : w2[i];
    nbt_assert_close(nb_tensor_grad(x), expected, 4, 0);
    nb_scope_end(s);
}

static void gradient_flows_from_the_one_used_output(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double v[4] = { 1.5, -2, 0.25, -0.5 };
    nb_tensor *x = nbt_leaf(v, NB_SHAPE(4));
    nb_tensor *out[2];
    ASSERT_OK(nb_apply_multi(&op_split_sign, &x, NULL, out));
    /* only the negative part reaches the loss: the rule gets zeros for output 0 */
    ASSERT_OK(nb_backward(nb_sum_all(nb_mul_scalar(out[1], 3)), NULL));
    nbt_assert_close(nb_tensor_grad(x), (const double[]){ 0, 3, 0, 3 }, 4, 0);
    nb_scope_end(s);
}

static nb_tensor *split_combined(nb_tensor *const *inputs, void *user)
{
    (void)user;
    nb_tensor *out[2];
    if (nb_apply_multi(&op_split_sign, inputs, NULL, out))
        return NULL;
    /* both outputs, weighted differently, and through a nonlinearity so that second
     * order has something to check */
    return nb_add(nb_mul(out[0], out[0]), nb_mul_scalar(nb_exp(out[1]), -3));
}

static void two_output_op_passes_gradcheck_first_and_second_order(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 0.5, -1.5, 2, -0.25, 0.9, -1.1 }, NB_SHAPE(3, 2));
    nb_gradcheck_opts o = nb_gradcheck_opts_default();
    o.second_order = true;
    ASSERT_OK(nb_gradcheck(split_combined, NULL, &x, 1, &o));
    nb_scope_end(s);
    check_samples(&op_split_sign, 0);
    check_samples(&op_split_sign, 1);
}

static void custom_ops_appear_by_name_in_graph_pictures(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nbt_leaf((const double[]){ 1, -1 }, NB_SHAPE(2));
    nb_tensor *out[2];
    ASSERT_OK(nb_apply_multi(&op_split_sign, &x, NULL, out));
    nb_tensor *y = nb_sum_all(nb_add(cube(out[0]), out[1]));
    char *text = nbt_graph_dot_text(y);
    ASSERT_CONTAINS(text, "\"cube");
    ASSERT_CONTAINS(text, "\"split_sign");
    free(text);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- a variadic op
 * weighted_sum(x0, ..., xn-1) = sum_i (i + 1) x_i over inputs of one f64 shape (contiguous
 * in this test): a user op that takes any number of inputs, ended by NULL in its rule and
 * kernel. Gradient of input i: (i + 1) gz. */

static nb_status weighted_sum_shape(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    for (int i = 1; x[i]; i++)
        if (nb_tensor_numel(x[i]) != nb_tensor_numel(x[0]))
            return nb_op_error(op, NB_ERR_SHAPE, "input %d has %lld elements, input 0 has %lld", i,
                               (long long)nb_tensor_numel(x[i]), (long long)nb_tensor_numel(x[0]));
    z->dtype = nb_tensor_dtype(x[0]);
    z->rank = nb_tensor_rank(x[0]);
    memcpy(z->shape, nb_tensor_shape(x[0]), (size_t)z->rank * sizeof(int64_t));
    return NB_OK;
}

static nb_status weighted_sum_f64(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    double *out = nb_tensor_data(z[0]);
    int64_t n = nb_tensor_numel(z[0]);
    memset(out, 0, (size_t)n * sizeof *out);
    for (int i = 0; x[i]; i++) {
        const double *in = nb_tensor_data(x[i]);
        for (int64_t j = 0; j < n; j++)
            out[j] += (i + 1) * in[j];
    }
    return NB_OK;
}

static void weighted_sum_backward(nb_backward_ctx *c)
{
    nb_tensor *gz = nb_grad_out(c, 0);
    for (int i = 0; nb_input_meta(c, i); i++)
        if (nb_needs_grad(c, i))
            nb_set_grad_in(c, i, nb_mul_scalar(gz, i + 1));
}

static const nb_op_def weighted_sum_op = {
    .name = "test_weighted_sum", .n_in = 1, .flags = NB_OP_VARIADIC, .shape = weighted_sum_shape,
    .forward = { [NB_F64] = weighted_sum_f64 }, .backward = weighted_sum_backward,
};

static void variadic_op_takes_more_inputs_than_fixed_ops_hold(void **state)
{
    (void)state;
    enum { N = 20 };   /* more than NB_MAX_INPUTS: the engine's per-input arrays grow */
    nb_scope *s = nb_scope_begin();
    nb_tensor *x[N], *z;
    for (int i = 0; i < N; i++) {
        x[i] = nb_full(NB_F64, NB_SHAPE(2, 3), 1.0);
        ASSERT_OK(nb_requires_grad(x[i], true));
    }
    ASSERT_OK(nb_apply_variadic(&weighted_sum_op, x, N, NULL, &z));
    assert_true(nbt_value_at(z, 5) == N * (N + 1) / 2.0);
    ASSERT_OK(nb_backward(nb_sum_all(z), NULL));
    for (int i = 0; i < N; i++)
        assert_true(nbt_value_at(nb_tensor_grad(x[i]), 1) == i + 1.0);
    nb_scope_end(s);
}

static nb_tensor *weighted_sum_of_three(nb_tensor *const *x, void *user)
{
    (void)user;
    nb_tensor *z;
    return nb_apply_variadic(&weighted_sum_op, x, 3, NULL, &z) ? NULL : z;
}

static void variadic_op_passes_gradcheck_and_checks_its_calls(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_rng *rng = nb_rng_new(3);
    nb_tensor *x[3], *z;
    for (int i = 0; i < 3; i++) {
        x[i] = nb_randn(rng, NB_F64, NB_SHAPE(4));
        ASSERT_OK(nb_requires_grad(x[i], true));
    }
    nb_gradcheck_opts o = nb_gradcheck_opts_default();
    o.second_order = true;
    ASSERT_OK(nb_gradcheck(weighted_sum_of_three, NULL, x, 3, &o));
    assert_int_equal(nb_apply_multi(&weighted_sum_op, x, NULL, &z), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "nb_apply_variadic");
    assert_int_equal(nb_apply_variadic(&weighted_sum_op, x, 0, NULL, &z), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "given 0 inputs, the op takes 1 to");
    nb_rng_free(rng);
    nb_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(registered_ops_are_found_by_name_and_counted),
        TEST(registering_a_taken_name_fails),
        TEST(registering_an_incomplete_definition_fails),
        TEST(cube_forward_matches_closed_form_on_strided_f32_and_f64_inputs),
        TEST(cube_rejects_integer_input_naming_the_op),
        TEST(cube_gradient_is_three_x_squared),
        TEST(cube_second_and_third_derivatives_come_from_its_backward),
        TEST(cube_passes_gradcheck_first_and_second_order),
        TEST(cube_samples_pass_gradcheck),
        TEST(two_output_op_gives_both_outputs),
        TEST(both_outputs_of_a_two_output_op_carry_gradients),
        TEST(gradient_flows_from_the_one_used_output),
        TEST(two_output_op_passes_gradcheck_first_and_second_order),
        TEST(custom_ops_appear_by_name_in_graph_pictures),
        TEST(variadic_op_takes_more_inputs_than_fixed_ops_hold),
        TEST(variadic_op_passes_gradcheck_and_checks_its_calls),
        /* last: it adds an op that the other tests' counts do not expect */
        TEST(an_op_registered_without_samples_is_visible_to_the_registry),
    };
    return cmocka_run_group_tests(tests, register_ops, NULL);
}
