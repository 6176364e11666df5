/* The Keras-style model: a module with a loss, an optimizer and metrics, trained with fit,
 * measured with evaluate, used with predict.
 *
 *   nb_model *model = nb_model_new_steal(net);
 *   nb_model_compile_steal(model, nb_cross_entropy_loss, nb_adam_new(params, n, NULL),
 *                          (nb_metric[]){ NB_METRIC(NB_METRIC_ACCURACY) }, 1);
 *   nb_history *h = nb_model_fit(model, x_train, y_train, &(nb_fit_opts){ ... });
 *
 * During fit each batch runs in its own scope, so memory stays flat; the progress bar goes
 * to opts->out (stdout by default). */
#ifndef NABLA_MODEL_H
#define NABLA_MODEL_H

#include <stdio.h>

#include "common.h"
#include "metrics.h"
#include "nn.h"
#include "optim.h"
#include "tensor.h"

typedef struct nb_model nb_model;
typedef struct nb_history nb_history;

/* A loss: predictions and targets of a batch in, a scalar (rank 0) tensor out. */
typedef nb_tensor *(*nb_loss_fn)(nb_tensor *pred, nb_tensor *target);

/* CONSTRUCTOR: takes ownership of net (freed with the model, even when this fails). */
NB_API nb_model *nb_model_new_steal(nb_module *net);
/* DESTRUCTOR: frees the module and the optimizer. NULL is a no-op. */
NB_API void nb_model_free(nb_model *m);
/* The module. Borrowed: lives as long as m. */
NB_API nb_module *nb_model_module(const nb_model *m);
/* Sets the loss, the optimizer (whose ownership moves to the model, also on failure) and
 * up to 16 metrics that fit and evaluate report. The optimizer must hold the module's
 * parameters (nb_module_parameters gives them). */
NB_API nb_status nb_model_compile_steal(nb_model *m, nb_loss_fn loss, nb_optimizer *opt, const nb_metric *metrics,
                                        int n_metrics);

/* ---------------------------------------------------------------- training */
typedef struct nb_callback {
    /* After each epoch, with the history so far; returns true to stop training. */
    bool (*on_epoch_end)(nb_model *m, int epoch, const nb_history *h, void *user);
    void *user;
} nb_callback;

typedef struct nb_fit_opts {
    int epochs;                   /* passes over the data (default 1) */
    int64_t batch_size;           /* rows per step (default 32, as Keras) */
    double validation_split;      /* fraction of the rows, taken from the end, held out (0: none) */
    nb_tensor *x_val, *y_val;     /* validation data; overrides validation_split */
    bool shuffle;                 /* reshuffle the training rows every epoch (default true) */
    uint64_t seed;                /* of the shuffle */
    int verbose;                  /* 0 silent; 1 progress bar on a terminal, else a line per
                                   * epoch (default); 2 a line per epoch */
    const nb_callback *callbacks;
    int n_callbacks;
    FILE *out;                    /* where progress goes (default stdout) */
} nb_fit_opts;

NB_API nb_fit_opts nb_fit_opts_default(void);
/* Trains on rows of x [N, ...] with targets y [N, ...]. Returns the history (free it with
 * nb_history_free), or NULL with an error. Parameters are updated in place. */
NB_API nb_history *nb_model_fit(nb_model *m, nb_tensor *x, nb_tensor *y, const nb_fit_opts *opts);
/* Mean loss over the rows (written to *loss) and the compiled metrics (written to
 * metrics[0..n_metrics-1], may be NULL), in eval mode without recording a graph. */
NB_API nb_status nb_model_evaluate(nb_model *m, nb_tensor *x, nb_tensor *y, int64_t batch_size, double *loss,
                                   double *metrics);
/* The module's outputs for all rows of x, in eval mode without a graph, concatenated: a new
 * tensor of the current scope. */
NB_API nb_tensor *nb_model_predict(nb_model *m, nb_tensor *x, int64_t batch_size);

/* ---------------------------------------------------------------- history
 * Series are named as Keras names them: "loss", the metric names ("accuracy"), and the
 * same with "val_" for validation. */
NB_API int nb_history_epochs(const nb_history *h);
NB_API int nb_history_series(const nb_history *h);
NB_API const char *nb_history_name(const nb_history *h, int series);
/* The value of a series at an epoch (0-based), NAN when there is no such value. */
NB_API double nb_history_value(const nb_history *h, const char *name, int epoch);
NB_API void nb_history_free(nb_history *h);

/* ---------------------------------------------------------------- callbacks
 * Both keep a copy of the parameters at the best epoch of the monitored series ("val_loss",
 * "accuracy", ...: lower is better for names ending in "loss", "mse" and "mae", higher for
 * the others). */
typedef struct nb_checkpoint nb_checkpoint;
NB_API nb_checkpoint *nb_checkpoint_new(const char *monitor);
NB_API nb_callback nb_checkpoint_callback(nb_checkpoint *c);
/* Copies the best parameters back into the model's module. */
NB_API nb_status nb_checkpoint_restore(const nb_checkpoint *c, nb_model *m);
NB_API int nb_checkpoint_best_epoch(const nb_checkpoint *c);   /* -1 before any */
NB_API double nb_checkpoint_best_value(const nb_checkpoint *c);
NB_API void nb_checkpoint_free(nb_checkpoint *c);

/* Stops when the monitored series has not improved by more than min_delta for patience
 * epochs; with restore_best, puts the best parameters back when it stops. */
typedef struct nb_early_stopping nb_early_stopping;
NB_API nb_early_stopping *nb_early_stopping_new(const char *monitor, double min_delta, int patience,
                                                bool restore_best);
NB_API nb_callback nb_early_stopping_callback(nb_early_stopping *e);
NB_API int nb_early_stopping_stopped_epoch(const nb_early_stopping *e);   /* -1 when it never stopped */
NB_API void nb_early_stopping_free(nb_early_stopping *e);

#endif
