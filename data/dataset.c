/* Datasets (a features tensor and a labels tensor, first axis = examples) and the loaders
 * that walk them in batches: a permutation per epoch, then one gather per batch tensor. */
#include <string.h>

#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/tensor_impl.h"
#include "data/rows.h"
#include "nabla/data.h"
#include "nabla/rng.h"

/* ---------------------------------------------------------------- datasets */

struct nb_dataset {
    nb_tensor *x, *y;      /* contiguous; the dataset owns a reference to each */
    int64_t n;
};

NB_API nb_dataset *nb_dataset_new(nb_tensor *features, nb_tensor *labels)
{
    const char *fn = "nb_dataset_new";
    char a[160], b[160];
    if (!features) {
        nbi_error_keep(NB_ERR_NULL, "%s: features is NULL", fn);
        return NULL;
    }
    if (features->rank < 1) {
        nbi_error(NB_ERR_SHAPE, "%s: features must have an axis of examples, got a rank-0 tensor", fn);
        return NULL;
    }
    if (labels && (labels->rank < 1 || labels->shape[0] != features->shape[0])) {
        nbi_error(NB_ERR_SHAPE, "%s: features %s and labels %s: expected the same number of examples along axis 0",
                  fn, nb_shape_str(features->rank, features->shape, a, sizeof a),
                  nb_shape_str(labels->rank, labels->shape, b, sizeof b));
        return NULL;
    }
    uint64_t errors_before = nbi_error_count();
    nb_dataset *ds = nbi_calloc(1, sizeof *ds);
    if (!ds) {
        nbi_error_prefix(fn, errors_before);
        return NULL;
    }
    ds->n = features->shape[0];
    ds->x = nbi_contiguous_ref(features);
    ds->y = labels ? nbi_contiguous_ref(labels) : NULL;
    if (!ds->x || (labels && !ds->y)) {
        nbi_error_prefix(fn, errors_before);
        nb_dataset_free(ds);
        return NULL;
    }
    return ds;
}

NB_API void nb_dataset_free(nb_dataset *ds)
{
    if (!ds)
        return;
    nb_release(ds->x);
    nb_release(ds->y);
    nbi_free(ds);
}

NB_API int64_t nb_dataset_len(const nb_dataset *ds)
{
    return ds ? ds->n : 0;
}

NB_API nb_tensor *nb_dataset_features(const nb_dataset *ds)
{
    return ds ? ds->x : NULL;
}

NB_API nb_tensor *nb_dataset_labels(const nb_dataset *ds)
{
    return ds ? ds->y : NULL;
}

/* Gathers the rows into new tensors in the current scope; indices already checked. */
static nb_status gather(const char *fn, const nb_dataset *ds, const int64_t *idx, int64_t n, nb_tensor **x,
                        nb_tensor **y)
{
    uint64_t errors_before = nbi_error_count();
    bool want_y = y && ds->y;
    nb_tensor *bx = nbi_gather_rows(ds->x, idx, n), *by = NULL;
    if (bx && want_y && !(by = nbi_gather_rows(ds->y, idx, n))) {
        nb_release(bx);
        bx = NULL;
    }
    if (bx && !(bx = nbi_scope_add(bx)))   /* the scope released bx; by is still ours */
        nb_release(by);
    else if (by && !(by = nbi_scope_add(by)))
        bx = NULL;   /* the scope keeps bx and frees it; it released by */
    if (!bx || (want_y && !by)) {
        nbi_error_prefix(fn, errors_before);
        return NB_ERR_MEMORY;
    }
    *x = bx;
    if (y)
        *y = by;
    return NB_OK;
}

NB_API nb_status nb_dataset_get(const nb_dataset *ds, const int64_t *indices, int64_t n, nb_tensor **x,
                                nb_tensor **y)
{
    const char *fn = "nb_dataset_get";
    if (y)
        *y = NULL;
    if (!x)
        return nbi_error(NB_ERR_NULL, "%s: x (the OUT pointer) is NULL", fn);
    *x = NULL;
    if (!ds)
        return nbi_error(NB_ERR_NULL, "%s: dataset is NULL", fn);
    if (n < 0 || (n > 0 && !indices))
        return nbi_error(NB_ERR_ARG, "%s: %lld indices at %s", fn, (long long)n, indices ? "a pointer" : "NULL");
    for (int64_t i = 0; i < n; i++)
        if (indices[i] < 0 || indices[i] >= ds->n)
            return nbi_error(NB_ERR_ARG, "%s: indices[%lld] = %lld is out of range [0, %lld)", fn, (long long)i,
                             (long long)indices[i], (long long)ds->n);
    return gather(fn, ds, indices, n, x, y);
}

