/* Indexing: selecting, gathering and scattering by index tensors, masks and one-hot, with
 * PyTorch's semantics. Kernels in ops/kernels/index.c.
 *
 * Index tensors are i64 and never differentiable. Every index is checked by the op's shape
 * rule before anything is allocated or written (rules may read data): an index outside
 * [0, size) is an error naming the op, the value, its position and the valid range.
 * Negative indices are refused rather than wrapped, as PyTorch's index_select and gather do.
 * Masks are the data's float dtype or i64, nonzero meaning true. */
#include <stdio.h>
#include <string.h>

#include "ops/kernels/index.h"
#include "ops/registry.h"

typedef struct axis_attrs {
    int axis;                       /* may be negative; the rules normalise it */
} axis_attrs;

typedef struct fill_attrs {
    double value;
} fill_attrs;

typedef struct shape_attrs {        /* masked_select_backward: the shape it makes */
    int rank;
    int64_t shape[NB_MAX_RANK];
} shape_attrs;

typedef struct one_hot_attrs {
    int64_t num_classes;            /* -1: one more than the largest index */
    nb_dtype dtype;
} one_hot_attrs;

static int format_axis(const void *attrs, char *buf, size_t size)
{
    return snprintf(buf, size, "{\"axis\": %d}", ((const axis_attrs *)attrs)->axis);
}

static int format_fill(const void *attrs, char *buf, size_t size)
{
    return snprintf(buf, size, "{\"value\": %.17g}", ((const fill_attrs *)attrs)->value);
}

static int format_shape(const void *attrs, char *buf, size_t size)
{
    const shape_attrs *a = attrs;
    char s[NBI_SHAPE_STR];
    return snprintf(buf, size, "{\"shape\": %s}", nb_shape_str(a->rank, a->shape, s, sizeof s));
}

static int format_one_hot(const void *attrs, char *buf, size_t size)
{
    const one_hot_attrs *a = attrs;
    bool valid = a->dtype == NB_F32 || a->dtype == NB_F64 || a->dtype == NB_I64;
    return snprintf(buf, size, "{\"num_classes\": %lld, \"dtype\": \"%s\"}", (long long)a->num_classes,
                    valid ? nb_dtype_name(a->dtype) : "?");
}

/* ---------------------------------------------------------------- checks shared by the rules */

/* The first index outside [0, size), if any, as an error of fn; what names the range
 * ("axis 1 of size 5", "100 rows"). size INT64_MAX looks for negative indices only. */
static nb_status check_indices(const char *fn, const nb_tensor *index, int64_t size, const char *what)
{
    int64_t value, flat;
    if (!nbk_find_bad_index(index, size, &value, &flat))
        return NB_OK;
    int64_t position[NB_MAX_RANK];
    for (int d = index->rank - 1; d >= 0; d--) {
        position[d] = flat % index->shape[d];
        flat /= index->shape[d];
    }
    char where[NBI_SHAPE_STR], valid[64];
    nb_shape_str(index->rank, position, where, sizeof where);
    if (size == INT64_MAX)
        snprintf(valid, sizeof valid, "valid: 0 or more");
    else if (size > 0)
        snprintf(valid, sizeof valid, "valid: 0 to %lld", (long long)(size - 1));
    else
        snprintf(valid, sizeof valid, "no index is valid");
    return nbi_error(NB_ERR_ARG, "%s: index %lld at position %s is out of range for %s (%s%s)", fn, (long long)value,
                     where, what, valid, value < 0 ? "; negative indices are not accepted" : "");
}

/* index's values for axis (normalised) of x. */
static nb_status check_op_indices(const nb_op_def *op, const nb_tensor *index, const nb_tensor *x, int axis)
{
    char fn[64], what[64];
    snprintf(fn, sizeof fn, "nb_%s", op->name);
    snprintf(what, sizeof what, "axis %d of size %lld", axis, (long long)x->shape[axis]);
    return check_indices(fn, index, x->shape[axis], what);
}

static nb_status check_axis(const nb_op_def *op, const nb_tensor *x, int axis, int *out)
{
    if (nbi_axis(axis, x->rank, out))
        return NB_OK;
    char b[NBI_SHAPE_STR];
    return nb_op_error(op, NB_ERR_ARG, "axis %d is out of range for x of shape %s (rank %d)", axis, nbi_shape_of(x, b),
                       x->rank);
}

static nb_status check_index_dtype(const nb_op_def *op, nb_tensor *const *x, int i)
{
    if (x[i]->dtype == NB_I64)
        return NB_OK;
    return nb_op_error(op, NB_ERR_DTYPE, "index (input %d) has dtype %s, expected i64", i, nb_dtype_name(x[i]->dtype));
}

/* Input i (src) has the dtype of input 0 (x). */
static nb_status check_src_dtype(const nb_op_def *op, nb_tensor *const *x, int i)
{
    if (x[i]->dtype == x[0]->dtype)
        return NB_OK;
    return nb_op_error(op, NB_ERR_DTYPE, "src (input %d) has dtype %s, x has %s (convert one with nb_cast)", i,
                       nb_dtype_name(x[i]->dtype), nb_dtype_name(x[0]->dtype));
}

/* A mask: the data's dtype (input 0) or i64. */
static nb_status check_mask_dtype(const nb_op_def *op, nb_tensor *const *x, int i)
{
    if (x[i]->dtype == x[0]->dtype || x[i]->dtype == NB_I64)
        return NB_OK;
    return nb_op_error(op, NB_ERR_DTYPE, "mask (input %d) has dtype %s, expected %s (the data's) or i64", i,
                       nb_dtype_name(x[i]->dtype), nb_dtype_name(x[0]->dtype));
}

