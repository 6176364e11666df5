/* Random ops: dropout and bernoulli. Kernels in ops/kernels/random.c.
 *
 * A random op draws nothing itself: its public function takes one 64-bit key from the
 * caller's generator and passes it as an attribute, and the kernel derives every element's
 * draw from (key, index) (core/rng_impl.h). So a recorded op is a pure function of its
 * inputs and attributes: gradcheck, which runs an op many times, sees one mask; and results
 * are the same for every thread count. The in-place fills nb_normal_inplace and
 * nb_uniform_inplace are not ops (nothing to differentiate); they live in core/rng.c. */
#include <stdio.h>
#include <string.h>

#include "ops/kernels/random.h"
#include "ops/registry.h"

#define S(...) { __VA_ARGS__ }
#define SAMPLES(arr) .samples = arr, .n_samples = (int)(sizeof arr / sizeof arr[0])
#define KERNELS(name) .forward = { [NB_F32] = nbk_##name##_f32, [NB_F64] = nbk_##name##_f64 }
#define IN(r, shape_, layout_, lo_, hi_) { .rank = r, .shape = shape_, .layout = layout_, .lo = lo_, .hi = hi_ }
#define C NB_LAYOUT_CONTIGUOUS

static int format_dropout(const void *attrs, char *buf, size_t size)
{
    const nbk_dropout_attrs *a = attrs;
    return snprintf(buf, size, "{\"p\": %.17g, \"key\": %llu}", a->p, (unsigned long long)a->key);
}

static int format_bernoulli(const void *attrs, char *buf, size_t size)
{
    return snprintf(buf, size, "{\"key\": %llu}", (unsigned long long)((const nbk_bernoulli_attrs *)attrs)->key);
}

/* ---------------------------------------------------------------- dropout */

/* Two outputs of x's shape: z and the scaled mask m (0 or 1 / (1 - p)), which backward reads. */
static nb_status dropout_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const nbk_dropout_attrs *a = attrs;
    nb_status st = nbi_check_float(op, x, 0);
    if (st)
        return st;
    if (!(a->p >= 0 && a->p <= 1))
        return nb_op_error(op, NB_ERR_ARG, "probability %g is outside [0, 1]", a->p);
    for (int i = 0; i < 2; i++) {
        z[i].dtype = x[0]->dtype;
        z[i].rank = x[0]->rank;
        memcpy(z[i].shape, x[0]->shape, sizeof z[i].shape);
    }
    return NB_OK;
}

/* dz/dx = m: the saved mask, not a new draw. The mask does not depend on x, so the gradient
 * reaching it (output 1) goes nowhere; it is detached so that a second backward does not
 * compute that gradient at all. */
static void dropout_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_mul(nb_grad_out(c, 0), nb_detach(nb_saved_output(c, 1))));
}

static const nb_sample samples_dropout[] = {
    { .label = "matrix, p 0.3", .in = { IN(2, S(6, 5), C, -2, 2) }, .attrs = &(const nbk_dropout_attrs){ 0.3, 11 } },
    { .label = "transposed, p 0.5", .in = { IN(2, S(5, 4), NB_LAYOUT_TRANSPOSED, -2, 2) },
      .attrs = &(const nbk_dropout_attrs){ 0.5, 12 } },
    { .label = "strided rank 3, p 0.2", .in = { IN(3, S(2, 3, 4), NB_LAYOUT_STRIDED, -2, 2) },
      .attrs = &(const nbk_dropout_attrs){ 0.2, 13 } },
    { .label = "expanded, p 0.6", .in = { IN(2, S(4, 3), NB_LAYOUT_EXPANDED, -2, 2) },
      .attrs = &(const nbk_dropout_attrs){ 0.6, 14 } },
    { .label = "rank 0, p 0.25", .in = { IN(0, S(0), C, -2, 2) }, .attrs = &(const nbk_dropout_attrs){ 0.25, 15 } },
    { .label = "p 0 keeps all", .in = { IN(2, S(3, 4), C, -2, 2) }, .attrs = &(const nbk_dropout_attrs){ 0, 16 } },
    { .label = "p 1 drops all", .in = { IN(2, S(3, 4), C, -2, 2) }, .attrs = &(const nbk_dropout_attrs){ 1, 17 } },
};

