/* Runs nabla's optimizers and learning-rate schedules and writes what they did as JSON lines
 * for tests/optim/parity.py, which replays the same in torch.optim and compares.
 *
 * Optimizer cases (one line per configuration and dtype): a small two-layer model (W1 [4, 3],
 * b1 [4], W2 [2, 4] stored transposed so that it is not contiguous, b2 [2]) starts from
 * seeded weights; each of STEPS steps draws a fresh batch, computes the mean squared error
 * with nabla ops, runs nb_backward, forgets b2's gradient on every tenth step (so the step
 * skips it, as PyTorch skips a None grad), optionally clips, and calls nb_optimizer_step
 * (and a scheduler step). The line holds the initial weights, every gradient fed to the
 * optimizer (before clipping), the clipping norms, the final weights and every state
 * tensor by its PyTorch-like name.
 *
 * Schedule cases: an SGD optimizer with two groups and one or more schedulers; the line
 * holds each group's learning rate after construction and after every epoch (with the
 * metric fed to reduce-on-plateau).
 *
 * Values are printed so that they read back exactly (%.17g). A case nabla cannot run is
 * written with an "error" field, which parity.py counts as a failure.
 *
 * Usage: optim_parity_dump [output file]   (stdout by default) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nabla.h>

enum { STEPS = 100, N_PARAMS = 4, BATCH = 6, SKIP_EVERY = 10 };

/* ---------------------------------------------------------------- JSON */

static void put_number(FILE *f, double v)
{
    if (isnan(v))
        fputs("NaN", f);
    else if (isinf(v))
        fputs(v > 0 ? "Infinity" : "-Infinity", f);
    else
        fprintf(f, "%.17g", v);
}

static nb_status put_values(FILE *f, const nb_tensor *t)
{
    int64_t n = nb_tensor_numel(t);
    double *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof *buf);
    if (!buf)
        return NB_ERR_MEMORY;
    nb_status st = nb_tensor_copy_to(t, buf, NB_F64, n);
    if (!st) {
        fputc('[', f);
        for (int64_t i = 0; i < n; i++) {
            if (i)
                fputs(", ", f);
            put_number(f, buf[i]);
        }
        fputc(']', f);
    }
    free(buf);
    return st;
}

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static const char *bool_str(bool b)
{
    return b ? "true" : "false";
}

/* ---------------------------------------------------------------- optimizer cases */

typedef enum clip_type { CLIP_NONE, CLIP_NORM, CLIP_VALUE } clip_type;
typedef enum sched_type { SCHED_NONE, SCHED_STEP, SCHED_COSINE } sched_type;

typedef struct group_spec {
    int first, count;          /* parameters [first, first + count) */
    nb_sgd_opts sgd;
    nb_adam_opts adam;
    nb_adamw_opts adamw;
    nb_rmsprop_opts rmsprop;
    nb_adagrad_opts adagrad;
} group_spec;

typedef struct opt_case {
    const char *name;
    nb_optim_kind kind;
    int n_groups;
    group_spec groups[2];
    clip_type clip;
    double clip_arg, norm_type;
    sched_type sched;
    int sched_int;
    double sched_arg;
} opt_case;