/* index_select, index_add: a vector of indices (rank 0 counts as one index, as in PyTorch). */
static nb_status check_index_vector(const nb_op_def *op, nb_tensor *const *x, int i)
{
    nb_status st = check_index_dtype(op, x, i);
    if (st || x[i]->rank <= 1)
        return st;
    char b[NBI_SHAPE_STR];
    return nb_op_error(op, NB_ERR_SHAPE, "index has shape %s, expected a vector (rank 1, or rank 0 for one index)",
                       nbi_shape_of(x[i], b));
}

/* gather, scatter: index has x's rank and fits in x on every axis but the indexed one. */
static nb_status check_index_fits(const nb_op_def *op, const nb_tensor *x, const nb_tensor *index, int axis)
{
    char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
    if (index->rank != x->rank)
        return nb_op_error(op, NB_ERR_SHAPE, "index has shape %s and x %s: index must have x's rank %d",
                           nbi_shape_of(index, b1), nbi_shape_of(x, b2), x->rank);
    for (int d = 0; d < x->rank; d++)
        if (d != axis && index->shape[d] > x->shape[d])
            return nb_op_error(op, NB_ERR_SHAPE, "index has shape %s and x %s: index's size %lld at axis %d exceeds "
                               "x's %lld (only axis %d may be larger)", nbi_shape_of(index, b1), nbi_shape_of(x, b2),
                               (long long)index->shape[d], d, (long long)x->shape[d], axis);
    return NB_OK;
}

/* The broadcast shape of x[0] and x[1] into z. */
static nb_status broadcast_pair(const nb_op_def *op, nb_tensor *const *x, nb_meta *z)
{
    int bad;
    if (nbi_broadcast_shapes(x[0]->rank, x[0]->shape, x[1]->rank, x[1]->shape, &z->rank, z->shape, &bad))
        return NB_OK;
    char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
    return nb_op_error(op, NB_ERR_SHAPE, "cannot broadcast x %s with mask %s: sizes at axis %d (from the end) "
                       "differ and neither is 1", nbi_shape_of(x[0], b1), nbi_shape_of(x[1], b2), bad);
}

static void meta_of(nb_meta *z, nb_dtype dtype, int rank, const int64_t *shape)
{
    z->dtype = dtype;
    z->rank = rank;
    memcpy(z->shape, shape, (size_t)rank * sizeof *shape);
}

/* ---------------------------------------------------------------- index_select, index_add */

static nb_status index_select_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    int axis;
    nb_status st = nbi_check_float(op, x, 0);
    if (!st)
        st = check_axis(op, x[0], ((const axis_attrs *)attrs)->axis, &axis);
    if (!st)
        st = check_index_vector(op, x, 1);
    if (!st)
        st = check_op_indices(op, x[1], x[0], axis);
    if (st)
        return st;
    meta_of(z, x[0]->dtype, x[0]->rank, x[0]->shape);
    z->shape[axis] = x[1]->numel;
    return NB_OK;
}

static nb_status index_add_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    int axis;
    nb_status st = nbi_check_float(op, x, 0);
    if (!st)
        st = check_axis(op, x[0], ((const axis_attrs *)attrs)->axis, &axis);
    if (!st)
        st = check_index_vector(op, x, 1);
    if (!st)
        st = check_src_dtype(op, x, 2);
    if (st)
        return st;
    int64_t expected[NB_MAX_RANK];
    memcpy(expected, x[0]->shape, sizeof expected);
    expected[axis] = x[1]->numel;
    if (!nbi_same_shape(x[2]->rank, x[2]->shape, x[0]->rank, expected)) {
        char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
        return nb_op_error(op, NB_ERR_SHAPE, "src has shape %s, expected %s (x's shape with the %lld indices along "
                           "axis %d)", nbi_shape_of(x[2], b1), nb_shape_str(x[0]->rank, expected, b2, sizeof b2),
                           (long long)x[1]->numel, axis);
    }
    st = check_op_indices(op, x[1], x[0], axis);
    if (st)
        return st;
    meta_of(z, x[0]->dtype, x[0]->rank, x[0]->shape);
    return NB_OK;
}

static int axis_in(const void *attrs, int rank)
{
    int axis = ((const axis_attrs *)attrs)->axis;
    return axis < 0 ? axis + rank : axis;
}

static nb_status index_select_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    nbk_index_select(x[0], x[1], z[0], axis_in(attrs, x[0]->rank));
    return NB_OK;
}

static nb_status index_add_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    uint64_t errors_before = nbi_error_count();
    nb_status st = nbk_index_add(x[0], x[1], x[2], z[0], axis_in(attrs, x[0]->rank));
    if (st)
        nbi_error_prefix("nb_index_add", errors_before);   /* "nb_index_add: out of memory: ..." */
    return st;
}

/* z = x[..., index, ...]: dx = index_add(zeros, axis, index, gz), summing rows picked twice. */
static void index_select_backward(nb_backward_ctx *c)
{
    const nb_meta *x = nb_input_meta(c, 0);
    int axis = ((const axis_attrs *)nb_attrs(c))->axis;
    nb_set_grad_in(c, 0, nb_index_add(nb_zeros(x->dtype, x->rank, x->shape), axis, nb_saved_input(c, 1),
                                      nb_grad_out(c, 0)));
}

