/* Shape ops as differentiable views: reshape, transpose, permute, slice, expand (and the
 * composites squeeze, unsqueeze, flatten, contiguous); plus clone, cast, and slice_backward
 * which copy. A view's gradient is the inverse rearrangement of gz. */
#include <stdio.h>
#include <string.h>

#include "ops/kernels/kernels.h"
#include "ops/registry.h"

typedef struct shape_attrs {
    int rank;
    int64_t shape[NB_MAX_RANK];
} shape_attrs;

typedef struct axes_attrs {
    int rank;
    int perm[NB_MAX_RANK];         /* permute: perm[i] is the input axis of output axis i */
} axes_attrs;

typedef struct slice_attrs {
    int axis;
    int64_t start, count, step;    /* normalised: start in range, count elements */
    int rank;                      /* full input shape, for slice_backward */
    int64_t shape[NB_MAX_RANK];
} slice_attrs;

typedef struct cast_attrs {
    nb_dtype dtype;
} cast_attrs;

static int format_shape(const void *attrs, char *buf, size_t size)
{
    const shape_attrs *a = attrs;
    char s[NBI_SHAPE_STR];
    return snprintf(buf, size, "{\"shape\": %s}", nb_shape_str(a->rank, a->shape, s, sizeof s));
}

static int format_perm(const void *attrs, char *buf, size_t size)
{
    const axes_attrs *a = attrs;
    int used = snprintf(buf, size, "{\"perm\": [");
    for (int i = 0; i < a->rank; i++)
        used += snprintf(buf + used, size > (size_t)used ? size - (size_t)used : 0, "%s%d", i ? ", " : "", a->perm[i]);
    return used + snprintf(buf + used, size > (size_t)used ? size - (size_t)used : 0, "]}");
}

static int format_slice(const void *attrs, char *buf, size_t size)
{
    const slice_attrs *a = attrs;
    return snprintf(buf, size, "{\"axis\": %d, \"start\": %lld, \"count\": %lld, \"step\": %lld}", a->axis,
                    (long long)a->start, (long long)a->count, (long long)a->step);
}

/* slice_backward also names the full shape it makes. */
static int format_slice_backward(const void *attrs, char *buf, size_t size)
{
    const slice_attrs *a = attrs;
    char s[NBI_SHAPE_STR];
    return snprintf(buf, size, "{\"axis\": %d, \"start\": %lld, \"count\": %lld, \"step\": %lld, \"shape\": %s}",
                    a->axis, (long long)a->start, (long long)a->count, (long long)a->step,
                    nb_shape_str(a->rank, a->shape, s, sizeof s));
}

static int format_cast(const void *attrs, char *buf, size_t size)
{
    return snprintf(buf, size, "{\"dtype\": \"%s\"}", nb_dtype_name(((const cast_attrs *)attrs)->dtype));
}

static void meta_from(nb_meta *z, nb_dtype dtype, int rank, const int64_t *shape)
{
    z->dtype = dtype;
    z->rank = rank;
    memcpy(z->shape, shape, (size_t)rank * sizeof *shape);
}

/* ---------------------------------------------------------------- reshape */

static nb_status reshape_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const shape_attrs *a = attrs;
    char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
    if (a->rank < 0 || a->rank > NB_MAX_RANK)
        return nb_op_error(op, NB_ERR_SHAPE, "rank %d is out of range (0 to %d)", a->rank, NB_MAX_RANK);
    for (int i = 0; i < a->rank; i++)
        if (a->shape[i] < 0)
            return nb_op_error(op, NB_ERR_SHAPE, "target shape %s has a negative size",
                               nb_shape_str(a->rank, a->shape, b2, sizeof b2));
    if (!nbi_valid_sizes(a->rank, a->shape))
        return nb_op_error(op, NB_ERR_SHAPE, "target shape %s has too many elements",
                           nb_shape_str(a->rank, a->shape, b2, sizeof b2));
    if (nbi_numel(a->rank, a->shape) != x[0]->numel)
        return nb_op_error(op, NB_ERR_SHAPE, "cannot reshape %s (%lld elements) into %s (%lld elements)",
                           nbi_shape_of(x[0], b1), (long long)x[0]->numel,
                           nb_shape_str(a->rank, a->shape, b2, sizeof b2), (long long)nbi_numel(a->rank, a->shape));
    meta_from(z, x[0]->dtype, a->rank, a->shape);
    return NB_OK;
}

