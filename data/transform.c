/* Transforms: standardisation and min-max scaling (statistics fitted in double over chosen
 * axes, applied with nabla ops), and one-hot encoding. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/tensor_impl.h"
#include "data/rows.h"
#include "nabla/data.h"
#include "nabla/ops.h"

/* ---------------------------------------------------------------- fitting */

/* What a fit keeps: x's dtype and rank, which axes were reduced, and the sizes of the
 * statistics (x's shape with 1 on the reduced axes). */
typedef struct fit_layout {
    nb_dtype dtype;
    int rank;
    bool reduced[NB_MAX_RANK];
    int64_t shape[NB_MAX_RANK];
    int64_t count;         /* elements of x behind each statistic */
} fit_layout;

static bool check_fit(const char *fn, const nb_tensor *x, const int *axes, int n_axes, fit_layout *f)
{
    if (!x) {
        nbi_error_keep(NB_ERR_NULL, "%s: x is NULL", fn);
        return false;
    }
    if (x->dtype != NB_F32 && x->dtype != NB_F64) {
        nbi_error(NB_ERR_DTYPE, "%s: x is %s, expected f32 or f64", fn, nb_dtype_name(x->dtype));
        return false;
    }
    if (n_axes < 0 || n_axes > x->rank || (n_axes > 0 && !axes)) {
        nbi_error(NB_ERR_ARG, "%s: %d axes %s for a rank-%d x", fn, n_axes, axes ? "given" : "at NULL", x->rank);
        return false;
    }
    memset(f, 0, sizeof *f);
    f->dtype = x->dtype;
    f->rank = x->rank;
    for (int i = 0; i < n_axes; i++) {
        int a;
        if (!nbi_axis(axes[i], x->rank, &a)) {
            nbi_error(NB_ERR_ARG, "%s: axis %d is out of range for a rank-%d x", fn, axes[i], x->rank);
            return false;
        }
        if (f->reduced[a]) {
            nbi_error(NB_ERR_ARG, "%s: axis %d is given twice", fn, axes[i]);
            return false;
        }
        f->reduced[a] = true;
    }
    f->count = 1;
    for (int d = 0; d < x->rank; d++) {
        if (n_axes == 0)
            f->reduced[d] = true;
        f->shape[d] = f->reduced[d] ? 1 : x->shape[d];
        if (f->reduced[d])
            f->count *= x->shape[d];
    }
    if (f->count == 0) {
        char buf[160];
        nbi_error(NB_ERR_SHAPE, "%s: x %s has no elements along the axes to fit over", fn,
                  nb_shape_str(x->rank, x->shape, buf, sizeof buf));
        return false;
    }
    return true;
}

enum pass { SUM, SQUARED_DEVIATION, MINMAX };

/* One pass over the contiguous x, each element added into the statistic it belongs to:
 * SUM into acc; SQUARED_DEVIATION (x - mean)^2 into acc; MINMAX into acc (min) and acc2 (max). */
static void accumulate(const nb_tensor *x, const fit_layout *f, enum pass pass, double *acc, double *acc2,
                       const double *mean)
{
    if (x->numel == 0)
        return;
    int rank = x->rank;
    int64_t stat_strides[NB_MAX_RANK];
    nbi_contiguous_strides(rank, f->shape, stat_strides);
    for (int d = 0; d < rank; d++)
        if (f->reduced[d])
            stat_strides[d] = 0;
    int64_t inner = rank ? x->shape[rank - 1] : 1, step = rank ? stat_strides[rank - 1] : 0;
    int64_t idx[NB_MAX_RANK] = { 0 }, base = 0;
    const float *xf = (const float *)nbi_data(x);
    const double *xd = (const double *)nbi_data(x);
    for (int64_t row = 0; row < x->numel / inner; row++) {
        int64_t at = row * inner;
        for (int64_t k = 0; k < inner; k++) {
            double v = x->dtype == NB_F32 ? (double)xf[at + k] : xd[at + k];
            int64_t s = base + k * step;
            if (pass == SUM) {
                acc[s] += v;
            } else if (pass == SQUARED_DEVIATION) {
                double dv = v - mean[s];
                acc[s] += dv * dv;
            } else {
                if (v < acc[s] || isnan(v))
                    acc[s] = v;
                if (v > acc2[s] || isnan(v))
                    acc2[s] = v;
            }
        }
        for (int d = rank - 2; d >= 0; d--) {   /* next row: advance the multi-index */
            base += stat_strides[d];
            if (++idx[d] < x->shape[d])
                break;
            base -= idx[d] * stat_strides[d];
            idx[d] = 0;
        }
    }
}

