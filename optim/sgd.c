/* SGD with momentum, dampening, Nesterov momentum and weight decay: PyTorch 1.13's
 * _single_tensor_sgd, fused into one pass per parameter.
 *
 *   d = grad (negated under maximize) + weight_decay * p
 *   buf = d on the first update, then momentum * buf + (1 - dampening) * d
 *   d = nesterov ? d + momentum * buf : buf          (with momentum != 0)
 *   p = p - lr * d */
#include <math.h>

#include "core/error_impl.h"
#include "optim/optim_impl.h"

typedef struct sgd_ctx {
    char *p;
    const char *g;
    char *s[NBI_OPTIM_SLOTS];
    double lr, momentum, dampening, weight_decay;
    bool nesterov, maximize, first;
} sgd_ctx;

/* Each line is one PyTorch tensor op, rounded to T as PyTorch rounds it. MOMENTUM is a
 * constant of each instance (it decides whether the buffer is stored), the other options
 * are selects, so that the loop has no branch and vectorises. */
#define SGD_ROW(name, T, MOMENTUM)                                                      \
    static void name(void *ctx, const int64_t *off, const int64_t *st, int64_t n)      \
    {                                                                                   \
        const sgd_ctx *c = ctx;                                                         \
        T *p = (T *)c->p + off[0];                                                      \
        const T *g = (const T *)c->g + off[1];                                          \
        T *buf = NBI_OPTIM_SLOT(T, c, 0);                                               \
        const T wd = (T)c->weight_decay, mom = (T)c->momentum, sign = c->maximize ? -1 : 1; \
        const T keep = (T)(1 - c->dampening), neg_lr = (T)-c->lr;                       \
        const bool decay = c->weight_decay != 0, nesterov = c->nesterov, first = c->first; \
        (void)buf, (void)mom, (void)keep, (void)nesterov, (void)first;                  \
        NBI_OPTIM_FOR_EACH({                                                            \
            const T x = p[ip];                                                          \
            T d = g[ig] * sign;                                                         \
            d = decay ? d + wd * x : d;                                                 \
            if (MOMENTUM) {                                                             \
                const T b = first ? d : buf[is] * mom + keep * d;                       \
                buf[is] = b;                                                            \
                d = nesterov ? d + mom * b : b;                                         \
            }                                                                           \
            p[ip] = x + neg_lr * d;                                                     \
        });                                                                             \
    }

SGD_ROW(sgd_row_f32, float, false)
SGD_ROW(sgd_row_f64, double, false)
SGD_ROW(sgd_momentum_row_f32, float, true)
SGD_ROW(sgd_momentum_row_f64, double, true)

static void sgd_update(const nbi_optim_update *u)
{
    const nb_sgd_opts *o = &u->opts->sgd;
    sgd_ctx c = {
        .p = nbi_data(u->p), .g = nbi_data(u->g),
        .s = { u->slot[0] ? nbi_data(u->slot[0]) : NULL },
        .lr = u->lr, .momentum = o->momentum, .dampening = o->dampening, .weight_decay = o->weight_decay,
        .nesterov = o->nesterov, .maximize = o->maximize, .first = (u->fresh & 1u) != 0,
    };
    static const nbi_row_fn rows[2][2] = { { sgd_row_f32, sgd_row_f64 }, { sgd_momentum_row_f32, sgd_momentum_row_f64 } };
    nbi_optim_run(u, rows[o->momentum != 0][u->p->dtype == NB_F64], &c);
}

static nb_status sgd_check(const nbi_optim_opts *opts, const char *fn)
{
    const nb_sgd_opts *o = &opts->sgd;
    nb_status st;
    if (isnan(o->lr))
        return nbi_error(NB_ERR_ARG, "%s: lr is not set: SGD has no default learning rate (set opts.lr)", fn);
    if ((st = nbi_optim_check_nonneg(fn, "lr", o->lr)) || (st = nbi_optim_check_nonneg(fn, "momentum", o->momentum))
        || (st = nbi_optim_check_nonneg(fn, "weight_decay", o->weight_decay)))
        return st;
    if (!isfinite(o->dampening))
        return nbi_error(NB_ERR_ARG, "%s: dampening must be finite, got %g", fn, o->dampening);
    if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
        return nbi_error(NB_ERR_ARG, "%s: nesterov momentum needs momentum > 0 and dampening = 0 "
                         "(got momentum %g, dampening %g)", fn, o->momentum, o->dampening);
    return NB_OK;
}

static unsigned sgd_slots(const nbi_optim_opts *o)
{
    return o->sgd.momentum != 0 ? 1u : 0u;
}

const nbi_optim_kind nbi_optim_sgd = {
    .kind = NB_OPTIM_SGD,
    .ctor = "nb_sgd_new",
    .opts_init = "nb_sgd_opts_default",
    .opts_size = sizeof(nb_sgd_opts),
    .keys = { "momentum_buffer" },
    .check = sgd_check,
    .slots = sgd_slots,
    .update = sgd_update,
};

NB_API nb_sgd_opts nb_sgd_opts_default(void)
{
    return (nb_sgd_opts){ .kind = NB_OPTIM_SGD, .lr = NAN };
}

NB_API nb_optimizer *nb_sgd_new(nb_tensor *const *params, int n, const nb_sgd_opts *opts)
{
    nb_sgd_opts defaults = nb_sgd_opts_default();
    return nbi_optimizer_new(&nbi_optim_sgd, params, n, opts, &defaults);
}
