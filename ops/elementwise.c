/* Elementwise ops: binary arithmetic with broadcasting, scalar variants, comparisons, unary
 * math, and the fused gradients of tanh and sigmoid (the other activations are in
 * activation.c). Kernels live in ops/kernels/elementwise.c; this file says what each op is
 * and how it differentiates. */
#include <stdio.h>

#include "ops/kernels/kernels.h"
#include "ops/registry.h"

/* ---------------------------------------------------------------- samples
 * Shared shapes: equal, row and column broadcast, a rank-0 operand, transposed, strided
 * and expanded (stride 0) layouts. The domain macros keep inputs where ops are smooth. */
#define IN(r, shape_, layout_, lo_, hi_) \
    { .rank = r, .shape = shape_, .layout = layout_, .lo = lo_, .hi = hi_ }
#define S(...) { __VA_ARGS__ }
#define C NB_LAYOUT_CONTIGUOUS
#define T NB_LAYOUT_TRANSPOSED
#define ST NB_LAYOUT_STRIDED
#define E NB_LAYOUT_EXPANDED

#define BINARY_SAMPLES(name, lx, hx, ly, hy)                                                     \
    static const nb_sample name[] = {                                                            \
        { .label = "same shape", .in = { IN(2, S(3, 4), C, lx, hx), IN(2, S(3, 4), C, ly, hy) } },               \
        { .label = "row broadcast", .in = { IN(2, S(3, 4), C, lx, hx), IN(1, S(4), C, ly, hy) } },               \
        { .label = "outer broadcast", .in = { IN(2, S(3, 1), C, lx, hx), IN(2, S(1, 4), C, ly, hy) } },          \
        { .label = "rank-0 operand", .in = { IN(2, S(2, 3), C, lx, hx), IN(0, S(0), C, ly, hy) } },              \
        { .label = "transposed and strided", .in = { IN(2, S(4, 3), T, lx, hx), IN(2, S(4, 3), ST, ly, hy) } },  \
        { .label = "expanded", .in = { IN(2, S(3, 4), E, lx, hx), IN(3, S(2, 3, 4), T, ly, hy) } },              \
        { .label = "rank 3 with column", .in = { IN(3, S(2, 3, 5), ST, lx, hx), IN(2, S(3, 1), C, ly, hy) } },   \
    }

#define UNARY_SAMPLES(name, lo, hi, min_abs_)                                                      \
    static const nb_sample name[] = {                                                            \
        { .label = "matrix", .in = { { 2, S(3, 4), C, lo, hi, min_abs_, false } } },                            \
        { .label = "rank 0", .in = { { 0, S(0), C, lo, hi, min_abs_, false } } },                               \
        { .label = "transposed", .in = { { 2, S(5, 3), T, lo, hi, min_abs_, false } } },                        \
        { .label = "strided rank 3", .in = { { 3, S(2, 3, 4), ST, lo, hi, min_abs_, false } } },                \
        { .label = "expanded", .in = { { 2, S(4, 3), E, lo, hi, min_abs_, false } } },                          \
    }

BINARY_SAMPLES(samples_any, -2, 2, -2, 2);
BINARY_SAMPLES(samples_div, -2, 2, 0.5, 2);
BINARY_SAMPLES(samples_pow, 0.5, 2, -1.5, 1.5);
BINARY_SAMPLES(samples_tanh_backward, -2, 2, -0.9, 0.9);
BINARY_SAMPLES(samples_sigmoid_backward, -2, 2, 0.05, 0.95);
UNARY_SAMPLES(samples_unary, -2, 2, 0);
UNARY_SAMPLES(samples_positive, 0.1, 3, 0);
UNARY_SAMPLES(samples_kinked, -2, 2, 0.05);   /* abs, sign: away from 0 */

#define SAMPLES(arr) .samples = arr, .n_samples = (int)(sizeof arr / sizeof arr[0])
#define KERNELS(name) .forward = { [NB_F32] = nbk_##name##_f32, [NB_F64] = nbk_##name##_f64 }

static int format_scalar(const void *attrs, char *buf, size_t size)
{
    return snprintf(buf, size, "{\"s\": %.17g}", ((const nbk_scalar_attrs *)attrs)->s);
}