/* Options as torch.optim's keyword arguments. */
static void put_opts(FILE *f, nb_optim_kind kind, const group_spec *g)
{
    switch (kind) {
    case NB_OPTIM_SGD: {
        const nb_sgd_opts *o = &g->sgd;
        fprintf(f, "{\"lr\": %.17g, \"momentum\": %.17g, \"dampening\": %.17g, \"weight_decay\": %.17g, "
                   "\"nesterov\": %s, \"maximize\": %s}", o->lr, o->momentum, o->dampening, o->weight_decay,
                bool_str(o->nesterov), bool_str(o->maximize));
        break;
    }
    case NB_OPTIM_ADAM: {
        const nb_adam_opts *o = &g->adam;
        fprintf(f, "{\"lr\": %.17g, \"betas\": [%.17g, %.17g], \"eps\": %.17g, \"weight_decay\": %.17g, "
                   "\"amsgrad\": %s, \"maximize\": %s}", o->lr, o->beta1, o->beta2, o->eps, o->weight_decay,
                bool_str(o->amsgrad), bool_str(o->maximize));
        break;
    }
    case NB_OPTIM_ADAMW: {
        const nb_adamw_opts *o = &g->adamw;
        fprintf(f, "{\"lr\": %.17g, \"betas\": [%.17g, %.17g], \"eps\": %.17g, \"weight_decay\": %.17g, "
                   "\"amsgrad\": %s, \"maximize\": %s}", o->lr, o->beta1, o->beta2, o->eps, o->weight_decay,
                bool_str(o->amsgrad), bool_str(o->maximize));
        break;
    }
    case NB_OPTIM_RMSPROP: {
        const nb_rmsprop_opts *o = &g->rmsprop;
        fprintf(f, "{\"lr\": %.17g, \"alpha\": %.17g, \"eps\": %.17g, \"weight_decay\": %.17g, \"momentum\": %.17g, "
                   "\"centered\": %s, \"maximize\": %s}", o->lr, o->alpha, o->eps, o->weight_decay, o->momentum,
                bool_str(o->centered), bool_str(o->maximize));
        break;
    }
    case NB_OPTIM_ADAGRAD: {
        const nb_adagrad_opts *o = &g->adagrad;
        fprintf(f, "{\"lr\": %.17g, \"lr_decay\": %.17g, \"weight_decay\": %.17g, "
                   "\"initial_accumulator_value\": %.17g, \"eps\": %.17g, \"maximize\": %s}", o->lr, o->lr_decay,
                o->weight_decay, o->initial_accumulator_value, o->eps, bool_str(o->maximize));
        break;
    }
    }
}

static const void *group_opts(nb_optim_kind kind, const group_spec *g)
{
    switch (kind) {
    case NB_OPTIM_SGD: return &g->sgd;
    case NB_OPTIM_ADAM: return &g->adam;
    case NB_OPTIM_ADAMW: return &g->adamw;
    case NB_OPTIM_RMSPROP: return &g->rmsprop;
    case NB_OPTIM_ADAGRAD: return &g->adagrad;
    }
    return NULL;
}

static nb_optimizer *make_optimizer(const opt_case *c, nb_tensor *const *params)
{
    const group_spec *g = &c->groups[0];
    nb_tensor *const *p = params + g->first;
    nb_optimizer *opt = NULL;
    switch (c->kind) {
    case NB_OPTIM_SGD: opt = nb_sgd_new(p, g->count, &g->sgd); break;
    case NB_OPTIM_ADAM: opt = nb_adam_new(p, g->count, &g->adam); break;
    case NB_OPTIM_ADAMW: opt = nb_adamw_new(p, g->count, &g->adamw); break;
    case NB_OPTIM_RMSPROP: opt = nb_rmsprop_new(p, g->count, &g->rmsprop); break;
    case NB_OPTIM_ADAGRAD: opt = nb_adagrad_new(p, g->count, &g->adagrad); break;
    }
    for (int k = 1; opt && k < c->n_groups; k++) {
        g = &c->groups[k];
        if (nb_optimizer_add_group(opt, params + g->first, g->count, group_opts(c->kind, g)) != NB_OK) {
            nb_optimizer_free(opt);
            return NULL;
        }
    }
    return opt;
}

static const char *kind_name(nb_optim_kind k)
{
    switch (k) {
    case NB_OPTIM_SGD: return "sgd";
    case NB_OPTIM_ADAM: return "adam";
    case NB_OPTIM_ADAMW: return "adamw";
    case NB_OPTIM_RMSPROP: return "rmsprop";
    case NB_OPTIM_ADAGRAD: return "adagrad";
    }
    return "?";
}

/* Mean squared error of the two-layer model on one batch. */
static nb_tensor *model_loss(nb_tensor *const *w, nb_tensor *x, nb_tensor *y)
{
    nb_tensor *h = nb_tanh(nb_add(nb_matmul(x, nb_transpose(w[0], 0, 1)), w[1]));
    nb_tensor *out = nb_add(nb_matmul(h, nb_transpose(w[2], 0, 1)), w[3]);
    return nb_mean_all(nb_square(nb_sub(out, y)));
}