/* z = x + rows of src added at index: dx = gz, dsrc = gz[..., index, ...]. */
static void index_add_backward(nb_backward_ctx *c)
{
    nb_tensor *gz = nb_grad_out(c, 0);
    if (nb_needs_grad(c, 0))
        nb_set_grad_in(c, 0, gz);
    if (nb_needs_grad(c, 2))
        nb_set_grad_in(c, 2, nb_index_select(gz, ((const axis_attrs *)nb_attrs(c))->axis, nb_saved_input(c, 1)));
}

/* ---------------------------------------------------------------- gather, scatter_add, scatter */

static nb_status gather_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    int axis;
    nb_status st = nbi_check_float(op, x, 0);
    if (!st)
        st = check_axis(op, x[0], ((const axis_attrs *)attrs)->axis, &axis);
    if (!st)
        st = check_index_dtype(op, x, 1);
    if (!st)
        st = check_index_fits(op, x[0], x[1], axis);
    if (!st)
        st = check_op_indices(op, x[1], x[0], axis);
    if (st)
        return st;
    meta_of(z, x[0]->dtype, x[1]->rank, x[1]->shape);
    return NB_OK;
}

/* scatter_add and scatter: src has index's shape (the public functions cut a larger src). */
static nb_status scatter_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    int axis;
    nb_status st = nbi_check_float(op, x, 0);
    if (!st)
        st = check_axis(op, x[0], ((const axis_attrs *)attrs)->axis, &axis);
    if (!st)
        st = check_index_dtype(op, x, 1);
    if (!st)
        st = check_src_dtype(op, x, 2);
    if (!st)
        st = check_index_fits(op, x[0], x[1], axis);
    if (st)
        return st;
    if (!nbi_same_shape(x[2]->rank, x[2]->shape, x[1]->rank, x[1]->shape)) {
        char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
        return nb_op_error(op, NB_ERR_SHAPE, "src has shape %s, expected the index's shape %s (or larger on any "
                           "axis: nb_%s uses its leading part)", nbi_shape_of(x[2], b1), nbi_shape_of(x[1], b2),
                           op->name);
    }
    st = check_op_indices(op, x[1], x[0], axis);
    if (st)
        return st;
    meta_of(z, x[0]->dtype, x[0]->rank, x[0]->shape);
    return NB_OK;
}

static nb_status gather_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    nbk_gather(x[0], x[1], z[0], axis_in(attrs, x[0]->rank));
    return NB_OK;
}

static nb_status scatter_add_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    nbk_scatter(x[0], x[1], x[2], z[0], axis_in(attrs, x[0]->rank), true);
    return NB_OK;
}

static nb_status scatter_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    nbk_scatter(x[0], x[1], x[2], z[0], axis_in(attrs, x[0]->rank), false);
    return NB_OK;
}

/* z = x at index along axis: dx = scatter_add(zeros, axis, index, gz). */
static void gather_backward(nb_backward_ctx *c)
{
    const nb_meta *x = nb_input_meta(c, 0);
    int axis = ((const axis_attrs *)nb_attrs(c))->axis;
    nb_set_grad_in(c, 0, nb_scatter_add(nb_zeros(x->dtype, x->rank, x->shape), axis, nb_saved_input(c, 1),
                                        nb_grad_out(c, 0)));
}

/* z = x + src added at index: dx = gz, dsrc = gather(gz, axis, index). */
static void scatter_add_backward(nb_backward_ctx *c)
{
    nb_tensor *gz = nb_grad_out(c, 0);
    if (nb_needs_grad(c, 0))
        nb_set_grad_in(c, 0, gz);
    if (nb_needs_grad(c, 2))
        nb_set_grad_in(c, 2, nb_gather(gz, ((const axis_attrs *)nb_attrs(c))->axis, nb_saved_input(c, 1)));
}

/* z = x with src written at index: dx = gz with zeros where src was written; dsrc =
 * gather(gz, axis, index), as PyTorch (exact when no position is written twice). */
static void scatter_backward(nb_backward_ctx *c)
{
    nb_tensor *gz = nb_grad_out(c, 0), *index = nb_saved_input(c, 1);
    int axis = ((const axis_attrs *)nb_attrs(c))->axis;
    if (nb_needs_grad(c, 0)) {
        const nb_meta *src = nb_input_meta(c, 2);
        nb_set_grad_in(c, 0, nb_scatter(gz, axis, index, nb_zeros(src->dtype, src->rank, src->shape)));
    }
    if (nb_needs_grad(c, 2))
        nb_set_grad_in(c, 2, nb_gather(gz, axis, index));
}

/* ---------------------------------------------------------------- masks */

static nb_status masked_fill_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    nb_status st = nbi_check_float(op, x, 0);
    if (!st)
        st = check_mask_dtype(op, x, 1);
    if (!st)
        st = broadcast_pair(op, x, z);
    if (!st)
        z->dtype = x[0]->dtype;
    return st;
}

static nb_status masked_select_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    nb_meta both;
    nb_status st = masked_fill_rule(op, x, attrs, &both);
    if (st)
        return st;
    z->dtype = x[0]->dtype;
    z->rank = 1;
    z->shape[0] = nbk_count_nonzero(x[1], both.rank, both.shape);
    return NB_OK;
}

/* masked_select_backward(g, mask): zeros of the shape in attrs, g placed where mask (broadcast
 * to that shape) is nonzero. */
