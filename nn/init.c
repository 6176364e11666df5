/* Initialisers: fill a tensor in place from a seeded generator, outside the graph.
 * Formulas follow torch.nn.init (gains, fans, bounds); the numbers differ from PyTorch's
 * because the generators differ, the distributions do not. */
#include <dlfcn.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/tensor_impl.h"
#include "nabla.h"
#include "nabla/nn.h"
#include "ops/kernels/blas.h"

/* Writes values (a new tensor of t's shape) into t under no-grad. */
static nb_status fill_from(const char *fn, nb_tensor *t, nb_tensor *values)
{
    if (!values)
        return nb_error_code();
    nb_no_grad_begin();
    nb_status st = nb_copy_inplace(t, values);
    nb_no_grad_end();
    if (st)
        nbi_error_prefix(fn, 0);
    return st;
}

static nb_status check_float(const char *fn, const nb_tensor *t)
{
    if (!t)
        return nbi_error_keep(NB_ERR_NULL, "%s: tensor is NULL", fn);
    if (t->dtype == NB_I64)
        return nbi_error(NB_ERR_DTYPE, "%s: tensor is i64; initialisers fill f32 or f64 tensors", fn);
    return NB_OK;
}

NB_API nb_status nb_init_uniform(nb_tensor *t, double low, double high, nb_rng *rng)
{
    nb_status st = check_float("nb_init_uniform", t);
    if (st)
        return st;
    nb_scope *s = nb_scope_begin();
    st = fill_from("nb_init_uniform", t, nb_uniform(rng, t->dtype, t->rank, t->shape, low, high));
    nb_scope_end(s);
    return st;
}

NB_API nb_status nb_init_normal(nb_tensor *t, double mean, double std, nb_rng *rng)
{
    nb_status st = check_float("nb_init_normal", t);
    if (!st && !(std >= 0))
        st = nbi_error(NB_ERR_ARG, "nb_init_normal: std %g is negative", std);
    if (st)
        return st;
    nb_scope *s = nb_scope_begin();
    nb_tensor *z = nb_randn(rng, t->dtype, t->rank, t->shape);
    st = fill_from("nb_init_normal", t, nb_add_scalar(nb_mul_scalar(z, std), mean));
    nb_scope_end(s);
    return st;
}

NB_API nb_status nb_init_constant(nb_tensor *t, double value)
{
    nb_status st = check_float("nb_init_constant", t);
    if (st)
        return st;
    nb_no_grad_begin();
    st = nb_fill_inplace(t, value);
    nb_no_grad_end();
    return st;
}

NB_API nb_status nb_init_zeros(nb_tensor *t)
{
    return nb_init_constant(t, 0.0);
}

NB_API nb_status nb_init_ones(nb_tensor *t)
{
    return nb_init_constant(t, 1.0);
}