static bool reshape_view(nb_tensor *const *x, const void *attrs, const nb_meta *z, int64_t *strides, int64_t *offset)
{
    return nbi_view_strides(x[0]->rank, x[0]->shape, x[0]->strides, z->rank, z->shape, strides);
}

/* When no view fits: copy x in C order into z, seen through a view with x's shape. */
static nb_status reshape_copy(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    int64_t strides[NB_MAX_RANK];
    nbi_contiguous_strides(x[0]->rank, x[0]->shape, strides);
    nb_tensor *as_x = nbi_tensor_view(z[0], x[0]->rank, x[0]->shape, strides, 0);
    if (!as_x)
        return NB_ERR_MEMORY;
    nbi_copy_strided(as_x, x[0]);
    nb_release(as_x);
    return NB_OK;
}

static void reshape_backward(nb_backward_ctx *c)
{
    const nb_meta *x = nb_input_meta(c, 0);
    nb_set_grad_in(c, 0, nb_reshape(nb_grad_out(c, 0), x->rank, x->shape));
}

/* ---------------------------------------------------------------- permute (and transpose) */

static nb_status permute_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const axes_attrs *a = attrs;
    unsigned seen = 0;
    if (a->rank != x[0]->rank) {
        char buf[NBI_SHAPE_STR];
        return nb_op_error(op, NB_ERR_ARG, "permutation of %d axes given for shape %s (rank %d)", a->rank,
                           nbi_shape_of(x[0], buf), x[0]->rank);
    }
    for (int i = 0; i < x[0]->rank; i++) {
        int p = a->perm[i];
        if (p < 0 || p >= x[0]->rank || (seen & (1u << p))) {
            char buf[NBI_SHAPE_STR];
            return nb_op_error(op, NB_ERR_ARG, "axis %d at position %d is not a permutation of the %d axes of %s",
                               p, i, x[0]->rank, nbi_shape_of(x[0], buf));
        }
        seen |= 1u << p;
        z->shape[i] = x[0]->shape[p];
    }
    z->rank = x[0]->rank;
    z->dtype = x[0]->dtype;
    return NB_OK;
}

static bool permute_view(nb_tensor *const *x, const void *attrs, const nb_meta *z, int64_t *strides, int64_t *offset)
{
    const axes_attrs *a = attrs;
    for (int i = 0; i < x[0]->rank; i++)
        strides[i] = x[0]->strides[a->perm[i]];
    return true;
}

static const nb_op_def op_permute;

static void permute_backward(nb_backward_ctx *c)
{
    const axes_attrs *a = nb_attrs(c);
    axes_attrs inverse = { .rank = a->rank };
    for (int i = 0; i < a->rank; i++)
        inverse.perm[a->perm[i]] = i;
    nb_set_grad_in(c, 0, nbi_apply1(&op_permute, nb_grad_out(c, 0), &inverse));
}

/* ---------------------------------------------------------------- slice */

static nb_status slice_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const slice_attrs *a = attrs;
    char buf[NBI_SHAPE_STR];
    if (a->axis < 0 || a->axis >= x[0]->rank)
        return nb_op_error(op, NB_ERR_ARG, "axis %d is out of range for shape %s", a->axis, nbi_shape_of(x[0], buf));
    int64_t n = x[0]->shape[a->axis];
    if (a->step < 1 || a->start < 0 || a->count < 0
        || (a->count > 0 && (a->start >= n || a->count - 1 > (n - 1 - a->start) / a->step)))
        return nb_op_error(op, NB_ERR_ARG, "start %lld, count %lld, step %lld do not fit axis %d of shape %s",
                           (long long)a->start, (long long)a->count, (long long)a->step, a->axis,
                           nbi_shape_of(x[0], buf));
    meta_from(z, x[0]->dtype, x[0]->rank, x[0]->shape);
    z->shape[a->axis] = a->count;
    return NB_OK;
}