static nb_status masked_select_backward_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const shape_attrs *a = attrs;
    char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
    nb_status st = nbi_check_float(op, x, 0);
    if (!st)
        st = check_mask_dtype(op, x, 1);
    if (st)
        return st;
    if (x[0]->rank != 1)
        return nb_op_error(op, NB_ERR_SHAPE, "gradient has shape %s, expected a vector", nbi_shape_of(x[0], b1));
    if (a->rank < 0 || a->rank > NB_MAX_RANK || !nbi_valid_sizes(a->rank, a->shape))
        return nb_op_error(op, NB_ERR_ARG, "attributes describe rank %d, shape %s: expected rank 0 to %d and sizes "
                           "at least 0 with a product at most 2^58", a->rank,
                           a->rank >= 0 && a->rank <= NB_MAX_RANK ? nb_shape_str(a->rank, a->shape, b2, sizeof b2) : "?",
                           NB_MAX_RANK);
    int rank;
    int64_t shape[NB_MAX_RANK];
    if (x[1]->rank > a->rank || !nbi_broadcast_shapes(x[1]->rank, x[1]->shape, a->rank, a->shape, &rank, shape, NULL)
        || !nbi_same_shape(rank, shape, a->rank, a->shape))
        return nb_op_error(op, NB_ERR_SHAPE, "mask of shape %s does not broadcast to the output shape %s",
                           nbi_shape_of(x[1], b1), nb_shape_str(a->rank, a->shape, b2, sizeof b2));
    int64_t selected = nbk_count_nonzero(x[1], a->rank, a->shape);
    if (x[0]->shape[0] != selected)
        return nb_op_error(op, NB_ERR_SHAPE, "gradient has %lld elements, the mask selects %lld of shape %s",
                           (long long)x[0]->shape[0], (long long)selected, nb_shape_str(a->rank, a->shape, b2, sizeof b2));
    meta_of(z, x[0]->dtype, a->rank, a->shape);
    return NB_OK;
}

static nb_status masked_fill_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    nbk_masked_fill(x[0], x[1], z[0], ((const fill_attrs *)attrs)->value);
    return NB_OK;
}

static nb_status masked_select_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    int rank;
    int64_t shape[NB_MAX_RANK];
    nbi_broadcast_shapes(x[0]->rank, x[0]->shape, x[1]->rank, x[1]->shape, &rank, shape, NULL);
    nbk_masked_select(x[0], x[1], z[0], rank, shape);
    return NB_OK;
}

static nb_status masked_select_backward_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    nbk_masked_place(x[0], x[1], z[0]);
    return NB_OK;
}

static const nb_op_def op_masked_select_backward;

/* z = x where mask is zero, value elsewhere: dx = gz with zeros where mask is nonzero. */
static void masked_fill_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_masked_fill(nb_grad_out(c, 0), nb_saved_input(c, 1), 0));
}

/* z = x[mask != 0]: dx = gz placed back where the (broadcast) mask is nonzero, zeros elsewhere,
 * then summed down to x's shape where x was broadcast. */
static void masked_select_backward(nb_backward_ctx *c)
{
    const nb_meta *x = nb_input_meta(c, 0), *mask = nb_input_meta(c, 1);
    shape_attrs a;
    nbi_broadcast_shapes(x->rank, x->shape, mask->rank, mask->shape, &a.rank, a.shape, NULL);
    nb_set_grad_in(c, 0, nbi_apply2(&op_masked_select_backward, nb_grad_out(c, 0), nb_saved_input(c, 1), &a));
}

/* Its transpose is masked_select. */
static void masked_select_backward_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_masked_select(nb_grad_out(c, 0), nb_saved_input(c, 1)));
}

/* ---------------------------------------------------------------- one_hot */

static nb_status one_hot_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const one_hot_attrs *a = attrs;
    char b[NBI_SHAPE_STR];
    nb_status st = check_index_dtype(op, x, 0);
    if (st)
        return st;
    if (a->dtype != NB_F32 && a->dtype != NB_F64 && a->dtype != NB_I64)
        return nb_op_error(op, NB_ERR_DTYPE, "dtype %d is not one of NB_F32, NB_F64, NB_I64", (int)a->dtype);
    if (x[0]->rank >= NB_MAX_RANK)
        return nb_op_error(op, NB_ERR_SHAPE, "index has shape %s: the result would have rank %d, more than %d",
                           nbi_shape_of(x[0], b), x[0]->rank + 1, NB_MAX_RANK);
    char fn[64];
    snprintf(fn, sizeof fn, "nb_%s", op->name);
    int64_t classes = a->num_classes;
    if (classes < -1)
        return nb_op_error(op, NB_ERR_ARG, "num_classes is %lld, expected at least 0 (or -1 to count them)",
                           (long long)classes);
    if (classes == -1) {
        if (x[0]->numel == 0)
            return nb_op_error(op, NB_ERR_ARG, "cannot count the classes of an empty index %s: give num_classes",
                               nbi_shape_of(x[0], b));
        st = check_indices(fn, x[0], INT64_MAX, "classes counted from the data");
        if (st)
            return st;
        classes = nbk_max_index(x[0]) + 1;
    }
    char what[64];
    snprintf(what, sizeof what, "%lld classes", (long long)classes);
    st = check_indices(fn, x[0], classes, what);
    if (st)
        return st;
    meta_of(z, a->dtype, x[0]->rank, x[0]->shape);
    z->shape[z->rank++] = classes;
    if (!nbi_valid_sizes(z->rank, z->shape))
        return nb_op_error(op, NB_ERR_SHAPE, "index %s with %lld classes gives more than 2^58 elements",
                           nbi_shape_of(x[0], b), (long long)classes);
    return NB_OK;
}

static nb_status one_hot_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    nbk_one_hot(x[0], z[0]);
    return NB_OK;
}

