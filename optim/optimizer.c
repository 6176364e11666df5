/* The optimizer base shared by every kind: parameters and groups, their checks, state
 * slots and their names, the step driver, zero_grad, learning rates and state access.
 * What differs between kinds (options, state keys, the fused update) is the kind's
 * nbi_optim_kind table in sgd.c, adam.c, rmsprop.c and adagrad.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/node.h"
#include "core/alloc.h"
#include "core/error_impl.h"
#include "optim/optim_impl.h"

/* ---------------------------------------------------------------- shared checks */

nb_status nbi_optim_check_nonneg(const char *fn, const char *what, double v)
{
    if (v >= 0 && !isinf(v))
        return NB_OK;
    return nbi_error(NB_ERR_ARG, "%s: %s must be a finite number >= 0, got %g", fn, what, v);
}

nb_status nbi_optim_check_range(const char *fn, const char *what, double v, double lo, double hi, bool hi_open)
{
    if (v >= lo && (hi_open ? v < hi : v <= hi))
        return NB_OK;
    return nbi_error(NB_ERR_ARG, "%s: %s must be in [%g, %g%c, got %g", fn, what, lo, hi, hi_open ? ')' : ']', v);
}

/* Options as given (NULL: defaults) checked for kind k, copied into *o. */
static nb_status take_opts(const nbi_optim_kind *k, const void *opts, const void *defaults, const char *fn,
                           nbi_optim_opts *o)
{
    if (!opts)
        opts = defaults;
    nb_optim_kind tag;
    memcpy(&tag, opts, sizeof tag);
    if (tag != k->kind)
        return nbi_error(NB_ERR_ARG, "%s: the options were not made by %s() (their kind tag is %d, expected %d)",
                         fn, k->opts_init, (int)tag, (int)k->kind);
    memset(o, 0, sizeof *o);
    memcpy(o, opts, k->opts_size);
    return k->check(o, fn);
}

/* The lr field of options of any kind. */
static double opts_lr(const nbi_optim_opts *o)
{
    switch (o->kind) {
    case NB_OPTIM_SGD: return o->sgd.lr;
    case NB_OPTIM_ADAM: return o->adam.lr;
    case NB_OPTIM_ADAMW: return o->adamw.lr;
    case NB_OPTIM_RMSPROP: return o->rmsprop.lr;
    case NB_OPTIM_ADAGRAD: return o->adagrad.lr;
    }
    return NAN;
}

/* A parameter the optimizer can update: f32/f64 leaf requiring grad, elements that do
 * not overlap, not in params[0..i-1] nor already in opt. */
static nb_status check_param(const nb_optimizer *opt, nb_tensor *const *params, int i, const char *fn)
{
    const nb_tensor *p = params[i];
    if (!p)
        return nbi_error_keep(NB_ERR_NULL, "%s: parameter %d is NULL", fn, i);
    if (p->dtype != NB_F32 && p->dtype != NB_F64)
        return nbi_error(NB_ERR_DTYPE, "%s: parameter %d has dtype %s; only f32 and f64 parameters can be optimized",
                         fn, i, nb_dtype_name(p->dtype));
    if (p->grad_fn)
        return nbi_error(NB_ERR_AUTOGRAD, "%s: parameter %d is not a leaf (op '%s' made it); optimize the leaves "
                         "it is computed from", fn, i, p->grad_fn->op->name);
    if (!p->requires_grad)
        return nbi_error(NB_ERR_AUTOGRAD, "%s: parameter %d does not require grad (mark it with nb_requires_grad)",
                         fn, i);
    for (int d = 0; d < p->rank; d++)
        if (p->strides[d] == 0 && p->shape[d] > 1)
            return nbi_error(NB_ERR_ARG, "%s: parameter %d has overlapping elements (stride 0 along axis %d of "
                             "size %lld): an in-place update would write them more than once",
                             fn, i, d, (long long)p->shape[d]);
    for (int j = 0; j < i; j++)
        if (params[j] == p)
            return nbi_error(NB_ERR_ARG, "%s: parameter %d is the same tensor as parameter %d", fn, i, j);
    for (int j = 0; opt && j < opt->n_params; j++)
        if (opt->params[j].p == p)
            return nbi_error(NB_ERR_ARG, "%s: parameter %d is already in group %d of this optimizer "
                             "(a parameter belongs to one group)", fn, i, opt->params[j].group);
    return NB_OK;
}

