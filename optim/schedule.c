/* Learning-rate schedules: step, multi-step, exponential, cosine annealing, linear
 * warm-up and reduce-on-plateau, as torch.optim.lr_scheduler in PyTorch 1.13.
 *
 * The epoch-driven schedules use PyTorch's chainable forms (get_lr, not the closed forms):
 * each step computes a group's next lr from its current one, so schedulers stacked on one
 * optimizer compose, and the arithmetic is PyTorch's, operation for operation. As in
 * PyTorch with last_epoch = -1, the constructor records each group's initial lr (unless
 * an earlier scheduler did) and takes the epoch-0 step. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error_impl.h"
#include "optim/optim_impl.h"

typedef enum sched_type {
    SCHED_STEP,
    SCHED_MULTISTEP,
    SCHED_EXPONENTIAL,
    SCHED_COSINE,
    SCHED_LINEAR,
    SCHED_PLATEAU,
} sched_type;

struct nb_lr_scheduler {
    sched_type type;
    nb_optimizer *opt;          /* NULL once the optimizer is freed */
    nb_lr_scheduler *next;      /* in opt->schedulers */
    int n_groups;               /* the groups it sets: those that existed when it was made */
    double *base_lrs;           /* their initial lrs */
    int last_epoch;
    /* step, multistep, exponential */
    int step_size;
    double gamma;
    int *milestones;
    int n_milestones;
    /* cosine */
    int t_max;
    double eta_min;
    /* linear */
    double start_factor, end_factor;
    int total_iters;
    /* plateau */
    nb_plateau_opts plateau;
    double *min_lrs;
    double best;
    int num_bad_epochs, cooldown_counter;
};

/* ---------------------------------------------------------------- binding */

static nb_lr_scheduler *sched_alloc(nb_optimizer *opt, sched_type type, const char *fn)
{
    if (!opt) {
        nbi_error(NB_ERR_NULL, "%s: optimizer is NULL", fn);
        return NULL;
    }
    nb_lr_scheduler *s = nbi_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->type = type;
    s->n_groups = opt->n_groups;
    s->base_lrs = nbi_calloc((size_t)opt->n_groups, sizeof *s->base_lrs);
    if (!s->base_lrs) {
        nbi_free(s);
        return NULL;
    }
    return s;
}

static void sched_bind(nb_optimizer *opt, nb_lr_scheduler *s)
{
    s->opt = opt;
    s->next = opt->schedulers;
    opt->schedulers = s;
}

void nbi_lr_schedulers_detach(nb_optimizer *opt)
{
    nb_lr_scheduler *s = opt->schedulers;
    while (s) {
        nb_lr_scheduler *next = s->next;
        s->opt = NULL;
        s->next = NULL;
        s = next;
    }
    opt->schedulers = NULL;
}

NB_API void nb_lr_scheduler_free(nb_lr_scheduler *s)
{
    if (!s)
        return;
    if (s->opt)
        for (nb_lr_scheduler **link = &s->opt->schedulers; *link; link = &(*link)->next)
            if (*link == s) {
                *link = s->next;
                break;
            }
    nbi_free(s->base_lrs);
    nbi_free(s->milestones);
    nbi_free(s->min_lrs);
    nbi_free(s);
}

/* ---------------------------------------------------------------- epoch-driven schedules */

/* The next lr of a group whose lr is lr and initial lr base, at epoch s->last_epoch:
 * PyTorch's get_lr for that class. */
