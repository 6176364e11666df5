/* Reductions: sum, argmax/argmin and the gather/scatter pair behind max/min; composites
 * mean, max, min, sum_all, mean_all and sum_to. Kernels in ops/kernels/reduce.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/kernels/kernels.h"
#include "ops/registry.h"

/* Axes as a bit mask over the input's axes. shape is the full input shape, used by
 * reduce_scatter, which makes a tensor of that shape. */
typedef struct reduce_attrs {
    unsigned mask;
    bool keepdim;
    int rank;
    int64_t shape[NB_MAX_RANK];
} reduce_attrs;

static int format_reduce(const void *attrs, char *buf, size_t size)
{
    const reduce_attrs *a = attrs;
    char axes[64];
    nbi_format_axes(a->mask, axes, sizeof axes);
    return snprintf(buf, size, "{\"axes\": %s, \"keepdim\": %s}", axes, a->keepdim ? "true" : "false");
}

/* reduce_scatter also names the full shape it makes. */
static int format_reduce_scatter(const void *attrs, char *buf, size_t size)
{
    const reduce_attrs *a = attrs;
    char axes[64], shape[NBI_SHAPE_STR];
    nbi_format_axes(a->mask, axes, sizeof axes);
    nb_shape_str(a->rank, a->shape, shape, sizeof shape);
    return snprintf(buf, size, "{\"axes\": %s, \"keepdim\": %s, \"shape\": %s}", axes,
                    a->keepdim ? "true" : "false", shape);
}

/* The shape of a reduction of (rank, shape) over mask. */
static void reduced_meta(int rank, const int64_t *shape, const reduce_attrs *a, nb_meta *z)
{
    z->rank = 0;
    for (int d = 0; d < rank; d++) {
        if (!(a->mask & (1u << d)))
            z->shape[z->rank++] = shape[d];
        else if (a->keepdim)
            z->shape[z->rank++] = 1;
    }
}

static nb_status check_mask(const nb_op_def *op, const nb_tensor *x, const reduce_attrs *a)
{
    if (a->mask >> x->rank) {
        char axes[64], buf[NBI_SHAPE_STR];
        nbi_format_axes(a->mask, axes, sizeof axes);
        return nb_op_error(op, NB_ERR_ARG, "axes %s are out of range for shape %s", axes, nbi_shape_of(x, buf));
    }
    return NB_OK;
}

static nb_status reduce_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    nb_status st = nbi_check_float(op, x, 0);
    if (!st)
        st = check_mask(op, x[0], attrs);
    if (st)
        return st;
    reduced_meta(x[0]->rank, x[0]->shape, attrs, z);
    z->dtype = x[0]->dtype;
    return NB_OK;
}

static nb_status arg_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    nb_status st = reduce_rule(op, x, attrs, z);
    if (st)
        return st;
    for (int d = 0; d < x[0]->rank; d++)
        if ((((const reduce_attrs *)attrs)->mask & (1u << d)) && x[0]->shape[d] == 0) {
            char buf[NBI_SHAPE_STR];
            return nb_op_error(op, NB_ERR_SHAPE, "cannot reduce the empty axis %d of shape %s", d,
                               nbi_shape_of(x[0], buf));
        }
    z->dtype = NB_I64;
    return NB_OK;
}

/* An index tensor of the reduced shape, with values in [0, block). */
static nb_status check_index(const nb_op_def *op, const nb_tensor *index, int i, const reduce_attrs *a,
                             int rank, const int64_t *full_shape)
{
    nb_meta kept;
    reduced_meta(rank, full_shape, a, &kept);
    char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
    if (index->dtype != NB_I64)
        return nb_op_error(op, NB_ERR_DTYPE, "input %d (indices) has dtype %s, expected i64", i,
                           nb_dtype_name(index->dtype));
    if (!nbi_same_shape(index->rank, index->shape, kept.rank, kept.shape))
        return nb_op_error(op, NB_ERR_SHAPE, "input %d has shape %s, expected the reduced shape %s", i,
                           nbi_shape_of(index, b1), nb_shape_str(kept.rank, kept.shape, b2, sizeof b2));
    return NB_OK;
}

/* reduce_gather(x, index): x's elements at the given positions of each reduced block. */
static nb_status gather_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    nb_status st = reduce_rule(op, x, attrs, z);
    return st ? st : check_index(op, x[1], 1, attrs, x[0]->rank, x[0]->shape);
}