static bool slice_view(nb_tensor *const *x, const void *attrs, const nb_meta *z, int64_t *strides, int64_t *offset)
{
    const slice_attrs *a = attrs;
    memcpy(strides, x[0]->strides, (size_t)x[0]->rank * sizeof *strides);
    *offset += a->start * strides[a->axis];
    strides[a->axis] *= a->step;
    return true;
}

static const nb_op_def op_slice, op_slice_backward;

static void slice_backward(nb_backward_ctx *c)
{
    const nb_meta *x = nb_input_meta(c, 0);
    slice_attrs a = *(const slice_attrs *)nb_attrs(c);
    a.rank = x->rank;
    memcpy(a.shape, x->shape, sizeof a.shape);
    nb_set_grad_in(c, 0, nbi_apply1(&op_slice_backward, nb_grad_out(c, 0), &a));
}

/* slice_backward(g): zeros of the full shape with g written into the slice. */
static nb_status slice_backward_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const slice_attrs *a = attrs;
    char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
    nb_status st = nbi_check_float(op, x, 0);
    if (st)
        return st;
    if (a->rank < 1 || a->rank > NB_MAX_RANK)
        return nb_op_error(op, NB_ERR_ARG, "attributes describe rank %d, expected 1 to %d", a->rank, NB_MAX_RANK);
    if (!nbi_valid_sizes(a->rank, a->shape) || a->axis < 0
        || a->axis >= a->rank || a->step < 1 || a->start < 0 || a->count < 0
        || (a->count > 0 && (a->start >= a->shape[a->axis]
                             || a->count - 1 > (a->shape[a->axis] - 1 - a->start) / a->step)))
        return nb_op_error(op, NB_ERR_ARG, "slice (axis %d, start %lld, count %lld, step %lld) does not fit shape %s",
                           a->axis, (long long)a->start, (long long)a->count, (long long)a->step,
                           nb_shape_str(a->rank, a->shape, b2, sizeof b2));
    int64_t expected[NB_MAX_RANK];
    memcpy(expected, a->shape, sizeof expected);
    expected[a->axis] = a->count;
    if (!nbi_same_shape(x[0]->rank, x[0]->shape, a->rank, expected))
        return nb_op_error(op, NB_ERR_SHAPE, "gradient has shape %s, expected %s", nbi_shape_of(x[0], b1),
                           nb_shape_str(a->rank, expected, b2, sizeof b2));
    meta_from(z, x[0]->dtype, a->rank, a->shape);
    return NB_OK;
}

static nb_status slice_backward_kernel(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    const slice_attrs *a = attrs;
    nb_tensor *out = z[0];
    memset(nbi_data(out), 0, (size_t)out->numel * nb_dtype_size(out->dtype));
    int64_t strides[NB_MAX_RANK];
    memcpy(strides, out->strides, sizeof strides);
    strides[a->axis] *= a->step;
    nb_tensor *window = nbi_tensor_view(out, x[0]->rank, x[0]->shape, strides, a->start * out->strides[a->axis]);
    if (!window)
        return NB_ERR_MEMORY;
    nbi_copy_strided(window, x[0]);
    nb_release(window);
    return NB_OK;
}

static void slice_backward_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nbi_apply1(&op_slice, nb_grad_out(c, 0), nb_attrs(c)));
}

/* ---------------------------------------------------------------- expand */

static nb_status expand_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const shape_attrs *a = attrs;
    int rank;
    int64_t out[NB_MAX_RANK];
    char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
    if (a->rank < 0 || a->rank > NB_MAX_RANK)
        return nb_op_error(op, NB_ERR_SHAPE, "rank %d is out of range (0 to %d)", a->rank, NB_MAX_RANK);
    if (!nbi_valid_sizes(a->rank, a->shape))
        return nb_op_error(op, NB_ERR_SHAPE, "cannot expand %s to %s: sizes must be at least 0 and their product "
                           "at most 2^58 (-1 keeps the size of an existing axis only)",
                           nbi_shape_of(x[0], b1), nb_shape_str(a->rank, a->shape, b2, sizeof b2));
    if (a->rank < x[0]->rank
        || !nbi_broadcast_shapes(x[0]->rank, x[0]->shape, a->rank, a->shape, &rank, out, NULL)
        || !nbi_same_shape(rank, out, a->rank, a->shape))
        return nb_op_error(op, NB_ERR_SHAPE, "cannot expand %s to %s: only axes of size 1 can grow",
                           nbi_shape_of(x[0], b1), nb_shape_str(a->rank, a->shape, b2, sizeof b2));
    meta_from(z, x[0]->dtype, a->rank, a->shape);
    return NB_OK;
}