/* A new caller-owned tensor of the fit's dtype and shape holding v. */
static nb_tensor *stats_tensor(const fit_layout *f, const double *v)
{
    nb_tensor *t = nbi_tensor_alloc(f->dtype, f->rank, f->shape);
    if (t)
        for (int64_t i = 0; i < t->numel; i++)
            nbi_store(f->dtype, nbi_data(t), i, v[i]);
    return t;
}

/* x fits what was fitted: dtype, rank and the kept sizes. */
static bool check_apply(const char *fn, const fit_layout *f, const nb_tensor *x)
{
    char a[160], b[160];
    if (!x) {
        nbi_error_keep(NB_ERR_NULL, "%s: x is NULL", fn);
        return false;
    }
    if (x->dtype != f->dtype) {
        nbi_error(NB_ERR_DTYPE, "%s: x is %s, the statistics were fitted on %s (nb_cast first)", fn,
                  nb_dtype_name(x->dtype), nb_dtype_name(f->dtype));
        return false;
    }
    bool ok = x->rank == f->rank;
    for (int d = 0; ok && d < f->rank; d++)
        ok = f->reduced[d] || x->shape[d] == f->shape[d];
    if (!ok) {
        nbi_error(NB_ERR_SHAPE, "%s: x %s does not fit statistics of shape %s: expected rank %d and the same sizes "
                  "on the axes not fitted over", fn, nb_shape_str(x->rank, x->shape, a, sizeof a),
                  nb_shape_str(f->rank, f->shape, b, sizeof b), f->rank);
        return false;
    }
    return true;
}

/* Runs an expression of ops in a scope of its own, so that its temporaries die here and
 * only the result reaches the caller's scope. */
typedef nb_tensor *(*expression)(const void *self, nb_tensor *x);

static nb_tensor *apply_in_scope(const char *fn, expression e, const void *self, nb_tensor *x)
{
    uint64_t errors_before = nbi_error_count();
    nb_scope *s = nb_scope_begin();
    nb_tensor *z = e(self, x);
    if (s) {
        z = z ? nb_scope_keep(s, z) : NULL;   /* into the caller's scope */
        nb_scope_end(s);
    }
    nbi_error_prefix(fn, errors_before);
    return z;
}

/* ---------------------------------------------------------------- standardizer */

struct nb_standardizer {
    fit_layout f;
    nb_tensor *mean, *std;
};

NB_API nb_standardizer *nb_standardizer_fit(nb_tensor *x, const int *axes, int n_axes)
{
    const char *fn = "nb_standardizer_fit";
    fit_layout f;
    if (!check_fit(fn, x, axes, n_axes, &f))
        return NULL;
    uint64_t errors_before = nbi_error_count();
    int64_t m = nbi_numel(f.rank, f.shape);
    nb_tensor *xc = nbi_contiguous_ref(x);
    double *sum = nbi_calloc((size_t)m, sizeof *sum), *sq = nbi_calloc((size_t)m, sizeof *sq);
    nb_standardizer *st = nbi_calloc(1, sizeof *st);
    if (xc && sum && sq && st) {
        accumulate(xc, &f, SUM, sum, NULL, NULL);
        for (int64_t i = 0; i < m; i++)
            sum[i] /= (double)f.count;   /* now the mean */
        accumulate(xc, &f, SQUARED_DEVIATION, sq, NULL, sum);
        for (int64_t i = 0; i < m; i++) {
            sq[i] = sqrt(sq[i] / (double)f.count);   /* population std */
            if (sq[i] == 0)
                sq[i] = 1;
        }
        st->f = f;
        st->mean = stats_tensor(&f, sum);
        st->std = st->mean ? stats_tensor(&f, sq) : NULL;
    }
    nb_release(xc);
    nbi_free(sum);
    nbi_free(sq);
    if (!st || !st->std) {
        nbi_error_prefix(fn, errors_before);
        nb_standardizer_free(st);
        return NULL;
    }
    return st;
}

static nb_tensor *standardize(const void *self, nb_tensor *x)
{
    const nb_standardizer *s = self;
    return nb_div(nb_sub(x, s->mean), s->std);
}

