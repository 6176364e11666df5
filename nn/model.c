/* The Keras-style model: compile, fit with a progress bar and callbacks, evaluate, predict,
 * and the history of a fit. Training steps are ordinary nabla code: forward through the
 * module, the loss, nb_backward, an optimizer step, all in one scope per batch. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/tensor_impl.h"
#include "nabla.h"
#include "nabla/model.h"

enum { MAX_METRICS = 16, MAX_SERIES = 2 * (MAX_METRICS + 1), NAME_SIZE = 48 };

struct nb_model {
    nb_module *net;
    nb_loss_fn loss;
    nb_optimizer *opt;
    nb_metric metrics[MAX_METRICS];
    int n_metrics;
};

typedef struct series {
    char name[NAME_SIZE];
    double *values;          /* one per epoch */
} series;

struct nb_history {
    series series[MAX_SERIES];
    int n_series, epochs, capacity;
};

/* ---------------------------------------------------------------- model */

NB_API nb_model *nb_model_new_steal(nb_module *net)
{
    if (!net) {
        nbi_error_keep(NB_ERR_NULL, "nb_model_new_steal: module is NULL");
        return NULL;
    }
    nb_model *m = nbi_calloc(1, sizeof *m);
    if (!m) {
        nb_module_free(net);
        return NULL;
    }
    m->net = net;
    return m;
}

NB_API void nb_model_free(nb_model *m)
{
    if (!m)
        return;
    nb_module_free(m->net);
    nb_optimizer_free(m->opt);
    nbi_free(m);
}

NB_API nb_module *nb_model_module(const nb_model *m)
{
    return m ? m->net : NULL;
}

NB_API nb_status nb_model_compile_steal(nb_model *m, nb_loss_fn loss, nb_optimizer *opt, const nb_metric *metrics,
                                        int n_metrics)
{
    nb_status st = NB_OK;
    if (!m || !loss || !opt)
        st = nbi_error_keep(NB_ERR_NULL, "nb_model_compile_steal: %s is NULL", !m ? "model" : !loss ? "loss" : "optimizer");
    else if (n_metrics < 0 || n_metrics > MAX_METRICS || (n_metrics > 0 && !metrics))
        st = nbi_error(NB_ERR_ARG, "nb_model_compile_steal: %d metrics given; 0 to %d are allowed", n_metrics, MAX_METRICS);
    for (int i = 0; !st && i < n_metrics; i++)
        if ((unsigned)metrics[i].kind > NB_METRIC_MAE)
            st = nbi_error(NB_ERR_ARG, "nb_model_compile_steal: metric %d has unknown kind %d", i, (int)metrics[i].kind);
    if (st) {
        nb_optimizer_free(opt);
        return st;
    }
    nb_optimizer_free(m->opt);
    m->loss = loss;
    m->opt = opt;
    m->n_metrics = n_metrics;
    if (n_metrics)
        memcpy(m->metrics, metrics, (size_t)n_metrics * sizeof *metrics);
    return NB_OK;
}

/* ---------------------------------------------------------------- history */

static nb_history *history_new(const nb_model *m, bool validation)
{
    nb_history *h = nbi_calloc(1, sizeof *h);
    if (!h)
        return NULL;
    for (int v = 0; v <= (int)validation; v++) {
        const char *prefix = v ? "val_" : "";
        snprintf(h->series[h->n_series++].name, NAME_SIZE, "%sloss", prefix);
        for (int i = 0; i < m->n_metrics; i++) {
            char name[NAME_SIZE - 8];
            snprintf(h->series[h->n_series++].name, NAME_SIZE, "%s%s", prefix,
                     nb_metric_name(m->metrics[i], name, sizeof name));
        }
    }
    return h;
}