static double next_lr(const nb_lr_scheduler *s, double lr, double base)
{
    const int e = s->last_epoch;
    switch (s->type) {
    case SCHED_STEP:
        return e == 0 || e % s->step_size != 0 ? lr : lr * s->gamma;
    case SCHED_MULTISTEP: {
        int count = 0;
        for (int k = 0; k < s->n_milestones; k++)
            count += s->milestones[k] == e;
        return count == 0 ? lr : lr * pow(s->gamma, count);
    }
    case SCHED_EXPONENTIAL:
        return e == 0 ? lr : lr * s->gamma;
    case SCHED_COSINE: {
        const double t = s->t_max;
        if (e == 0)
            return lr;
        /* Where the recursive ratio below would be 0 / 0: the bottom of a cycle. */
        if ((e - 1 - s->t_max) % (2 * s->t_max) == 0)
            return lr + (base - s->eta_min) * (1 - cos(M_PI / t)) / 2;
        return (1 + cos(M_PI * e / t)) / (1 + cos(M_PI * (e - 1) / t)) * (lr - s->eta_min) + s->eta_min;
    }
    case SCHED_LINEAR:
        if (e == 0)
            return lr * s->start_factor;
        if (e > s->total_iters)
            return lr;
        return lr * (1. + (s->end_factor - s->start_factor)
                              / (s->total_iters * s->start_factor + (e - 1) * (s->end_factor - s->start_factor)));
    case SCHED_PLATEAU:
        break;
    }
    return lr;
}

static void epoch_step(nb_lr_scheduler *s)
{
    s->last_epoch++;
    for (int g = 0; g < s->n_groups; g++)
        s->opt->groups[g].lr = next_lr(s, s->opt->groups[g].lr, s->base_lrs[g]);
}

/* Records initial lrs (PyTorch's group.setdefault('initial_lr', group['lr'])), binds s and
 * takes the epoch-0 step. */
static nb_lr_scheduler *sched_start(nb_optimizer *opt, nb_lr_scheduler *s)
{
    for (int g = 0; g < s->n_groups; g++) {
        nbi_optim_group *grp = &opt->groups[g];
        if (!grp->has_initial_lr) {
            grp->initial_lr = grp->lr;
            grp->has_initial_lr = true;
        }
        s->base_lrs[g] = grp->initial_lr;
    }
    s->last_epoch = -1;
    sched_bind(opt, s);
    epoch_step(s);
    return s;
}

static nb_status check_gamma(const char *fn, double gamma)
{
    return nbi_optim_check_nonneg(fn, "gamma", gamma);
}

NB_API nb_lr_scheduler *nb_step_lr_new(nb_optimizer *opt, int step_size, double gamma)
{
    const char *fn = "nb_step_lr_new";
    if (opt && step_size < 1) {
        nbi_error(NB_ERR_ARG, "%s: step_size must be >= 1, got %d", fn, step_size);
        return NULL;
    }
    if (opt && check_gamma(fn, gamma))
        return NULL;
    nb_lr_scheduler *s = sched_alloc(opt, SCHED_STEP, fn);
    if (!s)
        return NULL;
    s->step_size = step_size;
    s->gamma = gamma;
    return sched_start(opt, s);
}

NB_API nb_lr_scheduler *nb_multistep_lr_new(nb_optimizer *opt, const int *milestones, int n, double gamma)
{
    const char *fn = "nb_multistep_lr_new";
    if (opt && (!milestones || n < 1)) {
        nbi_error(NB_ERR_ARG, "%s: needs at least one milestone (got %s, n = %d)", fn,
                  milestones ? "an array" : "NULL", n);
        return NULL;
    }
    for (int k = 0; opt && k < n; k++)
        if (milestones[k] < 1) {
            nbi_error(NB_ERR_ARG, "%s: milestone %d is %d; milestones are epochs >= 1", fn, k, milestones[k]);
            return NULL;
        }
    if (opt && check_gamma(fn, gamma))
        return NULL;
    nb_lr_scheduler *s = sched_alloc(opt, SCHED_MULTISTEP, fn);
    if (!s)
        return NULL;
    s->milestones = nbi_malloc((size_t)n * sizeof *s->milestones);
    if (!s->milestones) {
        nb_lr_scheduler_free(s);
        return NULL;
    }
    memcpy(s->milestones, milestones, (size_t)n * sizeof *milestones);
    s->n_milestones = n;
    s->gamma = gamma;
    return sched_start(opt, s);
}

