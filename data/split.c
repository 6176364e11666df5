/* Train/test splits: a seeded permutation (per class when stratified), then one gather per
 * output tensor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/tensor_impl.h"
#include "data/rows.h"
#include "nabla/data.h"
#include "nabla/rng.h"

static void shuffle(nb_rng *rng, int64_t *v, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = nb_rng_int(rng, 0, i + 1);
        int64_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

typedef struct labelled {
    int64_t label, index;
} labelled;

static int by_label_then_index(const void *a, const void *b)
{
    const labelled *p = a, *q = b;
    if (p->label != q->label)
        return p->label < q->label ? -1 : 1;
    return p->index < q->index ? -1 : p->index > q->index;
}

typedef struct group {
    int64_t start, size, quota;   /* in the sorted array; quota goes to the test part */
    double remainder;
} group;

static int by_remainder(const void *a, const void *b)
{
    const group *p = a, *q = b;
    if (p->remainder != q->remainder)
        return p->remainder > q->remainder ? -1 : 1;
    return p->start < q->start ? -1 : p->start > q->start;   /* starts follow label order */
}

static int by_start(const void *a, const void *b)
{
    const group *p = a, *q = b;
    return p->start < q->start ? -1 : p->start > q->start;
}

/* order[0..n_test) gets the test examples, order[n_test..n) the training ones: each class
 * shuffled and cut at its quota, then each part shuffled. */
static bool stratify(nb_rng *rng, const int64_t *y, int64_t n, int64_t n_test, double fraction, int64_t *order)
{
    labelled *l = nbi_malloc((size_t)n * sizeof *l);
    group *g = nbi_malloc((size_t)n * sizeof *g);
    if (!l || !g) {
        nbi_free(l);
        nbi_free(g);
        return false;
    }
    for (int64_t i = 0; i < n; i++)
        l[i] = (labelled){ y[i], i };
    qsort(l, (size_t)n, sizeof *l, by_label_then_index);
    int64_t n_groups = 0, assigned = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || l[i].label != l[i - 1].label)
            g[n_groups++] = (group){ .start = i };
        g[n_groups - 1].size++;
    }
    for (int64_t k = 0; k < n_groups; k++) {
        double share = fraction * (double)g[k].size;
        g[k].quota = (int64_t)floor(share);
        g[k].remainder = share - floor(share);
        assigned += g[k].quota;
    }
    qsort(g, (size_t)n_groups, sizeof *g, by_remainder);
    for (int64_t k = 0; assigned < n_test; k = (k + 1) % n_groups)   /* ends: n_test < n */
        if (g[k].quota < g[k].size) {
            g[k].quota++;
            assigned++;
        }
    qsort(g, (size_t)n_groups, sizeof *g, by_start);   /* classes in label order for the draws */
    /* The class members, shuffled in place in l, split between the two parts. */
    int64_t test_at = 0, train_at = n_test;
    for (int64_t k = 0; k < n_groups; k++) {
        labelled *m = l + g[k].start;
        for (int64_t i = g[k].size - 1; i > 0; i--) {
            int64_t j = nb_rng_int(rng, 0, i + 1);
            labelled tmp = m[i];
            m[i] = m[j];
            m[j] = tmp;
        }
        for (int64_t i = 0; i < g[k].size; i++) {
            if (i < g[k].quota && test_at < n_test)
                order[test_at++] = m[i].index;
            else
                order[train_at++] = m[i].index;
        }
    }
    NB_ASSERT(test_at == n_test && train_at == n);
    shuffle(rng, order, n_test);
    shuffle(rng, order + n_test, n - n_test);
    nbi_free(l);
    nbi_free(g);
    return true;
}

