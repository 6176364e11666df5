/* Metrics computed from the values of predictions and targets (see metrics.h). They run
 * once per batch on small arrays, so they read tensors into plain double arrays. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/tensor_impl.h"
#include "nabla.h"
#include "nabla/metrics.h"

struct nb_metric_state {
    nb_metric metric;
    int64_t correct, total;          /* accuracies */
    double sum_sq, sum_abs;          /* regression */
    int64_t count;
    int classes;                     /* confusion matrix size, 0 until the first batch */
    bool binary;                     /* the predictions were binary scores */
    int64_t *confusion;              /* [classes * classes], row = target, column = predicted */
};

NB_API const char *nb_metric_name(nb_metric m, char *buf, size_t size)
{
    static const char *const names[] = { "accuracy", "binary_accuracy", NULL, "precision", "recall", "f1", "mse", "mae" };
    if (m.kind == NB_METRIC_TOP_K_ACCURACY)
        snprintf(buf, size, "top_%d_accuracy", m.k ? m.k : 5);
    else if ((unsigned)m.kind < sizeof names / sizeof names[0])
        snprintf(buf, size, "%s", names[m.kind]);
    else
        snprintf(buf, size, "metric_%d", (int)m.kind);
    return buf;
}

/* ---------------------------------------------------------------- reading a batch */

/* A batch read as classification: for each of n rows, the scores (c of them, c = 1 for
 * binary scores) and the target class. */
typedef struct batch {
    int64_t n;
    int c;
    double *scores;        /* [n * c] */
    double *target;        /* [n]: class ids (binary: 0 or 1) */
    bool binary;
} batch;

static void batch_free(batch *b)
{
    nbi_free(b->scores);
    nbi_free(b->target);
}

static double *values_of(const nb_tensor *t)
{
    double *v = nbi_malloc((size_t)(t->numel ? t->numel : 1) * sizeof *v);
    if (v && nb_tensor_copy_to(t, v, NB_F64, t->numel)) {
        nbi_free(v);
        return NULL;
    }
    return v;
}

static nb_status read_batch(const char *fn, const nb_tensor *pred, const nb_tensor *target, batch *b)
{
    char s1[160], s2[160];
    memset(b, 0, sizeof *b);
    if (!pred || !target)
        return nbi_error_keep(NB_ERR_NULL, "%s: %s is NULL", fn, pred ? "target" : "prediction");
    if (pred->dtype == NB_I64)
        return nbi_error(NB_ERR_DTYPE, "%s: predictions are i64; expected scores (f32 or f64)", fn);
    nb_shape_str(pred->rank, pred->shape, s1, sizeof s1);
    nb_shape_str(target->rank, target->shape, s2, sizeof s2);
    int64_t last = pred->rank ? pred->shape[pred->rank - 1] : 1;
    b->binary = pred->rank <= 1 || last == 1;
    b->c = b->binary ? 1 : (int)last;
    b->n = b->c ? pred->numel / b->c : 0;
    bool one_hot = !b->binary && nbi_same_shape_t(pred, target);
    if (!one_hot && target->numel != b->n)
        return nbi_error(NB_ERR_SHAPE, "%s: predictions %s and targets %s do not fit: expected %lld targets%s", fn, s1,
                         s2, (long long)b->n, b->binary ? "" : " (class ids) or one-hot rows of the predictions' shape");
    b->scores = values_of(pred);
    double *t = b->scores ? values_of(target) : NULL;
    if (!t) {
        batch_free(b);
        return nb_error_code();
    }
    if (one_hot) {   /* the target class of each row is its argmax */
        b->target = nbi_malloc((size_t)(b->n ? b->n : 1) * sizeof *b->target);
        for (int64_t i = 0; b->target && i < b->n; i++) {
            int best = 0;
            for (int j = 1; j < b->c; j++)
                if (t[i * b->c + j] > t[i * b->c + best])
                    best = j;
            b->target[i] = best;
        }
        nbi_free(t);
        if (!b->target) {
            batch_free(b);
            return NB_ERR_MEMORY;
        }
    } else {
        b->target = t;
    }
    int classes = b->binary ? 2 : b->c;
    for (int64_t i = 0; i < b->n; i++) {
        double y = b->target[i];
        if (!(y >= 0 && y < classes && y == floor(y))) {
            batch_free(b);
            return nbi_error(NB_ERR_ARG, "%s: target %g at row %lld is not a class id in [0, %d)", fn, y, (long long)i,
                             classes);
        }
    }
    return NB_OK;
}

static int predicted_class(const batch *b, int64_t i, double threshold)
{
    const double *s = b->scores + i * b->c;
    if (b->binary)
        return s[0] > threshold;
    int best = 0;
    for (int j = 1; j < b->c; j++)
        if (s[j] > s[best])
            best = j;
    return best;
}