/* reduce_scatter(g, index): zeros of the full shape with g placed at the positions. */
static nb_status scatter_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const reduce_attrs *a = attrs;
    nb_status st = nbi_check_float(op, x, 0);
    if (!st && (a->rank < 0 || a->rank > NB_MAX_RANK || a->mask >> a->rank))
        st = nb_op_error(op, NB_ERR_ARG, "attributes describe rank %d with axis mask 0x%x", a->rank, a->mask);
    if (!st && !nbi_valid_sizes(a->rank, a->shape)) {
        char b[NBI_SHAPE_STR];
        st = nb_op_error(op, NB_ERR_ARG, "attributes describe shape %s: sizes must be at least 0 and their "
                         "product at most 2^58", nb_shape_str(a->rank, a->shape, b, sizeof b));
    }
    if (!st) {
        nb_meta kept;
        char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
        reduced_meta(a->rank, a->shape, a, &kept);
        if (!nbi_same_shape(x[0]->rank, x[0]->shape, kept.rank, kept.shape))
            st = nb_op_error(op, NB_ERR_SHAPE, "input 0 has shape %s, expected the reduced shape %s",
                             nbi_shape_of(x[0], b1), nb_shape_str(kept.rank, kept.shape, b2, sizeof b2));
    }
    if (!st)
        st = check_index(op, x[1], 1, a, a->rank, a->shape);
    if (st)
        return st;
    z->dtype = x[0]->dtype;
    z->rank = a->rank;
    memcpy(z->shape, a->shape, sizeof z->shape);
    return NB_OK;
}

static nb_status sum_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    return nbk_reduce(NBK_SUM, x[0], z[0], ((const reduce_attrs *)attrs)->mask);
}

static nb_status argmax_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    return nbk_reduce(NBK_ARGMAX, x[0], z[0], ((const reduce_attrs *)attrs)->mask);
}

static nb_status argmin_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    return nbk_reduce(NBK_ARGMIN, x[0], z[0], ((const reduce_attrs *)attrs)->mask);
}

static nb_status gather_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    return nbk_reduce_gather(x[0], x[1], z[0], ((const reduce_attrs *)attrs)->mask);
}

static nb_status scatter_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    return nbk_reduce_scatter(x[0], x[1], z[0], ((const reduce_attrs *)attrs)->mask);
}

/* The attributes of a reduction of x (rank, shape recorded for the way back). */
static reduce_attrs attrs_for(const nb_tensor *x, unsigned mask, bool keepdim)
{
    reduce_attrs a = { .mask = mask, .keepdim = keepdim, .rank = x->rank };
    memcpy(a.shape, x->shape, sizeof a.shape);
    return a;
}

static const nb_op_def op_reduce_gather, op_reduce_scatter;

/* d sum = broadcast of gz back over the reduced axes. */
static void sum_backward(nb_backward_ctx *c)
{
    const reduce_attrs *a = nb_attrs(c);
    const nb_meta *x = nb_input_meta(c, 0);
    reduce_attrs keep = *a;
    keep.keepdim = true;
    nb_meta kept;
    reduced_meta(x->rank, x->shape, &keep, &kept);
    nb_tensor *gz = nb_reshape(nb_grad_out(c, 0), kept.rank, kept.shape);
    nb_set_grad_in(c, 0, nb_expand(gz, x->rank, x->shape));
}

static void gather_backward(nb_backward_ctx *c)
{
    const nb_meta *x = nb_input_meta(c, 0);
    reduce_attrs a = *(const reduce_attrs *)nb_attrs(c);
    a.rank = x->rank;
    memcpy(a.shape, x->shape, sizeof a.shape);
    nb_set_grad_in(c, 0, nb_apply(&op_reduce_scatter, (nb_tensor *const[]){ nb_grad_out(c, 0), nb_saved_input(c, 1) }, &a));
}

static void scatter_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_apply(&op_reduce_gather, (nb_tensor *const[]){ nb_grad_out(c, 0), nb_saved_input(c, 1) },
                                  nb_attrs(c)));
}

/* ---------------------------------------------------------------- samples */
#define S(...) { __VA_ARGS__ }
#define RA(mask_, keep_) &(const reduce_attrs){ .mask = mask_, .keepdim = keep_ }
#define X(r, shape_, layout_) { .rank = r, .shape = shape_, .layout = layout_ }

static const nb_sample samples_reduce[] = {
    { .label = "last axis", .in = { X(2, S(3, 5), NB_LAYOUT_CONTIGUOUS) }, .attrs = RA(0x2, false) },
    { .label = "first axis (column sum), keepdim", .in = { X(2, S(5, 4), NB_LAYOUT_CONTIGUOUS) }, .attrs = RA(0x1, true) },
    { .label = "all axes", .in = { X(3, S(2, 3, 4), NB_LAYOUT_CONTIGUOUS) }, .attrs = RA(0x7, false) },
    { .label = "outer and inner of rank 3", .in = { X(3, S(2, 3, 4), NB_LAYOUT_STRIDED) }, .attrs = RA(0x5, true) },
    { .label = "transposed, first axis", .in = { X(2, S(4, 3), NB_LAYOUT_TRANSPOSED) }, .attrs = RA(0x1, false) },
    { .label = "expanded, middle axis", .in = { X(3, S(3, 2, 4), NB_LAYOUT_EXPANDED) }, .attrs = RA(0x2, false) },
    { .label = "rank 0", .in = { X(0, S(0), NB_LAYOUT_CONTIGUOUS) }, .attrs = RA(0x0, false) },
};

