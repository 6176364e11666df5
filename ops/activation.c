/* Activation functions (tanh and sigmoid live with the elementwise math) and their fused
 * gradients, each itself differentiable. Kernels in ops/kernels/elementwise.c. */
#include "ops/kernels/kernels.h"
#include "ops/registry.h"

#define S(...) { __VA_ARGS__ }
#define SAMPLES(arr) .samples = arr, .n_samples = (int)(sizeof arr / sizeof arr[0])
#define KERNELS(name) .forward = { [NB_F32] = nbk_##name##_f32, [NB_F64] = nbk_##name##_f64 }

/* Inputs stay 0.05 away from the kink at 0, where finite differences would straddle it. */
static const nb_sample samples_relu[] = {
    { .label = "matrix", .in = { { .rank = 2, .shape = S(3, 4), .lo = -2, .hi = 2, .min_abs = 0.05 } } },
    { .label = "rank 0", .in = { { .rank = 0, .lo = -2, .hi = 2, .min_abs = 0.05 } } },
    { .label = "transposed", .in = { { .rank = 2, .shape = S(5, 3), .layout = NB_LAYOUT_TRANSPOSED, .lo = -2, .hi = 2, .min_abs = 0.05 } } },
    { .label = "strided rank 3", .in = { { .rank = 3, .shape = S(2, 3, 4), .layout = NB_LAYOUT_STRIDED, .lo = -2, .hi = 2, .min_abs = 0.05 } } },
    { .label = "expanded", .in = { { .rank = 2, .shape = S(4, 3), .layout = NB_LAYOUT_EXPANDED, .lo = -2, .hi = 2, .min_abs = 0.05 } } },
};

static const nb_sample samples_relu_backward[] = {
    { .label = "same shape", .in = { { .rank = 2, .shape = S(3, 4), .lo = -2, .hi = 2 },
                                     { .rank = 2, .shape = S(3, 4), .lo = -2, .hi = 2, .min_abs = 0.05 } } },
    { .label = "transposed", .in = { { .rank = 2, .shape = S(4, 3), .layout = NB_LAYOUT_TRANSPOSED, .lo = -2, .hi = 2 },
                                     { .rank = 2, .shape = S(4, 3), .layout = NB_LAYOUT_STRIDED, .lo = -2, .hi = 2, .min_abs = 0.05 } } },
};

/* relu(x) = max(x, 0); gradient relu_backward(gz, x) = gz (x > 0), 0 at 0 as PyTorch. */
static void relu_backward_rule(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_relu_backward(nb_grad_out(c, 0), nb_saved_input(c, 0)));
}

/* relu_backward(gz, x) is linear in gz and flat in x. */
static void relu_backward_backward(nb_backward_ctx *c)
{
    if (nb_needs_grad(c, 0))
        nb_set_grad_in(c, 0, nb_relu_backward(nb_grad_out(c, 0), nb_saved_input(c, 1)));
}

static const nb_op_def op_relu = {
    .name = "relu", .n_in = 1, .shape = nbi_rule_unary, KERNELS(relu), .saves = NB_SAVE_INPUT(0),
    .backward = relu_backward_rule, SAMPLES(samples_relu),
};

static const nb_op_def op_relu_backward = {
    .name = "relu_backward", .n_in = 2, .shape = nbi_rule_broadcast, KERNELS(relu_backward),
    .saves = NB_SAVE_INPUT(1), .backward = relu_backward_backward, SAMPLES(samples_relu_backward),
};

NB_API nb_tensor *nb_relu(nb_tensor *x)
{
    return nbi_apply1(&op_relu, x, NULL);
}

NB_API nb_tensor *nb_relu_backward(nb_tensor *gz, nb_tensor *x)
{
    return nbi_apply2(&op_relu_backward, gz, x, NULL);
}

const nb_op_def *const nbi_activation_ops[] = { &op_relu, &op_relu_backward, NULL };