/* Appends one epoch: values[i] for series i. */
static nb_status history_add(nb_history *h, const double *values)
{
    if (h->epochs == h->capacity) {
        int cap = h->capacity ? 2 * h->capacity : 16;
        for (int i = 0; i < h->n_series; i++) {
            double *grown = nbi_realloc(h->series[i].values, (size_t)cap * sizeof *grown);
            if (!grown)
                return NB_ERR_MEMORY;
            h->series[i].values = grown;
        }
        h->capacity = cap;
    }
    for (int i = 0; i < h->n_series; i++)
        h->series[i].values[h->epochs] = values[i];
    h->epochs++;
    return NB_OK;
}

NB_API int nb_history_epochs(const nb_history *h)
{
    return h ? h->epochs : 0;
}

NB_API int nb_history_series(const nb_history *h)
{
    return h ? h->n_series : 0;
}

NB_API const char *nb_history_name(const nb_history *h, int i)
{
    return h && i >= 0 && i < h->n_series ? h->series[i].name : NULL;
}

NB_API double nb_history_value(const nb_history *h, const char *name, int epoch)
{
    for (int i = 0; h && name && i < h->n_series; i++)
        if (strcmp(h->series[i].name, name) == 0)
            return epoch >= 0 && epoch < h->epochs ? h->series[i].values[epoch] : NAN;
    return NAN;
}

NB_API void nb_history_free(nb_history *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->n_series; i++)
        nbi_free(h->series[i].values);
    nbi_free(h);
}

/* ---------------------------------------------------------------- batches */

/* Rows [begin, end) of x, or the rows listed in order when order is not NULL: a new
 * contiguous tensor. x is contiguous. */