/* Indices for a block of the sample's reduced size: [lo, hi) = [0, block). */
#define IDX(r, shape_, block) { .rank = r, .shape = shape_, .lo = 0, .hi = block, .integer = true }
static const nb_sample samples_gather[] = {
    { .label = "last axis", .in = { X(2, S(3, 5), NB_LAYOUT_CONTIGUOUS), IDX(1, S(3), 5) }, .attrs = RA(0x2, false) },
    { .label = "first and last, keepdim", .in = { X(3, S(2, 3, 4), NB_LAYOUT_TRANSPOSED), IDX(3, S(1, 3, 1), 8) }, .attrs = RA(0x5, true) },
    { .label = "all axes", .in = { X(2, S(3, 4), NB_LAYOUT_STRIDED), IDX(0, S(0), 12) }, .attrs = RA(0x3, false) },
};

static const nb_sample samples_scatter[] = {
    { .label = "last axis", .in = { X(1, S(3), NB_LAYOUT_CONTIGUOUS), IDX(1, S(3), 5) },
      .attrs = &(const reduce_attrs){ .mask = 0x2, .rank = 2, .shape = S(3, 5) } },
    { .label = "first and last, keepdim", .in = { X(3, S(1, 3, 1), NB_LAYOUT_CONTIGUOUS), IDX(3, S(1, 3, 1), 8) },
      .attrs = &(const reduce_attrs){ .mask = 0x5, .keepdim = true, .rank = 3, .shape = S(2, 3, 4) } },
};

#define SAMPLES(arr) .samples = arr, .n_samples = (int)(sizeof arr / sizeof arr[0])

static const nb_op_def op_sum = {
    .name = "sum", .n_in = 1, .attr_size = sizeof(reduce_attrs), .shape = reduce_rule,
    .forward = { [NB_F32] = sum_kernel, [NB_F64] = sum_kernel },
    .backward = sum_backward, .format_attrs = format_reduce, SAMPLES(samples_reduce),
};

static const nb_op_def op_argmax = {
    .name = "argmax", .n_in = 1, .attr_size = sizeof(reduce_attrs), .shape = arg_rule,
    .forward = { [NB_F32] = argmax_kernel, [NB_F64] = argmax_kernel },
    .format_attrs = format_reduce, SAMPLES(samples_reduce),
};

static const nb_op_def op_argmin = {
    .name = "argmin", .n_in = 1, .attr_size = sizeof(reduce_attrs), .shape = arg_rule,
    .forward = { [NB_F32] = argmin_kernel, [NB_F64] = argmin_kernel },
    .format_attrs = format_reduce, SAMPLES(samples_reduce),
};

static const nb_op_def op_reduce_gather = {
    .name = "reduce_gather", .n_in = 2, .attr_size = sizeof(reduce_attrs), .shape = gather_rule,
    .forward = { [NB_F32] = gather_kernel, [NB_F64] = gather_kernel },
    .saves = NB_SAVE_INPUT(1), .backward = gather_backward, .format_attrs = format_reduce,
    SAMPLES(samples_gather),
};

static const nb_op_def op_reduce_scatter = {
    .name = "reduce_scatter", .n_in = 2, .attr_size = sizeof(reduce_attrs), .shape = scatter_rule,
    .forward = { [NB_F32] = scatter_kernel, [NB_F64] = scatter_kernel },
    .saves = NB_SAVE_INPUT(1), .backward = scatter_backward, .format_attrs = format_reduce_scatter,
    SAMPLES(samples_scatter),
};

/* ---------------------------------------------------------------- public functions */

static nb_tensor *reduce(const nb_op_def *op, const char *fn, nb_tensor *x, const int *axes, int n_axes,
                         bool keepdim)
{
    unsigned mask;
    if (!x) {
        nbi_error_keep(NB_ERR_NULL, "%s: input is NULL", fn);
        return NULL;
    }
    if (!nbi_axes_mask(fn, x, axes, n_axes, &mask))
        return NULL;
    reduce_attrs a = attrs_for(x, mask, keepdim);
    return nbi_apply1(op, x, &a);
}