static nb_tensor *uniform(nb_rng *rng, nb_dtype dtype, int rank, const int64_t *shape, double lo, double hi)
{
    return nb_uniform(rng, dtype, rank, shape, lo, hi);
}

/* Runs one case; writes its line. Returns false when nabla failed (the line says why). */
static bool run_case(FILE *f, const opt_case *c, nb_dtype dtype)
{
    nb_scope *outer = nb_scope_begin();
    nb_rng *rng = nb_rng_new(20240611);
    const char *dname = dtype == NB_F32 ? "f32" : "f64";
    /* W2 [2, 4] is the transpose of a contiguous [4, 2] tensor: a strided parameter. */
    nb_tensor *w2_base = uniform(rng, dtype, NB_SHAPE(4, 2), -1, 1);
    nb_tensor *params[N_PARAMS] = {
        uniform(rng, dtype, NB_SHAPE(4, 3), -1, 1),
        uniform(rng, dtype, NB_SHAPE(4), -0.5, 0.5),
        nb_transpose(w2_base, 0, 1),
        uniform(rng, dtype, NB_SHAPE(2), -0.5, 0.5),
    };
    bool ok = true;
    for (int i = 0; i < N_PARAMS; i++)
        ok = ok && nb_requires_grad(params[i], true) == NB_OK;
    nb_optimizer *opt = ok ? make_optimizer(c, params) : NULL;
    nb_lr_scheduler *sched = NULL;
    if (opt && c->sched == SCHED_STEP)
        sched = nb_step_lr_new(opt, c->sched_int, c->sched_arg);
    else if (opt && c->sched == SCHED_COSINE)
        sched = nb_cosine_annealing_lr_new(opt, c->sched_int, c->sched_arg);
    ok = opt && (c->sched == SCHED_NONE || sched);

    fprintf(f, "{\"kind\": \"optimizer\", \"name\": \"%s\", \"dtype\": \"%s\", \"optimizer\": \"%s\", \"groups\": [",
            c->name, dname, kind_name(c->kind));
    for (int k = 0; k < c->n_groups; k++) {
        fprintf(f, "%s{\"params\": [", k ? ", " : "");
        for (int i = 0; i < c->groups[k].count; i++)
            fprintf(f, "%s%d", i ? ", " : "", c->groups[k].first + i);
        fputs("], \"opts\": ", f);
        put_opts(f, c->kind, &c->groups[k]);
        fputc('}', f);
    }
    fputs("], \"clip\": ", f);
    if (c->clip == CLIP_NORM) {
        fprintf(f, "{\"type\": \"norm\", \"max_norm\": %.17g, \"norm_type\": ", c->clip_arg);
        put_number(f, c->norm_type);
        fputc('}', f);
    } else if (c->clip == CLIP_VALUE)
        fprintf(f, "{\"type\": \"value\", \"clip_value\": %.17g}", c->clip_arg);
    else
        fputs("null", f);
    fputs(", \"schedule\": ", f);
    if (c->sched == SCHED_STEP)
        fprintf(f, "{\"type\": \"step\", \"step_size\": %d, \"gamma\": %.17g}", c->sched_int, c->sched_arg);
    else if (c->sched == SCHED_COSINE)
        fprintf(f, "{\"type\": \"cosine\", \"t_max\": %d, \"eta_min\": %.17g}", c->sched_int, c->sched_arg);
    else
        fputs("null", f);

    fputs(", \"shapes\": [", f);
    for (int i = 0; ok && i < N_PARAMS; i++) {
        fputs(i ? ", [" : "[", f);
        for (int d = 0; d < nb_tensor_rank(params[i]); d++)
            fprintf(f, "%s%lld", d ? ", " : "", (long long)nb_tensor_shape(params[i])[d]);
        fputc(']', f);
    }
    fputs("], \"initial\": [", f);
    for (int i = 0; ok && i < N_PARAMS; i++) {
        fputs(i ? ", " : "", f);
        ok = put_values(f, params[i]) == NB_OK;
    }
    fputs("], \"grads\": [", f);
    double norms[STEPS];
    for (int t = 0; ok && t < STEPS; t++) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *x = uniform(rng, dtype, NB_SHAPE(BATCH, 3), -2, 2);
        nb_tensor *y = uniform(rng, dtype, NB_SHAPE(BATCH, 2), -1, 1);
        nb_optimizer_zero_grad(opt);
        ok = nb_backward(model_loss(params, x, y), NULL) == NB_OK;
        if (t % SKIP_EVERY == SKIP_EVERY - 1)
            nb_zero_grad(params[3]);
        fputs(t ? ", [" : "[", f);
        for (int i = 0; ok && i < N_PARAMS; i++) {
            fputs(i ? ", " : "", f);
            const nb_tensor *g = nb_tensor_grad(params[i]);
            if (g)
                ok = put_values(f, g) == NB_OK;
            else
                fputs("null", f);
        }
        fputc(']', f);
        if (ok && c->clip == CLIP_NORM)
            ok = nb_clip_grad_norm(params, N_PARAMS, c->clip_arg, c->norm_type, &norms[t]) == NB_OK;
        else if (ok && c->clip == CLIP_VALUE)
            ok = nb_clip_grad_value(params, N_PARAMS, c->clip_arg) == NB_OK;
        ok = ok && nb_optimizer_step(opt) == NB_OK;
        if (ok && sched)
            ok = nb_lr_scheduler_step(sched) == NB_OK;
        nb_scope_end(s);
    }
    fputs("], \"total_norms\": [", f);
    for (int t = 0; ok && c->clip == CLIP_NORM && t < STEPS; t++) {
        fputs(t ? ", " : "", f);
        put_number(f, norms[t]);
    }
    fputs("], \"final\": [", f);
    for (int i = 0; ok && i < N_PARAMS; i++) {
        fputs(i ? ", " : "", f);
        ok = put_values(f, params[i]) == NB_OK;
    }
    fputs("], \"state\": {", f);
    for (int i = 0; ok && i < nb_optimizer_state_count(opt); i++) {
        const char *name;
        nb_tensor *t = nb_optimizer_state_tensor(opt, i, &name);
        ok = t != NULL;
        if (ok) {
            fprintf(f, "%s\"%s\": ", i ? ", " : "", name);
            ok = put_values(f, t) == NB_OK;
        }
    }
    fputc('}', f);
    if (!ok) {
        fputs(", \"error\": ", f);
        put_string(f, nb_error());
    }
    fputs("}\n", f);
    nb_lr_scheduler_free(sched);
    nb_optimizer_free(opt);
    nb_rng_free(rng);
    nb_scope_end(outer);
    return ok;
}