/* ---------------------------------------------------------------- samples
 * Float inputs draw from [-1, 1]; index inputs are i64 in [0, size) of the indexed axis.
 * scatter's samples write each position at most once (one index per fiber along the axis),
 * where its gradient is exact. Masks with both values are i64; float masks are drawn away
 * from 0, so they are all true, and float masks with zeros are tested in
 * tests/ops/test_errors_index.c. */
#define S(...) { __VA_ARGS__ }
#define SAMPLES(arr) .samples = arr, .n_samples = (int)(sizeof arr / sizeof arr[0])
#define C NB_LAYOUT_CONTIGUOUS
#define T NB_LAYOUT_TRANSPOSED
#define ST NB_LAYOUT_STRIDED
#define E NB_LAYOUT_EXPANDED
#define X(r, shape_, layout_) { .rank = r, .shape = shape_, .layout = layout_ }
#define IDX(r, shape_, layout_, size) { .rank = r, .shape = shape_, .layout = layout_, .lo = 0, .hi = size, .integer = true }
#define MASK(r, shape_, layout_) { .rank = r, .shape = shape_, .layout = layout_, .lo = 0, .hi = 2, .integer = true }
#define ONES_MASK(r, shape_, layout_) { .rank = r, .shape = shape_, .layout = layout_, .lo = 1, .hi = 2, .integer = true }
#define TRUE_MASK(r, shape_, layout_) { .rank = r, .shape = shape_, .layout = layout_, .lo = -1, .hi = 1, .min_abs = 0.25 }
#define AXIS(a) &(const axis_attrs){ a }

static const nb_sample samples_index_select[] = {
    { .label = "rows of a table (embedding)", .in = { X(2, S(5, 4), C), IDX(1, S(7), C, 5) }, .attrs = AXIS(0) },
    { .label = "columns, negative axis, transposed", .in = { X(2, S(3, 5), T), IDX(1, S(4), C, 5) }, .attrs = AXIS(-1) },
    { .label = "middle axis of rank 3, strided", .in = { X(3, S(2, 4, 3), ST), IDX(1, S(5), C, 4) }, .attrs = AXIS(1) },
    { .label = "rank-0 index", .in = { X(2, S(4, 3), C), IDX(0, S(0), C, 4) }, .attrs = AXIS(0) },
    { .label = "expanded x, strided index", .in = { X(2, S(3, 4), E), IDX(1, S(5), ST, 3) }, .attrs = AXIS(0) },
    { .label = "vector", .in = { X(1, S(6), C), IDX(1, S(8), C, 6) }, .attrs = AXIS(0) },
};

static const nb_sample samples_index_add[] = {
    { .label = "rows", .in = { X(2, S(5, 3), C), IDX(1, S(4), C, 5), X(2, S(4, 3), C) }, .attrs = AXIS(0) },
    { .label = "columns with repeats, transposed and strided", .in = { X(2, S(3, 5), T), IDX(1, S(8), C, 5), X(2, S(3, 8), ST) },
      .attrs = AXIS(1) },
    { .label = "middle axis, expanded src", .in = { X(3, S(2, 4, 3), ST), IDX(1, S(3), ST, 4), X(3, S(2, 3, 3), E) },
      .attrs = AXIS(-2) },
    { .label = "rank-0 index", .in = { X(2, S(4, 2), C), IDX(0, S(0), C, 4), X(2, S(1, 2), C) }, .attrs = AXIS(0) },
};

static const nb_sample samples_gather[] = {
    { .label = "last axis, index longer", .in = { X(2, S(3, 4), C), IDX(2, S(3, 5), C, 4) }, .attrs = AXIS(1) },
    { .label = "first axis, transposed", .in = { X(2, S(4, 3), T), IDX(2, S(2, 3), C, 4) }, .attrs = AXIS(0) },
    { .label = "index smaller, strided", .in = { X(2, S(3, 5), ST), IDX(2, S(2, 2), C, 5) }, .attrs = AXIS(-1) },
    { .label = "rank 3, transposed index", .in = { X(3, S(2, 3, 4), C), IDX(3, S(2, 3, 2), T, 3) }, .attrs = AXIS(1) },
    { .label = "vector, expanded", .in = { X(1, S(5), E), IDX(1, S(7), C, 5) }, .attrs = AXIS(0) },
    { .label = "expanded index", .in = { X(2, S(3, 4), C), IDX(2, S(3, 2), E, 4) }, .attrs = AXIS(1) },
};

static const nb_sample samples_scatter_add[] = {
    { .label = "last axis with repeats", .in = { X(2, S(3, 4), C), IDX(2, S(3, 5), C, 4), X(2, S(3, 5), C) },
      .attrs = AXIS(1) },
    { .label = "first axis, transposed and strided", .in = { X(2, S(5, 3), T), IDX(2, S(4, 3), C, 5), X(2, S(4, 3), ST) },
      .attrs = AXIS(0) },
    { .label = "index smaller, expanded src", .in = { X(2, S(3, 5), C), IDX(2, S(2, 3), C, 5), X(2, S(2, 3), E) },
      .attrs = AXIS(-1) },
    { .label = "rank 3, strided", .in = { X(3, S(2, 3, 4), ST), IDX(3, S(2, 2, 4), T, 3), X(3, S(2, 2, 4), C) },
      .attrs = AXIS(1) },
};

