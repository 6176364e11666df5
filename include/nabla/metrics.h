/* Metrics: accuracy (plain, binary, top-k), precision, recall and F1 (macro and per
 * class), the confusion matrix, mean squared and absolute error. They are computed from
 * the values of predictions and targets, outside the graph.
 *
 * Predictions and targets come in the shapes Keras accepts:
 * - class scores [N, C] (logits or probabilities) with targets as i64 class ids [N] or as
 *   one-hot / probability rows [N, C] (the predicted class is the argmax);
 * - binary scores [N] or [N, 1] (probabilities; class 1 when above the threshold) with 0/1
 *   targets of the same shape, f32/f64 or i64;
 * - regression values of any shape, with targets of the same shape (MSE, MAE). */
#ifndef NABLA_METRICS_H
#define NABLA_METRICS_H

#include "common.h"
#include "tensor.h"

typedef enum nb_metric_kind {
    NB_METRIC_ACCURACY,          /* predicted class == target class */
    NB_METRIC_BINARY_ACCURACY,   /* (score > threshold) == target */
    NB_METRIC_TOP_K_ACCURACY,    /* target class among the k highest scores */
    NB_METRIC_PRECISION,         /* macro average over classes (binary: of class 1) */
    NB_METRIC_RECALL,
    NB_METRIC_F1,
    NB_METRIC_MSE,
    NB_METRIC_MAE,
} nb_metric_kind;

typedef struct nb_metric {
    nb_metric_kind kind;
    int k;               /* top-k accuracy: k (0 means 5) */
    double threshold;    /* binary decisions: score above which the class is 1 (0 means 0.5) */
} nb_metric;

/* Shorthands: NB_METRIC(NB_METRIC_ACCURACY), NB_TOP_K(3). */
#define NB_METRIC(kind_) ((nb_metric){ .kind = (kind_) })
#define NB_TOP_K(k_) ((nb_metric){ .kind = NB_METRIC_TOP_K_ACCURACY, .k = (k_) })

/* Keras' name of the metric: "accuracy", "binary_accuracy", "top_3_accuracy", "precision",
 * "recall", "f1", "mse", "mae". Returns buf. */
NB_API const char *nb_metric_name(nb_metric m, char *buf, size_t size);

/* The metric over one set of predictions and targets; NAN with nb_error() set when the
 * shapes or dtypes do not fit the metric. */
NB_API double nb_metric_compute(nb_metric m, const nb_tensor *pred, const nb_tensor *target);

/* An accumulator for metrics over batches (what fit and evaluate use): add batches, then
 * read the value over all of them. */
typedef struct nb_metric_state nb_metric_state;
NB_API nb_metric_state *nb_metric_state_new(nb_metric m);
NB_API void nb_metric_state_free(nb_metric_state *s);
NB_API void nb_metric_state_reset(nb_metric_state *s);
NB_API nb_status nb_metric_state_add(nb_metric_state *s, const nb_tensor *pred, const nb_tensor *target);
/* NAN when no batch was added (or a class never occurred, for precision of that class). */
NB_API double nb_metric_state_value(const nb_metric_state *s);

/* Counts [n_classes, n_classes] (i64): row = target class, column = predicted class. */
NB_API nb_tensor *nb_confusion_matrix(const nb_tensor *pred, const nb_tensor *target, int n_classes);
/* Per-class precision, recall and F1 from a confusion matrix (arrays of n_classes, any may be
 * NULL; a class never predicted has precision 0, as scikit-learn's zero_division=0) and their
 * macro averages into macro[0..2] (may be NULL). */
NB_API nb_status nb_classification_scores(const nb_tensor *confusion, double *precision, double *recall,
                                          double *f1, double *macro);

#endif