/* Options for one group over every parameter, from a kind's defaults. */
static group_spec all_params(void)
{
    group_spec g = { .first = 0, .count = N_PARAMS };
    g.sgd = nb_sgd_opts_default();
    g.adam = nb_adam_opts_default();
    g.adamw = nb_adamw_opts_default();
    g.rmsprop = nb_rmsprop_opts_default();
    g.adagrad = nb_adagrad_opts_default();
    return g;
}

static group_spec some_params(int first, int count)
{
    group_spec g = all_params();
    g.first = first;
    g.count = count;
    return g;
}

static int n_cases;
static opt_case cases[32];

static opt_case *add(const char *name, nb_optim_kind kind)
{
    opt_case *c = &cases[n_cases++];
    *c = (opt_case){ .name = name, .kind = kind, .n_groups = 1, .groups = { all_params() } };
    return c;
}

static void define_cases(void)
{
    opt_case *c;
    group_spec *g;

    g = &add("sgd", NB_OPTIM_SGD)->groups[0];
    g->sgd.lr = 0.1;
    g = &add("sgd_momentum_dampening", NB_OPTIM_SGD)->groups[0];
    g->sgd.lr = 0.05, g->sgd.momentum = 0.9, g->sgd.dampening = 0.1;
    g = &add("sgd_nesterov_weight_decay", NB_OPTIM_SGD)->groups[0];
    g->sgd.lr = 0.05, g->sgd.momentum = 0.9, g->sgd.nesterov = true, g->sgd.weight_decay = 0.01;
    g = &add("sgd_momentum_weight_decay_maximize", NB_OPTIM_SGD)->groups[0];
    g->sgd.lr = 0.002, g->sgd.momentum = 0.5, g->sgd.weight_decay = 0.1, g->sgd.maximize = true;

    g = &add("adam", NB_OPTIM_ADAM)->groups[0];
    g->adam.lr = 0.01;
    g = &add("adam_amsgrad_weight_decay", NB_OPTIM_ADAM)->groups[0];
    g->adam.lr = 0.01, g->adam.amsgrad = true, g->adam.weight_decay = 0.05;
    g = &add("adam_betas_eps_maximize", NB_OPTIM_ADAM)->groups[0];
    g->adam.lr = 0.005, g->adam.beta1 = 0.8, g->adam.beta2 = 0.99, g->adam.eps = 1e-6, g->adam.maximize = true;

    g = &add("adamw", NB_OPTIM_ADAMW)->groups[0];
    g->adamw.lr = 0.01;
    g = &add("adamw_amsgrad_weight_decay", NB_OPTIM_ADAMW)->groups[0];
    g->adamw.lr = 0.01, g->adamw.amsgrad = true, g->adamw.weight_decay = 0.1;

    g = &add("rmsprop", NB_OPTIM_RMSPROP)->groups[0];
    g->rmsprop.lr = 0.01;
    g = &add("rmsprop_centered", NB_OPTIM_RMSPROP)->groups[0];
    g->rmsprop.lr = 0.01, g->rmsprop.centered = true;
    g = &add("rmsprop_momentum_weight_decay", NB_OPTIM_RMSPROP)->groups[0];
    g->rmsprop.lr = 0.005, g->rmsprop.momentum = 0.9, g->rmsprop.weight_decay = 0.01;
    g = &add("rmsprop_centered_momentum_alpha_eps", NB_OPTIM_RMSPROP)->groups[0];
    g->rmsprop.lr = 0.005, g->rmsprop.alpha = 0.9, g->rmsprop.centered = true, g->rmsprop.momentum = 0.8;
    g->rmsprop.eps = 1e-6;

    g = &add("adagrad", NB_OPTIM_ADAGRAD)->groups[0];
    g->adagrad.lr = 0.1;
    g = &add("adagrad_lr_decay_weight_decay_initial", NB_OPTIM_ADAGRAD)->groups[0];
    g->adagrad.lr = 0.1, g->adagrad.lr_decay = 0.01, g->adagrad.weight_decay = 0.01;
    g->adagrad.initial_accumulator_value = 0.1, g->adagrad.eps = 1e-8;

    /* Parameter groups with their own hyper-parameters. */
    c = add("sgd_two_groups", NB_OPTIM_SGD);
    c->n_groups = 2;
    c->groups[0] = some_params(0, 2), c->groups[1] = some_params(2, 2);
    c->groups[0].sgd.lr = 0.05, c->groups[0].sgd.momentum = 0.9;
    c->groups[1].sgd.lr = 0.1, c->groups[1].sgd.weight_decay = 0.01;
    c = add("adam_two_groups", NB_OPTIM_ADAM);
    c->n_groups = 2;
    c->groups[0] = some_params(0, 2), c->groups[1] = some_params(2, 2);
    c->groups[0].adam.lr = 0.01, c->groups[0].adam.amsgrad = true;
    c->groups[1].adam.lr = 0.02, c->groups[1].adam.beta1 = 0.5, c->groups[1].adam.beta2 = 0.9;
    c = add("rmsprop_two_groups", NB_OPTIM_RMSPROP);
    c->n_groups = 2;
    c->groups[0] = some_params(0, 3), c->groups[1] = some_params(3, 1);
    c->groups[0].rmsprop.centered = true;
    c->groups[1].rmsprop.lr = 0.001, c->groups[1].rmsprop.momentum = 0.5;

    /* Clipping before the step, and schedules during it. */
    c = add("sgd_momentum_clip_norm2", NB_OPTIM_SGD);
    c->groups[0].sgd.lr = 0.1, c->groups[0].sgd.momentum = 0.9;
    c->clip = CLIP_NORM, c->clip_arg = 0.5, c->norm_type = 2;
    c = add("adam_clip_norm_inf", NB_OPTIM_ADAM);
    c->groups[0].adam.lr = 0.01;
    c->clip = CLIP_NORM, c->clip_arg = 0.1, c->norm_type = INFINITY;
    c = add("adagrad_clip_norm3", NB_OPTIM_ADAGRAD);
    c->groups[0].adagrad.lr = 0.1;
    c->clip = CLIP_NORM, c->clip_arg = 0.2, c->norm_type = 3;
    c = add("rmsprop_clip_value", NB_OPTIM_RMSPROP);
    c->groups[0].rmsprop.lr = 0.01;
    c->clip = CLIP_VALUE, c->clip_arg = 0.05;
    c = add("sgd_momentum_step_lr", NB_OPTIM_SGD);
    c->groups[0].sgd.lr = 0.1, c->groups[0].sgd.momentum = 0.9;
    c->sched = SCHED_STEP, c->sched_int = 30, c->sched_arg = 0.5;
    c = add("adamw_cosine_lr", NB_OPTIM_ADAMW);
    c->groups[0].adamw.lr = 0.02;
    c->sched = SCHED_COSINE, c->sched_int = 40, c->sched_arg = 0.001;
}