/* ---------------------------------------------------------------- binary arithmetic
 * nb_set_grad_in sums each gradient back over the axes its input was broadcast along. */

static void add_backward(nb_backward_ctx *c)
{
    nb_tensor *gz = nb_grad_out(c, 0);
    if (nb_needs_grad(c, 0)) nb_set_grad_in(c, 0, gz);
    if (nb_needs_grad(c, 1)) nb_set_grad_in(c, 1, gz);
}

static void sub_backward(nb_backward_ctx *c)
{
    nb_tensor *gz = nb_grad_out(c, 0);
    if (nb_needs_grad(c, 0)) nb_set_grad_in(c, 0, gz);
    if (nb_needs_grad(c, 1)) nb_set_grad_in(c, 1, nb_neg(gz));
}

/* d(xy) = y dx + x dy */
static void mul_backward(nb_backward_ctx *c)
{
    nb_tensor *x = nb_saved_input(c, 0), *y = nb_saved_input(c, 1), *gz = nb_grad_out(c, 0);
    if (nb_needs_grad(c, 0)) nb_set_grad_in(c, 0, nb_mul(gz, y));
    if (nb_needs_grad(c, 1)) nb_set_grad_in(c, 1, nb_mul(gz, x));
}

/* d(x/y) = dx / y - x dy / y^2 */
static void div_backward(nb_backward_ctx *c)
{
    nb_tensor *x = nb_saved_input(c, 0), *y = nb_saved_input(c, 1), *gz = nb_grad_out(c, 0);
    if (nb_needs_grad(c, 0)) nb_set_grad_in(c, 0, nb_div(gz, y));
    if (nb_needs_grad(c, 1)) nb_set_grad_in(c, 1, nb_neg(nb_div(nb_mul(gz, x), nb_square(y))));
}

/* d(x^y) = y x^(y-1) dx + x^y log(x) dy */
static void pow_backward(nb_backward_ctx *c)
{
    nb_tensor *x = nb_saved_input(c, 0), *y = nb_saved_input(c, 1), *gz = nb_grad_out(c, 0);
    if (nb_needs_grad(c, 0))
        nb_set_grad_in(c, 0, nb_mul(gz, nb_mul(y, nb_pow(x, nb_add_scalar(y, -1)))));
    if (nb_needs_grad(c, 1))
        nb_set_grad_in(c, 1, nb_mul(gz, nb_mul(nb_pow(x, y), nb_log(x))));
}

/* The gradient goes to the larger (smaller) input; ties split it in halves, as in PyTorch. */
static void extremum_backward(nb_backward_ctx *c, nb_tensor *(*wins)(nb_tensor *, nb_tensor *))
{
    nb_tensor *x = nb_saved_input(c, 0), *y = nb_saved_input(c, 1), *gz = nb_grad_out(c, 0);
    nb_tensor *share_x = nb_add(wins(x, y), nb_mul_scalar(nb_eq(x, y), 0.5));
    if (nb_needs_grad(c, 0)) nb_set_grad_in(c, 0, nb_mul(gz, share_x));
    if (nb_needs_grad(c, 1)) nb_set_grad_in(c, 1, nb_mul(gz, nb_rsub_scalar(share_x, 1)));
}

static void maximum_backward(nb_backward_ctx *c)
{
    extremum_backward(c, nb_gt);
}

static void minimum_backward(nb_backward_ctx *c)
{
    extremum_backward(c, nb_lt);
}