static bool expand_view(nb_tensor *const *x, const void *attrs, const nb_meta *z, int64_t *strides, int64_t *offset)
{
    nbi_broadcast_strides(x[0]->rank, x[0]->shape, x[0]->strides, z->rank, z->shape, strides);
    return true;
}

/* nb_set_grad_in sums gz down to the input's shape. */
static void pass_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_grad_out(c, 0));
}

/* ---------------------------------------------------------------- clone and cast */

static nb_status same_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    meta_from(z, x[0]->dtype, x[0]->rank, x[0]->shape);
    return NB_OK;
}

static nb_status cast_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    nb_dtype to = ((const cast_attrs *)attrs)->dtype;
    if ((unsigned)to >= NB_DTYPE_COUNT)
        return nb_op_error(op, NB_ERR_DTYPE, "target dtype %d is not one of NB_F32, NB_F64, NB_I64", (int)to);
    meta_from(z, to, x[0]->rank, x[0]->shape);
    return NB_OK;
}

static void cast_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nb_cast(nb_grad_out(c, 0), nb_input_meta(c, 0)->dtype));
}

/* ---------------------------------------------------------------- samples and definitions */
#define S(...) { __VA_ARGS__ }
#define X(r, shape_, layout_) { .rank = r, .shape = shape_, .layout = layout_ }
#define C NB_LAYOUT_CONTIGUOUS
#define SAMPLES(arr) .samples = arr, .n_samples = (int)(sizeof arr / sizeof arr[0])
#define COPY_KERNELS .forward = { [NB_F32] = nbk_copy, [NB_F64] = nbk_copy, [NB_I64] = nbk_copy }

static const nb_sample samples_reshape[] = {
    { .label = "split an axis", .in = { X(2, S(3, 4), C) }, .attrs = &(const shape_attrs){ 3, S(3, 2, 2) } },
    { .label = "merge all", .in = { X(3, S(2, 3, 2), C) }, .attrs = &(const shape_attrs){ 1, S(12) } },
    { .label = "transposed (copies)", .in = { X(2, S(3, 4), NB_LAYOUT_TRANSPOSED) }, .attrs = &(const shape_attrs){ 2, S(2, 6) } },
    { .label = "strided (view)", .in = { X(2, S(3, 4), NB_LAYOUT_STRIDED) }, .attrs = &(const shape_attrs){ 3, S(3, 1, 4) } },
    { .label = "to rank 0", .in = { X(2, S(1, 1), C) }, .attrs = &(const shape_attrs){ 0, S(0) } },
};

static const nb_sample samples_permute[] = {
    { .label = "matrix transpose", .in = { X(2, S(3, 4), C) }, .attrs = &(const axes_attrs){ 2, S(1, 0) } },
    { .label = "rank 3 rotate", .in = { X(3, S(2, 3, 4), NB_LAYOUT_STRIDED) }, .attrs = &(const axes_attrs){ 3, S(2, 0, 1) } },
    { .label = "expanded", .in = { X(3, S(2, 3, 4), NB_LAYOUT_EXPANDED) }, .attrs = &(const axes_attrs){ 3, S(1, 2, 0) } },
};

static const nb_sample samples_slice[] = {
    { .label = "rows 1..3", .in = { X(2, S(4, 3), C) }, .attrs = &(const slice_attrs){ .axis = 0, .start = 1, .count = 2, .step = 1 } },
    { .label = "every other column", .in = { X(2, S(3, 5), NB_LAYOUT_TRANSPOSED) },
      .attrs = &(const slice_attrs){ .axis = 1, .start = 0, .count = 3, .step = 2 } },
    { .label = "middle axis, step 3", .in = { X(3, S(2, 7, 2), NB_LAYOUT_STRIDED) },
      .attrs = &(const slice_attrs){ .axis = 1, .start = 1, .count = 2, .step = 3 } },
};