/* ---------------------------------------------------------------- state slots */

static unsigned group_slots(const nb_optimizer *opt, const nbi_optim_param *s)
{
    return opt->kind->slots(&opt->groups[s->group].opts);
}

/* Makes slot k of parameter i: a rank-0 f64 step count, or a contiguous buffer of the
 * parameter's shape and dtype holding the kind's initial value. */
static nb_status make_slot(nb_optimizer *opt, int i, int k)
{
    nbi_optim_param *s = &opt->params[i];
    const nbi_optim_kind *kind = opt->kind;
    nb_tensor *t;
    if (kind->has_step && k == 0) {
        t = nbi_tensor_alloc(NB_F64, 0, NULL);
        if (t)
            *(double *)nbi_data(t) = 0;
    } else {
        t = nbi_tensor_alloc(s->p->dtype, s->p->rank, s->p->shape);
        double v = kind->init_value ? kind->init_value(&opt->groups[s->group].opts, k) : 0;
        if (t && v == 0)
            memset(nbi_data(t), 0, (size_t)t->numel * nb_dtype_size(t->dtype));
        else if (t)
            for (int64_t j = 0; j < t->numel; j++)
                nbi_store(t->dtype, nbi_data(t), j, v);
    }
    if (!t)
        return nb_error_code();
    s->slot[k] = t;
    snprintf(s->name[k], sizeof s->name[k], "state.%d.%s", i, kind->keys[k]);
    s->fresh |= 1u << k;
    return NB_OK;
}

/* Makes every slot parameter i's group needs and does not have yet. */
static nb_status make_slots(nb_optimizer *opt, int i)
{
    unsigned need = group_slots(opt, &opt->params[i]);
    for (int k = 0; k < NBI_OPTIM_SLOTS; k++)
        if ((need & (1u << k)) && !opt->params[i].slot[k]) {
            nb_status st = make_slot(opt, i, k);
            if (st)
                return st;
        }
    return NB_OK;
}

/* Frees the slots made since the fresh bits were last cleared: undoes a failed step. */
static void drop_fresh_slots(nb_optimizer *opt)
{
    for (int i = 0; i < opt->n_params; i++) {
        nbi_optim_param *s = &opt->params[i];
        for (int k = 0; k < NBI_OPTIM_SLOTS; k++)
            if (s->fresh & (1u << k)) {
                nb_release(s->slot[k]);
                s->slot[k] = NULL;
            }
        s->fresh = 0;
    }
}

/* ---------------------------------------------------------------- groups */

static bool grow(void **items, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return true;
    int c = *cap ? *cap : 4;
    while (c < need)
        c *= 2;
    void *grown = nbi_realloc(*items, (size_t)c * size);
    if (!grown)
        return false;
    *items = grown;
    *cap = c;
    return true;
}

/* Adds params[0..n-1] as a group with options o (already checked). */
static nb_status add_group(nb_optimizer *opt, nb_tensor *const *params, int n, const nbi_optim_opts *o,
                           const char *fn)
{
    if (!params || n < 1)
        return nbi_error(NB_ERR_ARG, "%s: needs at least one parameter (got %s, n = %d)", fn,
                         params ? "an array" : "NULL", n);
    for (int i = 0; i < n; i++) {
        nb_status st = check_param(opt, params, i, fn);
        if (st)
            return st;
    }
    if (!grow((void **)&opt->groups, &opt->cap_groups, opt->n_groups + 1, sizeof *opt->groups)
        || !grow((void **)&opt->params, &opt->cap_params, opt->n_params + n, sizeof *opt->params))
        return nb_error_code();
    int g = opt->n_groups++;
    opt->groups[g] = (nbi_optim_group){ .opts = *o, .lr = opts_lr(o) };
    int first = opt->n_params;
    for (int i = 0; i < n; i++)
        opt->params[opt->n_params++] = (nbi_optim_param){ .p = nb_retain(params[i]), .group = g };
    if (opt->kind->eager) {
        for (int i = first; i < opt->n_params; i++) {
            nb_status st = make_slots(opt, i);
            if (st) {
                /* Undo the whole group. */
                for (int j = first; j < opt->n_params; j++) {
                    for (int k = 0; k < NBI_OPTIM_SLOTS; k++)
                        nb_release(opt->params[j].slot[k]);
                    nb_release(opt->params[j].p);
                }
                opt->n_params = first;
                opt->n_groups--;
                return st;
            }
        }
        for (int i = first; i < opt->n_params; i++)
            opt->params[i].fresh = 0;
    }
    return NB_OK;
}

