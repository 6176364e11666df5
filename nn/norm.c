/* Normalisation layers: BatchNorm1d and LayerNorm, composed from registered ops (the
 * gradient comes from autograd through mean, sub, mul and rsqrt). */
#include <stdio.h>
#include <string.h>

#include "core/error_impl.h"
#include "core/tensor_impl.h"
#include "nabla.h"
#include "nabla/nn.h"

/* ---------------------------------------------------------------- BatchNorm1d */

typedef struct batchnorm_state {
    int64_t features;
    double eps, momentum;
} batchnorm_state;

/* x normalised with mean and var (both shaped to broadcast against x), then scaled. */
static nb_tensor *normalise(nb_module *m, nb_tensor *x, nb_tensor *mean, nb_tensor *var, double eps,
                            int rank, const int64_t *param_shape)
{
    nb_tensor *y = nb_mul(nb_sub(x, mean), nb_pow_scalar(nb_add_scalar(var, eps), -0.5));
    nb_tensor *w = nb_module_get_param(m, "weight"), *b = nb_module_get_param(m, "bias");
    if (w)
        y = nb_add(nb_mul(y, nb_reshape(w, rank, param_shape)), nb_reshape(b, rank, param_shape));
    return y;
}

static nb_tensor *batchnorm_forward(nb_module *m, nb_tensor *x)
{
    const batchnorm_state *s = nb_module_state(m);
    char buf[160];
    if (x->rank < 2 || x->rank > 3 || x->shape[1] != s->features) {
        nbi_error(NB_ERR_SHAPE, "BatchNorm1d: input %s must be [N, %lld] or [N, %lld, L]",
                  nb_shape_str(x->rank, x->shape, buf, sizeof buf), (long long)s->features, (long long)s->features);
        return NULL;
    }
    /* Statistics over every axis but the features (axis 1); shaped [1, C] or [1, C, 1]. */
    int axes[2] = { 0, 2 }, n_axes = x->rank - 1;
    int64_t shape[3] = { 1, s->features, 1 };
    nb_tensor *running_mean = nb_module_get_buffer(m, "running_mean");
    nb_tensor *running_var = nb_module_get_buffer(m, "running_var");
    if (!nb_module_is_training(m))   /* buffers keep their dtype; the input may differ */
        return normalise(m, x, nb_reshape(nb_cast(running_mean, x->dtype), x->rank, shape),
                         nb_reshape(nb_cast(running_var, x->dtype), x->rank, shape), s->eps, x->rank, shape);
    int64_t count = x->numel / s->features;
    if (count < 2) {
        nbi_error(NB_ERR_SHAPE, "BatchNorm1d: training needs more than one value per feature, got input %s",
                  nb_shape_str(x->rank, x->shape, buf, sizeof buf));
        return NULL;
    }
    nb_tensor *mean = nb_mean(x, axes, n_axes, true);
    nb_tensor *var = nb_mean(nb_square(nb_sub(x, mean)), axes, n_axes, true);
    /* running = (1 - momentum) running + momentum batch, with the unbiased variance */
    nb_no_grad_begin();
    nb_dtype kept = nb_tensor_dtype(running_mean);
    nb_tensor *new_mean = nb_add(nb_mul_scalar(running_mean, 1 - s->momentum),
                                 nb_mul_scalar(nb_cast(nb_reshape(mean, 1, &s->features), kept), s->momentum));
    nb_tensor *unbiased = nb_mul_scalar(nb_cast(nb_reshape(var, 1, &s->features), kept),
                                        (double)count / (double)(count - 1));
    nb_tensor *new_var = nb_add(nb_mul_scalar(running_var, 1 - s->momentum), nb_mul_scalar(unbiased, s->momentum));
    nb_status st = new_mean && new_var ? nb_copy_inplace(running_mean, new_mean) : nb_error_code();
    if (!st)
        st = nb_copy_inplace(running_var, new_var);
    nb_no_grad_end();
    return st ? NULL : normalise(m, x, mean, var, s->eps, x->rank, shape);
}