static const nb_sample samples_scatter[] = {
    { .label = "last axis", .in = { X(2, S(3, 4), C), IDX(2, S(3, 1), C, 4), X(2, S(3, 1), C) }, .attrs = AXIS(1) },
    { .label = "first axis, transposed and strided", .in = { X(2, S(4, 3), T), IDX(2, S(1, 3), C, 4), X(2, S(1, 3), ST) },
      .attrs = AXIS(0) },
    { .label = "rank 3, expanded src", .in = { X(3, S(2, 3, 4), ST), IDX(3, S(2, 1, 3), C, 3), X(3, S(2, 1, 3), E) },
      .attrs = AXIS(1) },
    { .label = "index smaller, negative axis", .in = { X(2, S(3, 5), C), IDX(2, S(2, 1), C, 5), X(2, S(2, 1), C) },
      .attrs = AXIS(-1) },
};

static const nb_sample samples_masked_fill[] = {
    { .label = "same shape", .in = { X(2, S(3, 4), C), MASK(2, S(3, 4), C) }, .attrs = &(const fill_attrs){ 0.5 } },
    { .label = "row mask, transposed x", .in = { X(2, S(3, 4), T), MASK(1, S(4), C) }, .attrs = &(const fill_attrs){ -1.25 } },
    { .label = "outer broadcast", .in = { X(2, S(3, 1), C), MASK(2, S(1, 4), C) }, .attrs = &(const fill_attrs){ 0 } },
    { .label = "float mask, strided", .in = { X(2, S(2, 3), ST), TRUE_MASK(2, S(2, 3), C) }, .attrs = &(const fill_attrs){ 2 } },
    { .label = "rank-0 x", .in = { X(0, S(0), C), MASK(1, S(5), C) }, .attrs = &(const fill_attrs){ 3 } },
    { .label = "expanded x, strided mask", .in = { X(2, S(3, 4), E), MASK(2, S(3, 4), ST) }, .attrs = &(const fill_attrs){ -7 } },
};

static const nb_sample samples_masked_select[] = {
    { .label = "same shape", .in = { X(2, S(3, 4), C), MASK(2, S(3, 4), C) } },
    { .label = "row mask, transposed x", .in = { X(2, S(4, 3), T), MASK(1, S(3), C) } },
    { .label = "x broadcast, strided mask", .in = { X(1, S(4), C), MASK(2, S(3, 4), ST) } },
    { .label = "float mask, strided x", .in = { X(2, S(2, 3), ST), TRUE_MASK(2, S(2, 3), C) } },
    { .label = "rank-0 x", .in = { X(0, S(0), C), MASK(1, S(6), C) } },
    { .label = "expanded x, column mask", .in = { X(2, S(3, 4), E), MASK(2, S(3, 1), C) } },
};

/* The gradient's length is the mask's count, so the masks here select everything: i64 ones
 * ([1, 2)) or float masks away from 0. masked_select's samples cover mixed masks. */
#define SHAPE(r, ...) &(const shape_attrs){ r, { __VA_ARGS__ } }
static const nb_sample samples_masked_select_backward[] = {
    { .label = "matrix", .in = { X(1, S(12), C), ONES_MASK(2, S(3, 4), C) }, .attrs = SHAPE(2, 3, 4) },
    { .label = "broadcast float mask", .in = { X(1, S(6), ST), TRUE_MASK(1, S(3), C) }, .attrs = SHAPE(2, 2, 3) },
    { .label = "rank 0", .in = { X(1, S(1), C), ONES_MASK(0, S(0), C) }, .attrs = &(const shape_attrs){ 0 } },
};
#undef SHAPE

static const nb_sample samples_one_hot[] = {
    { .label = "vector, f32", .in = { IDX(1, S(5), C, 4) }, .attrs = &(const one_hot_attrs){ 4, NB_F32 } },
    { .label = "matrix, transposed, f64", .in = { IDX(2, S(2, 3), T, 3) }, .attrs = &(const one_hot_attrs){ 5, NB_F64 } },
    { .label = "rank 0, i64", .in = { IDX(0, S(0), C, 6) }, .attrs = &(const one_hot_attrs){ 6, NB_I64 } },
    { .label = "classes counted, strided", .in = { IDX(1, S(6), ST, 5) }, .attrs = &(const one_hot_attrs){ -1, NB_F32 } },
};

/* ---------------------------------------------------------------- definitions */

#define FLOAT_KERNELS(k) .forward = { [NB_F32] = k, [NB_F64] = k }

static const nb_op_def op_index_select = {
    .name = "index_select", .n_in = 2, .attr_size = sizeof(axis_attrs), .shape = index_select_rule,
    FLOAT_KERNELS(index_select_kernel), .saves = NB_SAVE_INPUT(1), .backward = index_select_backward,
    .format_attrs = format_axis, SAMPLES(samples_index_select),
};

static const nb_op_def op_index_add = {
    .name = "index_add", .n_in = 3, .attr_size = sizeof(axis_attrs), .shape = index_add_rule,
    FLOAT_KERNELS(index_add_kernel), .saves = NB_SAVE_INPUT(1), .backward = index_add_backward,
    .format_attrs = format_axis, SAMPLES(samples_index_add),
};

static const nb_op_def op_gather = {
    .name = "gather", .n_in = 2, .attr_size = sizeof(axis_attrs), .shape = gather_rule,
    FLOAT_KERNELS(gather_kernel), .saves = NB_SAVE_INPUT(1), .backward = gather_backward,
    .format_attrs = format_axis, SAMPLES(samples_gather),
};

static const nb_op_def op_scatter_add = {
    .name = "scatter_add", .n_in = 3, .attr_size = sizeof(axis_attrs), .shape = scatter_rule,
    FLOAT_KERNELS(scatter_add_kernel), .saves = NB_SAVE_INPUT(1), .backward = scatter_add_backward,
    .format_attrs = format_axis, SAMPLES(samples_scatter_add),
};