nb_optimizer *nbi_optimizer_new(const nbi_optim_kind *k, nb_tensor *const *params, int n, const void *opts,
                                const void *defaults)
{
    nbi_optim_opts o;
    if (take_opts(k, opts, defaults, k->ctor, &o))
        return NULL;
    nb_optimizer *opt = nbi_calloc(1, sizeof *opt);
    if (!opt)
        return NULL;
    opt->kind = k;
    opt->defaults = o;
    if (add_group(opt, params, n, &o, k->ctor)) {
        nb_optimizer_free(opt);
        return NULL;
    }
    return opt;
}

NB_API nb_status nb_optimizer_add_group(nb_optimizer *opt, nb_tensor *const *params, int n, const void *group_opts)
{
    const char *fn = "nb_optimizer_add_group";
    if (!opt)
        return nbi_error(NB_ERR_NULL, "%s: optimizer is NULL", fn);
    nbi_optim_opts o;
    nb_status st = take_opts(opt->kind, group_opts, &opt->defaults, fn, &o);
    return st ? st : add_group(opt, params, n, &o, fn);
}

NB_API void nb_optimizer_free(nb_optimizer *opt)
{
    if (!opt)
        return;
    nbi_lr_schedulers_detach(opt);
    for (int i = 0; i < opt->n_params; i++) {
        for (int k = 0; k < NBI_OPTIM_SLOTS; k++)
            nb_release(opt->params[i].slot[k]);
        nb_release(opt->params[i].p);
    }
    nbi_free(opt->params);
    nbi_free(opt->groups);
    nbi_free(opt);
}

/* ---------------------------------------------------------------- step */

NB_API nb_status nb_optimizer_step(nb_optimizer *opt)
{
    const char *fn = "nb_optimizer_step";
    if (!opt)
        return nbi_error(NB_ERR_NULL, "%s: optimizer is NULL", fn);
    /* Check every gradient before touching anything. */
    for (int i = 0; i < opt->n_params; i++) {
        const nb_tensor *p = opt->params[i].p, *g = p->grad;
        if (g && (!nbi_same_shape_t(g, p) || g->dtype != p->dtype)) {
            char a[160], b[160];
            return nbi_error(NB_ERR_SHAPE, "%s: parameter %d: its gradient %s %s does not match the parameter %s %s",
                             fn, i, nb_shape_str(g->rank, g->shape, a, sizeof a), nb_dtype_name(g->dtype),
                             nb_shape_str(p->rank, p->shape, b, sizeof b), nb_dtype_name(p->dtype));
        }
    }
    /* Lazy state, as PyTorch makes it at a parameter's first update. */
    for (int i = 0; i < opt->n_params; i++) {
        if (!opt->params[i].p->grad)
            continue;
        nb_status st = make_slots(opt, i);
        if (st) {
            drop_fresh_slots(opt);
            return st;
        }
    }
    for (int i = 0; i < opt->n_params; i++) {
        nbi_optim_param *s = &opt->params[i];
        if (!s->p->grad)
            continue;
        const nbi_optim_group *grp = &opt->groups[s->group];
        double step = 0;
        if (opt->kind->has_step) {
            double *t = (double *)nbi_data(s->slot[0]);
            step = *t += 1;
        }
        nbi_optim_update u = { .opts = &grp->opts, .lr = grp->lr, .p = s->p, .g = s->p->grad,
                               .slot = s->slot, .fresh = s->fresh, .step = step };
        opt->kind->update(&u);
        nbi_bump_version(s->p);
        for (int k = 0; k < NBI_OPTIM_SLOTS; k++)
            if (s->slot[k])
                nbi_bump_version(s->slot[k]);
        s->fresh = 0;
    }
    return NB_OK;
}

