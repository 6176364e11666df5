/* Adam and AdamW, with amsgrad and weight decay: PyTorch 1.13's _single_tensor_adam and
 * _single_tensor_adamw (the non-capturable path), fused into one pass per parameter.
 * At update t (counted per parameter from 1):
 *
 *   AdamW only: p = p * (1 - lr * weight_decay)
 *   d = grad (negated under maximize); Adam only: d = d + weight_decay * p
 *   m = beta1 m + (1 - beta1) d;   v = beta2 v + (1 - beta2) d d;   amsgrad: vmax = max(vmax, v)
 *   p = p + (-lr / (1 - beta1^t)) m / (sqrt(v or vmax) / sqrt(1 - beta2^t) + eps)
 *
 * eps is added after the bias correction of the denominator, as PyTorch does. */
#include <math.h>

#include "core/error_impl.h"
#include "optim/optim_impl.h"

enum { STEP, EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ };

typedef struct adam_ctx {
    char *p;
    const char *g;
    char *s[NBI_OPTIM_SLOTS];
    double beta1, beta2, weight_decay, eps;
    double neg_step_size;     /* -lr / (1 - beta1^t) */
    double bc2_sqrt;          /* sqrt(1 - beta2^t) */
    double decay;             /* AdamW: 1 - lr * weight_decay */
    bool amsgrad, maximize, decoupled;
} adam_ctx;

/* Each line is one PyTorch tensor op, rounded to T as PyTorch rounds it. AMSGRAD is a
 * constant of each instance (it decides whether vmax is stored), the other options are
 * selects, so that the loop has no branch and vectorises. */
#define ADAM_ROW(name, T, SQRT, AMSGRAD)                                                \
    static void name(void *ctx, const int64_t *off, const int64_t *st, int64_t n)      \
    {                                                                                   \
        const adam_ctx *c = ctx;                                                        \
        T *p = (T *)c->p + off[0];                                                      \
        const T *g = (const T *)c->g + off[1];                                          \
        T *m = NBI_OPTIM_SLOT(T, c, EXP_AVG), *v = NBI_OPTIM_SLOT(T, c, EXP_AVG_SQ);    \
        T *vmax = NBI_OPTIM_SLOT(T, c, MAX_EXP_AVG_SQ);                                 \
        const T b1 = (T)c->beta1, b2 = (T)c->beta2, sign = c->maximize ? -1 : 1;        \
        const T one_b1 = (T)(1 - c->beta1), one_b2 = (T)(1 - c->beta2);                 \
        const T wd = (T)c->weight_decay, eps = (T)c->eps, decay = (T)c->decay;          \
        const T neg_step = (T)c->neg_step_size, bc2_sqrt = (T)c->bc2_sqrt;              \
        const bool l2 = !c->decoupled && c->weight_decay != 0, decoupled = c->decoupled; \
        (void)vmax;                                                                     \
        NBI_OPTIM_FOR_EACH({                                                            \
            const T x = decoupled ? p[ip] * decay : p[ip];                              \
            T d = g[ig] * sign;                                                         \
            d = l2 ? d + wd * x : d;                                                    \
            const T mi = m[is] * b1 + one_b1 * d;                                       \
            const T vi = v[is] * b2 + one_b2 * d * d;                                   \
            m[is] = mi;                                                                 \
            v[is] = vi;                                                                 \
            T second = vi;                                                              \
            if (AMSGRAD) {                                                              \
                second = NBI_OPTIM_MAX(vmax[is], vi);                                   \
                vmax[is] = second;                                                      \
            }                                                                           \
            const T denom = SQRT(second) / bc2_sqrt + eps;                              \
            p[ip] = x + neg_step * mi / denom;                                          \
        });                                                                             \
    }

ADAM_ROW(adam_row_f32, float, sqrtf, false)
ADAM_ROW(adam_row_f64, double, sqrt, false)
ADAM_ROW(amsgrad_row_f32, float, sqrtf, true)
ADAM_ROW(amsgrad_row_f64, double, sqrt, true)