static const nb_sample samples_slice_backward[] = {
    { .label = "rows 1..3", .in = { X(2, S(2, 3), C) },
      .attrs = &(const slice_attrs){ .axis = 0, .start = 1, .count = 2, .step = 1, .rank = 2, .shape = S(4, 3) } },
    { .label = "every other column", .in = { X(2, S(3, 3), NB_LAYOUT_TRANSPOSED) },
      .attrs = &(const slice_attrs){ .axis = 1, .start = 0, .count = 3, .step = 2, .rank = 2, .shape = S(3, 5) } },
};

static const nb_sample samples_expand[] = {
    { .label = "row to matrix", .in = { X(2, S(1, 4), C) }, .attrs = &(const shape_attrs){ 2, S(3, 4) } },
    { .label = "new leading axes", .in = { X(1, S(3), NB_LAYOUT_STRIDED) }, .attrs = &(const shape_attrs){ 3, S(2, 2, 3) } },
    { .label = "rank 0", .in = { X(0, S(0), C) }, .attrs = &(const shape_attrs){ 2, S(2, 3) } },
};

static const nb_sample samples_copy[] = {
    { .label = "contiguous", .in = { X(2, S(3, 4), C) } },
    { .label = "transposed", .in = { X(3, S(2, 3, 4), NB_LAYOUT_TRANSPOSED) } },
    { .label = "expanded", .in = { X(2, S(3, 4), NB_LAYOUT_EXPANDED) } },
};

static const nb_sample samples_cast[] = {
    { .label = "to f64", .in = { X(2, S(3, 4), NB_LAYOUT_TRANSPOSED) }, .attrs = &(const cast_attrs){ NB_F64 } },
    { .label = "to f32", .in = { X(2, S(3, 4), NB_LAYOUT_STRIDED) }, .attrs = &(const cast_attrs){ NB_F32 } },
};

static const nb_op_def op_reshape = {
    .name = "reshape", .n_in = 1, .attr_size = sizeof(shape_attrs), .shape = reshape_rule,
    .view = reshape_view, .forward = { [NB_F32] = reshape_copy, [NB_F64] = reshape_copy, [NB_I64] = reshape_copy },
    .backward = reshape_backward, .format_attrs = format_shape,
    SAMPLES(samples_reshape),
};

static const nb_op_def op_permute = {
    .name = "permute", .n_in = 1, .attr_size = sizeof(axes_attrs), .shape = permute_rule,
    .view = permute_view, .backward = permute_backward, .format_attrs = format_perm, SAMPLES(samples_permute),
};

static const nb_op_def op_slice = {
    .name = "slice", .n_in = 1, .attr_size = sizeof(slice_attrs), .shape = slice_rule,
    .view = slice_view, .backward = slice_backward, .format_attrs = format_slice, SAMPLES(samples_slice),
};

static const nb_op_def op_slice_backward = {
    .name = "slice_backward", .n_in = 1, .attr_size = sizeof(slice_attrs), .shape = slice_backward_rule,
    .forward = { [NB_F32] = slice_backward_kernel, [NB_F64] = slice_backward_kernel },
    .backward = slice_backward_backward, .format_attrs = format_slice_backward, SAMPLES(samples_slice_backward),
};

static const nb_op_def op_expand = {
    .name = "expand", .n_in = 1, .attr_size = sizeof(shape_attrs), .shape = expand_rule,
    .view = expand_view, .backward = pass_backward, .format_attrs = format_shape, SAMPLES(samples_expand),
};

static const nb_op_def op_clone = {
    .name = "clone", .n_in = 1, .shape = same_rule, COPY_KERNELS, .backward = pass_backward,
    SAMPLES(samples_copy),
};

static const nb_op_def op_cast = {
    .name = "cast", .n_in = 1, .attr_size = sizeof(cast_attrs), .shape = cast_rule, COPY_KERNELS,
    .backward = cast_backward, .format_attrs = format_cast, SAMPLES(samples_cast),
    .grad_eps = 1e-3,   /* the f32 sample rounds to 7 digits: a step of 1e-6 would be lost in it */
};

/* ---------------------------------------------------------------- public functions */

static bool check_input(const char *fn, const nb_tensor *x)
{
    if (!x)
        nbi_error_keep(NB_ERR_NULL, "%s: input is NULL", fn);
    return x != NULL;
}

