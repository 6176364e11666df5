/* nb_gradcheck: gradients from backward against central finite differences in f64.
 *
 * For a random projection r of the output, L(x) = <f(x), r> is a scalar whose gradient
 * backward gives in one pass; each input element is then nudged by +-eps and the change in
 * L compared. Second order is the same check applied to G(x, r) = <dL/dx, v>, whose
 * gradient comes from backward through a create_graph backward. */
#include <math.h>
#include <string.h>

#include "autograd/node.h"
#include "core/alloc.h"
#include "core/error_impl.h"
#include "nabla.h"
#include "nabla/rng.h"

NB_API nb_gradcheck_opts nb_gradcheck_opts_default(void)
{
    return (nb_gradcheck_opts){ .eps = 1e-6, .atol = 1e-5, .rtol = 1e-4, .seed = 1 };
}

/* <fn(inputs), r> as a rank-0 tensor, or NULL. */
static nb_tensor *projected(nb_gradcheck_fn fn, void *user, nb_tensor *const *inputs, nb_tensor *r)
{
    nb_tensor *y = fn(inputs, user);
    if (!y)
        return NULL;
    if (y->dtype != NB_F64) {
        nbi_error(NB_ERR_DTYPE, "nb_gradcheck: the function returned a %s tensor, expected f64",
                  nb_dtype_name(y->dtype));
        return NULL;
    }
    return nb_sum_all(nb_mul(y, r));
}

static double eval_projected(nb_gradcheck_fn fn, void *user, nb_tensor *const *inputs, nb_tensor *r, bool *ok)
{
    nb_scope *s = nb_scope_begin();
    nb_tensor *l = projected(fn, user, inputs, r);
    double v = l ? nb_tensor_item(l) : NAN;
    *ok = l != NULL;
    nb_scope_end(s);
    return v;
}

/* Offset of element j (C order) of t, through its strides. */
static int64_t element_offset(const nb_tensor *t, int64_t j)
{
    int64_t off = 0;
    for (int d = t->rank - 1; d >= 0; d--) {
        off += (j % t->shape[d]) * t->strides[d];
        j /= t->shape[d];
    }
    return off;
}

static void index_str(const nb_tensor *t, int64_t j, char *buf, size_t size)
{
    int64_t idx[NB_MAX_RANK];
    for (int d = t->rank - 1; d >= 0; d--) {
        idx[d] = j % t->shape[d];
        j /= t->shape[d];
    }
    nb_shape_str(t->rank, idx, buf, size);
}

static nb_status first_order(nb_gradcheck_fn fn, void *user, nb_tensor *const *inputs, int n,
                             const nb_gradcheck_opts *o, const char *order)
{
    nb_status st = NB_OK;
    nb_scope *scope = nb_scope_begin();
    nb_rng *rng = nb_rng_new(o->seed);
    nb_tensor *y = fn(inputs, user);
    nb_tensor *r = y ? nb_randn(rng, NB_F64, y->rank, y->shape) : NULL;
    nb_tensor *l = r ? projected(fn, user, inputs, r) : NULL;
    nb_tensor *wrt[NB_MAX_INPUTS + 1], *grads[NB_MAX_INPUTS + 1];
    int slot[NB_MAX_INPUTS + 1], m = 0;
    if (!l) {
        st = nb_error_code() ? nb_error_code() : NB_ERR_ARG;
        goto done;
    }
    for (int k = 0; k < n; k++)
        if (inputs[k]->requires_grad) {
            slot[m] = k;
            wrt[m++] = inputs[k];
        }
    if (l->requires_grad) {
        st = nb_grad(&l, NULL, 1, wrt, m, grads, NULL);
        if (st)
            goto done;
    } else {   /* L does not depend on the inputs through any differentiable op */
        for (int i = 0; i < m; i++)
            grads[i] = nb_zeros_like(wrt[i]);
    }
    for (int i = 0; i < m && !st; i++) {
        nb_tensor *x = wrt[i];
        double *data = (double *)nbi_data(x);
        for (int64_t j = 0; j < x->numel && !st; j++) {
            int64_t off = element_offset(x, j);
            double saved = data[off], hi, lo;
            bool ok_hi, ok_lo;
            data[off] = saved + o->eps;
            hi = eval_projected(fn, user, inputs, r, &ok_hi);
            data[off] = saved - o->eps;
            lo = eval_projected(fn, user, inputs, r, &ok_lo);
            data[off] = saved;
            if (!ok_hi || !ok_lo) {
                st = nb_error_code() ? nb_error_code() : NB_ERR_ARG;
                break;
            }
            double numeric = (hi - lo) / (2 * o->eps);
            double analytic = ((const double *)nbi_data(grads[i]))[element_offset(grads[i], j)];
            if (!(fabs(analytic - numeric) <= o->atol + o->rtol * fabs(numeric))) {
                char where[160];
                index_str(x, j, where, sizeof where);
                st = nbi_error(NB_ERR_NUMERIC,
                               "nb_gradcheck: %s gradient of input %d at %s: backward gives %.10g, finite "
                               "differences give %.10g (difference %.3g, tolerance %.3g)",
                               order, slot[i], where, analytic, numeric, fabs(analytic - numeric),
                               o->atol + o->rtol * fabs(numeric));
                if (o->report)
                    fprintf(o->report, "%s\n", nb_error());
            }
        }
    }
done:
    nb_rng_free(rng);
    nb_scope_end(scope);
    return st;
}