NB_API nb_tensor *nb_standardizer_apply(const nb_standardizer *s, nb_tensor *x)
{
    const char *fn = "nb_standardizer_apply";
    if (!s) {
        nbi_error(NB_ERR_NULL, "%s: standardizer is NULL", fn);
        return NULL;
    }
    return check_apply(fn, &s->f, x) ? apply_in_scope(fn, standardize, s, x) : NULL;
}

NB_API nb_tensor *nb_standardizer_mean(const nb_standardizer *s)
{
    return s ? s->mean : NULL;
}

NB_API nb_tensor *nb_standardizer_std(const nb_standardizer *s)
{
    return s ? s->std : NULL;
}

NB_API void nb_standardizer_free(nb_standardizer *s)
{
    if (!s)
        return;
    nb_release(s->mean);
    nb_release(s->std);
    nbi_free(s);
}

/* ---------------------------------------------------------------- min-max scaler */

struct nb_minmax_scaler {
    fit_layout f;
    double low;
    nb_tensor *min, *max, *scale;   /* scale = (high - low) / (max - min), 1 where max == min */
};

NB_API nb_minmax_scaler *nb_minmax_scaler_fit(nb_tensor *x, const int *axes, int n_axes, double low, double high)
{
    const char *fn = "nb_minmax_scaler_fit";
    fit_layout f;
    if (!check_fit(fn, x, axes, n_axes, &f))
        return NULL;
    if (!(low < high)) {
        nbi_error(NB_ERR_ARG, "%s: the range [%g, %g] is empty, expected low < high", fn, low, high);
        return NULL;
    }
    uint64_t errors_before = nbi_error_count();
    int64_t m = nbi_numel(f.rank, f.shape);
    nb_tensor *xc = nbi_contiguous_ref(x);
    double *lo = nbi_malloc((size_t)m * sizeof *lo), *hi = nbi_malloc((size_t)m * sizeof *hi);
    double *scale = nbi_malloc((size_t)m * sizeof *scale);
    nb_minmax_scaler *sc = nbi_calloc(1, sizeof *sc);
    if (xc && lo && hi && scale && sc) {
        for (int64_t i = 0; i < m; i++) {
            lo[i] = INFINITY;
            hi[i] = -INFINITY;
        }
        accumulate(xc, &f, MINMAX, lo, hi, NULL);
        for (int64_t i = 0; i < m; i++)
            scale[i] = hi[i] > lo[i] ? (high - low) / (hi[i] - lo[i]) : 1.0;
        sc->f = f;
        sc->low = low;
        sc->min = stats_tensor(&f, lo);
        sc->max = sc->min ? stats_tensor(&f, hi) : NULL;
        sc->scale = sc->max ? stats_tensor(&f, scale) : NULL;
    }
    nb_release(xc);
    nbi_free(lo);
    nbi_free(hi);
    nbi_free(scale);
    if (!sc || !sc->scale) {
        nbi_error_prefix(fn, errors_before);
        nb_minmax_scaler_free(sc);
        return NULL;
    }
    return sc;
}

static nb_tensor *min_max(const void *self, nb_tensor *x)
{
    const nb_minmax_scaler *s = self;
    return nb_add_scalar(nb_mul(nb_sub(x, s->min), s->scale), s->low);
}

NB_API nb_tensor *nb_minmax_scaler_apply(const nb_minmax_scaler *s, nb_tensor *x)
{
    const char *fn = "nb_minmax_scaler_apply";
    if (!s) {
        nbi_error(NB_ERR_NULL, "%s: scaler is NULL", fn);
        return NULL;
    }
    return check_apply(fn, &s->f, x) ? apply_in_scope(fn, min_max, s, x) : NULL;
}

NB_API nb_tensor *nb_minmax_scaler_min(const nb_minmax_scaler *s)
{
    return s ? s->min : NULL;
}

NB_API nb_tensor *nb_minmax_scaler_max(const nb_minmax_scaler *s)
{
    return s ? s->max : NULL;
}

NB_API void nb_minmax_scaler_free(nb_minmax_scaler *s)
{
    if (!s)
        return;
    nb_release(s->min);
    nb_release(s->max);
    nb_release(s->scale);
    nbi_free(s);
}

/* One-hot encoding is the registered op one_hot (ops/index.c); nb_one_hot is declared in
 * data.h beside the other transforms. */