NB_API double nb_init_gain(const char *nonlinearity, double param)
{
    static const char *const unit[] = { "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                                        "conv_transpose2d", "conv_transpose3d", "sigmoid" };
    if (!nonlinearity) {
        nbi_error(NB_ERR_NULL, "nb_init_gain: nonlinearity is NULL");
        return NAN;
    }
    for (size_t i = 0; i < sizeof unit / sizeof unit[0]; i++)
        if (strcmp(nonlinearity, unit[i]) == 0)
            return 1.0;
    if (strcmp(nonlinearity, "tanh") == 0)
        return 5.0 / 3.0;
    if (strcmp(nonlinearity, "relu") == 0)
        return sqrt(2.0);
    if (strcmp(nonlinearity, "leaky_relu") == 0)
        return sqrt(2.0 / (1.0 + param * param));
    if (strcmp(nonlinearity, "selu") == 0)
        return 3.0 / 4.0;
    nbi_error(NB_ERR_ARG, "nb_init_gain: unknown nonlinearity \"%s\" (linear, conv1d/2d/3d, sigmoid, tanh, relu, "
              "leaky_relu, selu)", nonlinearity);
    return NAN;
}

/* PyTorch's _calculate_fan_in_and_fan_out: needs at least 2 axes. */
static nb_status fans(const char *fn, const nb_tensor *t, double *fan_in, double *fan_out)
{
    nb_status st = check_float(fn, t);
    if (st)
        return st;
    if (t->rank < 2) {
        char buf[160];
        return nbi_error(NB_ERR_SHAPE, "%s: fans need a tensor of at least 2 axes, got shape %s", fn,
                         nb_shape_str(t->rank, t->shape, buf, sizeof buf));
    }
    double receptive = 1;
    for (int d = 2; d < t->rank; d++)
        receptive *= (double)t->shape[d];
    *fan_in = (double)t->shape[1] * receptive;
    *fan_out = (double)t->shape[0] * receptive;
    if (*fan_in == 0 || *fan_out == 0)
        return nbi_error(NB_ERR_SHAPE, "%s: a tensor with a zero-size axis has no fans", fn);
    return NB_OK;
}

NB_API nb_status nb_init_xavier_uniform(nb_tensor *t, double gain, nb_rng *rng)
{
    double in, out;
    nb_status st = fans("nb_init_xavier_uniform", t, &in, &out);
    if (st)
        return st;
    double bound = gain * sqrt(6.0 / (in + out));
    return nb_init_uniform(t, -bound, bound, rng);
}

NB_API nb_status nb_init_xavier_normal(nb_tensor *t, double gain, nb_rng *rng)
{
    double in, out;
    nb_status st = fans("nb_init_xavier_normal", t, &in, &out);
    return st ? st : nb_init_normal(t, 0.0, gain * sqrt(2.0 / (in + out)), rng);
}

/* He initialisation's standard deviation, or NAN with an error. */
static double kaiming_std(const char *fn, const nb_tensor *t, double a, nb_fan_mode mode, const char *nonlinearity)
{
    double in, out;
    if (fans(fn, t, &in, &out))
        return NAN;
    if (mode != NB_FAN_IN && mode != NB_FAN_OUT) {
        nbi_error(NB_ERR_ARG, "%s: fan mode %d is neither NB_FAN_IN nor NB_FAN_OUT", fn, (int)mode);
        return NAN;
    }
    double gain = nb_init_gain(nonlinearity ? nonlinearity : "leaky_relu", a);
    if (isnan(gain)) {
        nbi_error_prefix(fn, 0);
        return NAN;
    }
    return gain / sqrt(mode == NB_FAN_IN ? in : out);
}

NB_API nb_status nb_init_kaiming_uniform(nb_tensor *t, double a, nb_fan_mode mode, const char *nonlinearity,
                                         nb_rng *rng)
{
    double std = kaiming_std("nb_init_kaiming_uniform", t, a, mode, nonlinearity);
    if (isnan(std))
        return nb_error_code();
    double bound = sqrt(3.0) * std;
    return nb_init_uniform(t, -bound, bound, rng);
}

NB_API nb_status nb_init_kaiming_normal(nb_tensor *t, double a, nb_fan_mode mode, const char *nonlinearity,
                                        nb_rng *rng)
{
    double std = kaiming_std("nb_init_kaiming_normal", t, a, mode, nonlinearity);
    return isnan(std) ? nb_error_code() : nb_init_normal(t, 0.0, std, rng);
}

/* LAPACK's QR (Fortran calling convention), from the OpenBLAS that nabla loaded. */
typedef void (*lapack_geqrf)(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
                             const int *lwork, int *info);
typedef void (*lapack_orgqr)(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau,
                             double *work, const int *lwork, int *info);

/* torch.nn.init.orthogonal_: flatten to rows x cols, draw a normal matrix (transposed when
 * rows < cols), Q of its QR times sign(diag R), transposed back, times gain. */
NB_API nb_status nb_init_orthogonal(nb_tensor *t, double gain, nb_rng *rng)
{
    const char *fn = "nb_init_orthogonal";
    nb_status st = check_float(fn, t);
    if (st)
        return st;
    if (t->rank < 2)
        return nbi_error(NB_ERR_SHAPE, "%s: needs a tensor of at least 2 axes, got rank %d", fn, t->rank);
    int rows = (int)t->shape[0], cols = (int)(t->numel / (t->shape[0] ? t->shape[0] : 1));
    if (rows == 0 || cols == 0)
        return NB_OK;
    if (!nbi_blas_get())
        return nbi_error(NB_ERR_STATE, "%s: %s", fn, nb_error());
    lapack_geqrf geqrf;
    lapack_orgqr orgqr;
    *(void **)&geqrf = dlsym(RTLD_DEFAULT, "dgeqrf_");
    *(void **)&orgqr = dlsym(RTLD_DEFAULT, "dorgqr_");
    if (!geqrf || !orgqr)
        return nbi_error(NB_ERR_STATE, "%s: the loaded OpenBLAS has no LAPACK QR (dgeqrf_, dorgqr_)", fn);
    /* A is m x n with m >= n, stored column-major as LAPACK wants: a normal draw, so the
     * storage order does not matter. */
    bool flip = rows < cols;
    int m = flip ? cols : rows, n = flip ? rows : cols, info = 0, lwork = -1;
    double *a = nbi_malloc((size_t)m * n * sizeof *a), *tau = nbi_malloc((size_t)n * sizeof *tau), query;
    if (!a || !tau) {
        nbi_free(a);
        nbi_free(tau);
        return NB_ERR_MEMORY;
    }
    for (size_t i = 0; i < (size_t)m * n; i++)
        a[i] = nb_rng_normal(rng);
    geqrf(&m, &n, a, &m, tau, &query, &lwork, &info);
    lwork = (int)query > n ? (int)query : n;
    double *work = nbi_malloc((size_t)lwork * sizeof *work);
    double *sign = nbi_malloc((size_t)n * sizeof *sign);
    if (!work || !sign) {
        st = NB_ERR_MEMORY;
        goto done;
    }
    geqrf(&m, &n, a, &m, tau, work, &lwork, &info);
    for (int j = 0; j < n && !info; j++)
        sign[j] = a[(size_t)j * m + j] < 0 ? -1.0 : 1.0;   /* diag(R), before orgqr overwrites it */
    if (!info)
        orgqr(&m, &n, &n, a, &m, tau, work, &lwork, &info);
    if (info) {
        st = nbi_error(NB_ERR_STATE, "%s: LAPACK QR failed (info %d)", fn, info);
        goto done;
    }
    /* Q is m x n column-major: Q[i][j] = a[j*m + i]. The tensor gets Q (rows x cols) or Q^T. */
    nb_scope *s = nb_scope_begin();
    nb_tensor *q = nb_empty(NB_F64, 2, (const int64_t[]){ rows, cols });
    if (q) {
        double *qd = nb_tensor_data(q);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) {
                int qi = flip ? j : i, qj = flip ? i : j;
                qd[(size_t)i * cols + j] = gain * a[(size_t)qj * m + qi] * sign[qj];
            }
    }
    st = fill_from(fn, t, nb_reshape(q, t->rank, t->shape));
    nb_scope_end(s);
done:
    nbi_free(a);
    nbi_free(tau);
    nbi_free(work);
    nbi_free(sign);
    return st;
}
