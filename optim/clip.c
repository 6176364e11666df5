/* Gradient clipping (by global norm, by value) and the L1/L2 penalties.
 *
 * Clipping reads and writes .grad in place, as torch.nn.utils.clip_grad_norm_ and
 * clip_grad_value_ do. The norm is summed in double, serially in a fixed order, so it does
 * not depend on the thread count. */
#include <math.h>

#include "core/error_impl.h"
#include "core/iter.h"
#include "nabla/ops.h"
#include "nabla/reductions.h"
#include "optim/optim_impl.h"

/* ---------------------------------------------------------------- walking gradients */

static nb_status check_params(nb_tensor *const *params, int n, const char *fn)
{
    if (n < 0 || (n > 0 && !params))
        return nbi_error(NB_ERR_ARG, "%s: needs an array of n >= 0 parameters (got %s, n = %d)", fn,
                         params ? "an array" : "NULL", n);
    for (int i = 0; i < n; i++)
        if (!params[i])
            return nbi_error_keep(NB_ERR_NULL, "%s: parameter %d is NULL", fn, i);
    return NB_OK;
}

/* Calls fn(ctx, element) for every element of t, in C order, as double; serial. */
static void each_element(const nb_tensor *t, void (*fn)(void *ctx, double v), void *ctx)
{
    nbi_iter it;
    nbi_cursor c;
    const int64_t *strides[1] = { t->strides };
    nbi_iter_init(&it, t->rank, t->shape, 1, strides);
    nbi_cursor_seek(&it, &c, 0);
    const char *base = nbi_data(t);
    const int64_t s = it.strides[0][it.rank - 1];
    for (int64_t r = 0; r < it.rows; r++, nbi_cursor_next(&it, &c))
        for (int64_t j = 0; j < it.inner; j++) {
            int64_t at = c.offset[0] + j * s;
            fn(ctx, t->dtype == NB_F32 ? (double)((const float *)base)[at] : ((const double *)base)[at]);
        }
}

typedef struct norm_acc {
    double p;       /* norm type */
    double acc;     /* sum |g|^p, or max |g| when p is infinite */
} norm_acc;

static void add_to_norm(void *ctx, double v)
{
    norm_acc *a = ctx;
    v = fabs(v);
    if (isinf(a->p))
        a->acc = NBI_OPTIM_MAX(a->acc, v);
    else if (a->p == 2)
        a->acc += v * v;
    else if (a->p == 1)
        a->acc += v;
    else
        a->acc += pow(v, a->p);
}

/* What clipping does to each gradient element. */
typedef struct grad_map {
    double coef;         /* multiply by coef ... */
    bool clamp;          /* ... or clamp into [-limit, limit] */
    double limit;
} grad_map;

typedef struct map_ctx {
    const grad_map *m;
    const char *src;
    char *dst;
    bool in_place;       /* dst is src: write where read; else write dst in C order */
} map_ctx;

#define MAP_ROW(name, T)                                                                \
    static void name(void *ctx, const int64_t *off, const int64_t *st, int64_t n)      \
    {                                                                                   \
        const map_ctx *c = ctx;                                                         \
        const T *g = (const T *)c->src + off[0];                                        \
        T *z = (T *)c->dst + off[1];                                                    \
        const T coef = (T)c->m->coef, hi = (T)c->m->limit, lo = (T)-c->m->limit;         \
        const bool clamp = c->m->clamp;                                                 \
        for (int64_t i = 0; i < n; i++) {                                               \
            T v = g[i * st[0]];                                                         \
            if (!clamp)                                                                 \
                v = v * coef;                                                           \
            else if (v < lo)                                                            \
                v = lo;                                                                 \
            else if (v > hi)                                                            \
                v = hi;                                                                 \
            z[i * st[1]] = v;                                                           \
        }                                                                               \
    }

MAP_ROW(map_row_f32, float)
MAP_ROW(map_row_f64, double)

/* Applies m to every element of p's gradient, in place, bumping its version; a broadcast
 * view (only a create_graph backward leaves one), which an in-place write would change
 * once per index, is replaced by a fresh contiguous result instead. */