/* ---------------------------------------------------------------- schedule cases */

typedef enum sched_kind { S_STEP, S_MULTISTEP, S_EXPONENTIAL, S_COSINE, S_LINEAR, S_PLATEAU } sched_kind;

typedef struct sched_spec {
    sched_kind kind;
    int i;                   /* step_size, t_max, total_iters */
    double a, b;             /* gamma, eta_min, start/end factor */
    int milestones[6], n_milestones;
    nb_plateau_opts plateau;
    double min_lrs[2];
    bool per_group_min;
} sched_spec;

typedef struct sched_case {
    const char *name;
    int n_sched;
    sched_spec s[2];
    int epochs;
    const double *metrics;   /* per epoch, for reduce-on-plateau */
} sched_case;

static const char *mode_str(int m)
{
    return m == NB_PLATEAU_MAX ? "max" : "min";
}

static void put_sched(FILE *f, const sched_spec *s)
{
    switch (s->kind) {
    case S_STEP: fprintf(f, "{\"type\": \"step\", \"step_size\": %d, \"gamma\": %.17g}", s->i, s->a); break;
    case S_MULTISTEP:
        fputs("{\"type\": \"multistep\", \"milestones\": [", f);
        for (int k = 0; k < s->n_milestones; k++)
            fprintf(f, "%s%d", k ? ", " : "", s->milestones[k]);
        fprintf(f, "], \"gamma\": %.17g}", s->a);
        break;
    case S_EXPONENTIAL: fprintf(f, "{\"type\": \"exponential\", \"gamma\": %.17g}", s->a); break;
    case S_COSINE: fprintf(f, "{\"type\": \"cosine\", \"t_max\": %d, \"eta_min\": %.17g}", s->i, s->a); break;
    case S_LINEAR:
        fprintf(f, "{\"type\": \"linear\", \"start_factor\": %.17g, \"end_factor\": %.17g, \"total_iters\": %d}",
                s->a, s->b, s->i);
        break;
    case S_PLATEAU: {
        const nb_plateau_opts *o = &s->plateau;
        fprintf(f, "{\"type\": \"plateau\", \"mode\": \"%s\", \"factor\": %.17g, \"patience\": %d, "
                   "\"threshold\": %.17g, \"threshold_mode\": \"%s\", \"cooldown\": %d, \"eps\": %.17g, \"min_lr\": ",
                mode_str(o->mode), o->factor, o->patience, o->threshold,
                o->threshold_mode == NB_THRESHOLD_ABS ? "abs" : "rel", o->cooldown, o->eps);
        if (s->per_group_min)
            fprintf(f, "[%.17g, %.17g]}", s->min_lrs[0], s->min_lrs[1]);
        else
            fprintf(f, "%.17g}", o->min_lr);
        break;
    }
    }
}

