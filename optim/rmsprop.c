/* RMSprop, plain, centered and with momentum: PyTorch 1.13's _single_tensor_rmsprop, fused
 * into one pass per parameter.
 *
 *   d = grad (negated under maximize) + weight_decay * p
 *   s = alpha s + (1 - alpha) d d
 *   centered: a = alpha a + (1 - alpha) d;  avg = sqrt(s - a a) + eps;  else avg = sqrt(s) + eps
 *   momentum > 0: buf = momentum buf + d / avg;  p = p - lr buf
 *   otherwise:    p = p + (-lr) d / avg
 *
 * The step count is kept (state "step", as PyTorch) though the update does not use it. */
#include <math.h>

#include "core/error_impl.h"
#include "optim/optim_impl.h"

enum { STEP, SQUARE_AVG, MOMENTUM_BUFFER, GRAD_AVG };

typedef struct rmsprop_ctx {
    char *p;
    const char *g;
    char *s[NBI_OPTIM_SLOTS];
    double lr, alpha, eps, weight_decay, momentum;
    bool centered, maximize;
} rmsprop_ctx;

/* Each line is one PyTorch tensor op, rounded to T as PyTorch rounds it. CENTERED and
 * MOMENTUM are constants of each instance (they decide which buffers are stored), the
 * other options are selects, so that the loop has no branch and vectorises. */
#define RMSPROP_ROW(name, T, SQRT, CENTERED, MOMENTUM)                                  \
    static void name(void *ctx, const int64_t *off, const int64_t *st, int64_t n)      \
    {                                                                                   \
        const rmsprop_ctx *c = ctx;                                                     \
        T *p = (T *)c->p + off[0];                                                      \
        const T *g = (const T *)c->g + off[1];                                          \
        T *sq = NBI_OPTIM_SLOT(T, c, SQUARE_AVG), *buf = NBI_OPTIM_SLOT(T, c, MOMENTUM_BUFFER); \
        T *ga = NBI_OPTIM_SLOT(T, c, GRAD_AVG);                                         \
        const T alpha = (T)c->alpha, one_alpha = (T)(1 - c->alpha), eps = (T)c->eps;   \
        const T wd = (T)c->weight_decay, mom = (T)c->momentum, neg_lr = (T)-c->lr;      \
        const T sign = c->maximize ? -1 : 1;                                            \
        const bool decay = c->weight_decay != 0;                                        \
        (void)buf, (void)ga, (void)mom;                                                 \
        NBI_OPTIM_FOR_EACH({                                                            \
            const T x = p[ip];                                                          \
            T d = g[ig] * sign;                                                         \
            d = decay ? d + wd * x : d;                                                 \
            const T s = sq[is] * alpha + one_alpha * d * d;                             \
            sq[is] = s;                                                                 \
            T avg;                                                                      \
            if (CENTERED) {                                                             \
                const T a = ga[is] * alpha + one_alpha * d;                             \
                ga[is] = a;                                                             \
                avg = SQRT(s - a * a);                                                  \
            } else {                                                                    \
                avg = SQRT(s);                                                          \
            }                                                                           \
            avg = avg + eps;                                                            \
            if (MOMENTUM) {                                                             \
                const T b = buf[is] * mom + d / avg;                                    \
                buf[is] = b;                                                            \
                p[ip] = x + neg_lr * b;                                                 \
            } else {                                                                    \
                p[ip] = x + neg_lr * d / avg;                                           \
            }                                                                           \
        });                                                                             \
    }

#define RMSPROP_ROWS(T, SQRT)                                                           \
    RMSPROP_ROW(rmsprop_row_##T, T, SQRT, false, false)                                 \
    RMSPROP_ROW(rmsprop_momentum_row_##T, T, SQRT, false, true)                         \
    RMSPROP_ROW(rmsprop_centered_row_##T, T, SQRT, true, false)                         \
    RMSPROP_ROW(rmsprop_centered_momentum_row_##T, T, SQRT, true, true)

RMSPROP_ROWS(float, sqrtf)
RMSPROP_ROWS(double, sqrt)

static void rmsprop_update(const nbi_optim_update *u)
{
    const nb_rmsprop_opts *o = &u->opts->rmsprop;
    rmsprop_ctx c = {
        .p = nbi_data(u->p), .g = nbi_data(u->g),
        .lr = u->lr, .alpha = o->alpha, .eps = o->eps, .weight_decay = o->weight_decay, .momentum = o->momentum,
        .centered = o->centered, .maximize = o->maximize,
    };
    for (int k = 0; k < NBI_OPTIM_SLOTS; k++)
        c.s[k] = k != STEP && u->slot[k] ? nbi_data(u->slot[k]) : NULL;
    static const nbi_row_fn rows[2][2][2] = {
        { { rmsprop_row_float, rmsprop_row_double }, { rmsprop_momentum_row_float, rmsprop_momentum_row_double } },
        { { rmsprop_centered_row_float, rmsprop_centered_row_double },
          { rmsprop_centered_momentum_row_float, rmsprop_centered_momentum_row_double } },
    };
    nbi_optim_run(u, rows[o->centered][o->momentum > 0][u->p->dtype == NB_F64], &c);
}

static nb_status rmsprop_check(const nbi_optim_opts *opts, const char *fn)
{
    const nb_rmsprop_opts *o = &opts->rmsprop;
    nb_status st;
    if ((st = nbi_optim_check_nonneg(fn, "lr", o->lr)) || (st = nbi_optim_check_nonneg(fn, "eps", o->eps))
        || (st = nbi_optim_check_nonneg(fn, "momentum", o->momentum))
        || (st = nbi_optim_check_nonneg(fn, "weight_decay", o->weight_decay))
        || (st = nbi_optim_check_range(fn, "alpha", o->alpha, 0, 1, false)))
        return st;
    return NB_OK;
}

static unsigned rmsprop_slots(const nbi_optim_opts *opts)
{
    const nb_rmsprop_opts *o = &opts->rmsprop;
    return 1u << STEP | 1u << SQUARE_AVG | (o->momentum > 0 ? 1u << MOMENTUM_BUFFER : 0)
           | (o->centered ? 1u << GRAD_AVG : 0);
}

const nbi_optim_kind nbi_optim_rmsprop = {
    .kind = NB_OPTIM_RMSPROP,
    .ctor = "nb_rmsprop_new",
    .opts_init = "nb_rmsprop_opts_default",
    .opts_size = sizeof(nb_rmsprop_opts),
    .keys = { "step", "square_avg", "momentum_buffer", "grad_avg" },
    .has_step = true,
    .check = rmsprop_check,
    .slots = rmsprop_slots,
    .update = rmsprop_update,
};

NB_API nb_rmsprop_opts nb_rmsprop_opts_default(void)
{
    return (nb_rmsprop_opts){ .kind = NB_OPTIM_RMSPROP, .lr = 1e-2, .alpha = 0.99, .eps = 1e-8 };
}

NB_API nb_optimizer *nb_rmsprop_new(nb_tensor *const *params, int n, const nb_rmsprop_opts *opts)
{
    nb_rmsprop_opts defaults = nb_rmsprop_opts_default();
    return nbi_optimizer_new(&nbi_optim_rmsprop, params, n, opts, &defaults);
}