/* ---------------------------------------------------------------- loaders */

struct nb_loader {
    const nb_dataset *ds;
    nb_loader_opts o;
    nb_rng *rng;
    int64_t *order;        /* this epoch's permutation of 0..N-1 */
    int64_t pos;           /* examples of this epoch already served */
    int64_t epoch;         /* epochs completed */
    bool in_epoch;
};

NB_API nb_loader_opts nb_loader_opts_default(void)
{
    return (nb_loader_opts){ .batch_size = 32, .shuffle = false, .seed = 0, .drop_last = false };
}

NB_API nb_loader *nb_loader_new(const nb_dataset *ds, const nb_loader_opts *opts)
{
    const char *fn = "nb_loader_new";
    nb_loader_opts o = opts ? *opts : nb_loader_opts_default();
    if (!ds) {
        nbi_error(NB_ERR_NULL, "%s: dataset is NULL", fn);
        return NULL;
    }
    if (o.batch_size < 1) {
        nbi_error(NB_ERR_ARG, "%s: batch_size %lld, expected at least 1", fn, (long long)o.batch_size);
        return NULL;
    }
    uint64_t errors_before = nbi_error_count();
    nb_loader *l = nbi_calloc(1, sizeof *l);
    if (l) {
        l->ds = ds;
        l->o = o;
        l->rng = nb_rng_new(o.seed);
        l->order = nbi_malloc((size_t)(ds->n > 0 ? ds->n : 1) * sizeof *l->order);
    }
    if (!l || !l->rng || !l->order) {
        nbi_error_prefix(fn, errors_before);
        nb_loader_free(l);
        return NULL;
    }
    return l;
}

NB_API void nb_loader_free(nb_loader *loader)
{
    if (!loader)
        return;
    nb_rng_free(loader->rng);
    nbi_free(loader->order);
    nbi_free(loader);
}

/* The order of a new epoch: 0..N-1, shuffled by Fisher-Yates with the loader's generator.
 * Starting from the identity each time makes an epoch's order depend on the generator's
 * state only. */
static void start_epoch(nb_loader *l)
{
    int64_t n = l->ds->n;
    for (int64_t i = 0; i < n; i++)
        l->order[i] = i;
    if (l->o.shuffle)
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = nb_rng_int(l->rng, 0, i + 1);
            int64_t t = l->order[i];
            l->order[i] = l->order[j];
            l->order[j] = t;
        }
    l->pos = 0;
    l->in_epoch = true;
}

NB_API bool nb_loader_next(nb_loader *loader, nb_tensor **x, nb_tensor **y)
{
    const char *fn = "nb_loader_next";
    if (y)
        *y = NULL;
    if (!x) {
        nbi_error(NB_ERR_NULL, "%s: x (the OUT pointer) is NULL", fn);
        return false;
    }
    *x = NULL;
    if (!loader) {
        nbi_error(NB_ERR_NULL, "%s: loader is NULL", fn);
        return false;
    }
    if (!loader->in_epoch)
        start_epoch(loader);
    int64_t left = loader->ds->n - loader->pos, b = loader->o.batch_size;
    if (left == 0 || (loader->o.drop_last && left < b)) {
        loader->in_epoch = false;
        loader->epoch++;
        return false;
    }
    if (b > left)
        b = left;
    if (gather(fn, loader->ds, loader->order + loader->pos, b, x, y) != NB_OK)
        return false;
    loader->pos += b;
    return true;
}

NB_API nb_status nb_loader_reset(nb_loader *loader)
{
    if (!loader)
        return nbi_error(NB_ERR_NULL, "nb_loader_reset: loader is NULL");
    uint64_t errors_before = nbi_error_count();
    nb_rng *fresh = nb_rng_new(loader->o.seed);
    if (!fresh) {
        nbi_error_prefix("nb_loader_reset", errors_before);
        return NB_ERR_MEMORY;
    }
    nb_rng_free(loader->rng);
    loader->rng = fresh;
    loader->epoch = 0;
    loader->pos = 0;
    loader->in_epoch = false;
    return NB_OK;
}

NB_API int64_t nb_loader_epoch(const nb_loader *loader)
{
    return loader ? loader->epoch : 0;
}

NB_API int64_t nb_loader_batches(const nb_loader *loader)
{
    if (!loader)
        return 0;
    int64_t n = loader->ds->n, b = loader->o.batch_size;
    return loader->o.drop_last ? n / b : (n + b - 1) / b;
}