#define BINARY_OP(op_name, rule, samples_, saves_)                                  \
    static const nb_op_def op_##op_name = {                                      \
        .name = #op_name, .n_in = 2, .shape = nbi_rule_broadcast,                \
        KERNELS(op_name), .saves = saves_, .backward = rule, SAMPLES(samples_),  \
    };                                                                           \
    NB_API nb_tensor *nb_##op_name(nb_tensor *x, nb_tensor *y)                   \
    {                                                                            \
        return nbi_apply2(&op_##op_name, x, y, NULL);                            \
    }

#define SAVES_XY (NB_SAVE_INPUT(0) | NB_SAVE_INPUT(1))
BINARY_OP(add, add_backward, samples_any, 0)
BINARY_OP(sub, sub_backward, samples_any, 0)
BINARY_OP(mul, mul_backward, samples_any, SAVES_XY)
BINARY_OP(div, div_backward, samples_div, SAVES_XY)
BINARY_OP(pow, pow_backward, samples_pow, SAVES_XY)
BINARY_OP(maximum, maximum_backward, samples_any, SAVES_XY)
BINARY_OP(minimum, minimum_backward, samples_any, SAVES_XY)

/* Comparisons: masks, no backward rule (their outputs never require grad). */
BINARY_OP(eq, NULL, samples_any, 0)
BINARY_OP(ne, NULL, samples_any, 0)
BINARY_OP(lt, NULL, samples_any, 0)
BINARY_OP(le, NULL, samples_any, 0)
BINARY_OP(gt, NULL, samples_any, 0)
BINARY_OP(ge, NULL, samples_any, 0)

/* ---------------------------------------------------------------- fused activation gradients */

/* tanh_backward(gz, z) = gz (1 - z^2): d/dgz is itself, d/dz = -2 z gz. */
static void tanh_backward_backward(nb_backward_ctx *c)
{
    nb_tensor *gz = nb_saved_input(c, 0), *z = nb_saved_input(c, 1), *g = nb_grad_out(c, 0);
    if (nb_needs_grad(c, 0)) nb_set_grad_in(c, 0, nb_tanh_backward(g, z));
    if (nb_needs_grad(c, 1)) nb_set_grad_in(c, 1, nb_mul(nb_mul(g, gz), nb_mul_scalar(z, -2)));
}

/* sigmoid_backward(gz, z) = gz z (1 - z): d/dz = gz (1 - 2 z). */
static void sigmoid_backward_backward(nb_backward_ctx *c)
{
    nb_tensor *gz = nb_saved_input(c, 0), *z = nb_saved_input(c, 1), *g = nb_grad_out(c, 0);
    if (nb_needs_grad(c, 0)) nb_set_grad_in(c, 0, nb_sigmoid_backward(g, z));
    if (nb_needs_grad(c, 1)) nb_set_grad_in(c, 1, nb_mul(nb_mul(g, gz), nb_rsub_scalar(nb_mul_scalar(z, 2), 1)));
}

BINARY_OP(tanh_backward, tanh_backward_backward, samples_tanh_backward, SAVES_XY)
BINARY_OP(sigmoid_backward, sigmoid_backward_backward, samples_sigmoid_backward, SAVES_XY)

/* ---------------------------------------------------------------- with a scalar */

static double scalar_of(nb_backward_ctx *c)
{
    return ((const nbk_scalar_attrs *)nb_attrs(c))->s;
}

static void add_scalar_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_grad_out(c, 0));
}

static void mul_scalar_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_mul_scalar(nb_grad_out(c, 0), scalar_of(c)));
}

/* d(x^p) = p x^(p-1) dx */
static void pow_scalar_backward(nb_backward_ctx *c)
{
    double p = scalar_of(c);
    if (p == 0)
        return;   /* x^0 = 1: zero gradient, also at x = 0, where p x^(p-1) is 0 * inf (as PyTorch) */
    nb_tensor *x = nb_saved_input(c, 0);
    nb_set_grad_in(c, 0, nb_mul(nb_grad_out(c, 0), nb_mul_scalar(nb_pow_scalar(x, p - 1), p)));
}

static void rsub_scalar_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_neg(nb_grad_out(c, 0)));
}

static const nb_sample samples_scalar[] = {
    { .label = "matrix", .in = { IN(2, S(3, 4), C, 0.2, 2) }, .attrs = &(const nbk_scalar_attrs){ 1.5 } },
    { .label = "transposed", .in = { IN(2, S(4, 3), T, 0.2, 2) }, .attrs = &(const nbk_scalar_attrs){ -0.75 } },
    { .label = "rank 0, square", .in = { IN(0, S(0), C, 0.2, 2) }, .attrs = &(const nbk_scalar_attrs){ 2 } },
    { .label = "strided, zero", .in = { IN(3, S(2, 2, 3), ST, 0.2, 2) }, .attrs = &(const nbk_scalar_attrs){ 0 } },
};