static nb_status map_grad(nb_tensor *p, const grad_map *m)
{
    nb_tensor *g = p->grad, *z = g;
    for (int d = 0; d < g->rank; d++)
        if (g->strides[d] == 0 && g->shape[d] > 1) {
            z = nbi_tensor_alloc(g->dtype, g->rank, g->shape);
            if (!z)
                return nb_error_code();
            break;
        }
    map_ctx c = { m, nbi_data(g), nbi_data(z), z == g };
    nbi_iter it;
    const int64_t *strides[2] = { g->strides, z->strides };
    nbi_iter_init(&it, g->rank, g->shape, 2, strides);
    nbi_iter_run(&it, g->dtype == NB_F32 ? map_row_f32 : map_row_f64, &c);
    if (z != g) {
        p->grad = z;
        nb_release(g);
    } else {
        nbi_bump_version(g);
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- clipping */

NB_API nb_status nb_clip_grad_norm(nb_tensor *const *params, int n, double max_norm, double norm_type,
                                   double *total_norm)
{
    const char *fn = "nb_clip_grad_norm";
    if (total_norm)
        *total_norm = NAN;
    nb_status st = check_params(params, n, fn);
    if (st)
        return st;
    if (!(max_norm >= 0))
        return nbi_error(NB_ERR_ARG, "%s: max_norm must be >= 0, got %g", fn, max_norm);
    if (!(norm_type > 0))
        return nbi_error(NB_ERR_ARG, "%s: norm_type must be > 0 (or INFINITY), got %g", fn, norm_type);
    norm_acc a = { norm_type, 0 };
    for (int i = 0; i < n; i++)
        if (params[i]->grad)
            each_element(params[i]->grad, add_to_norm, &a);
    double total = isinf(norm_type) || norm_type == 1 ? a.acc
                 : norm_type == 2                      ? sqrt(a.acc)
                                                       : pow(a.acc, 1 / norm_type);
    if (total_norm)
        *total_norm = total;
    /* PyTorch computes the coefficient in the gradients' dtype and multiplies even by 1. */
    for (int i = 0; i < n; i++) {
        const nb_tensor *g = params[i]->grad;
        if (!g)
            continue;
        double coef;
        if (g->dtype == NB_F32) {
            float c = (float)max_norm / ((float)total + 1e-6f);
            coef = c > 1 ? 1 : c;
        } else {
            double c = max_norm / (total + 1e-6);
            coef = c > 1 ? 1 : c;
        }
        if (coef == 1)
            continue;   /* multiplying by 1 changes nothing */
        grad_map m = { .coef = coef };
        if ((st = map_grad(params[i], &m)))
            return st;
    }
    return NB_OK;
}

NB_API nb_status nb_clip_grad_value(nb_tensor *const *params, int n, double clip_value)
{
    const char *fn = "nb_clip_grad_value";
    nb_status st = check_params(params, n, fn);
    if (st)
        return st;
    if (!(clip_value >= 0))
        return nbi_error(NB_ERR_ARG, "%s: clip_value must be >= 0, got %g", fn, clip_value);
    grad_map m = { .clamp = true, .limit = clip_value };
    for (int i = 0; i < n; i++)
        if (params[i]->grad && (st = map_grad(params[i], &m)))
            return st;
    return NB_OK;
}

/* ---------------------------------------------------------------- penalties */

static nb_tensor *penalty(nb_tensor *const *params, int n, bool l1, const char *fn)
{
    uint64_t errors_before = nbi_error_count();
    if (n < 1 || !params) {
        nbi_error(NB_ERR_ARG, "%s: needs at least one parameter (got %s, n = %d)", fn,
                  params ? "an array" : "NULL", n);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!params[i]) {
            nbi_error_keep(NB_ERR_NULL, "%s: parameter %d is NULL", fn, i);
            return NULL;
        }
        if (params[i]->dtype != params[0]->dtype) {
            nbi_error(NB_ERR_DTYPE, "%s: parameter %d has dtype %s, parameter 0 %s; cast them to one dtype", fn, i,
                      nb_dtype_name(params[i]->dtype), nb_dtype_name(params[0]->dtype));
            return NULL;
        }
    }
    nb_tensor *total = NULL;
    for (int i = 0; i < n; i++) {
        nb_tensor *term = nb_sum_all(l1 ? nb_abs(params[i]) : nb_square(params[i]));
        total = total ? nb_add(total, term) : term;
    }
    nbi_error_prefix(fn, errors_before);
    return total;
}

NB_API nb_tensor *nb_l1_penalty(nb_tensor *const *params, int n)
{
    return penalty(params, n, true, "nb_l1_penalty");
}

NB_API nb_tensor *nb_l2_penalty(nb_tensor *const *params, int n)
{
    return penalty(params, n, false, "nb_l2_penalty");
}
