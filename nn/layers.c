/* The basic layers: Linear, Flatten, Identity, activation modules, Sequential. Each
 * forward is a composition of registered ops; autograd differentiates it. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "core/error_impl.h"
#include "core/tensor_impl.h"
#include "nabla.h"
#include "nabla/nn.h"

/* ---------------------------------------------------------------- Linear */

typedef struct linear_state {
    int64_t in, out;
} linear_state;

static nb_tensor *linear_forward(nb_module *m, nb_tensor *x)
{
    nb_tensor *w = nb_module_get_param(m, "weight"), *b = nb_module_get_param(m, "bias");
    nb_tensor *y = nb_matmul(x, nb_transpose(w, 0, 1));
    return b ? nb_add(y, b) : y;
}

static int linear_describe(const nb_module *m, char *buf, size_t size)
{
    const linear_state *s = nb_module_state(m);
    return snprintf(buf, size, "in_features=%lld, out_features=%lld, bias=%s", (long long)s->in, (long long)s->out,
                    nb_module_get_param(m, "bias") ? "true" : "false");
}

static const nb_module_class linear_class = {
    .name = "Linear", .state_size = sizeof(linear_state), .forward = linear_forward, .describe = linear_describe,
};

NB_API nb_module *nb_linear(int64_t in_features, int64_t out_features, bool bias, nb_rng *rng)
{
    if (in_features < 1 || out_features < 1) {
        nbi_error(NB_ERR_ARG, "nb_linear: sizes in=%lld, out=%lld must both be at least 1", (long long)in_features,
                  (long long)out_features);
        return NULL;
    }
    nb_module *m = nb_module_new(&linear_class);
    if (!m)
        return NULL;
    *(linear_state *)nb_module_state(m) = (linear_state){ in_features, out_features };
    /* PyTorch: kaiming_uniform_(weight, a=sqrt(5)) gives bound 1/sqrt(in); the bias uses
     * the same bound. */
    double bound = 1.0 / sqrt((double)in_features);
    nb_scope *s = nb_scope_begin();
    nb_status st = nb_module_add_param(m, "weight", nb_uniform(rng, NB_F32, NB_SHAPE(out_features, in_features),
                                                               -bound, bound));
    if (!st && bias)
        st = nb_module_add_param(m, "bias", nb_uniform(rng, NB_F32, NB_SHAPE(out_features), -bound, bound));
    nb_scope_end(s);
    if (st) {
        nb_module_free(m);
        return NULL;
    }
    return m;
}

/* ---------------------------------------------------------------- Flatten, Identity */

typedef struct flatten_state {
    int start, end;
} flatten_state;

static nb_tensor *flatten_forward(nb_module *m, nb_tensor *x)
{
    const flatten_state *s = nb_module_state(m);
    return nb_flatten(x, s->start, s->end);
}

static const nb_module_class flatten_class = {
    .name = "Flatten", .state_size = sizeof(flatten_state), .forward = flatten_forward,
};

NB_API nb_module *nb_flatten_module(int start_axis, int end_axis)
{
    nb_module *m = nb_module_new(&flatten_class);
    if (m)
        *(flatten_state *)nb_module_state(m) = (flatten_state){ start_axis, end_axis };
    return m;
}

/* The output is the input itself, as a new reference. */
static nb_tensor *identity_forward(nb_module *m, nb_tensor *x)
{
    (void)m;
    return nbi_scope_add(nb_retain(x));
}

static const nb_module_class identity_class = { .name = "Identity", .forward = identity_forward };

NB_API nb_module *nb_identity(void)
{
    return nb_module_new(&identity_class);
}

/* ---------------------------------------------------------------- activations */

#define ACTIVATION_MODULE(fn, class_name, op)                                    \
    static nb_tensor *fn##_forward(nb_module *m, nb_tensor *x)                  \
    {                                                                           \
        (void)m;                                                                \
        return op(x);                                                           \
    }                                                                           \
    static const nb_module_class fn##_class = { .name = class_name, .forward = fn##_forward }; \
    NB_API nb_module *nb_##fn##_module(void)                                    \
    {                                                                           \
        return nb_module_new(&fn##_class);                                      \
    }

ACTIVATION_MODULE(relu, "ReLU", nb_relu)
ACTIVATION_MODULE(sigmoid, "Sigmoid", nb_sigmoid)
ACTIVATION_MODULE(tanh, "Tanh", nb_tanh)

/* ---------------------------------------------------------------- Sequential */

static nb_tensor *sequential_forward(nb_module *m, nb_tensor *x)
{
    char name[16];
    for (int i = 0;; i++) {
        snprintf(name, sizeof name, "%d", i);
        nb_module *layer = nb_module_get_child(m, name);
        if (!layer)
            return x;
        x = nb_module_forward(layer, x);
    }
}

static const nb_module_class sequential_class = { .name = "Sequential", .forward = sequential_forward };

NB_API nb_module *nb_sequential_new(void)
{
    return nb_module_new(&sequential_class);
}

NB_API nb_status nb_sequential_add_steal(nb_module *seq, nb_module *layer)
{
    if (!seq || nb_module_class_of(seq) != &sequential_class) {
        nb_module_free(layer);
        return seq ? nbi_error(NB_ERR_ARG, "nb_sequential_add_steal: the module is a %s, not a Sequential",
                               nb_module_class_of(seq)->name)
                   : nbi_error_keep(NB_ERR_NULL, "nb_sequential_add_steal: module is NULL");
    }
    char name[16];
    int n = 0;
    do
        snprintf(name, sizeof name, "%d", n++);
    while (nb_module_get_child(seq, name));
    return nb_module_add_child_steal(seq, name, layer);
}

NB_API nb_module *nb_sequential(int n, ...)
{
    nb_module *seq = n >= 0 ? nb_sequential_new() : NULL;
    nb_status st = seq ? NB_OK : nb_error_code();
    if (n < 0)
        st = nbi_error(NB_ERR_ARG, "nb_sequential: layer count %d is negative", n);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        nb_module *layer = va_arg(ap, nb_module *);
        if (st) {
            nb_module_free(layer);
            continue;
        }
        if (!layer)
            st = nbi_error_keep(NB_ERR_NULL, "nb_sequential: layer %d is NULL", i);
        else
            st = nb_sequential_add_steal(seq, layer);
    }
    va_end(ap);
    if (st) {
        nb_module_free(seq);
        return NULL;
    }
    return seq;
}