/* ---------------------------------------------------------------- accumulators */

NB_API nb_metric_state *nb_metric_state_new(nb_metric m)
{
    if ((unsigned)m.kind > NB_METRIC_MAE) {
        nbi_error(NB_ERR_ARG, "nb_metric_state_new: unknown metric kind %d", (int)m.kind);
        return NULL;
    }
    if (m.kind == NB_METRIC_TOP_K_ACCURACY && m.k < 0) {
        nbi_error(NB_ERR_ARG, "nb_metric_state_new: top-k accuracy with k = %d", m.k);
        return NULL;
    }
    nb_metric_state *s = nbi_calloc(1, sizeof *s);
    if (s)
        s->metric = m;
    return s;
}

NB_API void nb_metric_state_free(nb_metric_state *s)
{
    if (!s)
        return;
    nbi_free(s->confusion);
    nbi_free(s);
}

NB_API void nb_metric_state_reset(nb_metric_state *s)
{
    if (!s)
        return;
    nbi_free(s->confusion);
    nb_metric m = s->metric;
    memset(s, 0, sizeof *s);
    s->metric = m;
}

static nb_status add_regression(nb_metric_state *s, const nb_tensor *pred, const nb_tensor *target)
{
    if (!pred || !target)
        return nbi_error_keep(NB_ERR_NULL, "nb_metric_state_add: %s is NULL", pred ? "target" : "prediction");
    if (pred->numel != target->numel) {
        char a[160], b[160];
        return nbi_error(NB_ERR_SHAPE, "nb_metric_state_add: %s needs predictions and targets of one size, got %s and %s",
                         s->metric.kind == NB_METRIC_MSE ? "mse" : "mae", nb_shape_str(pred->rank, pred->shape, a, sizeof a),
                         nb_shape_str(target->rank, target->shape, b, sizeof b));
    }
    double *p = values_of(pred), *t = p ? values_of(target) : NULL;
    if (!t) {
        nbi_free(p);
        return nb_error_code();
    }
    for (int64_t i = 0; i < pred->numel; i++) {
        double d = p[i] - t[i];
        s->sum_sq += d * d;
        s->sum_abs += fabs(d);
    }
    s->count += pred->numel;
    nbi_free(p);
    nbi_free(t);
    return NB_OK;
}

NB_API nb_status nb_metric_state_add(nb_metric_state *s, const nb_tensor *pred, const nb_tensor *target)
{
    if (!s)
        return nbi_error_keep(NB_ERR_NULL, "nb_metric_state_add: state is NULL");
    nb_metric_kind kind = s->metric.kind;
    if (kind == NB_METRIC_MSE || kind == NB_METRIC_MAE)
        return add_regression(s, pred, target);
    batch b;
    nb_status st = read_batch("nb_metric_state_add", pred, target, &b);
    if (st)
        return st;
    double threshold = s->metric.threshold ? s->metric.threshold : 0.5;
    int k = s->metric.k ? s->metric.k : 5;
    int classes = b.binary ? 2 : b.c;
    if (kind == NB_METRIC_BINARY_ACCURACY && !b.binary)
        st = nbi_error(NB_ERR_SHAPE, "nb_metric_state_add: binary_accuracy needs scores of shape [N] or [N, 1], got %d "
                       "classes per row", b.c);
    if (kind == NB_METRIC_TOP_K_ACCURACY && b.binary)
        st = nbi_error(NB_ERR_SHAPE, "nb_metric_state_add: top-%d accuracy needs class scores [N, C], got binary scores", k);
    if (!st && s->classes && s->classes != classes)
        st = nbi_error(NB_ERR_SHAPE, "nb_metric_state_add: this batch has %d classes, earlier ones had %d", classes,
                       s->classes);
    if (!st && !s->confusion && (kind == NB_METRIC_PRECISION || kind == NB_METRIC_RECALL || kind == NB_METRIC_F1)) {
        s->confusion = nbi_calloc((size_t)classes * classes, sizeof *s->confusion);
        st = s->confusion ? NB_OK : NB_ERR_MEMORY;
    }
    if (st) {
        batch_free(&b);
        return st;
    }
    s->classes = classes;
    s->binary = b.binary;
    for (int64_t i = 0; i < b.n; i++) {
        int y = (int)b.target[i];
        if (kind == NB_METRIC_TOP_K_ACCURACY) {
            /* y is in the top k when fewer than k scores beat it (ties count for y, as Keras' in_top_k) */
            int above = 0;
            for (int j = 0; j < b.c; j++)
                above += b.scores[i * b.c + j] > b.scores[i * b.c + y];
            s->correct += above < k;
        } else {
            int p = predicted_class(&b, i, threshold);
            s->correct += p == y;
            if (s->confusion)
                s->confusion[y * classes + p]++;
        }
    }
    s->total += b.n;
    batch_free(&b);
    return NB_OK;
}