#define SCALAR_OP(op_name, rule, saves_)                                                  \
    static const nb_op_def op_##op_name = {                                            \
        .name = #op_name, .n_in = 1, .attr_size = sizeof(nbk_scalar_attrs),            \
        .shape = nbi_rule_unary, KERNELS(op_name), .saves = saves_, .backward = rule,  \
        .format_attrs = format_scalar, SAMPLES(samples_scalar),                        \
    };                                                                                 \
    NB_API nb_tensor *nb_##op_name(nb_tensor *x, double s)                             \
    {                                                                                  \
        return nbi_apply1(&op_##op_name, x, &(nbk_scalar_attrs){ s });                \
    }

SCALAR_OP(add_scalar, add_scalar_backward, 0)
SCALAR_OP(mul_scalar, mul_scalar_backward, 0)
SCALAR_OP(pow_scalar, pow_scalar_backward, NB_SAVE_INPUT(0))
SCALAR_OP(rsub_scalar, rsub_scalar_backward, 0)

/* ---------------------------------------------------------------- unary */

static void neg_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_neg(nb_grad_out(c, 0)));
}

/* d exp(x) = exp(x) dx: reads the output, not the input. */
static void exp_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_mul(nb_grad_out(c, 0), nb_saved_output(c, 0)));
}

static void log_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_div(nb_grad_out(c, 0), nb_saved_input(c, 0)));
}

/* d sqrt(x) = dx / (2 sqrt(x)) */
static void sqrt_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_div(nb_grad_out(c, 0), nb_mul_scalar(nb_saved_output(c, 0), 2)));
}

static void tanh_backward_rule(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_tanh_backward(nb_grad_out(c, 0), nb_saved_output(c, 0)));
}

static void sigmoid_backward_rule(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_sigmoid_backward(nb_grad_out(c, 0), nb_saved_output(c, 0)));
}

static void abs_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_mul(nb_grad_out(c, 0), nb_sign(nb_saved_input(c, 0))));
}

/* Piecewise constant: the gradient is zero, so nothing is set. */
static void zero_backward(nb_backward_ctx *c)
{
    (void)c;
}

static void square_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_mul(nb_grad_out(c, 0), nb_mul_scalar(nb_saved_input(c, 0), 2)));
}

#define UNARY_OP(op_name, rule, samples_, saves_)                                        \
    static const nb_op_def op_##op_name = {                                           \
        .name = #op_name, .n_in = 1, .shape = nbi_rule_unary, KERNELS(op_name),       \
        .saves = saves_, .backward = rule, SAMPLES(samples_),                         \
    };                                                                                \
    NB_API nb_tensor *nb_##op_name(nb_tensor *x)                                      \
    {                                                                                 \
        return nbi_apply1(&op_##op_name, x, NULL);                                    \
    }

UNARY_OP(neg, neg_backward, samples_unary, 0)
UNARY_OP(exp, exp_backward, samples_unary, NB_SAVE_OUTPUT(0))
UNARY_OP(log, log_backward, samples_positive, NB_SAVE_INPUT(0))
UNARY_OP(sqrt, sqrt_backward, samples_positive, NB_SAVE_OUTPUT(0))
UNARY_OP(tanh, tanh_backward_rule, samples_unary, NB_SAVE_OUTPUT(0))
UNARY_OP(sigmoid, sigmoid_backward_rule, samples_unary, NB_SAVE_OUTPUT(0))
UNARY_OP(abs, abs_backward, samples_kinked, NB_SAVE_INPUT(0))
UNARY_OP(sign, zero_backward, samples_kinked, 0)
UNARY_OP(square, square_backward, samples_unary, NB_SAVE_INPUT(0))

const nb_op_def *const nbi_elementwise_ops[] = {
    &op_add, &op_sub, &op_mul, &op_div, &op_pow, &op_maximum, &op_minimum,
    &op_eq, &op_ne, &op_lt, &op_le, &op_gt, &op_ge,
    &op_tanh_backward, &op_sigmoid_backward,
    &op_add_scalar, &op_mul_scalar, &op_pow_scalar, &op_rsub_scalar,
    &op_neg, &op_exp, &op_log, &op_sqrt, &op_tanh, &op_sigmoid, &op_abs, &op_sign, &op_square,
    NULL,
};