NB_API nb_lr_scheduler *nb_exponential_lr_new(nb_optimizer *opt, double gamma)
{
    const char *fn = "nb_exponential_lr_new";
    if (opt && check_gamma(fn, gamma))
        return NULL;
    nb_lr_scheduler *s = sched_alloc(opt, SCHED_EXPONENTIAL, fn);
    if (!s)
        return NULL;
    s->gamma = gamma;
    return sched_start(opt, s);
}

NB_API nb_lr_scheduler *nb_cosine_annealing_lr_new(nb_optimizer *opt, int t_max, double eta_min)
{
    const char *fn = "nb_cosine_annealing_lr_new";
    if (opt && t_max < 1) {
        nbi_error(NB_ERR_ARG, "%s: t_max must be >= 1, got %d", fn, t_max);
        return NULL;
    }
    if (opt && nbi_optim_check_nonneg(fn, "eta_min", eta_min))
        return NULL;
    nb_lr_scheduler *s = sched_alloc(opt, SCHED_COSINE, fn);
    if (!s)
        return NULL;
    s->t_max = t_max;
    s->eta_min = eta_min;
    return sched_start(opt, s);
}

NB_API nb_lr_scheduler *nb_linear_lr_new(nb_optimizer *opt, double start_factor, double end_factor, int total_iters)
{
    const char *fn = "nb_linear_lr_new";
    if (opt && !(start_factor > 0 && start_factor <= 1)) {
        nbi_error(NB_ERR_ARG, "%s: start_factor must be in (0, 1], got %g", fn, start_factor);
        return NULL;
    }
    if (opt && nbi_optim_check_range(fn, "end_factor", end_factor, 0, 1, false))
        return NULL;
    if (opt && total_iters < 1) {
        nbi_error(NB_ERR_ARG, "%s: total_iters must be >= 1, got %d", fn, total_iters);
        return NULL;
    }
    nb_lr_scheduler *s = sched_alloc(opt, SCHED_LINEAR, fn);
    if (!s)
        return NULL;
    s->start_factor = start_factor;
    s->end_factor = end_factor;
    s->total_iters = total_iters;
    return sched_start(opt, s);
}

/* ---------------------------------------------------------------- reduce-on-plateau */

NB_API nb_plateau_opts nb_plateau_opts_default(void)
{
    return (nb_plateau_opts){ .mode = NB_PLATEAU_MIN, .factor = 0.1, .patience = 10, .threshold = 1e-4,
                              .threshold_mode = NB_THRESHOLD_REL, .cooldown = 0, .min_lr = 0, .eps = 1e-8 };
}

static nb_status plateau_check(const nb_optimizer *opt, const nb_plateau_opts *o, const char *fn)
{
    nb_status st;
    if (o->mode != NB_PLATEAU_MIN && o->mode != NB_PLATEAU_MAX)
        return nbi_error(NB_ERR_ARG, "%s: mode %d is neither NB_PLATEAU_MIN nor NB_PLATEAU_MAX", fn, (int)o->mode);
    if (o->threshold_mode != NB_THRESHOLD_REL && o->threshold_mode != NB_THRESHOLD_ABS)
        return nbi_error(NB_ERR_ARG, "%s: threshold_mode %d is neither NB_THRESHOLD_REL nor NB_THRESHOLD_ABS", fn,
                         (int)o->threshold_mode);
    if ((st = nbi_optim_check_range(fn, "factor", o->factor, 0, 1, true)))
        return st;
    if (o->patience < 0)
        return nbi_error(NB_ERR_ARG, "%s: patience must be >= 0, got %d", fn, o->patience);
    if (o->cooldown < 0)
        return nbi_error(NB_ERR_ARG, "%s: cooldown must be >= 0, got %d", fn, o->cooldown);
    if ((st = nbi_optim_check_nonneg(fn, "threshold", o->threshold)) || (st = nbi_optim_check_nonneg(fn, "eps", o->eps)))
        return st;
    if (!o->min_lrs)
        return nbi_optim_check_nonneg(fn, "min_lr", o->min_lr);
    for (int g = 0; g < opt->n_groups; g++)
        if (!(o->min_lrs[g] >= 0) || isinf(o->min_lrs[g]))
            return nbi_error(NB_ERR_ARG, "%s: min_lrs[%d] must be a finite number >= 0, got %g", fn, g, o->min_lrs[g]);
    return NB_OK;
}