/* Adam's and AdamW's options have the same fields. */
static void adam_run(const nbi_optim_update *u, const nb_adam_opts *o, bool decoupled)
{
    double t = u->step;
    adam_ctx c = {
        .p = nbi_data(u->p), .g = nbi_data(u->g),
        .beta1 = o->beta1, .beta2 = o->beta2, .weight_decay = o->weight_decay, .eps = o->eps,
        .neg_step_size = -(u->lr / (1 - pow(o->beta1, t))),
        .bc2_sqrt = sqrt(1 - pow(o->beta2, t)),
        .decay = 1 - u->lr * o->weight_decay,
        .amsgrad = o->amsgrad, .maximize = o->maximize, .decoupled = decoupled,
    };
    for (int k = 0; k < NBI_OPTIM_SLOTS; k++)
        c.s[k] = k != STEP && u->slot[k] ? nbi_data(u->slot[k]) : NULL;
    static const nbi_row_fn rows[2][2] = { { adam_row_f32, adam_row_f64 }, { amsgrad_row_f32, amsgrad_row_f64 } };
    nbi_optim_run(u, rows[o->amsgrad][u->p->dtype == NB_F64], &c);
}

static void adam_update(const nbi_optim_update *u)
{
    adam_run(u, &u->opts->adam, false);
}

static void adamw_update(const nbi_optim_update *u)
{
    const nb_adamw_opts *w = &u->opts->adamw;
    nb_adam_opts o = { .kind = NB_OPTIM_ADAM, .lr = w->lr, .beta1 = w->beta1, .beta2 = w->beta2, .eps = w->eps,
                       .weight_decay = w->weight_decay, .amsgrad = w->amsgrad, .maximize = w->maximize };
    adam_run(u, &o, true);
}

static nb_status adam_check_fields(const char *fn, double lr, double beta1, double beta2, double eps, double wd)
{
    nb_status st;
    if ((st = nbi_optim_check_nonneg(fn, "lr", lr)) || (st = nbi_optim_check_nonneg(fn, "eps", eps))
        || (st = nbi_optim_check_range(fn, "beta1", beta1, 0, 1, true))
        || (st = nbi_optim_check_range(fn, "beta2", beta2, 0, 1, true))
        || (st = nbi_optim_check_nonneg(fn, "weight_decay", wd)))
        return st;
    return NB_OK;
}

static nb_status adam_check(const nbi_optim_opts *opts, const char *fn)
{
    const nb_adam_opts *o = &opts->adam;
    return adam_check_fields(fn, o->lr, o->beta1, o->beta2, o->eps, o->weight_decay);
}

static nb_status adamw_check(const nbi_optim_opts *opts, const char *fn)
{
    const nb_adamw_opts *o = &opts->adamw;
    return adam_check_fields(fn, o->lr, o->beta1, o->beta2, o->eps, o->weight_decay);
}

static unsigned adam_slots(const nbi_optim_opts *o)
{
    return 1u << STEP | 1u << EXP_AVG | 1u << EXP_AVG_SQ | (o->adam.amsgrad ? 1u << MAX_EXP_AVG_SQ : 0);
}

static unsigned adamw_slots(const nbi_optim_opts *o)
{
    return 1u << STEP | 1u << EXP_AVG | 1u << EXP_AVG_SQ | (o->adamw.amsgrad ? 1u << MAX_EXP_AVG_SQ : 0);
}

const nbi_optim_kind nbi_optim_adam = {
    .kind = NB_OPTIM_ADAM,
    .ctor = "nb_adam_new",
    .opts_init = "nb_adam_opts_default",
    .opts_size = sizeof(nb_adam_opts),
    .keys = { "step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq" },
    .has_step = true,
    .check = adam_check,
    .slots = adam_slots,
    .update = adam_update,
};

const nbi_optim_kind nbi_optim_adamw = {
    .kind = NB_OPTIM_ADAMW,
    .ctor = "nb_adamw_new",
    .opts_init = "nb_adamw_opts_default",
    .opts_size = sizeof(nb_adamw_opts),
    .keys = { "step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq" },
    .has_step = true,
    .check = adamw_check,
    .slots = adamw_slots,
    .update = adamw_update,
};

NB_API nb_adam_opts nb_adam_opts_default(void)
{
    return (nb_adam_opts){ .kind = NB_OPTIM_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8 };
}

NB_API nb_adamw_opts nb_adamw_opts_default(void)
{
    return (nb_adamw_opts){ .kind = NB_OPTIM_ADAMW, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                            .weight_decay = 1e-2 };
}

NB_API nb_optimizer *nb_adam_new(nb_tensor *const *params, int n, const nb_adam_opts *opts)
{
    nb_adam_opts defaults = nb_adam_opts_default();
    return nbi_optimizer_new(&nbi_optim_adam, params, n, opts, &defaults);
}

NB_API nb_optimizer *nb_adamw_new(nb_tensor *const *params, int n, const nb_adamw_opts *opts)
{
    nb_adamw_opts defaults = nb_adamw_opts_default();
    return nbi_optimizer_new(&nbi_optim_adamw, params, n, opts, &defaults);
}
