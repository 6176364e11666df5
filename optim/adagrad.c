/* Adagrad with learning-rate decay and weight decay: PyTorch 1.13's _single_tensor_adagrad
 * (dense gradients), fused into one pass per parameter. At update t:
 *
 *   d = grad (negated under maximize) + weight_decay * p
 *   clr = lr / (1 + (t - 1) lr_decay)
 *   s = s + d d;   p = p + (-clr) d / (sqrt(s) + eps)
 *
 * As in PyTorch, the state (s = initial_accumulator_value, t = 0) is made when a parameter
 * joins the optimizer, not at its first update. */
#include <math.h>

#include "core/error_impl.h"
#include "optim/optim_impl.h"

enum { STEP, SUM };

typedef struct adagrad_ctx {
    char *p;
    const char *g;
    char *s[NBI_OPTIM_SLOTS];
    double clr, eps, weight_decay;
    bool maximize;
} adagrad_ctx;

/* Each line is one PyTorch tensor op, rounded to T as PyTorch rounds it; options are
 * selects, so that the loop has no branch and vectorises. */
#define ADAGRAD_ROW(name, T, SQRT)                                                      \
    static void name(void *ctx, const int64_t *off, const int64_t *st, int64_t n)      \
    {                                                                                   \
        const adagrad_ctx *c = ctx;                                                     \
        T *p = (T *)c->p + off[0];                                                      \
        const T *g = (const T *)c->g + off[1];                                          \
        T *sum = NBI_OPTIM_SLOT(T, c, SUM);                                             \
        const T neg_clr = (T)-c->clr, eps = (T)c->eps, wd = (T)c->weight_decay;         \
        const T sign = c->maximize ? -1 : 1;                                            \
        const bool decay = c->weight_decay != 0;                                        \
        NBI_OPTIM_FOR_EACH({                                                            \
            const T x = p[ip];                                                          \
            T d = g[ig] * sign;                                                         \
            d = decay ? d + wd * x : d;                                                 \
            const T s = sum[is] + d * d;                                                \
            sum[is] = s;                                                                \
            const T std = SQRT(s) + eps;                                                \
            p[ip] = x + neg_clr * d / std;                                              \
        });                                                                             \
    }

ADAGRAD_ROW(adagrad_row_f32, float, sqrtf)
ADAGRAD_ROW(adagrad_row_f64, double, sqrt)

static void adagrad_update(const nbi_optim_update *u)
{
    const nb_adagrad_opts *o = &u->opts->adagrad;
    adagrad_ctx c = {
        .p = nbi_data(u->p), .g = nbi_data(u->g), .s = { NULL, nbi_data(u->slot[SUM]) },
        .clr = u->lr / (1 + (u->step - 1) * o->lr_decay), .eps = o->eps, .weight_decay = o->weight_decay,
        .maximize = o->maximize,
    };
    nbi_optim_run(u, u->p->dtype == NB_F32 ? adagrad_row_f32 : adagrad_row_f64, &c);
}

static nb_status adagrad_check(const nbi_optim_opts *opts, const char *fn)
{
    const nb_adagrad_opts *o = &opts->adagrad;
    nb_status st;
    if ((st = nbi_optim_check_nonneg(fn, "lr", o->lr)) || (st = nbi_optim_check_nonneg(fn, "lr_decay", o->lr_decay))
        || (st = nbi_optim_check_nonneg(fn, "weight_decay", o->weight_decay))
        || (st = nbi_optim_check_nonneg(fn, "initial_accumulator_value", o->initial_accumulator_value))
        || (st = nbi_optim_check_nonneg(fn, "eps", o->eps)))
        return st;
    return NB_OK;
}

static unsigned adagrad_slots(const nbi_optim_opts *o)
{
    (void)o;
    return 1u << STEP | 1u << SUM;
}

static double adagrad_init_value(const nbi_optim_opts *o, int k)
{
    return k == SUM ? o->adagrad.initial_accumulator_value : 0;
}

const nbi_optim_kind nbi_optim_adagrad = {
    .kind = NB_OPTIM_ADAGRAD,
    .ctor = "nb_adagrad_new",
    .opts_init = "nb_adagrad_opts_default",
    .opts_size = sizeof(nb_adagrad_opts),
    .keys = { "step", "sum" },
    .has_step = true,
    .eager = true,
    .check = adagrad_check,
    .slots = adagrad_slots,
    .init_value = adagrad_init_value,
    .update = adagrad_update,
};

NB_API nb_adagrad_opts nb_adagrad_opts_default(void)
{
    return (nb_adagrad_opts){ .kind = NB_OPTIM_ADAGRAD, .lr = 1e-2, .eps = 1e-10 };
}

NB_API nb_optimizer *nb_adagrad_new(nb_tensor *const *params, int n, const nb_adagrad_opts *opts)
{
    nb_adagrad_opts defaults = nb_adagrad_opts_default();
    return nbi_optimizer_new(&nbi_optim_adagrad, params, n, opts, &defaults);
}
