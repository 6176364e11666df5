/* Per-tensor autograd state (requires_grad, .grad, hooks, detach) and the per-thread modes
 * (grad mode, call site) and process-wide anomaly mode. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/node.h"
#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/iter.h"
#include "nabla.h"

/* ---------------------------------------------------------------- grad mode */

/* Bit i of saved_modes is the mode before the (i+1)-th innermost nb_no_grad_begin. */
static _Thread_local bool grad_disabled;
static _Thread_local uint64_t saved_modes;
static _Thread_local int no_grad_depth;

NB_API void nb_no_grad_begin(void)
{
    if (no_grad_depth < 64)
        saved_modes = (saved_modes << 1) | grad_disabled;
    no_grad_depth++;
    grad_disabled = true;
}

NB_API void nb_no_grad_end(void)
{
    if (no_grad_depth == 0) {
        nbi_error(NB_ERR_STATE, "nb_no_grad_end: no nb_no_grad_begin is open");
        return;
    }
    no_grad_depth--;
    if (no_grad_depth < 64) {
        grad_disabled = saved_modes & 1;
        saved_modes >>= 1;
    }
}

NB_API bool nb_grad_enabled(void)
{
    return !grad_disabled;
}

bool nbi_grad_enabled(void)
{
    return !grad_disabled;
}

bool nbi_set_grad_enabled(bool enabled)
{
    bool old = !grad_disabled;
    grad_disabled = !enabled;
    return old;
}

/* ---------------------------------------------------------------- anomaly mode and call sites */

static int anomaly = -1;   /* -1: not yet read from the environment */

NB_API void nb_set_anomaly_mode(bool on)
{
    anomaly = on;
}

NB_API bool nb_anomaly_mode(void)
{
    if (anomaly < 0) {
        const char *v = getenv("NB_ANOMALY");
        anomaly = v && *v && strcmp(v, "0") != 0;
    }
    return anomaly;
}

bool nbi_anomaly_enabled(void)
{
    return nb_anomaly_mode();
}

static _Thread_local const char *site_file;
static _Thread_local int site_line;

NB_API void nb_set_call_site(const char *file, int line)
{
    site_file = file;
    site_line = line;
}

void nbi_call_site(const char **file, int *line)
{
    *file = site_file;
    *line = site_line;
}

typedef struct finite_ctx {
    const char *base;
    nb_dtype dtype;
    bool bad;
} finite_ctx;

static void finite_row(void *ctx, const int64_t *off, const int64_t *st, int64_t n)
{
    finite_ctx *c = ctx;
    bool bad = false;
    if (c->dtype == NB_F32) {
        const float *x = (const float *)c->base + off[0];
        for (int64_t i = 0; i < n; i++)
            bad |= !isfinite(x[i * st[0]]);
    } else {
        const double *x = (const double *)c->base + off[0];
        for (int64_t i = 0; i < n; i++)
            bad |= !isfinite(x[i * st[0]]);
    }
    if (bad)
        c->bad = true;   /* threads only ever store true: the race is benign */
}

bool nbi_has_nonfinite(const nb_tensor *t)
{
    if (t->dtype == NB_I64)
        return false;
    nbi_iter it;
    nbi_iter_init(&it, t->rank, t->shape, 1, (const int64_t *const[]){ t->strides });
    finite_ctx c = { nbi_data(t), t->dtype, false };
    nbi_iter_run(&it, finite_row, &c);
    return c.bad;
}

/* ---------------------------------------------------------------- tensor state */

NB_API nb_status nb_requires_grad(nb_tensor *t, bool requires_grad)
{
    if (!t)
        return nbi_error_keep(NB_ERR_NULL, "nb_requires_grad: tensor is NULL");
    if (t->grad_fn)
        return nbi_error(NB_ERR_AUTOGRAD,
                         "nb_requires_grad: tensor was made by op '%s'; only leaves can be marked "
                         "(use nb_detach for a leaf copy)", t->grad_fn->op->name);
    if (requires_grad && t->dtype == NB_I64)
        return nbi_error(NB_ERR_DTYPE, "nb_requires_grad: i64 tensors cannot require grad (only f32 and f64)");
    t->requires_grad = requires_grad;
    return NB_OK;
}

NB_API bool nb_tensor_requires_grad(const nb_tensor *t)
{
    return t && t->requires_grad;
}

NB_API bool nb_tensor_is_leaf(const nb_tensor *t)
{
    return t && !t->grad_fn;
}

NB_API nb_tensor *nb_tensor_grad(const nb_tensor *t)
{
    return t ? t->grad : NULL;
}

NB_API void nb_zero_grad(nb_tensor *t)
{
    if (!t)
        return;
    nb_release(t->grad);
    t->grad = NULL;
}

NB_API nb_tensor *nb_detach(nb_tensor *t)
{
    if (!t) {
        nbi_error_keep(NB_ERR_NULL, "nb_detach: tensor is NULL");
        return NULL;
    }
    return nbi_scope_add(nbi_tensor_view(t, t->rank, t->shape, t->strides, t->offset));
}

NB_API nb_status nb_tensor_add_hook(nb_tensor *t, nb_grad_hook hook, void *user)
{
    if (!t)
        return nbi_error_keep(NB_ERR_NULL, "nb_tensor_add_hook: tensor is NULL");
    if (!hook)
        return nbi_error(NB_ERR_NULL, "nb_tensor_add_hook: hook is NULL");
    if (!t->requires_grad)
        return nbi_error(NB_ERR_AUTOGRAD, "nb_tensor_add_hook: tensor does not require grad, so no gradient will reach it");
    nbi_hook *h = nbi_malloc(sizeof *h);
    if (!h)
        return NB_ERR_MEMORY;
    h->fn = hook;
    h->user = user;
    nbi_hook **list = t->grad_fn ? &t->grad_fn->out_hooks[t->out_index] : &t->hooks;
    h->next = NULL;
    while (*list)   /* hooks run in the order they were added */
        list = &(*list)->next;
    *list = h;
    return NB_OK;
}