NB_API nb_tensor *nb_sum(nb_tensor *x, const int *axes, int n_axes, bool keepdim)
{
    return reduce(&op_sum, "nb_sum", x, axes, n_axes, keepdim);
}

NB_API nb_tensor *nb_argmax(nb_tensor *x, const int *axes, int n_axes, bool keepdim)
{
    return reduce(&op_argmax, "nb_argmax", x, axes, n_axes, keepdim);
}

NB_API nb_tensor *nb_argmin(nb_tensor *x, const int *axes, int n_axes, bool keepdim)
{
    return reduce(&op_argmin, "nb_argmin", x, axes, n_axes, keepdim);
}

/* max = the element argmax points at; its gradient flows back to that position only. */
static nb_tensor *extremum(const nb_op_def *arg_op, const char *fn, nb_tensor *x, const int *axes, int n_axes,
                           bool keepdim)
{
    uint64_t errors_before = nbi_error_count();
    nb_tensor *index = reduce(arg_op, fn, x, axes, n_axes, keepdim), *z = NULL;
    if (index) {
        unsigned mask;
        nbi_axes_mask(fn, x, axes, n_axes, &mask);
        reduce_attrs a = attrs_for(x, mask, keepdim);
        z = nbi_apply2(&op_reduce_gather, x, index, &a);
    }
    if (!z)
        nbi_error_prefix(fn, errors_before);   /* "nb_max: nb_argmax: ..." */
    return z;
}

NB_API nb_tensor *nb_max(nb_tensor *x, const int *axes, int n_axes, bool keepdim)
{
    return extremum(&op_argmax, "nb_max", x, axes, n_axes, keepdim);
}

NB_API nb_tensor *nb_min(nb_tensor *x, const int *axes, int n_axes, bool keepdim)
{
    return extremum(&op_argmin, "nb_min", x, axes, n_axes, keepdim);
}

NB_API nb_tensor *nb_mean(nb_tensor *x, const int *axes, int n_axes, bool keepdim)
{
    unsigned mask;
    if (!x) {
        nbi_error_keep(NB_ERR_NULL, "nb_mean: input is NULL");
        return NULL;
    }
    if (!nbi_axes_mask("nb_mean", x, axes, n_axes, &mask))
        return NULL;
    int64_t count = 1;
    for (int d = 0; d < x->rank; d++)
        if (mask & (1u << d))
            count *= x->shape[d];
    uint64_t errors_before = nbi_error_count();
    nb_tensor *z = nb_mul_scalar(nb_sum(x, axes, n_axes, keepdim), count ? 1.0 / (double)count : (double)NAN);
    if (!z)
        nbi_error_prefix("nb_mean", errors_before);   /* "nb_mean: nb_sum: ..." */
    return z;
}

NB_API nb_tensor *nb_sum_all(nb_tensor *x)
{
    return nb_sum(x, NULL, 0, false);
}

NB_API nb_tensor *nb_mean_all(nb_tensor *x)
{
    return nb_mean(x, NULL, 0, false);
}

NB_API nb_tensor *nb_sum_to(nb_tensor *x, int rank, const int64_t *shape)
{
    if (!x) {
        nbi_error_keep(NB_ERR_NULL, "nb_sum_to: input is NULL");
        return NULL;
    }
    int out_rank;
    int64_t out[NB_MAX_RANK];
    char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
    if (rank > 0 && !shape) {
        nbi_error(NB_ERR_NULL, "nb_sum_to: shape is NULL for rank %d", rank);
        return NULL;
    }
    if (rank < 0 || rank > x->rank || !nbi_broadcast_shapes(rank, shape, x->rank, x->shape, &out_rank, out, NULL)
        || !nbi_same_shape(out_rank, out, x->rank, x->shape)) {
        nbi_error(NB_ERR_SHAPE, "nb_sum_to: cannot sum %s down to %s: the input must be a broadcast of the target",
                  nbi_shape_of(x, b1), rank >= 0 && rank <= NB_MAX_RANK ? nb_shape_str(rank, shape, b2, sizeof b2) : "?");
        return NULL;
    }
    int lead = x->rank - rank, axes[NB_MAX_RANK], n = 0;
    for (int d = 0; d < x->rank; d++)
        if (d < lead || (shape[d - lead] == 1 && x->shape[d] != 1))
            axes[n++] = d;
    if (n == 0)
        return nbi_scope_add(nb_retain(x));
    return nb_reshape(nb_sum(x, axes, n, true), rank, shape);
}

const nb_op_def *const nbi_reduce_ops[] = {
    &op_sum, &op_argmax, &op_argmin, &op_reduce_gather, &op_reduce_scatter, NULL,
};