static nb_tensor *take_rows(const nb_tensor *x, const int64_t *order, int64_t begin, int64_t end)
{
    int64_t shape[NB_MAX_RANK];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = end - begin;
    nb_tensor *b = nb_empty(x->dtype, x->rank, shape);
    if (!b)
        return NULL;
    size_t row = (size_t)(x->shape[0] ? x->numel / x->shape[0] : 0) * nb_dtype_size(x->dtype);
    const char *src = nbi_data(x);
    char *dst = nbi_data(b);
    for (int64_t i = begin; i < end; i++)
        memcpy(dst + (size_t)(i - begin) * row, src + (size_t)(order ? order[i] : i) * row, row);
    return b;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Loss and metric accumulators of one pass (a training epoch or an evaluation). */
typedef struct pass {
    double loss_sum;
    int64_t rows;
    nb_metric_state *states[MAX_METRICS];
    int n;
} pass;

static nb_status pass_begin(pass *p, const nb_model *m)
{
    memset(p, 0, sizeof *p);
    for (p->n = 0; p->n < m->n_metrics; p->n++)
        if (!(p->states[p->n] = nb_metric_state_new(m->metrics[p->n])))
            return nb_error_code();
    return NB_OK;
}

static void pass_end(pass *p)
{
    for (int i = 0; i < p->n; i++)
        nb_metric_state_free(p->states[i]);
}

/* Adds a batch's loss (mean over its rows) and predictions to the pass. */
static nb_status pass_add(pass *p, const nb_tensor *loss, const nb_tensor *pred, const nb_tensor *y)
{
    double l = nb_tensor_item(loss);
    int64_t n = y->rank ? y->shape[0] : 1;
    p->loss_sum += l * (double)n;
    p->rows += n;
    nb_status st = NB_OK;
    for (int i = 0; i < p->n && !st; i++)
        st = nb_metric_state_add(p->states[i], pred, y);
    return st;
}

/* values[0] = mean loss, values[1..] = metrics. */
static void pass_values(const pass *p, double *values)
{
    values[0] = p->rows ? p->loss_sum / (double)p->rows : NAN;
    for (int i = 0; i < p->n; i++)
        values[1 + i] = nb_metric_state_value(p->states[i]);
}

/* Loss and metrics over x, y in eval mode without a graph. */
static nb_status run_evaluation(nb_model *m, nb_tensor *x, nb_tensor *y, int64_t batch, double *values)
{
    pass p;
    nb_status st = pass_begin(&p, m);
    bool was_training = nb_module_is_training(m->net);
    nb_module_train(m->net, false);
    nb_no_grad_begin();
    nb_scope *outer = nb_scope_begin();
    nb_tensor *xc = nb_contiguous(x), *yc = nb_contiguous(y);
    int64_t n = x->shape[0];
    for (int64_t b = 0; !st && b < n; b += batch) {
        nb_scope *s = nb_scope_begin();
        int64_t e = b + batch < n ? b + batch : n;
        nb_tensor *yb = take_rows(yc, NULL, b, e), *pred = nb_module_forward(m->net, take_rows(xc, NULL, b, e));
        nb_tensor *loss = m->loss(pred, yb);
        st = loss ? pass_add(&p, loss, pred, yb) : nb_error_code();
        nb_scope_end(s);
    }
    nb_scope_end(outer);
    nb_no_grad_end();
    nb_module_train(m->net, was_training);
    if (!st)
        pass_values(&p, values);
    pass_end(&p);
    return st;
}

/* ---------------------------------------------------------------- progress */

typedef struct progress {
    FILE *out;
    int verbose;
    bool terminal;
    double start, last_draw;
} progress;

static void print_values(FILE *f, const nb_history *h, int first, int count, const double *values)
{
    for (int i = 0; i < count; i++)
        fprintf(f, " - %s: %.4f", h->series[first + i].name, values[i]);
}

static void format_duration(double seconds, char *buf, size_t size)
{
    if (seconds < 60)
        snprintf(buf, size, "%.0fs", seconds);
    else
        snprintf(buf, size, "%dm%02ds", (int)(seconds / 60), (int)fmod(seconds, 60));
}

/* On a terminal, redraws the epoch's line at most ten times a second. */
static void progress_batch(progress *pr, const nb_history *h, int epoch, int epochs, int64_t done, int64_t steps,
                           int64_t rows, const pass *p)
{
    if (pr->verbose != 1 || !pr->terminal)
        return;
    double t = now_seconds();
    if (done < steps && t - pr->last_draw < 0.1)
        return;
    pr->last_draw = t;
    enum { WIDTH = 24 };
    int filled = (int)(WIDTH * done / (steps ? steps : 1));
    char bar[WIDTH + 1], eta[32];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '=' : (i == filled ? '>' : '.');
    bar[WIDTH] = '\0';
    double elapsed = t - pr->start, values[1 + MAX_METRICS];
    format_duration(done ? elapsed * (double)(steps - done) / (double)done : 0, eta, sizeof eta);
    pass_values(p, values);
    fprintf(pr->out, "\r\033[KEpoch %d/%d %lld/%lld [%s]", epoch + 1, epochs, (long long)done, (long long)steps, bar);
    print_values(pr->out, h, 0, 1 + p->n, values);
    fprintf(pr->out, " - %.0f samples/s - ETA %s", elapsed > 0 ? (double)rows / elapsed : 0.0, eta);
    fflush(pr->out);
}

static void progress_epoch(progress *pr, const nb_history *h, int epoch, int epochs, int64_t steps, int64_t rows,
                           const double *values)
{
    if (pr->verbose == 0)
        return;
    double elapsed = now_seconds() - pr->start;
    char took[32];
    format_duration(elapsed, took, sizeof took);
    if (pr->terminal && pr->verbose == 1)
        fprintf(pr->out, "\r\033[K");
    fprintf(pr->out, "Epoch %d/%d %lld/%lld - %s", epoch + 1, epochs, (long long)steps, (long long)steps, took);
    print_values(pr->out, h, 0, h->n_series, values);
    fprintf(pr->out, " - %.0f samples/s\n", elapsed > 0 ? (double)rows / elapsed : 0.0);
    fflush(pr->out);
}

/* ---------------------------------------------------------------- fit */

NB_API nb_fit_opts nb_fit_opts_default(void)
{
    return (nb_fit_opts){ .epochs = 1, .batch_size = 32, .shuffle = true, .verbose = 1 };
}

/* x and y must have the same number of rows (at least one). */
static nb_status check_data(const char *fn, const nb_tensor *x, const nb_tensor *y)
{
    char a[160], b[160];
    if (!x || !y)
        return nbi_error_keep(NB_ERR_NULL, "%s: %s is NULL", fn, x ? "y" : "x");
    if (x->rank < 1 || y->rank < 1 || x->shape[0] != y->shape[0] || x->shape[0] < 1)
        return nbi_error(NB_ERR_SHAPE, "%s: x %s and y %s need the same number of rows (at least 1)", fn,
                         nb_shape_str(x->rank, x->shape, a, sizeof a), nb_shape_str(y->rank, y->shape, b, sizeof b));
    return NB_OK;
}

static nb_status check_compiled(const char *fn, const nb_model *m)
{
    if (!m)
        return nbi_error_keep(NB_ERR_NULL, "%s: model is NULL", fn);
    if (!m->loss)
        return nbi_error(NB_ERR_STATE, "%s: the model is not compiled (call nb_model_compile_steal first)", fn);
    return NB_OK;
}

/* One training epoch over the rows in order; accumulates into p. */
static nb_status train_epoch(nb_model *m, const nb_tensor *x, const nb_tensor *y, const int64_t *order, int64_t n,
                             int64_t batch, pass *p, progress *pr, const nb_history *h, int epoch, int epochs)
{
    int64_t steps = (n + batch - 1) / batch;
    nb_status st = NB_OK;
    for (int64_t b = 0, step = 0; !st && b < n; b += batch, step++) {
        nb_scope *s = nb_scope_begin();
        int64_t e = b + batch < n ? b + batch : n;
        nb_tensor *yb = take_rows(y, order, b, e);
        nb_tensor *pred = nb_module_forward(m->net, take_rows(x, order, b, e));
        nb_tensor *loss = m->loss(pred, yb);
        nb_optimizer_zero_grad(m->opt);
        st = nb_backward(loss, NULL);
        if (!st)
            st = nb_optimizer_step(m->opt);
        if (!st)
            st = pass_add(p, loss, nb_detach(pred), yb);
        nb_scope_end(s);
        progress_batch(pr, h, epoch, epochs, step + 1, steps, e, p);
    }
    return st;
}

NB_API nb_history *nb_model_fit(nb_model *m, nb_tensor *x, nb_tensor *y, const nb_fit_opts *opts)
{
    nb_fit_opts o = opts ? *opts : nb_fit_opts_default();
    nb_status st = check_compiled("nb_model_fit", m);
    if (!st)
        st = check_data("nb_model_fit", x, y);
    if (!st && (o.epochs < 0 || o.batch_size < 1 || !(o.validation_split >= 0 && o.validation_split < 1)))
        st = nbi_error(NB_ERR_ARG, "nb_model_fit: epochs %d, batch size %lld, validation split %g: expected epochs >= 0, "
                       "batch size >= 1, split in [0, 1)", o.epochs, (long long)o.batch_size, o.validation_split);
    if (!st && (o.x_val || o.y_val))
        st = check_data("nb_model_fit (validation data)", o.x_val, o.y_val);
    if (st)
        return NULL;

    nb_scope *outer = nb_scope_begin();
    nb_tensor *xc = nb_contiguous(x), *yc = nb_contiguous(y), *xv = o.x_val, *yv = o.y_val;
    int64_t n = x->shape[0];
    if (!xv && o.validation_split > 0) {   /* Keras takes the last rows, before shuffling */
        int64_t held = (int64_t)floor((double)n * o.validation_split);
        xv = nb_slice(xc, 0, n - held, n, 1);
        yv = nb_slice(yc, 0, n - held, n, 1);
        n -= held;
        if (n < 1 || held < 1)
            st = nbi_error(NB_ERR_ARG, "nb_model_fit: a validation split of %g leaves %lld training and %lld validation "
                           "rows", o.validation_split, (long long)n, (long long)held);
    }
    nb_history *h = st ? NULL : history_new(m, xv != NULL);
    int64_t *order = h ? nbi_malloc((size_t)n * sizeof *order) : NULL;
    nb_rng *rng = order ? nb_rng_new(o.seed) : NULL;
    if (!rng && !st)
        st = nb_error_code();
    progress pr = { .out = o.out ? o.out : stdout, .verbose = o.verbose };
    pr.terminal = isatty(fileno(pr.out));
    for (int64_t i = 0; !st && i < n; i++)
        order[i] = i;
    nb_module_train(m->net, true);
    for (int epoch = 0; !st && epoch < o.epochs; epoch++) {
        for (int64_t i = n - 1; o.shuffle && i > 0; i--) {   /* Fisher-Yates */
            int64_t j = nb_rng_int(rng, 0, i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        pass p;
        double values[MAX_SERIES];
        pr.start = now_seconds();
        pr.last_draw = 0;
        st = pass_begin(&p, m);
        if (!st)
            st = train_epoch(m, xc, yc, order, n, o.batch_size, &p, &pr, h, epoch, o.epochs);
        if (!st)
            pass_values(&p, values);
        pass_end(&p);
        if (!st && xv)
            st = run_evaluation(m, xv, yv, o.batch_size, values + 1 + m->n_metrics);
        if (!st)
            st = history_add(h, values);
        if (st)
            break;
        progress_epoch(&pr, h, epoch, o.epochs, (n + o.batch_size - 1) / o.batch_size, n, values);
        bool stop = false;
        for (int c = 0; c < o.n_callbacks; c++)
            if (o.callbacks[c].on_epoch_end && o.callbacks[c].on_epoch_end(m, epoch, h, o.callbacks[c].user))
                stop = true;
        if (stop)
            break;
    }
    nb_rng_free(rng);
    nbi_free(order);
    nb_scope_end(outer);
    if (st) {
        nb_history_free(h);
        return NULL;
    }
    return h;
}

NB_API nb_status nb_model_evaluate(nb_model *m, nb_tensor *x, nb_tensor *y, int64_t batch_size, double *loss,
                                   double *metrics)
{
    nb_status st = check_compiled("nb_model_evaluate", m);
    if (!st)
        st = check_data("nb_model_evaluate", x, y);
    if (!st && batch_size < 1)
        st = nbi_error(NB_ERR_ARG, "nb_model_evaluate: batch size %lld is below 1", (long long)batch_size);
    double values[1 + MAX_METRICS];
    if (!st)
        st = run_evaluation(m, x, y, batch_size, values);
    if (st)
        return st;
    if (loss)
        *loss = values[0];
    for (int i = 0; metrics && i < m->n_metrics; i++)
        metrics[i] = values[1 + i];
    return NB_OK;
}

NB_API nb_tensor *nb_model_predict(nb_model *m, nb_tensor *x, int64_t batch_size)
{
    if (!m || !x) {
        nbi_error_keep(NB_ERR_NULL, "nb_model_predict: %s is NULL", m ? "x" : "model");
        return NULL;
    }
    if (x->rank < 1 || x->shape[0] < 1 || batch_size < 1) {
        char buf[160];
        nbi_error(NB_ERR_ARG, "nb_model_predict: x %s needs at least one row and batch size %lld at least 1",
                  nb_shape_str(x->rank, x->shape, buf, sizeof buf), (long long)batch_size);
        return NULL;
    }
    bool was_training = nb_module_is_training(m->net);
    nb_module_train(m->net, false);
    nb_no_grad_begin();
    nb_tensor *out = NULL;
    nb_scope *outer = nb_scope_begin();
    nb_tensor *xc = nb_contiguous(x);
    int64_t n = x->shape[0];
    for (int64_t b = 0; xc && b < n; b += batch_size) {
        nb_scope *s = nb_scope_begin();
        int64_t e = b + batch_size < n ? b + batch_size : n;
        nb_tensor *pred = nb_contiguous(nb_module_forward(m->net, take_rows(xc, NULL, b, e)));
        bool fits = pred && pred->rank >= 1 && pred->shape[0] == e - b;
        if (fits && !out) {   /* the first batch tells the output's shape */
            int64_t shape[NB_MAX_RANK];
            memcpy(shape, pred->shape, sizeof shape);
            shape[0] = n;
            out = nbi_tensor_alloc(pred->dtype, pred->rank, shape);   /* caller-owned until the end */
        }
        if (pred && !fits)
            nbi_error(NB_ERR_SHAPE, "nb_model_predict: the module gave %lld rows for a batch of %lld",
                      (long long)(pred->rank ? pred->shape[0] : 0), (long long)(e - b));
        if (!fits || !out) {
            nb_scope_end(s);
            nb_release(out);
            out = NULL;
            break;
        }
        size_t row = (size_t)(pred->numel / pred->shape[0]) * nb_dtype_size(pred->dtype);
        memcpy((char *)nbi_data(out) + (size_t)b * row, nbi_data(pred), (size_t)(e - b) * row);
        nb_scope_end(s);
    }
    nb_scope_end(outer);
    nb_no_grad_end();
    nb_module_train(m->net, was_training);
    return nbi_scope_add(out);
}

/* ---------------------------------------------------------------- checkpoints and early stopping */

struct nb_checkpoint {
    char monitor[NAME_SIZE];
    bool lower_is_better;
    double best;
    int best_epoch;
    nb_tensor **saved;       /* copies of the parameters at the best epoch */
    int n_saved;
};

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

NB_API nb_checkpoint *nb_checkpoint_new(const char *monitor)
{
    if (!monitor || !monitor[0] || strlen(monitor) >= NAME_SIZE) {
        nbi_error(NB_ERR_ARG, "nb_checkpoint_new: monitor must name a history series (\"val_loss\", \"accuracy\", ...)");
        return NULL;
    }
    nb_checkpoint *c = nbi_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->monitor, sizeof c->monitor, "%s", monitor);
    c->lower_is_better = ends_with(monitor, "loss") || ends_with(monitor, "mse") || ends_with(monitor, "mae");
    c->best_epoch = -1;
    c->best = NAN;
    return c;
}

static void release_saved(nb_checkpoint *c)
{
    for (int i = 0; i < c->n_saved; i++)
        nb_release(c->saved[i]);
    nbi_free(c->saved);
    c->saved = NULL;
    c->n_saved = 0;
}

NB_API void nb_checkpoint_free(nb_checkpoint *c)
{
    if (!c)
        return;
    release_saved(c);
    nbi_free(c);
}

/* Keeps copies of the module's parameters. */
static nb_status save_parameters(nb_checkpoint *c, const nb_module *net)
{
    int n = nb_module_parameters(net, NULL, 0);
    nb_tensor **saved = nbi_calloc((size_t)(n ? n : 1), sizeof *saved);
    if (!saved)
        return NB_ERR_MEMORY;
    nb_no_grad_begin();
    nb_status st = NB_OK;
    for (int i = 0; i < n && !st; i++) {
        nb_tensor *p = nb_module_parameter_at(net, i, NULL, 0);
        saved[i] = nbi_tensor_alloc(p->dtype, p->rank, p->shape);
        if (saved[i])
            nbi_copy_strided(saved[i], p);
        else
            st = NB_ERR_MEMORY;
    }
    nb_no_grad_end();
    release_saved(c);
    c->saved = saved;
    c->n_saved = n;
    return st;
}

/* Records epoch when the monitored value improved on the best by more than min_delta. */
static bool checkpoint_update(nb_checkpoint *c, nb_model *m, int epoch, const nb_history *h, double min_delta)
{
    double v = nb_history_value(h, c->monitor, epoch);
    if (isnan(v))
        return false;
    bool better = c->best_epoch < 0 || (c->lower_is_better ? v < c->best - min_delta : v > c->best + min_delta);
    if (better && !save_parameters(c, m->net)) {
        c->best = v;
        c->best_epoch = epoch;
    }
    return better;
}

static bool checkpoint_on_epoch_end(nb_model *m, int epoch, const nb_history *h, void *user)
{
    checkpoint_update(user, m, epoch, h, 0.0);
    return false;
}

NB_API nb_callback nb_checkpoint_callback(nb_checkpoint *c)
{
    return (nb_callback){ .on_epoch_end = c ? checkpoint_on_epoch_end : NULL, .user = c };
}

NB_API nb_status nb_checkpoint_restore(const nb_checkpoint *c, nb_model *m)
{
    if (!c || !m)
        return nbi_error_keep(NB_ERR_NULL, "nb_checkpoint_restore: %s is NULL", c ? "model" : "checkpoint");
    if (c->best_epoch < 0)
        return nbi_error(NB_ERR_STATE, "nb_checkpoint_restore: nothing saved yet (\"%s\" was never seen)", c->monitor);
    if (nb_module_parameters(m->net, NULL, 0) != c->n_saved)
        return nbi_error(NB_ERR_STATE, "nb_checkpoint_restore: the model has %d parameters, the checkpoint %d",
                         nb_module_parameters(m->net, NULL, 0), c->n_saved);
    nb_no_grad_begin();
    nb_status st = NB_OK;
    for (int i = 0; i < c->n_saved && !st; i++)
        st = nb_copy_inplace(nb_module_parameter_at(m->net, i, NULL, 0), c->saved[i]);
    nb_no_grad_end();
    return st;
}

NB_API int nb_checkpoint_best_epoch(const nb_checkpoint *c)
{
    return c ? c->best_epoch : -1;
}

NB_API double nb_checkpoint_best_value(const nb_checkpoint *c)
{
    return c ? c->best : NAN;
}

struct nb_early_stopping {
    nb_checkpoint best;
    double min_delta;
    int patience, waited, stopped_epoch;
    bool restore_best;
};

NB_API nb_early_stopping *nb_early_stopping_new(const char *monitor, double min_delta, int patience, bool restore_best)
{
    if (patience < 0 || !(min_delta >= 0)) {
        nbi_error(NB_ERR_ARG, "nb_early_stopping_new: patience %d and min_delta %g must not be negative", patience,
                  min_delta);
        return NULL;
    }
    nb_checkpoint *c = nb_checkpoint_new(monitor);
    nb_early_stopping *e = c ? nbi_calloc(1, sizeof *e) : NULL;
    if (!e) {
        nb_checkpoint_free(c);
        return NULL;
    }
    e->best = *c;
    nbi_free(c);
    e->min_delta = min_delta;
    e->patience = patience;
    e->restore_best = restore_best;
    e->stopped_epoch = -1;
    return e;
}

static bool early_stopping_on_epoch_end(nb_model *m, int epoch, const nb_history *h, void *user)
{
    nb_early_stopping *e = user;
    if (checkpoint_update(&e->best, m, epoch, h, e->min_delta)) {
        e->waited = 0;
        return false;
    }
    if (++e->waited < e->patience)   /* as Keras: stop once patience epochs passed without improving */
        return false;
    e->stopped_epoch = epoch;
    if (e->restore_best)
        nb_checkpoint_restore(&e->best, m);
    return true;
}

NB_API nb_callback nb_early_stopping_callback(nb_early_stopping *e)
{
    return (nb_callback){ .on_epoch_end = e ? early_stopping_on_epoch_end : NULL, .user = e };
}

NB_API int nb_early_stopping_stopped_epoch(const nb_early_stopping *e)
{
    return e ? e->stopped_epoch : -1;
}

NB_API void nb_early_stopping_free(nb_early_stopping *e)
{
    if (!e)
        return;
    release_saved(&e->best);
    nbi_free(e);
}