void nbi_optim_run(const nbi_optim_update *u, nbi_row_fn row, void *ctx)
{
    const nb_tensor *p = u->p, *g = u->g;
    nbi_iter it;
    if (nbi_is_contiguous(p->rank, p->shape, p->strides) && nbi_is_contiguous(g->rank, g->shape, g->strides)) {
        nbi_iter_flat(&it, p->numel, 3);
    } else {
        int64_t state_strides[NB_MAX_RANK];
        nbi_contiguous_strides(p->rank, p->shape, state_strides);
        const int64_t *strides[3] = { p->strides, g->strides, state_strides };
        nbi_iter_init(&it, p->rank, p->shape, 3, strides);
    }
    nbi_iter_run(&it, row, ctx);
}

NB_API void nb_optimizer_zero_grad(nb_optimizer *opt)
{
    if (!opt)
        return;
    for (int i = 0; i < opt->n_params; i++)
        nb_zero_grad(opt->params[i].p);
}

/* ---------------------------------------------------------------- groups and learning rates */

NB_API nb_optim_kind nb_optimizer_kind(const nb_optimizer *opt)
{
    return opt ? opt->kind->kind : (nb_optim_kind)0;
}

NB_API int nb_optimizer_group_count(const nb_optimizer *opt)
{
    return opt ? opt->n_groups : 0;
}

NB_API int nb_optimizer_param_count(const nb_optimizer *opt)
{
    return opt ? opt->n_params : 0;
}

static nb_status check_group(const nb_optimizer *opt, int group, const char *fn)
{
    if (!opt)
        return nbi_error(NB_ERR_NULL, "%s: optimizer is NULL", fn);
    if (group < 0 || group >= opt->n_groups)
        return nbi_error(NB_ERR_ARG, "%s: group %d is out of range (the optimizer has %d group%s)", fn, group,
                         opt->n_groups, opt->n_groups == 1 ? "" : "s");
    return NB_OK;
}

NB_API double nb_optimizer_lr(const nb_optimizer *opt, int group)
{
    if (check_group(opt, group, "nb_optimizer_lr"))
        return NAN;
    return opt->groups[group].lr;
}

NB_API nb_status nb_optimizer_set_lr(nb_optimizer *opt, int group, double lr)
{
    const char *fn = "nb_optimizer_set_lr";
    nb_status st = check_group(opt, group, fn);
    if (!st)
        st = nbi_optim_check_nonneg(fn, "lr", lr);
    if (!st)
        opt->groups[group].lr = lr;
    return st;
}

/* ---------------------------------------------------------------- state access */

NB_API int nb_optimizer_state_count(const nb_optimizer *opt)
{
    int count = 0;
    for (int i = 0; opt && i < opt->n_params; i++)
        for (int k = 0; k < NBI_OPTIM_SLOTS; k++)
            count += opt->params[i].slot[k] != NULL;
    return count;
}

NB_API nb_tensor *nb_optimizer_state_tensor(const nb_optimizer *opt, int i, const char **name)
{
    const char *fn = "nb_optimizer_state_tensor";
    if (name)
        *name = NULL;
    if (!opt) {
        nbi_error(NB_ERR_NULL, "%s: optimizer is NULL", fn);
        return NULL;
    }
    int left = i;
    for (int j = 0; i >= 0 && j < opt->n_params; j++)
        for (int k = 0; k < NBI_OPTIM_SLOTS; k++) {
            if (!opt->params[j].slot[k])
                continue;
            if (left-- == 0) {
                if (name)
                    *name = opt->params[j].name[k];
                return opt->params[j].slot[k];
            }
        }
    nbi_error(NB_ERR_ARG, "%s: index %d is out of range (the optimizer has %d state tensors)", fn, i,
              nb_optimizer_state_count(opt));
    return NULL;
}

NB_API nb_status nb_optimizer_init_state(nb_optimizer *opt)
{
    if (!opt)
        return nbi_error(NB_ERR_NULL, "nb_optimizer_init_state: optimizer is NULL");
    for (int i = 0; i < opt->n_params; i++) {
        nb_status st = make_slots(opt, i);
        if (st) {
            drop_fresh_slots(opt);
            return st;
        }
    }
    for (int i = 0; i < opt->n_params; i++)
        opt->params[i].fresh = 0;
    return NB_OK;
}