NB_API nb_tensor *nb_reshape(nb_tensor *x, int rank, const int64_t *shape)
{
    if (!check_input("nb_reshape", x))
        return NULL;
    char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR];
    if (rank < 0 || rank > NB_MAX_RANK || (rank > 0 && !shape)) {
        nbi_error(NB_ERR_SHAPE, "nb_reshape: rank %d (shape %s) is out of range (0 to %d)", rank,
                  shape ? "given" : "NULL", NB_MAX_RANK);
        return NULL;
    }
    shape_attrs a = { .rank = rank };
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < rank; i++) {
        a.shape[i] = shape[i];
        if (shape[i] < -1 || (shape[i] == -1 && infer >= 0)) {
            nbi_error(NB_ERR_SHAPE, "nb_reshape: cannot reshape %s into %s: sizes must be at least 0, "
                      "except for one -1", nbi_shape_of(x, b1), nb_shape_str(rank, shape, b2, sizeof b2));
            return NULL;
        }
        if (shape[i] == -1) {
            infer = i;
            continue;
        }
        known = known > 0 && shape[i] > INT64_MAX / known ? 0 : known * shape[i];   /* 0: no size fits */
    }
    if (infer >= 0) {
        if (known == 0 || x->numel % known != 0) {
            nbi_error(NB_ERR_SHAPE, "nb_reshape: cannot reshape %s (%lld elements) into %s",
                      nbi_shape_of(x, b1), (long long)x->numel, nb_shape_str(rank, shape, b2, sizeof b2));
            return NULL;
        }
        a.shape[infer] = x->numel / known;
    }
    return nbi_apply1(&op_reshape, x, &a);
}

NB_API nb_tensor *nb_permute(nb_tensor *x, const int *perm)
{
    if (!check_input("nb_permute", x))
        return NULL;
    if (!perm && x->rank > 0) {
        nbi_error(NB_ERR_NULL, "nb_permute: perm is NULL");
        return NULL;
    }
    axes_attrs a = { .rank = x->rank };
    for (int i = 0; i < x->rank; i++)
        a.perm[i] = perm[i] < 0 ? perm[i] + x->rank : perm[i];
    return nbi_apply1(&op_permute, x, &a);
}

NB_API nb_tensor *nb_transpose(nb_tensor *x, int axis0, int axis1)
{
    if (!check_input("nb_transpose", x))
        return NULL;
    int a0, a1;
    char buf[NBI_SHAPE_STR];
    if (!nbi_axis(axis0, x->rank, &a0) || !nbi_axis(axis1, x->rank, &a1)) {
        nbi_error(NB_ERR_ARG, "nb_transpose: axes %d and %d must both be in range for shape %s (rank %d)",
                  axis0, axis1, nbi_shape_of(x, buf), x->rank);
        return NULL;
    }
    axes_attrs a = { .rank = x->rank };
    for (int i = 0; i < x->rank; i++)
        a.perm[i] = i;
    a.perm[a0] = a1;
    a.perm[a1] = a0;
    return nbi_apply1(&op_permute, x, &a);
}

NB_API nb_tensor *nb_slice(nb_tensor *x, int axis, int64_t start, int64_t stop, int64_t step)
{
    if (!check_input("nb_slice", x))
        return NULL;
    int a;
    char buf[NBI_SHAPE_STR];
    if (!nbi_axis(axis, x->rank, &a)) {
        nbi_error(NB_ERR_ARG, "nb_slice: axis %d is out of range for shape %s (rank %d)", axis,
                  nbi_shape_of(x, buf), x->rank);
        return NULL;
    }
    if (step < 1) {
        nbi_error(NB_ERR_ARG, "nb_slice: step %lld must be at least 1", (long long)step);
        return NULL;
    }
    int64_t n = x->shape[a];
    /* Python's rules: negative counts from the end, then clamp into [0, n]. */
    if (start < 0) start += n;
    if (stop < 0) stop += n;
    start = start < 0 ? 0 : (start > n ? n : start);
    stop = stop < 0 ? 0 : (stop > n ? n : stop);
    int64_t count = stop > start ? (stop - start - 1) / step + 1 : 0;
    slice_attrs at = { .axis = a, .start = count ? start : 0, .count = count, .step = step };
    return nbi_apply1(&op_slice, x, &at);
}