static const nb_op_def op_scatter = {
    .name = "scatter", .n_in = 3, .attr_size = sizeof(axis_attrs), .shape = scatter_rule,
    FLOAT_KERNELS(scatter_kernel), .saves = NB_SAVE_INPUT(1), .backward = scatter_backward,
    .format_attrs = format_axis, SAMPLES(samples_scatter),
};

static const nb_op_def op_masked_fill = {
    .name = "masked_fill", .n_in = 2, .attr_size = sizeof(fill_attrs), .shape = masked_fill_rule,
    FLOAT_KERNELS(masked_fill_kernel), .saves = NB_SAVE_INPUT(1), .backward = masked_fill_backward,
    .format_attrs = format_fill, SAMPLES(samples_masked_fill),
};

static const nb_op_def op_masked_select = {
    .name = "masked_select", .n_in = 2, .shape = masked_select_rule,
    FLOAT_KERNELS(masked_select_kernel), .saves = NB_SAVE_INPUT(1), .backward = masked_select_backward,
    SAMPLES(samples_masked_select),
};

static const nb_op_def op_masked_select_backward = {
    .name = "masked_select_backward", .n_in = 2, .attr_size = sizeof(shape_attrs),
    .shape = masked_select_backward_rule, FLOAT_KERNELS(masked_select_backward_kernel),
    .saves = NB_SAVE_INPUT(1), .backward = masked_select_backward_backward, .format_attrs = format_shape,
    SAMPLES(samples_masked_select_backward),
};

static const nb_op_def op_one_hot;

/* Declared in data.h, with the transforms: num_classes <= 0 counts the classes. */
NB_API nb_tensor *nb_one_hot(nb_tensor *labels, int64_t num_classes, nb_dtype dtype)
{
    one_hot_attrs a = { num_classes > 0 ? num_classes : -1, dtype };
    return nbi_apply1(&op_one_hot, labels, &a);
}

static const nb_op_def op_one_hot = {
    .name = "one_hot", .n_in = 1, .attr_size = sizeof(one_hot_attrs), .shape = one_hot_rule,
    .forward = { [NB_I64] = one_hot_kernel }, .format_attrs = format_one_hot, SAMPLES(samples_one_hot),
};

const nb_op_def *const nbi_index_ops[] = {
    &op_index_select, &op_index_add, &op_gather, &op_scatter_add, &op_scatter,
    &op_masked_fill, &op_masked_select, &op_masked_select_backward, &op_one_hot, NULL,
};

/* ---------------------------------------------------------------- public functions */

static nb_tensor *apply3(const nb_op_def *op, nb_tensor *x, nb_tensor *y, nb_tensor *w, const void *attrs)
{
    return nb_apply(op, (nb_tensor *const[]){ x, y, w }, attrs);
}

NB_API nb_tensor *nb_index_select(nb_tensor *x, int axis, nb_tensor *index)
{
    return nbi_apply2(&op_index_select, x, index, &(axis_attrs){ axis });
}

NB_API nb_tensor *nb_index_add(nb_tensor *x, int axis, nb_tensor *index, nb_tensor *src)
{
    return apply3(&op_index_add, x, index, src, &(axis_attrs){ axis });
}

NB_API nb_tensor *nb_gather(nb_tensor *x, int axis, nb_tensor *index)
{
    return nbi_apply2(&op_gather, x, index, &(axis_attrs){ axis });
}

/* PyTorch lets src be larger than index on any axis and reads its leading part: that part is
 * cut out as a view, so src's gradient is zero outside it. */
static nb_tensor *scatter_public(const nb_op_def *op, nb_tensor *x, int axis, nb_tensor *index, nb_tensor *src)
{
    if (index && src && src->rank == index->rank)
        for (int d = 0; src && d < src->rank; d++)
            if (src->shape[d] > index->shape[d])
                src = nb_slice(src, d, 0, index->shape[d], 1);
    return apply3(op, x, index, src, &(axis_attrs){ axis });
}

NB_API nb_tensor *nb_scatter_add(nb_tensor *x, int axis, nb_tensor *index, nb_tensor *src)
{
    return scatter_public(&op_scatter_add, x, axis, index, src);
}

NB_API nb_tensor *nb_scatter(nb_tensor *x, int axis, nb_tensor *index, nb_tensor *src)
{
    return scatter_public(&op_scatter, x, axis, index, src);
}

NB_API nb_tensor *nb_masked_fill(nb_tensor *x, nb_tensor *mask, double value)
{
    return nbi_apply2(&op_masked_fill, x, mask, &(fill_attrs){ value });
}

NB_API nb_tensor *nb_masked_select(nb_tensor *x, nb_tensor *mask)
{
    return nbi_apply2(&op_masked_select, x, mask, NULL);
}

/* numpy's take_along_axis: x and index broadcast against each other on every axis but axis,
 * as views, then gather. */