/* G(x, r) = <d<f(x), r>/dx, v>: the map whose gradient is the second derivative. */
typedef struct second_order {
    nb_gradcheck_fn fn;
    void *user;
    int n;                               /* inputs of fn; r is input n */
    nb_tensor *v[NB_MAX_INPUTS];         /* random directions, for inputs that require grad */
} second_order;

static nb_tensor *second_order_fn(nb_tensor *const *inputs, void *user)
{
    second_order *so = user;
    nb_tensor *l = projected(so->fn, so->user, inputs, inputs[so->n]);
    if (!l)
        return NULL;
    nb_tensor *wrt[NB_MAX_INPUTS], *grads[NB_MAX_INPUTS];
    int m = 0, slot[NB_MAX_INPUTS];
    for (int k = 0; k < so->n; k++)
        if (inputs[k]->requires_grad) {
            slot[m] = k;
            wrt[m++] = inputs[k];
        }
    if (!l->requires_grad)
        return nb_scalar(NB_F64, 0.0);
    nb_backward_opts create = { .create_graph = true };
    if (nb_grad(&l, NULL, 1, wrt, m, grads, &create))
        return NULL;
    nb_tensor *g = nb_scalar(NB_F64, 0.0);
    for (int i = 0; i < m; i++)
        g = nb_add(g, nb_sum_all(nb_mul(grads[i], so->v[slot[i]])));
    return g;
}

NB_API nb_status nb_gradcheck(nb_gradcheck_fn fn, void *user, nb_tensor *const *inputs, int n_inputs,
                              const nb_gradcheck_opts *opts)
{
    nb_gradcheck_opts o = opts ? *opts : nb_gradcheck_opts_default();
    if (!fn || !inputs || n_inputs < 1 || n_inputs > NB_MAX_INPUTS)
        return nbi_error(NB_ERR_ARG, "nb_gradcheck: needs a function and 1 to %d inputs (got %d)",
                         NB_MAX_INPUTS, n_inputs);
    bool any = false;
    for (int k = 0; k < n_inputs; k++) {
        const nb_tensor *x = inputs[k];
        if (!x)
            return nbi_error_keep(NB_ERR_NULL, "nb_gradcheck: input %d is NULL", k);
        if (x->requires_grad && x->dtype != NB_F64)
            return nbi_error(NB_ERR_DTYPE, "nb_gradcheck: input %d is %s; finite differences need f64", k,
                             nb_dtype_name(x->dtype));
        for (int d = 0; d < x->rank; d++)
            if (x->requires_grad && x->strides[d] == 0 && x->shape[d] > 1)
                return nbi_error(NB_ERR_ARG, "nb_gradcheck: input %d is expanded (stride 0 at axis %d); "
                                 "pass the tensor before nb_expand and expand inside the function", k, d);
        any |= x->requires_grad;
    }
    if (!any)
        return nbi_error(NB_ERR_ARG, "nb_gradcheck: no input requires grad");
    if (o.eps <= 0)
        o.eps = 1e-6;

    nb_status st = first_order(fn, user, inputs, n_inputs, &o, "first-order");
    if (st || !o.second_order)
        return st;

    nb_scope *scope = nb_scope_begin();
    nb_rng *rng = nb_rng_new(o.seed + 1);
    second_order so = { fn, user, n_inputs, { 0 } };
    nb_tensor *extended[NB_MAX_INPUTS + 1];
    for (int k = 0; k < n_inputs; k++) {
        extended[k] = inputs[k];
        if (inputs[k]->requires_grad)
            so.v[k] = nb_randn(rng, NB_F64, inputs[k]->rank, inputs[k]->shape);
    }
    nb_tensor *y = fn(inputs, user);
    nb_tensor *r = y ? nb_randn(rng, NB_F64, y->rank, y->shape) : NULL;
    if (!r) {
        st = nb_error_code() ? nb_error_code() : NB_ERR_ARG;
    } else {
        nb_requires_grad(r, true);
        extended[n_inputs] = r;
        st = first_order(second_order_fn, &so, extended, n_inputs + 1, &o, "second-order");
    }
    nb_rng_free(rng);
    nb_scope_end(scope);
    return st;
}