static nb_status split(const char *fn, bool stratified, nb_tensor *x, nb_tensor *y, double test_fraction,
                       uint64_t seed, nb_tensor **x_train, nb_tensor **x_test, nb_tensor **y_train,
                       nb_tensor **y_test)
{
    char a[160], b[160];
    if (y_train)
        *y_train = NULL;
    if (y_test)
        *y_test = NULL;
    if (!x_train || !x_test)
        return nbi_error(NB_ERR_NULL, "%s: x_train and x_test (OUT pointers) must not be NULL", fn);
    *x_train = *x_test = NULL;
    if (!x)
        return nbi_error_keep(NB_ERR_NULL, "%s: x is NULL", fn);
    if (y && (!y_train || !y_test))
        return nbi_error(NB_ERR_NULL, "%s: y is given but y_train or y_test (OUT pointers) is NULL", fn);
    if (stratified && !y)
        return nbi_error(NB_ERR_NULL, "%s: y is NULL; a stratified split needs the class ids", fn);
    if (x->rank < 1)
        return nbi_error(NB_ERR_SHAPE, "%s: x must have an axis of examples, got a rank-0 tensor", fn);
    if (y && (y->rank < 1 || y->shape[0] != x->shape[0]))
        return nbi_error(NB_ERR_SHAPE, "%s: x %s and y %s: expected the same number of examples along axis 0", fn,
                         nb_shape_str(x->rank, x->shape, a, sizeof a), nb_shape_str(y->rank, y->shape, b, sizeof b));
    if (stratified && (y->dtype != NB_I64 || y->rank != 1))
        return nbi_error(NB_ERR_DTYPE, "%s: y is %s %s, expected class ids: i64 of rank 1", fn,
                         nb_dtype_name(y->dtype), nb_shape_str(y->rank, y->shape, b, sizeof b));
    if (!(test_fraction > 0 && test_fraction < 1))
        return nbi_error(NB_ERR_ARG, "%s: test_fraction %g is outside (0, 1)", fn, test_fraction);
    int64_t n = x->shape[0], n_test = (int64_t)ceil(test_fraction * (double)n);
    if (n_test < 1 || n_test >= n)
        return nbi_error(NB_ERR_ARG, "%s: test_fraction %g of %lld examples leaves %lld for training and %lld for "
                         "testing; both need at least one", fn, test_fraction, (long long)n,
                         (long long)(n - n_test), (long long)n_test);

    uint64_t errors_before = nbi_error_count();
    nb_status st = NB_ERR_MEMORY;
    nb_rng *rng = nb_rng_new(seed);
    int64_t *order = nbi_malloc((size_t)n * sizeof *order);
    nb_tensor *xc = nbi_contiguous_ref(x), *yc = y ? nbi_contiguous_ref(y) : NULL;
    nb_tensor *out[4] = { NULL, NULL, NULL, NULL };   /* x_train, x_test, y_train, y_test */
    if (!rng || !order || !xc || (y && !yc))
        goto done;
    if (stratified) {
        if (!stratify(rng, (const int64_t *)nbi_data(yc), n, n_test, test_fraction, order))
            goto done;
    } else {
        for (int64_t i = 0; i < n; i++)
            order[i] = i;
        shuffle(rng, order, n);
    }
    /* The first n_test of the order are the test part, as scikit-learn's ShuffleSplit. */
    out[0] = nbi_gather_rows(xc, order + n_test, n - n_test);
    out[1] = nbi_gather_rows(xc, order, n_test);
    if (y) {
        out[2] = nbi_gather_rows(yc, order + n_test, n - n_test);
        out[3] = nbi_gather_rows(yc, order, n_test);
    }
    int made = 0, want = y ? 4 : 2;
    for (int i = 0; i < want; i++)
        made += out[i] != NULL;
    if (made < want)
        goto done;
    st = NB_OK;
    for (int i = 0; i < want; i++)
        if (!(out[i] = nbi_scope_add(out[i]))) {   /* the scope released it; earlier ones are the scope's */
            for (int k = i + 1; k < want; k++)
                nb_release(out[k]);
            memset(out, 0, sizeof out);
            st = NB_ERR_MEMORY;
            break;
        }
    if (st == NB_OK) {
        *x_train = out[0];
        *x_test = out[1];
        if (y) {
            *y_train = out[2];
            *y_test = out[3];
        }
        memset(out, 0, sizeof out);
    }
done:
    for (int i = 0; i < 4; i++)
        nb_release(out[i]);
    nb_release(xc);
    nb_release(yc);
    nbi_free(order);
    nb_rng_free(rng);
    nbi_error_prefix(fn, errors_before);
    return st;
}

NB_API nb_status nb_train_test_split(nb_tensor *x, nb_tensor *y, double test_fraction, uint64_t seed,
                                     nb_tensor **x_train, nb_tensor **x_test, nb_tensor **y_train,
                                     nb_tensor **y_test)
{
    return split("nb_train_test_split", false, x, y, test_fraction, seed, x_train, x_test, y_train, y_test);
}

NB_API nb_status nb_train_test_split_stratified(nb_tensor *x, nb_tensor *y, double test_fraction, uint64_t seed,
                                                nb_tensor **x_train, nb_tensor **x_test, nb_tensor **y_train,
                                                nb_tensor **y_test)
{
    return split("nb_train_test_split_stratified", true, x, y, test_fraction, seed, x_train, x_test, y_train,
                 y_test);
}