static nb_lr_scheduler *make_sched(nb_optimizer *opt, sched_spec *s)
{
    switch (s->kind) {
    case S_STEP: return nb_step_lr_new(opt, s->i, s->a);
    case S_MULTISTEP: return nb_multistep_lr_new(opt, s->milestones, s->n_milestones, s->a);
    case S_EXPONENTIAL: return nb_exponential_lr_new(opt, s->a);
    case S_COSINE: return nb_cosine_annealing_lr_new(opt, s->i, s->a);
    case S_LINEAR: return nb_linear_lr_new(opt, s->a, s->b, s->i);
    case S_PLATEAU:
        if (s->per_group_min)
            s->plateau.min_lrs = s->min_lrs;
        return nb_reduce_on_plateau_new(opt, &s->plateau);
    }
    return NULL;
}

static const double GROUP_LRS[2] = { 0.1, 0.05 };

static bool run_sched_case(FILE *f, sched_case *c)
{
    nb_scope *scope = nb_scope_begin();
    nb_tensor *p0 = nb_zeros(NB_F64, NB_SHAPE(1)), *p1 = nb_zeros(NB_F64, NB_SHAPE(1));
    nb_requires_grad(p0, true);
    nb_requires_grad(p1, true);
    nb_sgd_opts o = nb_sgd_opts_default();
    o.lr = GROUP_LRS[0];
    nb_optimizer *opt = nb_sgd_new(&p0, 1, &o);
    o.lr = GROUP_LRS[1];
    bool ok = opt && nb_optimizer_add_group(opt, &p1, 1, &o) == NB_OK;
    nb_lr_scheduler *s[2] = { NULL, NULL };
    for (int k = 0; ok && k < c->n_sched; k++)
        ok = (s[k] = make_sched(opt, &c->s[k])) != NULL;

    fprintf(f, "{\"kind\": \"schedule\", \"name\": \"%s\", \"group_lrs\": [%.17g, %.17g], \"schedulers\": [", c->name,
            GROUP_LRS[0], GROUP_LRS[1]);
    for (int k = 0; k < c->n_sched; k++) {
        fputs(k ? ", " : "", f);
        put_sched(f, &c->s[k]);
    }
    fprintf(f, "], \"epochs\": %d, \"metrics\": ", c->epochs);
    if (c->metrics) {
        fputc('[', f);
        for (int e = 0; e < c->epochs; e++) {
            fputs(e ? ", " : "", f);
            put_number(f, c->metrics[e]);
        }
        fputc(']', f);
    } else {
        fputs("null", f);
    }
    fputs(", \"lrs\": [", f);
    for (int e = 0; ok && e <= c->epochs; e++) {
        if (e > 0)
            for (int k = 0; ok && k < c->n_sched; k++)
                ok = (c->metrics ? nb_lr_scheduler_step_metric(s[k], c->metrics[e - 1])
                                 : nb_lr_scheduler_step(s[k])) == NB_OK;
        fprintf(f, "%s[%.17g, %.17g]", e ? ", " : "", nb_optimizer_lr(opt, 0), nb_optimizer_lr(opt, 1));
    }
    fputc(']', f);
    if (!ok) {
        fputs(", \"error\": ", f);
        put_string(f, nb_error());
    }
    fputs("}\n", f);
    for (int k = 0; k < c->n_sched; k++)
        nb_lr_scheduler_free(s[k]);
    nb_optimizer_free(opt);
    nb_scope_end(scope);
    return ok;
}