NB_API nb_tensor *nb_take_along_axis(nb_tensor *x, nb_tensor *index, int axis)
{
    char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
    if (!x || !index) {
        nbi_error_keep(NB_ERR_NULL, "nb_take_along_axis: %s is NULL", x ? "index" : "x");
        return NULL;
    }
    int a;
    if (!nbi_axis(axis, x->rank, &a)) {
        nbi_error(NB_ERR_ARG, "nb_take_along_axis: axis %d is out of range for x of shape %s (rank %d)", axis,
                  nbi_shape_of(x, b1), x->rank);
        return NULL;
    }
    if (index->rank != x->rank) {
        nbi_error(NB_ERR_SHAPE, "nb_take_along_axis: index has shape %s and x %s: index must have x's rank %d",
                  nbi_shape_of(index, b1), nbi_shape_of(x, b2), x->rank);
        return NULL;
    }
    int64_t x_shape[NB_MAX_RANK], index_shape[NB_MAX_RANK];
    for (int d = 0; d < x->rank; d++) {
        int64_t n = x->shape[d], m = index->shape[d];
        if (d != a && n != m && n != 1 && m != 1) {
            nbi_error(NB_ERR_SHAPE, "nb_take_along_axis: cannot broadcast x %s with index %s: sizes %lld and %lld "
                      "at axis %d differ and neither is 1", nbi_shape_of(x, b1), nbi_shape_of(index, b2),
                      (long long)n, (long long)m, d);
            return NULL;
        }
        x_shape[d] = index_shape[d] = n == 1 ? m : n;
    }
    x_shape[a] = x->shape[a];
    index_shape[a] = index->shape[a];
    uint64_t errors_before = nbi_error_count();
    nb_tensor *z = nb_gather(nb_expand(x, x->rank, x_shape), a, nb_expand(index, index->rank, index_shape));
    if (!z)
        nbi_error_prefix("nb_take_along_axis", errors_before);
    return z;
}

/* x[index] on the leading axis for an index of any shape: index_select of the flattened
 * index, reshaped to index's shape followed by x's other axes. fn and the names of x and
 * index are the caller's, for messages. */
static nb_tensor *index_rows(const char *fn, const char *x_name, const char *index_name, nb_tensor *x,
                             nb_tensor *index)
{
    char b[NBI_SHAPE_STR];
    if (!x || !index) {
        nbi_error_keep(NB_ERR_NULL, "%s: %s is NULL", fn, x ? index_name : x_name);
        return NULL;
    }
    if (x->rank < 1) {
        nbi_error(NB_ERR_SHAPE, "%s: %s has shape %s: there are no rows to pick", fn, x_name, nbi_shape_of(x, b));
        return NULL;
    }
    if (index->dtype != NB_I64) {
        nbi_error(NB_ERR_DTYPE, "%s: %s has dtype %s, expected i64", fn, index_name, nb_dtype_name(index->dtype));
        return NULL;
    }
    int rank = index->rank + x->rank - 1;
    if (rank > NB_MAX_RANK) {
        char b2[NBI_SHAPE_STR];
        nbi_error(NB_ERR_SHAPE, "%s: %s %s and %s %s give a result of rank %d, more than %d", fn, index_name,
                  nbi_shape_of(index, b), x_name, nbi_shape_of(x, b2), rank, NB_MAX_RANK);
        return NULL;
    }
    /* Checked here so that positions are reported in index's own shape, not the flat one. */
    char what[64];
    snprintf(what, sizeof what, "%lld rows", (long long)x->shape[0]);
    if (check_indices(fn, index, x->shape[0], what))
        return NULL;
    int64_t shape[NB_MAX_RANK];
    memcpy(shape, index->shape, (size_t)index->rank * sizeof *shape);
    memcpy(shape + index->rank, x->shape + 1, (size_t)(x->rank - 1) * sizeof *shape);
    uint64_t errors_before = nbi_error_count();
    nb_tensor *flat = index->rank == 1 ? index : nb_reshape(index, NB_SHAPE(-1));
    nb_tensor *z = nb_index_select(x, 0, flat);
    if (z && index->rank != 1)
        z = nb_reshape(z, rank, shape);
    if (!z)
        nbi_error_prefix(fn, errors_before);
    return z;
}

NB_API nb_tensor *nb_index_rows(nb_tensor *x, nb_tensor *index)
{
    return index_rows("nb_index_rows", "x", "index", x, index);
}

NB_API nb_tensor *nb_embedding(nb_tensor *weight, nb_tensor *indices)
{
    if (weight && weight->rank != 2) {
        char b[NBI_SHAPE_STR];
        nbi_error(NB_ERR_SHAPE, "nb_embedding: weight has shape %s, expected [num_embeddings, dim]",
                  nbi_shape_of(weight, b));
        return NULL;
    }
    return index_rows("nb_embedding", "weight", "indices", weight, indices);
}

/* x[mask] on the leading axis: masked_select with the mask along axis 0 only, which keeps
 * whole rows in order, reshaped to [rows kept, x's other axes]. */
NB_API nb_tensor *nb_mask_rows(nb_tensor *x, nb_tensor *mask)
{
    char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
    if (!x || !mask) {
        nbi_error_keep(NB_ERR_NULL, "nb_mask_rows: %s is NULL", x ? "mask" : "x");
        return NULL;
    }
    if (x->rank < 1 || mask->rank != 1 || mask->shape[0] != x->shape[0]) {
        nbi_error(NB_ERR_SHAPE, "nb_mask_rows: mask has shape %s and x %s: expected a vector of x's first size",
                  nbi_shape_of(mask, b1), nbi_shape_of(x, b2));
        return NULL;
    }
    int64_t mask_shape[NB_MAX_RANK], shape[NB_MAX_RANK];
    for (int d = 0; d < x->rank; d++)
        mask_shape[d] = d == 0 ? x->shape[0] : 1;
    memcpy(shape, x->shape, sizeof shape);
    uint64_t errors_before = nbi_error_count();
    nb_tensor *z = nb_masked_select(x, nb_reshape(mask, x->rank, mask_shape));
    if (z) {
        shape[0] = nbk_count_nonzero(mask, 1, mask->shape);
        z = nb_reshape(z, x->rank, shape);
    }
    if (!z)
        nbi_error_prefix("nb_mask_rows", errors_before);
    return z;
}