NB_API nb_lr_scheduler *nb_reduce_on_plateau_new(nb_optimizer *opt, const nb_plateau_opts *opts)
{
    const char *fn = "nb_reduce_on_plateau_new";
    nb_plateau_opts o = opts ? *opts : nb_plateau_opts_default();
    if (opt && plateau_check(opt, &o, fn))
        return NULL;
    nb_lr_scheduler *s = sched_alloc(opt, SCHED_PLATEAU, fn);
    if (!s)
        return NULL;
    s->min_lrs = nbi_malloc((size_t)(opt->n_groups ? opt->n_groups : 1) * sizeof *s->min_lrs);
    if (!s->min_lrs) {
        nb_lr_scheduler_free(s);
        return NULL;
    }
    for (int g = 0; g < opt->n_groups; g++)
        s->min_lrs[g] = o.min_lrs ? o.min_lrs[g] : o.min_lr;
    o.min_lrs = NULL;   /* borrowed: not kept */
    s->plateau = o;
    s->best = o.mode == NB_PLATEAU_MIN ? INFINITY : -INFINITY;
    s->last_epoch = 0;
    sched_bind(opt, s);
    return s;
}

static bool is_better(const nb_lr_scheduler *s, double a)
{
    const nb_plateau_opts *o = &s->plateau;
    if (o->mode == NB_PLATEAU_MIN)
        return o->threshold_mode == NB_THRESHOLD_REL ? a < s->best * (1. - o->threshold) : a < s->best - o->threshold;
    return o->threshold_mode == NB_THRESHOLD_REL ? a > s->best * (o->threshold + 1.) : a > s->best + o->threshold;
}

static void plateau_step(nb_lr_scheduler *s, double metric)
{
    s->last_epoch++;
    if (is_better(s, metric)) {
        s->best = metric;
        s->num_bad_epochs = 0;
    } else {
        s->num_bad_epochs++;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->num_bad_epochs = 0;   /* bad epochs in cooldown do not count */
    }
    if (s->num_bad_epochs > s->plateau.patience) {
        for (int g = 0; g < s->n_groups; g++) {
            double old_lr = s->opt->groups[g].lr, new_lr = old_lr * s->plateau.factor;
            if (s->min_lrs[g] > new_lr)
                new_lr = s->min_lrs[g];
            if (old_lr - new_lr > s->plateau.eps)
                s->opt->groups[g].lr = new_lr;
        }
        s->cooldown_counter = s->plateau.cooldown;
        s->num_bad_epochs = 0;
    }
}

/* ---------------------------------------------------------------- stepping */

static nb_status check_bound(const nb_lr_scheduler *s, const char *fn)
{
    if (!s)
        return nbi_error(NB_ERR_NULL, "%s: scheduler is NULL", fn);
    if (!s->opt)
        return nbi_error(NB_ERR_STATE, "%s: the optimizer this scheduler was bound to has been freed", fn);
    return NB_OK;
}

NB_API nb_status nb_lr_scheduler_step(nb_lr_scheduler *s)
{
    const char *fn = "nb_lr_scheduler_step";
    nb_status st = check_bound(s, fn);
    if (st)
        return st;
    if (s->type == SCHED_PLATEAU)
        return nbi_error(NB_ERR_ARG, "%s: reduce-on-plateau needs the metric: call nb_lr_scheduler_step_metric", fn);
    epoch_step(s);
    return NB_OK;
}

NB_API nb_status nb_lr_scheduler_step_metric(nb_lr_scheduler *s, double metric)
{
    nb_status st = check_bound(s, "nb_lr_scheduler_step_metric");
    if (st)
        return st;
    if (s->type == SCHED_PLATEAU)
        plateau_step(s, metric);
    else
        epoch_step(s);
    return NB_OK;
}

NB_API int nb_lr_scheduler_last_epoch(const nb_lr_scheduler *s)
{
    return s ? s->last_epoch : -1;
}