static const nb_op_def op_dropout = {
    .name = "dropout", .n_in = 1, .n_out = 2, .attr_size = sizeof(nbk_dropout_attrs), .shape = dropout_rule,
    KERNELS(dropout), .saves = NB_SAVE_OUTPUT(1), .backward = dropout_backward, .format_attrs = format_dropout,
    SAMPLES(samples_dropout),
};

NB_API nb_tensor *nb_dropout(nb_tensor *x, double p, bool training, nb_rng *rng)
{
    if (!x) {
        nbi_error_keep(NB_ERR_NULL, "nb_dropout: input is NULL");
        return NULL;
    }
    if (!(p >= 0 && p <= 1)) {
        nbi_error(NB_ERR_ARG, "nb_dropout: probability %g is outside [0, 1]", p);
        return NULL;
    }
    if (!training || p == 0)   /* as PyTorch: the input itself, and no draw */
        return nbi_scope_add(nb_retain(x));
    if (nbi_check_float(&op_dropout, (nb_tensor *const[]){ x }, 0))
        return NULL;   /* before the draw: a failed call leaves the generator alone */
    /* With p = 1 every element is dropped whatever the key, so none is drawn (as PyTorch,
     * which draws nothing for p = 1). */
    nbk_dropout_attrs a = { p, p == 1 ? 0 : nb_rng_next(rng) };
    nb_tensor *z[2];
    return nb_apply_multi(&op_dropout, (nb_tensor *const[]){ x }, &a, z) ? NULL : z[0];
}

/* ---------------------------------------------------------------- bernoulli */

static const nb_sample samples_bernoulli[] = {
    { .label = "matrix", .in = { IN(2, S(6, 5), C, 0.05, 0.95) }, .attrs = &(const nbk_bernoulli_attrs){ 21 } },
    { .label = "transposed", .in = { IN(2, S(5, 4), NB_LAYOUT_TRANSPOSED, 0.05, 0.95) },
      .attrs = &(const nbk_bernoulli_attrs){ 22 } },
    { .label = "strided rank 3", .in = { IN(3, S(2, 3, 4), NB_LAYOUT_STRIDED, 0.05, 0.95) },
      .attrs = &(const nbk_bernoulli_attrs){ 23 } },
    { .label = "expanded", .in = { IN(2, S(4, 3), NB_LAYOUT_EXPANDED, 0.05, 0.95) },
      .attrs = &(const nbk_bernoulli_attrs){ 24 } },
    { .label = "rank 0", .in = { IN(0, S(0), C, 0.05, 0.95) }, .attrs = &(const nbk_bernoulli_attrs){ 25 } },
};

/* No backward rule: the draws are not differentiable in p (PyTorch returns a zero gradient;
 * nabla's output simply does not require grad). */
static const nb_op_def op_bernoulli = {
    .name = "bernoulli", .n_in = 1, .attr_size = sizeof(nbk_bernoulli_attrs), .shape = nbi_rule_unary,
    KERNELS(bernoulli), .format_attrs = format_bernoulli, SAMPLES(samples_bernoulli),
};

NB_API nb_tensor *nb_bernoulli(nb_tensor *p, nb_rng *rng)
{
    if (!p) {
        nbi_error_keep(NB_ERR_NULL, "nb_bernoulli: input is NULL");
        return NULL;
    }
    if (nbi_check_float(&op_bernoulli, (nb_tensor *const[]){ p }, 0))
        return NULL;
    return nbi_apply1(&op_bernoulli, p, &(nbk_bernoulli_attrs){ nb_rng_next(rng) });
}

const nb_op_def *const nbi_random_ops[] = { &op_dropout, &op_bernoulli, NULL };
