/* Datasets, data loaders and transforms.
 *
 * A dataset is a pair of tensors whose first axis counts examples: features [N, ...] and
 * labels [N, ...] (class ids [N] of NB_I64 usually). A loader walks a dataset in batches,
 * in order or shuffled by a seeded generator. Transforms are fitted on training data and
 * applied to any data of the same layout.
 *
 * Ownership: returned tensors are new references owned by the innermost open scope (or by
 * the caller when no scope is open); tensor arguments are borrowed. Objects made by a
 * *_new or *_fit function are freed by the matching *_free, which accepts NULL.
 * Errors: NULL (or false, or a status) with nb_error() set, naming the function. */
#ifndef NABLA_DATA_H
#define NABLA_DATA_H

#include "common.h"
#include "tensor.h"

/* ---------------------------------------------------------------- datasets */

typedef struct nb_dataset nb_dataset;

/* CONSTRUCTOR: nb_dataset. features [N, ...] (rank >= 1) and labels [N, ...] or NULL for
 * none. The dataset takes its own reference to each tensor (a contiguous copy when one is
 * not contiguous), so the caller's scope may end; writing into them later shows in the
 * batches. Returns NULL with nb_error() set when the first sizes differ. */
NB_API nb_dataset *nb_dataset_new(nb_tensor *features, nb_tensor *labels);
/* DESTRUCTOR. Drops the dataset's references. NULL is a no-op. */
NB_API void nb_dataset_free(nb_dataset *ds);

/* Number of examples N (0 for NULL). */
NB_API int64_t nb_dataset_len(const nb_dataset *ds);
/* The whole features and labels (labels NULL when there are none). Borrowed: valid until
 * nb_dataset_free(ds); nb_retain to keep longer. */
NB_API nb_tensor *nb_dataset_features(const nb_dataset *ds);
NB_API nb_tensor *nb_dataset_labels(const nb_dataset *ds);

/* The examples indices[0..n-1] (each in [0, N), repeats allowed) as new contiguous tensors
 * x [n, ...] and y [n, ...] (y set to NULL when the dataset has no labels; y may be NULL to
 * skip them). One allocation and one copy per tensor, however many rows. Returns NB_OK, or
 * an error with *x and *y set to NULL. */
NB_API nb_status nb_dataset_get(const nb_dataset *ds, const int64_t *indices, int64_t n,
                                nb_tensor **x, nb_tensor **y);

/* ---------------------------------------------------------------- loaders */

typedef struct nb_loader nb_loader;

typedef struct nb_loader_opts {
    int64_t batch_size;   /* examples per batch, >= 1; default 32 */
    bool shuffle;         /* a new random order each epoch; default false (dataset order) */
    uint64_t seed;        /* seed of the loader's own nb_rng: the same seed gives the same
                           * orders, epoch after epoch, on every machine; default 0 */
    bool drop_last;       /* skip the last batch when it is smaller; default false */
} nb_loader_opts;

/* The defaults described in nb_loader_opts. */
NB_API nb_loader_opts nb_loader_opts_default(void);

/* CONSTRUCTOR: nb_loader. ds is borrowed and must outlive the loader. opts may be NULL for
 * the defaults. */
NB_API nb_loader *nb_loader_new(const nb_dataset *ds, const nb_loader_opts *opts);
/* DESTRUCTOR. NULL is a no-op. */
NB_API void nb_loader_free(nb_loader *loader);

/* The next batch of the current epoch as new tensors x [b, ...] and y [b, ...] (y NULL when
 * the dataset has no labels; y may be NULL to skip them), gathered with one copy each.
 * Returns false at the end of an epoch, with *x and *y set to NULL; the call after that
 * starts the next epoch (reshuffled when shuffling). Each batch belongs to the scope open
 * at the call, so a scope per step frees the batch with the step's temporaries:
 *     nb_scope *s = nb_scope_begin();
 *     while (nb_loader_next(loader, &x, &y)) {
 *         ... forward, backward, optimizer step ...
 *         nb_scope_end(s);
 *         s = nb_scope_begin();
 *     }
 *     nb_scope_end(s);
 * On failure returns false too, with nb_error() set and the epoch count unchanged. */
NB_API bool nb_loader_next(nb_loader *loader, nb_tensor **x, nb_tensor **y);
/* Puts the loader back as nb_loader_new left it: generator re-seeded (the next epochs
 * repeat the first ones' orders), epoch count 0, at the start of an epoch. NB_OK, or an
 * error (out of memory) with the loader unchanged. */
NB_API nb_status nb_loader_reset(nb_loader *loader);
/* Epochs completed: how many times nb_loader_next has returned false at an epoch end. */
NB_API int64_t nb_loader_epoch(const nb_loader *loader);
/* Batches in one epoch: ceil(N / batch_size), or floor with drop_last. */
NB_API int64_t nb_loader_batches(const nb_loader *loader);