static const nb_module_class batchnorm_class = {
    .name = "BatchNorm1d", .state_size = sizeof(batchnorm_state), .forward = batchnorm_forward,
};

NB_API nb_module *nb_batchnorm1d(int64_t features, double eps, double momentum, bool affine)
{
    if (features < 1 || !(eps > 0) || !(momentum >= 0 && momentum <= 1)) {
        nbi_error(NB_ERR_ARG, "nb_batchnorm1d: features %lld, eps %g, momentum %g: expected features >= 1, eps > 0, "
                  "momentum in [0, 1]", (long long)features, eps, momentum);
        return NULL;
    }
    nb_module *m = nb_module_new(&batchnorm_class);
    if (!m)
        return NULL;
    *(batchnorm_state *)nb_module_state(m) = (batchnorm_state){ features, eps, momentum };
    nb_scope *s = nb_scope_begin();
    nb_status st = NB_OK;
    if (affine) {
        st = nb_module_add_param(m, "weight", nb_ones(NB_F32, NB_SHAPE(features)));
        if (!st)
            st = nb_module_add_param(m, "bias", nb_zeros(NB_F32, NB_SHAPE(features)));
    }
    if (!st)
        st = nb_module_add_buffer(m, "running_mean", nb_zeros(NB_F32, NB_SHAPE(features)));
    if (!st)
        st = nb_module_add_buffer(m, "running_var", nb_ones(NB_F32, NB_SHAPE(features)));
    nb_scope_end(s);
    if (st) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

/* ---------------------------------------------------------------- LayerNorm */

typedef struct layernorm_state {
    int n_axes;
    int64_t shape[NB_MAX_RANK];
    double eps;
} layernorm_state;

static nb_tensor *layernorm_forward(nb_module *m, nb_tensor *x)
{
    const layernorm_state *s = nb_module_state(m);
    char a[160], b[160];
    int lead = x->rank - s->n_axes;
    if (lead < 0 || memcmp(x->shape + lead, s->shape, (size_t)s->n_axes * sizeof *s->shape) != 0) {
        nbi_error(NB_ERR_SHAPE, "LayerNorm: input %s does not end in the normalised shape %s",
                  nb_shape_str(x->rank, x->shape, a, sizeof a), nb_shape_str(s->n_axes, s->shape, b, sizeof b));
        return NULL;
    }
    int axes[NB_MAX_RANK];
    for (int i = 0; i < s->n_axes; i++)
        axes[i] = lead + i;
    nb_tensor *mean = nb_mean(x, axes, s->n_axes, true);
    nb_tensor *var = nb_mean(nb_square(nb_sub(x, mean)), axes, s->n_axes, true);
    return normalise(m, x, mean, var, s->eps, s->n_axes, s->shape);
}

static const nb_module_class layernorm_class = {
    .name = "LayerNorm", .state_size = sizeof(layernorm_state), .forward = layernorm_forward,
};

NB_API nb_module *nb_layernorm(int n_axes, const int64_t *shape, double eps, bool affine)
{
    bool ok = n_axes >= 1 && n_axes <= NB_MAX_RANK && shape && eps > 0;
    for (int i = 0; ok && i < n_axes; i++)
        ok = shape[i] >= 1;
    if (!ok) {
        nbi_error(NB_ERR_ARG, "nb_layernorm: %d normalised axes with eps %g: expected 1 to %d axes of size >= 1, eps > 0",
                  n_axes, eps, NB_MAX_RANK);
        return NULL;
    }
    nb_module *m = nb_module_new(&layernorm_class);
    if (!m)
        return NULL;
    layernorm_state *st_ = nb_module_state(m);
    st_->n_axes = n_axes;
    st_->eps = eps;
    memcpy(st_->shape, shape, (size_t)n_axes * sizeof *shape);
    nb_scope *s = nb_scope_begin();
    nb_status st = NB_OK;
    if (affine) {
        st = nb_module_add_param(m, "weight", nb_ones(NB_F32, n_axes, shape));
        if (!st)
            st = nb_module_add_param(m, "bias", nb_zeros(NB_F32, n_axes, shape));
    }
    nb_scope_end(s);
    if (st) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}