NB_API nb_tensor *nb_expand(nb_tensor *x, int rank, const int64_t *shape)
{
    if (!check_input("nb_expand", x))
        return NULL;
    if (rank < 0 || rank > NB_MAX_RANK || (rank > 0 && !shape)) {
        nbi_error(NB_ERR_SHAPE, "nb_expand: rank %d is out of range (0 to %d)", rank, NB_MAX_RANK);
        return NULL;
    }
    shape_attrs a = { .rank = rank };
    for (int i = 0; i < rank; i++) {
        int j = i - (rank - x->rank);   /* the input axis that lines up with i */
        a.shape[i] = shape[i] == -1 && j >= 0 ? x->shape[j] : shape[i];
    }
    return nbi_apply1(&op_expand, x, &a);
}

NB_API nb_tensor *nb_squeeze(nb_tensor *x, int axis)
{
    if (!check_input("nb_squeeze", x))
        return NULL;
    int a;
    char buf[NBI_SHAPE_STR];
    if (!nbi_axis(axis, x->rank, &a) || x->shape[a] != 1) {
        nbi_error(NB_ERR_ARG, "nb_squeeze: axis %d of shape %s is not an axis of size 1", axis, nbi_shape_of(x, buf));
        return NULL;
    }
    int64_t shape[NB_MAX_RANK];
    for (int i = 0, j = 0; i < x->rank; i++)
        if (i != a)
            shape[j++] = x->shape[i];
    return nb_reshape(x, x->rank - 1, shape);
}

NB_API nb_tensor *nb_unsqueeze(nb_tensor *x, int axis)
{
    if (!check_input("nb_unsqueeze", x))
        return NULL;
    int a;
    char buf[NBI_SHAPE_STR];
    if (x->rank == NB_MAX_RANK || !nbi_axis(axis, x->rank + 1, &a)) {
        nbi_error(NB_ERR_ARG, "nb_unsqueeze: cannot insert axis %d into shape %s", axis, nbi_shape_of(x, buf));
        return NULL;
    }
    int64_t shape[NB_MAX_RANK];
    for (int i = 0, j = 0; i <= x->rank; i++)
        shape[i] = i == a ? 1 : x->shape[j++];
    return nb_reshape(x, x->rank + 1, shape);
}

NB_API nb_tensor *nb_flatten(nb_tensor *x, int start_axis, int end_axis)
{
    if (!check_input("nb_flatten", x))
        return NULL;
    if (x->rank == 0)
        return nb_reshape(x, 1, (const int64_t[]){ 1 });
    int s, e;
    char buf[NBI_SHAPE_STR];
    if (!nbi_axis(start_axis, x->rank, &s) || !nbi_axis(end_axis, x->rank, &e) || s > e) {
        nbi_error(NB_ERR_ARG, "nb_flatten: axes %d to %d are not an ordered range of shape %s", start_axis,
                  end_axis, nbi_shape_of(x, buf));
        return NULL;
    }
    int64_t shape[NB_MAX_RANK];
    int r = 0;
    for (int i = 0; i < s; i++)
        shape[r++] = x->shape[i];
    shape[r++] = nbi_numel(e - s + 1, x->shape + s);
    for (int i = e + 1; i < x->rank; i++)
        shape[r++] = x->shape[i];
    return nb_reshape(x, r, shape);
}

NB_API nb_tensor *nb_clone(nb_tensor *x)
{
    return nbi_apply1(&op_clone, x, NULL);
}

NB_API nb_tensor *nb_contiguous(nb_tensor *x)
{
    if (!check_input("nb_contiguous", x))
        return NULL;
    if (nbi_is_contiguous(x->rank, x->shape, x->strides))
        return nbi_scope_add(nb_retain(x));
    return nb_clone(x);
}

NB_API nb_tensor *nb_cast(nb_tensor *x, nb_dtype dtype)
{
    if (x && x->dtype == dtype)
        return nbi_scope_add(nb_retain(x));
    return nbi_apply1(&op_cast, x, &(cast_attrs){ dtype });
}

const nb_op_def *const nbi_shape_ops[] = {
    &op_reshape, &op_permute, &op_slice, &op_slice_backward, &op_expand, &op_clone, &op_cast, NULL,
};