/* A validation loss that falls, stalls, wobbles within the threshold, falls again, then
 * rises: every branch of reduce-on-plateau (improvement, bad epochs, cooldown, min_lr). */
static const double METRIC_MIN[40] = {
    1.0, 0.9, 0.8, 0.8, 0.80001, 0.8, 0.81, 0.79995, 0.8, 0.7,
    0.69, 0.69, 0.69, 0.69, 0.69, 0.69, 0.69, 0.69, 0.5, 0.5,
    0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
    0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5,
};
/* An accuracy that rises by steps smaller and larger than an absolute threshold of 0.05. */
static const double METRIC_MAX[30] = {
    0.1, 0.2, 0.22, 0.24, 0.26, 0.35, 0.36, 0.37, 0.38, 0.39,
    0.5, 0.5, 0.5, 0.5, 0.5, 0.52, 0.6, 0.6, 0.6, 0.6,
    0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6,
};
static double METRIC_FLAT[45];

static int run_schedules(FILE *f)
{
    int failed = 0;
    for (int e = 0; e < 45; e++)
        METRIC_FLAT[e] = 1.0 + (e % 2) * 1e-9;
    nb_plateau_opts p1 = nb_plateau_opts_default();
    p1.factor = 0.5, p1.patience = 2, p1.cooldown = 1;
    nb_plateau_opts p2 = nb_plateau_opts_default();
    p2.mode = NB_PLATEAU_MAX, p2.threshold_mode = NB_THRESHOLD_ABS, p2.threshold = 0.05, p2.patience = 0;
    p2.factor = 0.3, p2.min_lr = 0.004, p2.eps = 1e-3;
    nb_plateau_opts p3 = nb_plateau_opts_default();
    sched_case sc[] = {
        { "step_lr", 1, { { .kind = S_STEP, .i = 3, .a = 0.5 } }, 20, NULL },
        { "multistep_lr_repeated_milestone", 1,
          { { .kind = S_MULTISTEP, .milestones = { 9, 2, 5, 5 }, .n_milestones = 4, .a = 0.3 } }, 15, NULL },
        { "exponential_lr", 1, { { .kind = S_EXPONENTIAL, .a = 0.9 } }, 25, NULL },
        { "cosine_annealing_past_t_max", 1, { { .kind = S_COSINE, .i = 10, .a = 0.001 } }, 45, NULL },
        { "cosine_annealing_eta_min_0", 1, { { .kind = S_COSINE, .i = 7, .a = 0 } }, 30, NULL },
        { "linear_warmup", 1, { { .kind = S_LINEAR, .i = 5, .a = 1.0 / 3, .b = 1.0 } }, 12, NULL },
        { "linear_decay", 1, { { .kind = S_LINEAR, .i = 4, .a = 0.9, .b = 0.1 } }, 10, NULL },
        { "linear_warmup_then_cosine", 2,
          { { .kind = S_LINEAR, .i = 4, .a = 0.25, .b = 1.0 }, { .kind = S_COSINE, .i = 20, .a = 0.0005 } }, 30,
          NULL },
        { "step_and_exponential_chained", 2, { { .kind = S_STEP, .i = 4, .a = 0.5 }, { .kind = S_EXPONENTIAL, .a = 0.95 } },
          16, NULL },
        { "plateau_min_rel_cooldown_min_lrs", 1,
          { { .kind = S_PLATEAU, .plateau = p1, .min_lrs = { 0.01, 0.02 }, .per_group_min = true } }, 40,
          METRIC_MIN },
        { "plateau_max_abs_eps", 1, { { .kind = S_PLATEAU, .plateau = p2 } }, 30, METRIC_MAX },
        { "plateau_defaults_flat_metric", 1, { { .kind = S_PLATEAU, .plateau = p3 } }, 45, METRIC_FLAT },
    };
    for (size_t k = 0; k < sizeof sc / sizeof sc[0]; k++)
        failed += !run_sched_case(f, &sc[k]);
    return failed;
}

int main(int argc, char **argv)
{
    FILE *f = stdout;
    if (argc > 1 && !(f = fopen(argv[1], "w"))) {
        perror(argv[1]);
        return 2;
    }
    define_cases();
    int failed = 0;
    for (int k = 0; k < n_cases; k++) {
        failed += !run_case(f, &cases[k], NB_F32);
        failed += !run_case(f, &cases[k], NB_F64);
    }
    failed += run_schedules(f);
    if (f != stdout)
        fclose(f);
    if (failed)
        fprintf(stderr, "optim_parity_dump: %d cases failed in nabla (see their \"error\" fields)\n", failed);
    return 0;
}