/* ---------------------------------------------------------------- transforms
 * Fitted on x over the given axes (the axes statistics are taken over; others are kept:
 * axes {0} for one statistic per feature of [N, F], or per pixel of [N, 28, 28]; axes
 * NULL with n_axes 0 for one statistic over everything). x must be NB_F32 or NB_F64;
 * statistics are accumulated in double and stored in x's dtype with x's rank (size 1 on
 * the reduced axes), so apply broadcasts them over any x' of the same rank whose kept
 * sizes match. apply is made of nabla ops (sub, div, mul, add), so it is differentiable
 * and records a graph when an input requires grad. */

typedef struct nb_standardizer nb_standardizer;

/* CONSTRUCTOR: nb_standardizer. mean and the population standard deviation
 * sqrt(mean((x - mean)^2)), i.e. no Bessel correction, as scikit-learn's StandardScaler
 * (PyTorch's std() would divide by n - 1). A standard deviation of 0 is stored as 1, so a
 * constant feature maps to 0 instead of NaN (scikit-learn does the same). */
NB_API nb_standardizer *nb_standardizer_fit(nb_tensor *x, const int *axes, int n_axes);
/* (x - mean) / std: a new tensor. */
NB_API nb_tensor *nb_standardizer_apply(const nb_standardizer *s, nb_tensor *x);
/* The fitted statistics, borrowed: valid until nb_standardizer_free(s). */
NB_API nb_tensor *nb_standardizer_mean(const nb_standardizer *s);
NB_API nb_tensor *nb_standardizer_std(const nb_standardizer *s);
/* DESTRUCTOR. NULL is a no-op. */
NB_API void nb_standardizer_free(nb_standardizer *s);

typedef struct nb_minmax_scaler nb_minmax_scaler;

/* CONSTRUCTOR: nb_minmax_scaler. Fits min and max of x over axes, to map [min, max] onto
 * [low, high] (low < high; 0 and 1 usually). A constant feature (max == min) is shifted
 * to low, not scaled (as scikit-learn's MinMaxScaler). */
NB_API nb_minmax_scaler *nb_minmax_scaler_fit(nb_tensor *x, const int *axes, int n_axes,
                                              double low, double high);
/* low + (x - min) * (high - low) / (max - min): a new tensor. Data outside the fitted
 * range maps outside [low, high] (no clipping). */
NB_API nb_tensor *nb_minmax_scaler_apply(const nb_minmax_scaler *s, nb_tensor *x);
/* The fitted statistics, borrowed: valid until nb_minmax_scaler_free(s). */
NB_API nb_tensor *nb_minmax_scaler_min(const nb_minmax_scaler *s);
NB_API nb_tensor *nb_minmax_scaler_max(const nb_minmax_scaler *s);
/* DESTRUCTOR. NULL is a no-op. */
NB_API void nb_minmax_scaler_free(nb_minmax_scaler *s);

/* One-hot encoding: labels of NB_I64, any shape [...], each in [0, num_classes), to a new
 * tensor [..., num_classes] of dtype with 1 at the label and 0 elsewhere. num_classes <= 0
 * means max(labels) + 1. Not differentiable (labels are integers). */
NB_API nb_tensor *nb_one_hot(nb_tensor *labels, int64_t num_classes, nb_dtype dtype);

/* ---------------------------------------------------------------- splits */

/* Splits x [N, ...] and y [N, ...] (y may be NULL) into a shuffled training part and test
 * part: ceil(test_fraction * N) examples go to the test part (as scikit-learn's
 * train_test_split), test_fraction in (0, 1), both parts non-empty. The order comes from
 * an nb_rng seeded with seed: the same seed gives the same split. The four OUT tensors are
 * new contiguous copies (y_train and y_test NULL when y is; they may be NULL pointers when
 * y is NULL). Returns NB_OK, or an error with every OUT tensor set to NULL. */
NB_API nb_status nb_train_test_split(nb_tensor *x, nb_tensor *y, double test_fraction, uint64_t seed,
                                     nb_tensor **x_train, nb_tensor **x_test,
                                     nb_tensor **y_train, nb_tensor **y_test);

/* The same, stratified: y must be class ids (NB_I64 [N]), and each class goes to the test
 * part in the proportion test_fraction as nearly as whole examples allow (floor of each
 * class's share, then one more for the classes with the largest remainders, lowest id
 * first on ties, until the test part has ceil(test_fraction * N) examples). Both parts are
 * shuffled, so classes are mixed. */
NB_API nb_status nb_train_test_split_stratified(nb_tensor *x, nb_tensor *y, double test_fraction,
                                                uint64_t seed, nb_tensor **x_train,
                                                nb_tensor **x_test, nb_tensor **y_train,
                                                nb_tensor **y_test);

#endif