/* Precision, recall and F1 of class j from counts [classes * classes]. */
static void class_scores(const int64_t *conf, int classes, int j, double *p, double *r, double *f)
{
    int64_t tp = conf[j * classes + j], predicted = 0, actual = 0;
    for (int i = 0; i < classes; i++) {
        predicted += conf[i * classes + j];
        actual += conf[j * classes + i];
    }
    *p = predicted ? (double)tp / (double)predicted : 0.0;
    *r = actual ? (double)tp / (double)actual : 0.0;
    *f = *p + *r > 0 ? 2 * *p * *r / (*p + *r) : 0.0;
}

NB_API double nb_metric_state_value(const nb_metric_state *s)
{
    if (!s)
        return NAN;
    switch (s->metric.kind) {
    case NB_METRIC_MSE:
        return s->count ? s->sum_sq / (double)s->count : NAN;
    case NB_METRIC_MAE:
        return s->count ? s->sum_abs / (double)s->count : NAN;
    case NB_METRIC_ACCURACY:
    case NB_METRIC_BINARY_ACCURACY:
    case NB_METRIC_TOP_K_ACCURACY:
        return s->total ? (double)s->correct / (double)s->total : NAN;
    default:
        break;
    }
    if (!s->total)
        return NAN;
    double sum = 0, p, r, f;
    int first = s->binary ? 1 : 0;   /* binary: the scores of class 1, as Keras' Precision */
    for (int j = first; j < s->classes; j++) {
        class_scores(s->confusion, s->classes, j, &p, &r, &f);
        sum += s->metric.kind == NB_METRIC_PRECISION ? p : s->metric.kind == NB_METRIC_RECALL ? r : f;
    }
    return sum / (double)(s->classes - first);
}

NB_API double nb_metric_compute(nb_metric m, const nb_tensor *pred, const nb_tensor *target)
{
    nb_metric_state *s = nb_metric_state_new(m);
    double v = s && !nb_metric_state_add(s, pred, target) ? nb_metric_state_value(s) : NAN;
    nb_metric_state_free(s);
    return v;
}

/* ---------------------------------------------------------------- confusion matrix */

NB_API nb_tensor *nb_confusion_matrix(const nb_tensor *pred, const nb_tensor *target, int n_classes)
{
    batch b;
    if (read_batch("nb_confusion_matrix", pred, target, &b))
        return NULL;
    int classes = b.binary ? 2 : b.c;
    if (n_classes != classes) {
        batch_free(&b);
        nbi_error(NB_ERR_ARG, "nb_confusion_matrix: n_classes is %d but the predictions have %d classes", n_classes,
                  classes);
        return NULL;
    }
    nb_tensor *m = nb_zeros(NB_I64, NB_SHAPE(classes, classes));
    if (m) {
        int64_t *counts = nb_tensor_data(m);
        for (int64_t i = 0; i < b.n; i++)
            counts[(int64_t)b.target[i] * classes + predicted_class(&b, i, 0.5)]++;
    }
    batch_free(&b);
    return m;
}

NB_API nb_status nb_classification_scores(const nb_tensor *confusion, double *precision, double *recall,
                                          double *f1, double *macro)
{
    if (!confusion)
        return nbi_error_keep(NB_ERR_NULL, "nb_classification_scores: confusion matrix is NULL");
    if (confusion->dtype != NB_I64 || confusion->rank != 2 || confusion->shape[0] != confusion->shape[1]
        || confusion->shape[0] < 1) {
        char buf[160];
        return nbi_error(NB_ERR_SHAPE, "nb_classification_scores: expected a square i64 matrix, got %s %s",
                         nb_shape_str(confusion->rank, confusion->shape, buf, sizeof buf),
                         nb_dtype_name(confusion->dtype));
    }
    int classes = (int)confusion->shape[0];
    int64_t *counts = nbi_malloc((size_t)classes * classes * sizeof *counts);
    if (!counts)
        return NB_ERR_MEMORY;
    nb_tensor_copy_to(confusion, counts, NB_I64, (int64_t)classes * classes);
    double sums[3] = { 0, 0, 0 };
    for (int j = 0; j < classes; j++) {
        double p, r, f;
        class_scores(counts, classes, j, &p, &r, &f);
        if (precision) precision[j] = p;
        if (recall) recall[j] = r;
        if (f1) f1[j] = f;
        sums[0] += p, sums[1] += r, sums[2] += f;
    }
    for (int i = 0; macro && i < 3; i++)
        macro[i] = sums[i] / classes;
    nbi_free(counts);
    return NB_OK;
}
