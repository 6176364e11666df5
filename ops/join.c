/* Joining and rearranging: cat, stack, split, chunk, unflatten, pad, flip, roll, repeat,
 * tile, tril/triu, diagonal. Kernels in ops/kernels/join.c.
 *
 * cat and stack take any number of inputs (NB_OP_VARIADIC) and hand back slices of gz as
 * the inputs' gradients: views, no copies. split, chunk and unflatten are composites over
 * nb_slice and nb_reshape; diagonal is a view. The rearrangements that copy (pad, flip,
 * roll, repeat) share one gather kernel; their gradients are the inverse rearrangement, the
 * sum over tiles (repeat), or pad_backward (reflect and replicate pads), which adds each
 * padded position's gradient into the element it copied. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/kernels/join.h"
#include "ops/registry.h"

_Static_assert((int)NB_PAD_CONSTANT == NBK_PAD_CONSTANT && (int)NB_PAD_REFLECT == NBK_PAD_REFLECT
               && (int)NB_PAD_REPLICATE == NBK_PAD_REPLICATE, "nb_pad_mode and nbk_pad_mode must agree");

#define S(...) { __VA_ARGS__ }
#define SAMPLES(arr) .samples = arr, .n_samples = (int)(sizeof arr / sizeof arr[0])
#define FLOAT_KERNEL(k) .forward = { [NB_F32] = k, [NB_F64] = k }
#define X(r, shape_, layout_) { .rank = r, .shape = shape_, .layout = layout_ }
#define C NB_LAYOUT_CONTIGUOUS
#define T NB_LAYOUT_TRANSPOSED
#define ST NB_LAYOUT_STRIDED
#define E NB_LAYOUT_EXPANDED

/* The largest element count of a tensor (nbi_valid_sizes). */
#define MAX_ELEMENTS ((int64_t)1 << 58)

static const char *const pad_mode_names[] = { "constant", "reflect", "replicate" };

/* Appends printf output at buf + *used, keeping snprintf's "length it would have" result. */
static void append(char *buf, size_t size, int *used, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t size, int *used, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *used += vsnprintf(buf + (size > (size_t)*used ? (size_t)*used : size),
                       size > (size_t)*used ? size - (size_t)*used : 0, fmt, ap);
    va_end(ap);
}

static void append_list(char *buf, size_t size, int *used, const char *key, int n, const int64_t *v)
{
    append(buf, size, used, "\"%s\": [", key);
    for (int i = 0; i < n; i++)
        append(buf, size, used, "%s%lld", i ? ", " : "", (long long)v[i]);
    append(buf, size, used, "]");
}

static int format_axis(const void *attrs, char *buf, size_t size)
{
    return snprintf(buf, size, "{\"axis\": %d}", ((const nbk_axis_attrs *)attrs)->axis);
}

/* PyTorch's order: (before, after) of the last axis first. */
static int format_pad(const void *attrs, char *buf, size_t size)
{
    const nbk_pad_attrs *a = attrs;
    int64_t pads[2 * NB_MAX_RANK];
    for (int d = 0; d < a->rank; d++) {
        pads[2 * (a->rank - 1 - d)] = a->before[d];
        pads[2 * (a->rank - 1 - d) + 1] = a->after[d];
    }
    int used = 0;
    append(buf, size, &used, "{\"mode\": \"%s\", \"value\": %.17g, ",
           a->mode >= 0 && a->mode <= NBK_PAD_REPLICATE ? pad_mode_names[a->mode] : "?", a->value);
    append_list(buf, size, &used, "pads", 2 * a->rank, pads);
    append(buf, size, &used, "}");
    return used;
}

static int format_flip(const void *attrs, char *buf, size_t size)
{
    int used = snprintf(buf, size, "{\"axes\": ");
    used += nbi_format_axes(((const nbk_flip_attrs *)attrs)->mask, buf + (size > (size_t)used ? (size_t)used : size),
                            size > (size_t)used ? size - (size_t)used : 0);
    append(buf, size, &used, "}");
    return used;
}

static int format_roll(const void *attrs, char *buf, size_t size)
{
    const nbk_roll_attrs *a = attrs;
    int used = 0;
    append(buf, size, &used, "{");
    append_list(buf, size, &used, "shifts", a->rank, a->shifts);
    append(buf, size, &used, "}");
    return used;
}

static int format_repeat(const void *attrs, char *buf, size_t size)
{
    const nbk_repeat_attrs *a = attrs;
    int used = 0;
    append(buf, size, &used, "{");
    append_list(buf, size, &used, "repeats", a->rank, a->repeats);
    append(buf, size, &used, "}");
    return used;
}

static int format_tri(const void *attrs, char *buf, size_t size)
{
    return snprintf(buf, size, "{\"k\": %lld}", (long long)((const nbk_tri_attrs *)attrs)->k);
}

static int format_diagonal(const void *attrs, char *buf, size_t size)
{
    const nbk_diagonal_attrs *a = attrs;
    return snprintf(buf, size, "{\"offset\": %lld, \"axis1\": %d, \"axis2\": %d}", (long long)a->offset, a->axis1,
                    a->axis2);
}

/* diagonal_backward also names the shape it rebuilds. */
static int format_diagonal_backward(const void *attrs, char *buf, size_t size)
{
    const nbk_diagonal_attrs *a = attrs;
    int used = 0;
    append(buf, size, &used, "{\"offset\": %lld, \"axis1\": %d, \"axis2\": %d, ", (long long)a->offset, a->axis1,
           a->axis2);
    append_list(buf, size, &used, "shape", a->rank, a->shape);
    append(buf, size, &used, "}");
    return used;
}

static void meta_from(nb_meta *z, nb_dtype dtype, int rank, const int64_t *shape)
{
    z->dtype = dtype;
    z->rank = rank;
    memcpy(z->shape, shape, (size_t)rank * sizeof *shape);
}

static bool check_input(const char *fn, const nb_tensor *x)
{
    if (!x)
        nbi_error_keep(NB_ERR_NULL, "%s: input is NULL", fn);
    return x != NULL;
}

/* ---------------------------------------------------------------- cat */

/* Float inputs of one dtype, the axis in range for input 0. */
static nb_status check_joined(const nb_op_def *op, nb_tensor *const *x, int n, int axis, int rank)
{
    nb_status st = nbi_check_float(op, x, 0);
    if (!st)
        st = nbi_check_same_dtype(op, x, n);
    if (st)
        return st;
    if (axis < 0 || axis >= rank) {
        char buf[NBI_SHAPE_STR];
        return nb_op_error(op, NB_ERR_ARG, "axis %d is out of range 0 to %d for inputs of shape %s", axis, rank - 1,
                           nbi_shape_of(x[0], buf));
    }
    return NB_OK;
}

static nb_status cat_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    int axis = ((const nbk_axis_attrs *)attrs)->axis, n = nb_count_inputs(x);
    nb_status st = check_joined(op, x, n, axis, x[0]->rank);
    if (st)
        return st;
    meta_from(z, x[0]->dtype, x[0]->rank, x[0]->shape);
    for (int i = 1; i < n; i++) {
        bool fits = x[i]->rank == x[0]->rank;
        for (int d = 0; d < x[0]->rank && fits; d++)
            fits = d == axis || x[i]->shape[d] == x[0]->shape[d];
        if (!fits) {
            char b0[NBI_SHAPE_STR], bi[NBI_SHAPE_STR];
            return nb_op_error(op, NB_ERR_SHAPE, "input %d has shape %s and input 0 %s: their shapes must "
                               "match except along axis %d", i, nbi_shape_of(x[i], bi), nbi_shape_of(x[0], b0), axis);
        }
        z->shape[axis] += x[i]->shape[axis];
        if (z->shape[axis] > MAX_ELEMENTS)   /* before the sum of many large inputs can overflow */
            return nb_op_error(op, NB_ERR_SHAPE, "the joined axis %d exceeds 2^58 elements at input %d", axis, i);
    }
    return NB_OK;
}

/* Input i's gradient is its window of gz along the axis: a view. */
static void cat_backward(nb_backward_ctx *c)
{
    int axis = ((const nbk_axis_attrs *)nb_attrs(c))->axis;
    nb_tensor *gz = nb_grad_out(c, 0);
    int64_t at = 0;
    const nb_meta *m;
    for (int i = 0; (m = nb_input_meta(c, i)); i++) {
        int64_t len = m->shape[axis];
        if (nb_needs_grad(c, i))
            nb_set_grad_in(c, i, nb_slice(gz, axis, at, at + len, 1));
        at += len;
    }
}

/* Samples give at most NB_MAX_INPUTS inputs; tests/core/test_rng_iter.c and the error tests
 * join hundreds. */
static const nb_sample samples_cat[] = {
    { .label = "two matrices, axis 0", .in = { X(2, S(2, 3), C), X(2, S(4, 3), C) }, .n_inputs = 2,
      .attrs = &(const nbk_axis_attrs){ 0 } },
    { .label = "three layouts, axis 1", .in = { X(2, S(3, 2), T), X(2, S(3, 4), ST), X(2, S(3, 1), C) },
      .n_inputs = 3, .attrs = &(const nbk_axis_attrs){ 1 } },
    { .label = "rank 3, last axis", .in = { X(3, S(2, 3, 2), C), X(3, S(2, 3, 3), ST) }, .n_inputs = 2,
      .attrs = &(const nbk_axis_attrs){ 2 } },
    { .label = "expanded, middle axis", .in = { X(3, S(2, 3, 4), E), X(3, S(2, 1, 4), C), X(3, S(2, 2, 4), T) },
      .n_inputs = 3, .attrs = &(const nbk_axis_attrs){ 1 } },
    { .label = "one input", .in = { X(2, S(2, 3), T) }, .n_inputs = 1, .attrs = &(const nbk_axis_attrs){ 1 } },
    { .label = "an empty piece", .in = { X(2, S(2, 0), C), X(2, S(2, 3), C) }, .n_inputs = 2,
      .attrs = &(const nbk_axis_attrs){ 1 } },
    { .label = "eight inputs", .in = { X(2, S(2, 1), C), X(2, S(2, 2), T), X(2, S(2, 1), ST), X(2, S(2, 3), C),
                                      X(2, S(2, 2), C), X(2, S(2, 1), E), X(2, S(2, 2), C), X(2, S(2, 1), C) },
      .n_inputs = 8, .attrs = &(const nbk_axis_attrs){ 1 } },
};

static const nb_op_def op_cat = {
    .name = "cat", .n_in = 1, .flags = NB_OP_VARIADIC, .attr_size = sizeof(nbk_axis_attrs), .shape = cat_rule,
    FLOAT_KERNEL(nbk_cat), .backward = cat_backward, .format_attrs = format_axis, SAMPLES(samples_cat),
};

/* ---------------------------------------------------------------- stack */

static nb_status stack_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    int axis = ((const nbk_axis_attrs *)attrs)->axis, n = nb_count_inputs(x);
    char b0[NBI_SHAPE_STR], bi[NBI_SHAPE_STR];
    if (x[0]->rank == NB_MAX_RANK)
        return nb_op_error(op, NB_ERR_SHAPE, "inputs of shape %s have rank %d already: no axis can be added",
                           nbi_shape_of(x[0], b0), NB_MAX_RANK);
    nb_status st = check_joined(op, x, n, axis, x[0]->rank + 1);
    if (st)
        return st;
    for (int i = 1; i < n; i++)
        if (!nbi_same_shape_t(x[i], x[0]))
            return nb_op_error(op, NB_ERR_SHAPE, "input %d has shape %s and input 0 %s: stacked tensors must "
                               "have one shape", i, nbi_shape_of(x[i], bi), nbi_shape_of(x[0], b0));
    z->dtype = x[0]->dtype;
    z->rank = x[0]->rank + 1;
    for (int d = 0, k = 0; d < z->rank; d++)
        z->shape[d] = d == axis ? n : x[0]->shape[k++];
    return NB_OK;
}

/* Input i's gradient is gz at index i of the axis: a slice and a squeeze, both views. */
static void stack_backward(nb_backward_ctx *c)
{
    int axis = ((const nbk_axis_attrs *)nb_attrs(c))->axis;
    nb_tensor *gz = nb_grad_out(c, 0);
    for (int i = 0; nb_input_meta(c, i); i++)
        if (nb_needs_grad(c, i))
            nb_set_grad_in(c, i, nb_squeeze(nb_slice(gz, axis, i, i + 1, 1), axis));
}

static const nb_sample samples_stack[] = {
    { .label = "two matrices, axis 0", .in = { X(2, S(2, 3), C), X(2, S(2, 3), C) }, .n_inputs = 2,
      .attrs = &(const nbk_axis_attrs){ 0 } },
    { .label = "three layouts, last axis", .in = { X(2, S(3, 2), T), X(2, S(3, 2), ST), X(2, S(3, 2), C) },
      .n_inputs = 3, .attrs = &(const nbk_axis_attrs){ 2 } },
    { .label = "expanded, middle axis", .in = { X(2, S(3, 4), E), X(2, S(3, 4), C) }, .n_inputs = 2,
      .attrs = &(const nbk_axis_attrs){ 1 } },
    { .label = "rank 0 inputs", .in = { X(0, S(0), C), X(0, S(0), C), X(0, S(0), C) }, .n_inputs = 3,
      .attrs = &(const nbk_axis_attrs){ 0 } },
    { .label = "eight vectors, axis 1", .in = { X(1, S(4), C), X(1, S(4), ST), X(1, S(4), C), X(1, S(4), E),
                                               X(1, S(4), C), X(1, S(4), C), X(1, S(4), ST), X(1, S(4), C) },
      .n_inputs = 8, .attrs = &(const nbk_axis_attrs){ 1 } },
};

static const nb_op_def op_stack = {
    .name = "stack", .n_in = 1, .flags = NB_OP_VARIADIC, .attr_size = sizeof(nbk_axis_attrs), .shape = stack_rule,
    FLOAT_KERNEL(nbk_stack), .backward = stack_backward, .format_attrs = format_axis, SAMPLES(samples_stack),
};

/* ---------------------------------------------------------------- pad and pad_backward */

/* The pads fit an unpadded shape: constant amounts may be negative (crops) but not below
 * -size, nor leave a negative size; reflect needs amounts below the size (the edge is not
 * repeated); replicate needs a non-empty axis to copy from. Fills out with the padded shape. */
static nb_status check_pads(const nb_op_def *op, const nbk_pad_attrs *a, const int64_t *shape, int64_t *out)
{
    char buf[NBI_SHAPE_STR];
    const char *s = nb_shape_str(a->rank, shape, buf, sizeof buf);
    if (a->mode < NBK_PAD_CONSTANT || a->mode > NBK_PAD_REPLICATE)
        return nb_op_error(op, NB_ERR_ARG, "mode %d is not NB_PAD_CONSTANT, NB_PAD_REFLECT or NB_PAD_REPLICATE",
                           a->mode);
    for (int d = 0; d < a->rank; d++) {
        int64_t b = a->before[d], e = a->after[d], n = shape[d];
        const char *mode = pad_mode_names[a->mode];
        if (a->mode != NBK_PAD_CONSTANT && (b < 0 || e < 0))
            return nb_op_error(op, NB_ERR_ARG, "%s padding (%lld, %lld) of axis %d of %s is negative (only constant "
                               "padding crops)", mode, (long long)b, (long long)e, d, s);
        if (a->mode == NBK_PAD_REFLECT && (b || e) && (b >= n || e >= n))
            return nb_op_error(op, NB_ERR_ARG, "reflect padding (%lld, %lld) of axis %d of %s must be below the "
                               "axis size %lld", (long long)b, (long long)e, d, s, (long long)n);
        if (a->mode == NBK_PAD_REPLICATE && (b || e) && n == 0)
            return nb_op_error(op, NB_ERR_ARG, "replicate padding (%lld, %lld) of axis %d of %s has no edge to copy: "
                               "the axis is empty", (long long)b, (long long)e, d, s);
        if (b > MAX_ELEMENTS || e > MAX_ELEMENTS || n + b + e > MAX_ELEMENTS)
            return nb_op_error(op, NB_ERR_ARG, "padding (%lld, %lld) of axis %d of %s is too large", (long long)b,
                               (long long)e, d, s);
        if (b < -n || e < -n || (b < 0 && e < 0 && b + e < -n))   /* the crops of torch's constant_pad_nd */
            return nb_op_error(op, NB_ERR_ARG, "constant padding (%lld, %lld) of axis %d of %s crops more than "
                               "the axis' %lld elements", (long long)b, (long long)e, d, s, (long long)n);
        out[d] = n + b + e;
    }
    return NB_OK;
}

static nb_status check_pad_rank(const nb_op_def *op, nb_tensor *const *x, const nbk_pad_attrs *a)
{
    nb_status st = nbi_check_float(op, x, 0);
    if (st)
        return st;
    if (a->rank != x[0]->rank) {
        char buf[NBI_SHAPE_STR];
        return nb_op_error(op, NB_ERR_ARG, "attributes describe rank %d, the input %s has rank %d", a->rank,
                           nbi_shape_of(x[0], buf), x[0]->rank);
    }
    return NB_OK;
}

static nb_status pad_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const nbk_pad_attrs *a = attrs;
    nb_status st = check_pad_rank(op, x, a);
    if (!st)
        st = check_pads(op, a, x[0]->shape, z->shape);
    z->dtype = x[0]->dtype;
    z->rank = x[0]->rank;
    return st;
}

/* x is the padded gradient; the output has the unpadded shape, which the pads must fit. */
static nb_status pad_backward_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const nbk_pad_attrs *a = attrs;
    nb_status st = check_pad_rank(op, x, a);
    if (st)
        return st;
    int64_t padded[NB_MAX_RANK];
    for (int d = 0; d < a->rank; d++) {
        z->shape[d] = x[0]->shape[d] - a->before[d] - a->after[d];
        if (z->shape[d] < 0 || z->shape[d] > MAX_ELEMENTS) {
            char buf[NBI_SHAPE_STR];
            return nb_op_error(op, NB_ERR_SHAPE, "gradient %s is smaller than the padding (%lld, %lld) of axis %d",
                               nbi_shape_of(x[0], buf), (long long)a->before[d], (long long)a->after[d], d);
        }
    }
    z->dtype = x[0]->dtype;
    z->rank = a->rank;
    return check_pads(op, a, z->shape, padded);
}

static const nb_op_def op_pad, op_pad_backward;

/* Constant: gz without the padding (slices, views) and with zeros where x was cropped.
 * Reflect and replicate: pad_backward sums the copies of each element. */
static void pad_backward(nb_backward_ctx *c)
{
    const nbk_pad_attrs *a = nb_attrs(c);
    nb_tensor *g = nb_grad_out(c, 0);
    if (a->mode != NBK_PAD_CONSTANT) {
        nb_set_grad_in(c, 0, nbi_apply1(&op_pad_backward, g, a));
        return;
    }
    nbk_pad_attrs crop = { .mode = NBK_PAD_CONSTANT, .rank = a->rank };
    bool cropped = false;
    for (int d = 0; d < a->rank && g; d++) {
        int64_t b = a->before[d] > 0 ? a->before[d] : 0, e = a->after[d] > 0 ? a->after[d] : 0;
        if (b || e)
            g = nb_slice(g, d, b, g->shape[d] - e, 1);
        crop.before[d] = a->before[d] < 0 ? -a->before[d] : 0;
        crop.after[d] = a->after[d] < 0 ? -a->after[d] : 0;
        cropped |= crop.before[d] || crop.after[d];
    }
    nb_set_grad_in(c, 0, cropped ? nbi_apply1(&op_pad, g, &crop) : g);
}

/* pad_backward is linear in its input: its gradient is the same pad of gg, filling 0. */
static void pad_backward_backward(nb_backward_ctx *c)
{
    nbk_pad_attrs a = *(const nbk_pad_attrs *)nb_attrs(c);
    a.value = 0;
    nb_set_grad_in(c, 0, nbi_apply1(&op_pad, nb_grad_out(c, 0), &a));
}

#define PAD(mode_, value_, rank_, before_, after_) \
    &(const nbk_pad_attrs){ .mode = mode_, .value = value_, .rank = rank_, .before = before_, .after = after_ }

static const nb_sample samples_pad[] = {
    { .label = "constant, last axis", .in = { X(2, S(3, 5), C) }, .attrs = PAD(NBK_PAD_CONSTANT, 0.5, 2, S(0, 1), S(0, 2)) },
    { .label = "constant, crop and pad", .in = { X(2, S(4, 5), T) },
      .attrs = PAD(NBK_PAD_CONSTANT, -1, 2, S(-1, 2), S(1, -1)) },
    { .label = "reflect, last axis", .in = { X(2, S(2, 5), ST) }, .attrs = PAD(NBK_PAD_REFLECT, 0, 2, S(0, 2), S(0, 3)) },
    { .label = "reflect, two axes of three", .in = { X(3, S(2, 4, 5), C) },
      .attrs = PAD(NBK_PAD_REFLECT, 0, 3, S(0, 3, 1), S(0, 1, 2)) },
    { .label = "reflect, every axis", .in = { X(3, S(3, 4, 3), T) },
      .attrs = PAD(NBK_PAD_REFLECT, 0, 3, S(1, 2, 1), S(2, 0, 2)) },
    { .label = "replicate, both axes of a matrix", .in = { X(2, S(3, 4), E) },
      .attrs = PAD(NBK_PAD_REPLICATE, 0, 2, S(1, 2), S(3, 1)) },
    { .label = "replicate, three axes, wide pads", .in = { X(4, S(2, 2, 3, 2), C) },
      .attrs = PAD(NBK_PAD_REPLICATE, 0, 4, S(0, 1, 2, 3), S(0, 1, 0, 4)) },
};

static const nb_sample samples_pad_backward[] = {
    { .label = "reflect, last axis", .in = { X(2, S(2, 10), ST) }, .attrs = PAD(NBK_PAD_REFLECT, 0, 2, S(0, 2), S(0, 3)) },
    { .label = "reflect, two axes of three", .in = { X(3, S(2, 8, 8), C) },
      .attrs = PAD(NBK_PAD_REFLECT, 0, 3, S(0, 3, 1), S(0, 1, 2)) },
    { .label = "replicate, both axes", .in = { X(2, S(7, 7), T) },
      .attrs = PAD(NBK_PAD_REPLICATE, 0, 2, S(1, 2), S(3, 1)) },
    { .label = "replicate, pads beyond the size", .in = { X(2, S(2, 9), C) },
      .attrs = PAD(NBK_PAD_REPLICATE, 0, 2, S(0, 3), S(0, 4)) },
    { .label = "constant, crop and pad", .in = { X(2, S(4, 6), E) },
      .attrs = PAD(NBK_PAD_CONSTANT, 0, 2, S(-1, 2), S(1, -1)) },
};

static const nb_op_def op_pad = {
    .name = "pad", .n_in = 1, .attr_size = sizeof(nbk_pad_attrs), .shape = pad_rule, FLOAT_KERNEL(nbk_pad),
    .backward = pad_backward, .format_attrs = format_pad, SAMPLES(samples_pad),
};

static const nb_op_def op_pad_backward = {
    .name = "pad_backward", .n_in = 1, .attr_size = sizeof(nbk_pad_attrs), .shape = pad_backward_rule,
    FLOAT_KERNEL(nbk_pad_backward), .backward = pad_backward_backward, .format_attrs = format_pad,
    SAMPLES(samples_pad_backward),
};

/* ---------------------------------------------------------------- flip */

static nb_status flip_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    unsigned mask = ((const nbk_flip_attrs *)attrs)->mask;
    nb_status st = nbi_check_float(op, x, 0);
    if (st)
        return st;
    if (mask >> x[0]->rank) {
        char buf[NBI_SHAPE_STR], axes[64];
        nbi_format_axes(mask, axes, sizeof axes);
        return nb_op_error(op, NB_ERR_ARG, "axes %s are not all axes of %s (rank %d)", axes, nbi_shape_of(x[0], buf),
                           x[0]->rank);
    }
    meta_from(z, x[0]->dtype, x[0]->rank, x[0]->shape);
    return NB_OK;
}

static const nb_op_def op_flip;

/* A flip is its own inverse. */
static void flip_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nbi_apply1(&op_flip, nb_grad_out(c, 0), nb_attrs(c)));
}

static const nb_sample samples_flip[] = {
    { .label = "rows", .in = { X(2, S(3, 4), C) }, .attrs = &(const nbk_flip_attrs){ 1u << 0 } },
    { .label = "both axes, transposed", .in = { X(2, S(3, 4), T) }, .attrs = &(const nbk_flip_attrs){ 3u } },
    { .label = "last two of three, strided", .in = { X(3, S(2, 3, 4), ST) }, .attrs = &(const nbk_flip_attrs){ 6u } },
    { .label = "expanded axis", .in = { X(2, S(4, 3), E) }, .attrs = &(const nbk_flip_attrs){ 1u << 0 } },
    { .label = "no axes", .in = { X(2, S(2, 3), C) }, .attrs = &(const nbk_flip_attrs){ 0 } },
    { .label = "rank 0", .in = { X(0, S(0), C) }, .attrs = &(const nbk_flip_attrs){ 0 } },
};

static const nb_op_def op_flip = {
    .name = "flip", .n_in = 1, .attr_size = sizeof(nbk_flip_attrs), .shape = flip_rule, FLOAT_KERNEL(nbk_flip),
    .backward = flip_backward, .format_attrs = format_flip, SAMPLES(samples_flip),
};

/* ---------------------------------------------------------------- roll */

static nb_status roll_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const nbk_roll_attrs *a = attrs;
    char buf[NBI_SHAPE_STR];
    nb_status st = nbi_check_float(op, x, 0);
    if (st)
        return st;
    if (a->rank != x[0]->rank)
        return nb_op_error(op, NB_ERR_ARG, "attributes give %d shifts for %s (rank %d)", a->rank,
                           nbi_shape_of(x[0], buf), x[0]->rank);
    for (int d = 0; d < a->rank; d++)
        if (a->shifts[d] < 0 || (a->shifts[d] > 0 && a->shifts[d] >= x[0]->shape[d]))
            return nb_op_error(op, NB_ERR_ARG, "shift %lld of axis %d of %s is outside [0, size)",
                               (long long)a->shifts[d], d, nbi_shape_of(x[0], buf));
    meta_from(z, x[0]->dtype, x[0]->rank, x[0]->shape);
    return NB_OK;
}

static const nb_op_def op_roll;

/* Rolling back: the shift n - s on each axis. */
static void roll_backward(nb_backward_ctx *c)
{
    nbk_roll_attrs back = *(const nbk_roll_attrs *)nb_attrs(c);
    const nb_meta *x = nb_input_meta(c, 0);
    for (int d = 0; d < back.rank; d++)
        back.shifts[d] = back.shifts[d] ? x->shape[d] - back.shifts[d] : 0;
    nb_set_grad_in(c, 0, nbi_apply1(&op_roll, nb_grad_out(c, 0), &back));
}

static const nb_sample samples_roll[] = {
    { .label = "last axis", .in = { X(2, S(3, 5), C) }, .attrs = &(const nbk_roll_attrs){ 2, S(0, 2) } },
    { .label = "both axes, transposed", .in = { X(2, S(4, 3), T) }, .attrs = &(const nbk_roll_attrs){ 2, S(1, 2) } },
    { .label = "rank 3, strided", .in = { X(3, S(2, 3, 4), ST) }, .attrs = &(const nbk_roll_attrs){ 3, S(1, 0, 3) } },
    { .label = "expanded axis", .in = { X(2, S(4, 3), E) }, .attrs = &(const nbk_roll_attrs){ 2, S(3, 1) } },
    { .label = "rank 0", .in = { X(0, S(0), C) }, .attrs = &(const nbk_roll_attrs){ 0, S(0) } },
};

static const nb_op_def op_roll = {
    .name = "roll", .n_in = 1, .attr_size = sizeof(nbk_roll_attrs), .shape = roll_rule, FLOAT_KERNEL(nbk_roll),
    .backward = roll_backward, .format_attrs = format_roll, SAMPLES(samples_roll),
};

/* ---------------------------------------------------------------- repeat */

static nb_status repeat_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const nbk_repeat_attrs *a = attrs;
    char buf[NBI_SHAPE_STR];
    nb_status st = nbi_check_float(op, x, 0);
    if (st)
        return st;
    if (a->rank < x[0]->rank || a->rank > NB_MAX_RANK)
        return nb_op_error(op, NB_ERR_ARG, "%d repeats given for %s: need at least its rank %d and at most %d",
                           a->rank, nbi_shape_of(x[0], buf), x[0]->rank, NB_MAX_RANK);
    int lead = a->rank - x[0]->rank;
    for (int d = 0; d < a->rank; d++) {
        int64_t n = d < lead ? 1 : x[0]->shape[d - lead], r = a->repeats[d];
        if (r < 0)
            return nb_op_error(op, NB_ERR_ARG, "repeat %lld for axis %d of %s is negative", (long long)r, d,
                               nbi_shape_of(x[0], buf));
        if (n > 0 && r > MAX_ELEMENTS / n)
            return nb_op_error(op, NB_ERR_ARG, "repeating %s %lld times along axis %d makes too many elements",
                               nbi_shape_of(x[0], buf), (long long)r, d);
        z->shape[d] = n * r;
    }
    z->dtype = x[0]->dtype;
    z->rank = a->rank;
    return NB_OK;
}

/* The gradient sums gz over the tiles: axis by axis, gz seen as [before, tiles, size, after]
 * and summed over the tiles (a rank-4 view, whatever the rank). */
static void repeat_backward(nb_backward_ctx *c)
{
    const nbk_repeat_attrs *a = nb_attrs(c);
    const nb_meta *x = nb_input_meta(c, 0);
    nb_tensor *g = nb_grad_out(c, 0);
    int lead = a->rank - x->rank;
    int64_t shape[NB_MAX_RANK];
    if (g)
        memcpy(shape, g->shape, sizeof shape);
    for (int d = 0; d < a->rank && g; d++) {
        if (a->repeats[d] == 1)
            continue;
        int64_t n = d < lead ? 1 : x->shape[d - lead];
        int64_t tiles[4] = { nbi_numel(d, shape), a->repeats[d], n, nbi_numel(a->rank - d - 1, shape + d + 1) };
        g = nb_sum(nb_reshape(g, 4, tiles), (const int[]){ 1 }, 1, false);
        shape[d] = n;
        g = nb_reshape(g, a->rank, shape);
    }
    nb_set_grad_in(c, 0, nb_reshape(g, x->rank, x->shape));
}

static const nb_sample samples_repeat[] = {
    { .label = "rows twice", .in = { X(2, S(2, 3), C) }, .attrs = &(const nbk_repeat_attrs){ 2, S(2, 1) } },
    { .label = "columns thrice, transposed", .in = { X(2, S(2, 3), T) }, .attrs = &(const nbk_repeat_attrs){ 2, S(1, 3) } },
    { .label = "vector to matrix", .in = { X(1, S(3), C) }, .attrs = &(const nbk_repeat_attrs){ 2, S(2, 2) } },
    { .label = "rank 0", .in = { X(0, S(0), C) }, .attrs = &(const nbk_repeat_attrs){ 2, S(3, 2) } },
    { .label = "rank 3, strided", .in = { X(3, S(2, 2, 3), ST) }, .attrs = &(const nbk_repeat_attrs){ 3, S(2, 1, 2) } },
    { .label = "expanded, new axis", .in = { X(2, S(3, 2), E) }, .attrs = &(const nbk_repeat_attrs){ 3, S(2, 1, 2) } },
    { .label = "zero repeats", .in = { X(2, S(2, 3), C) }, .attrs = &(const nbk_repeat_attrs){ 2, S(0, 2) } },
};

static const nb_op_def op_repeat = {
    .name = "repeat", .n_in = 1, .attr_size = sizeof(nbk_repeat_attrs), .shape = repeat_rule,
    FLOAT_KERNEL(nbk_repeat), .backward = repeat_backward, .format_attrs = format_repeat, SAMPLES(samples_repeat),
};

/* ---------------------------------------------------------------- tril and triu */

static nb_status tri_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    nb_status st = nbi_check_float(op, x, 0);
    if (st)
        return st;
    if (x[0]->rank < 2) {
        char buf[NBI_SHAPE_STR];
        return nb_op_error(op, NB_ERR_SHAPE, "input %s has rank %d: it needs two axes (the last two are the "
                           "matrices)", nbi_shape_of(x[0], buf), x[0]->rank);
    }
    meta_from(z, x[0]->dtype, x[0]->rank, x[0]->shape);
    return NB_OK;
}

static const nb_op_def op_tril, op_triu;

/* The mask does not depend on x: gz goes through the same mask. */
static void tril_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nbi_apply1(&op_tril, nb_grad_out(c, 0), nb_attrs(c)));
}

static void triu_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nbi_apply1(&op_triu, nb_grad_out(c, 0), nb_attrs(c)));
}

static const nb_sample samples_tri[] = {
    { .label = "square, main diagonal", .in = { X(2, S(4, 4), C) }, .attrs = &(const nbk_tri_attrs){ 0 } },
    { .label = "wide, transposed, k 1", .in = { X(2, S(3, 5), T) }, .attrs = &(const nbk_tri_attrs){ 1 } },
    { .label = "tall, strided, k -1", .in = { X(2, S(5, 3), ST) }, .attrs = &(const nbk_tri_attrs){ -1 } },
    { .label = "batch of three, k 2", .in = { X(3, S(2, 3, 4), C) }, .attrs = &(const nbk_tri_attrs){ 2 } },
    { .label = "expanded batch, k -2", .in = { X(3, S(3, 3, 3), E) }, .attrs = &(const nbk_tri_attrs){ -2 } },
    { .label = "k beyond the columns", .in = { X(2, S(3, 4), C) }, .attrs = &(const nbk_tri_attrs){ 10 } },
    { .label = "k beyond the rows", .in = { X(2, S(3, 4), C) }, .attrs = &(const nbk_tri_attrs){ -10 } },
};

static const nb_op_def op_tril = {
    .name = "tril", .n_in = 1, .attr_size = sizeof(nbk_tri_attrs), .shape = tri_rule, FLOAT_KERNEL(nbk_tril),
    .backward = tril_backward, .format_attrs = format_tri, SAMPLES(samples_tri),
};

static const nb_op_def op_triu = {
    .name = "triu", .n_in = 1, .attr_size = sizeof(nbk_tri_attrs), .shape = tri_rule, FLOAT_KERNEL(nbk_triu),
    .backward = triu_backward, .format_attrs = format_tri, SAMPLES(samples_tri),
};

/* ---------------------------------------------------------------- diagonal and diagonal_backward */

static nb_status check_diagonal_axes(const nb_op_def *op, const nbk_diagonal_attrs *a, int rank, const int64_t *shape)
{
    char buf[NBI_SHAPE_STR];
    if (rank < 2)
        return nb_op_error(op, NB_ERR_SHAPE, "%s has rank %d: a diagonal needs two axes",
                           nb_shape_str(rank, shape, buf, sizeof buf), rank);
    if (a->axis1 < 0 || a->axis1 >= rank || a->axis2 < 0 || a->axis2 >= rank || a->axis1 == a->axis2)
        return nb_op_error(op, NB_ERR_ARG, "axes %d and %d must be two different axes of %s (rank %d)", a->axis1,
                           a->axis2, nb_shape_str(rank, shape, buf, sizeof buf), rank);
    return NB_OK;
}

/* The shape of the diagonal of a tensor of `shape`: the other axes, then the diagonal. */
static int diagonal_shape(const nbk_diagonal_attrs *a, int rank, const int64_t *shape, int64_t len, int64_t *out)
{
    int r = 0;
    for (int d = 0; d < rank; d++)
        if (d != a->axis1 && d != a->axis2)
            out[r++] = shape[d];
    out[r++] = len;
    return r;
}

static nb_status diagonal_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const nbk_diagonal_attrs *a = attrs;
    nb_status st = check_diagonal_axes(op, a, x[0]->rank, x[0]->shape);
    if (st)
        return st;
    int64_t start;
    z->dtype = x[0]->dtype;
    z->rank = diagonal_shape(a, x[0]->rank, x[0]->shape, nbk_diagonal_span(x[0], a, &start), z->shape);
    return NB_OK;
}

/* The diagonal steps along both axes at once: stride s1 + s2, from the first element on it. */
static bool diagonal_view(nb_tensor *const *x, const void *attrs, const nb_meta *z, int64_t *strides, int64_t *offset)
{
    const nbk_diagonal_attrs *a = attrs;
    int64_t start;
    nbk_diagonal_span(x[0], a, &start);
    int r = 0;
    for (int d = 0; d < x[0]->rank; d++)
        if (d != a->axis1 && d != a->axis2)
            strides[r++] = x[0]->strides[d];
    strides[r] = x[0]->strides[a->axis1] + x[0]->strides[a->axis2];
    *offset += start;
    return true;
}

/* diagonal_backward(g): zeros of attrs' shape with g on the diagonal. */
static nb_status diagonal_backward_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    const nbk_diagonal_attrs *a = attrs;
    char b1[NBI_SHAPE_STR], b2[NBI_SHAPE_STR], b3[NBI_SHAPE_STR];
    nb_status st = nbi_check_float(op, x, 0);
    if (st)
        return st;
    if (a->rank < 2 || a->rank > NB_MAX_RANK)
        return nb_op_error(op, NB_ERR_ARG, "attributes describe rank %d, expected 2 to %d", a->rank, NB_MAX_RANK);
    if (!nbi_valid_sizes(a->rank, a->shape))
        return nb_op_error(op, NB_ERR_ARG, "attributes describe shape %s: sizes must be at least 0 and their "
                           "product at most 2^58", nb_shape_str(a->rank, a->shape, b2, sizeof b2));
    st = check_diagonal_axes(op, a, a->rank, a->shape);
    if (st)
        return st;
    nb_tensor full = { .rank = a->rank };   /* only the shape matters for the length */
    memcpy(full.shape, a->shape, sizeof full.shape);
    int64_t start, expected[NB_MAX_RANK];
    int r = diagonal_shape(a, a->rank, a->shape, nbk_diagonal_span(&full, a, &start), expected);
    if (!nbi_same_shape(x[0]->rank, x[0]->shape, r, expected))
        return nb_op_error(op, NB_ERR_SHAPE, "gradient has shape %s, expected %s (the diagonal of %s)",
                           nbi_shape_of(x[0], b1), nb_shape_str(r, expected, b2, sizeof b2),
                           nb_shape_str(a->rank, a->shape, b3, sizeof b3));
    meta_from(z, x[0]->dtype, a->rank, a->shape);
    return NB_OK;
}

static const nb_op_def op_diagonal, op_diagonal_backward;

static void diagonal_backward(nb_backward_ctx *c)
{
    const nb_meta *x = nb_input_meta(c, 0);
    nbk_diagonal_attrs a = *(const nbk_diagonal_attrs *)nb_attrs(c);
    a.rank = x->rank;
    memcpy(a.shape, x->shape, sizeof a.shape);
    nb_set_grad_in(c, 0, nbi_apply1(&op_diagonal_backward, nb_grad_out(c, 0), &a));
}

/* Placing on the diagonal is linear; its adjoint reads the diagonal back. */
static void diagonal_backward_backward(nb_backward_ctx *c)
{
    nb_set_grad_in(c, 0, nbi_apply1(&op_diagonal, nb_grad_out(c, 0), nb_attrs(c)));
}

#define DIAG(offset_, a1, a2) &(const nbk_diagonal_attrs){ .offset = offset_, .axis1 = a1, .axis2 = a2 }
#define DIAG_BACK(offset_, a1, a2, rank_, shape_) \
    &(const nbk_diagonal_attrs){ .offset = offset_, .axis1 = a1, .axis2 = a2, .rank = rank_, .shape = shape_ }

static const nb_sample samples_diagonal[] = {
    { .label = "square, main", .in = { X(2, S(4, 4), C) }, .attrs = DIAG(0, 0, 1) },
    { .label = "wide, transposed, above", .in = { X(2, S(3, 5), T) }, .attrs = DIAG(1, 0, 1) },
    { .label = "tall, strided, below", .in = { X(2, S(5, 3), ST) }, .attrs = DIAG(-2, 0, 1) },
    { .label = "rank 3, outer axes", .in = { X(3, S(2, 3, 4), C) }, .attrs = DIAG(1, 0, 2) },
    { .label = "expanded batch", .in = { X(3, S(3, 4, 4), E) }, .attrs = DIAG(0, 1, 2) },
    { .label = "axes reversed", .in = { X(3, S(2, 3, 4), T) }, .attrs = DIAG(-1, 2, 0) },
    { .label = "offset past the edge", .in = { X(2, S(3, 4), C) }, .attrs = DIAG(5, 0, 1) },
};

static const nb_sample samples_diagonal_backward[] = {
    { .label = "square, main", .in = { X(1, S(4), C) }, .attrs = DIAG_BACK(0, 0, 1, 2, S(4, 4)) },
    { .label = "wide, above", .in = { X(1, S(3), ST) }, .attrs = DIAG_BACK(1, 0, 1, 2, S(3, 5)) },
    { .label = "rank 3, outer axes", .in = { X(2, S(3, 2), T) }, .attrs = DIAG_BACK(1, 0, 2, 3, S(2, 3, 4)) },
    { .label = "axes reversed, below", .in = { X(2, S(3, 3), E) }, .attrs = DIAG_BACK(-1, 2, 1, 3, S(3, 4, 4)) },
};

static const nb_op_def op_diagonal = {
    .name = "diagonal", .n_in = 1, .attr_size = sizeof(nbk_diagonal_attrs), .shape = diagonal_rule,
    .view = diagonal_view, .backward = diagonal_backward, .format_attrs = format_diagonal,
    SAMPLES(samples_diagonal),
};

static const nb_op_def op_diagonal_backward = {
    .name = "diagonal_backward", .n_in = 1, .attr_size = sizeof(nbk_diagonal_attrs), .shape = diagonal_backward_rule,
    FLOAT_KERNEL(nbk_diagonal_backward), .backward = diagonal_backward_backward,
    .format_attrs = format_diagonal_backward, SAMPLES(samples_diagonal_backward),
};

/* ---------------------------------------------------------------- public functions */

/* The tensors of a join: n of them, n in range, xs not NULL. Entries may be NULL (nb_apply
 * reports them). */
static bool check_list(const char *fn, nb_tensor *const *xs, int n)
{
    if (!xs && n > 0) {
        nbi_error(NB_ERR_NULL, "%s: tensor list is NULL", fn);
        return false;
    }
    if (n < 1 || n > NB_MAX_VARIADIC_INPUTS) {
        nbi_error(NB_ERR_ARG, "%s: %d tensors given, expected 1 to %d", fn, n, NB_MAX_VARIADIC_INPUTS);
        return false;
    }
    return true;
}

static nb_tensor *join(const nb_op_def *op, const char *fn, nb_tensor *const *xs, int n, int axis, int extra)
{
    if (!check_list(fn, xs, n))
        return NULL;
    int a = 0;
    if (xs[0] && !nbi_axis(axis, xs[0]->rank + extra, &a)) {
        char buf[NBI_SHAPE_STR];
        nbi_error(NB_ERR_ARG, "%s: axis %d is out of range for %s%s (rank %d)", fn, axis,
                  extra ? "stacking tensors of shape " : "", nbi_shape_of(xs[0], buf), xs[0]->rank + extra);
        return NULL;
    }
    nb_tensor *z;
    return nb_apply_variadic(op, xs, n, &(nbk_axis_attrs){ a }, &z) ? NULL : z;
}

NB_API nb_tensor *nb_cat(nb_tensor *const *xs, int n, int axis)
{
    return join(&op_cat, "nb_cat", xs, n, axis, 0);
}

NB_API nb_tensor *nb_stack(nb_tensor *const *xs, int n, int axis)
{
    return join(&op_stack, "nb_stack", xs, n, axis, 1);
}

/* Writes views of x along axis a, of the given sizes, into out; on failure none stays. */
static nb_status slices(nb_tensor *x, int a, const int64_t *sizes, int n, nb_tensor **out)
{
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        out[i] = nb_slice(x, a, at, at + sizes[i], 1);
        at += sizes[i];
        if (!out[i]) {
            for (int j = 0; j < i; j++)
                out[j] = NULL;   /* the scope owns them */
            return nb_error_code();
        }
    }
    return NB_OK;
}

NB_API nb_status nb_split(nb_tensor *x, int axis, const int64_t *sizes, int n, nb_tensor **out)
{
    if (!out)
        return nbi_error(NB_ERR_NULL, "nb_split: output array is NULL");
    for (int i = 0; i < n; i++)
        out[i] = NULL;
    if (!x)
        return nbi_error_keep(NB_ERR_NULL, "nb_split: input is NULL");
    if (n < 1 || !sizes)
        return nbi_error(n < 1 ? NB_ERR_ARG : NB_ERR_NULL, "nb_split: %d sizes given%s, expected at least one", n,
                         sizes ? "" : " as NULL");
    int a;
    char buf[NBI_SHAPE_STR];
    if (!nbi_axis(axis, x->rank, &a))
        return nbi_error(NB_ERR_ARG, "nb_split: axis %d is out of range for %s (rank %d)", axis,
                         nbi_shape_of(x, buf), x->rank);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0)
            return nbi_error(NB_ERR_ARG, "nb_split: size %lld of piece %d is negative", (long long)sizes[i], i);
        total += sizes[i];
        if (total > x->shape[a])   /* stops before the sum can overflow */
            return nbi_error(NB_ERR_ARG, "nb_split: sizes of pieces 0 to %d already add up to %lld, more than "
                             "the %lld elements of axis %d of %s", i, (long long)total, (long long)x->shape[a], a,
                             nbi_shape_of(x, buf));
    }
    if (total != x->shape[a])
        return nbi_error(NB_ERR_ARG, "nb_split: sizes add up to %lld, but axis %d of %s has %lld elements",
                         (long long)total, a, nbi_shape_of(x, buf), (long long)x->shape[a]);
    return slices(x, a, sizes, n, out);
}

NB_API int nb_chunk(nb_tensor *x, int chunks, int axis, nb_tensor **out)
{
    if (!out) {
        nbi_error(NB_ERR_NULL, "nb_chunk: output array is NULL");
        return 0;
    }
    for (int i = 0; i < chunks; i++)
        out[i] = NULL;
    if (!check_input("nb_chunk", x))
        return 0;
    int a;
    char buf[NBI_SHAPE_STR];
    if (chunks < 1) {
        nbi_error(NB_ERR_ARG, "nb_chunk: %d chunks asked for, expected at least 1", chunks);
        return 0;
    }
    if (!nbi_axis(axis, x->rank, &a)) {
        nbi_error(NB_ERR_ARG, "nb_chunk: axis %d is out of range for %s (rank %d)", axis, nbi_shape_of(x, buf),
                  x->rank);
        return 0;
    }
    /* torch.chunk: pieces of ceil(n / chunks), so fewer pieces when that size covers the axis
     * sooner; an empty axis gives `chunks` empty pieces. */
    int64_t n = x->shape[a], size = (n + chunks - 1) / chunks;
    int count = size ? (int)((n + size - 1) / size) : chunks;
    int64_t *sizes = nbi_malloc((size_t)count * sizeof *sizes);
    if (!sizes)
        return 0;
    for (int i = 0; i < count; i++)
        sizes[i] = n - i * size < size ? n - i * size : size;
    nb_status st = slices(x, a, sizes, count, out);
    nbi_free(sizes);
    return st ? 0 : count;
}

NB_API nb_tensor *nb_unflatten(nb_tensor *x, int axis, const int64_t *sizes, int n)
{
    if (!check_input("nb_unflatten", x))
        return NULL;
    int a;
    char buf[NBI_SHAPE_STR], sbuf[NBI_SHAPE_STR];
    if (!nbi_axis(axis, x->rank, &a)) {
        nbi_error(NB_ERR_ARG, "nb_unflatten: axis %d is out of range for %s (rank %d)", axis, nbi_shape_of(x, buf),
                  x->rank);
        return NULL;
    }
    if (n < 1 || !sizes || x->rank - 1 + n > NB_MAX_RANK) {
        nbi_error(NB_ERR_ARG, "nb_unflatten: %d sizes given%s for axis %d of %s, expected 1 to %d", n,
                  sizes ? "" : " as NULL", a, nbi_shape_of(x, buf), NB_MAX_RANK - x->rank + 1);
        return NULL;
    }
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        if (sizes[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (sizes[i] < 0 || (known > 0 && sizes[i] > MAX_ELEMENTS / known)) {
            known = -1;   /* no axis has this size */
            break;
        }
        known *= sizes[i];
    }
    int64_t shape[NB_MAX_RANK], inferred = infer >= 0 && known > 0 ? x->shape[a] / known : 0;
    bool fits = infer >= 0 ? known > 0 && inferred * known == x->shape[a] : known == x->shape[a];
    if (!fits) {
        nbi_error(NB_ERR_SHAPE, "nb_unflatten: sizes %s do not multiply to the size %lld of axis %d of %s "
                  "(one size may be -1)", nb_shape_str(n, sizes, sbuf, sizeof sbuf), (long long)x->shape[a], a,
                  nbi_shape_of(x, buf));
        return NULL;
    }
    int r = 0;
    for (int d = 0; d < x->rank; d++) {
        if (d != a) {
            shape[r++] = x->shape[d];
            continue;
        }
        for (int i = 0; i < n; i++)
            shape[r++] = i == infer ? inferred : sizes[i];
    }
    return nb_reshape(x, r, shape);
}

NB_API nb_tensor *nb_pad(nb_tensor *x, const int64_t *pads, int n_pads, nb_pad_mode mode, double value)
{
    if (!check_input("nb_pad", x))
        return NULL;
    char buf[NBI_SHAPE_STR];
    if (n_pads < 0 || n_pads % 2 || n_pads > 2 * x->rank || (n_pads > 0 && !pads)) {
        nbi_error(NB_ERR_ARG, "nb_pad: %d pad amounts%s for %s: expected an even number, at most 2 x rank %d", n_pads,
                  pads || !n_pads ? "" : " (NULL)", nbi_shape_of(x, buf), x->rank);
        return NULL;
    }
    nbk_pad_attrs a = { .mode = (int)mode, .value = value, .rank = x->rank };
    for (int i = 0; i < n_pads / 2; i++) {   /* pairs run from the last axis backwards */
        a.before[x->rank - 1 - i] = pads[2 * i];
        a.after[x->rank - 1 - i] = pads[2 * i + 1];
    }
    return nbi_apply1(&op_pad, x, &a);
}

NB_API nb_tensor *nb_flip(nb_tensor *x, const int *axes, int n_axes)
{
    if (!check_input("nb_flip", x))
        return NULL;
    nbk_flip_attrs a = { 0 };
    if (n_axes != 0 || axes)   /* nbi_axes_mask reads (NULL, 0) as every axis; here it is none */
        if (!nbi_axes_mask("nb_flip", x, axes, n_axes, &a.mask))
            return NULL;
    return nbi_apply1(&op_flip, x, &a);
}

NB_API nb_tensor *nb_roll(nb_tensor *x, const int64_t *shifts, const int *axes, int n)
{
    if (!check_input("nb_roll", x))
        return NULL;
    char buf[NBI_SHAPE_STR];
    if (!shifts || n < 1 || (!axes && n != 1) || n > NB_MAX_RANK) {
        nbi_error(NB_ERR_ARG, "nb_roll: %d shifts%s with %s: expected 1 to %d shifts, one per axis (or one shift "
                  "and no axes, to roll the flattened tensor)", n, shifts ? "" : " (NULL)",
                  axes ? "an axis list" : "no axes", NB_MAX_RANK);
        return NULL;
    }
    if (!axes) {   /* torch.roll without dims: roll the flattened tensor, then restore the shape */
        uint64_t errors_before = nbi_error_count();
        nb_tensor *z = nb_reshape(nb_roll(nb_flatten(x, 0, -1), shifts, (const int[]){ 0 }, 1), x->rank, x->shape);
        if (!z)
            nbi_error_prefix("nb_roll", errors_before);
        return z;
    }
    nbk_roll_attrs a = { .rank = x->rank };
    for (int i = 0; i < n; i++) {
        int d;
        if (!nbi_axis(axes[i], x->rank, &d)) {
            nbi_error(NB_ERR_ARG, "nb_roll: axis %d is out of range for %s (rank %d)", axes[i], nbi_shape_of(x, buf),
                      x->rank);
            return NULL;
        }
        int64_t size = x->shape[d];
        if (size > 0)   /* a repeated axis adds its shifts, as torch.roll does */
            a.shifts[d] = ((a.shifts[d] + shifts[i] % size) % size + size) % size;
    }
    return nbi_apply1(&op_roll, x, &a);
}

NB_API nb_tensor *nb_repeat(nb_tensor *x, const int64_t *repeats, int n)
{
    if (!check_input("nb_repeat", x))
        return NULL;
    if (!repeats && n > 0) {
        nbi_error(NB_ERR_NULL, "nb_repeat: repeats is NULL");
        return NULL;
    }
    if (n < x->rank || n > NB_MAX_RANK) {
        char buf[NBI_SHAPE_STR];
        nbi_error(NB_ERR_ARG, "nb_repeat: %d repeats given for %s: need at least its rank %d and at most %d (nb_tile "
                  "pads them)", n, nbi_shape_of(x, buf), x->rank, NB_MAX_RANK);
        return NULL;
    }
    nbk_repeat_attrs a = { .rank = n };
    for (int i = 0; i < n; i++)
        a.repeats[i] = repeats[i];
    return nbi_apply1(&op_repeat, x, &a);
}

NB_API nb_tensor *nb_tile(nb_tensor *x, const int64_t *repeats, int n)
{
    if (!check_input("nb_tile", x))
        return NULL;
    if ((!repeats && n > 0) || n < 0 || n > NB_MAX_RANK) {
        nbi_error(NB_ERR_ARG, "nb_tile: %d repeats given%s, expected 0 to %d", n, repeats || !n ? "" : " as NULL",
                  NB_MAX_RANK);
        return NULL;
    }
    int rank = n > x->rank ? n : x->rank, lead = rank - n;
    int64_t padded[NB_MAX_RANK];
    for (int i = 0; i < rank; i++)
        padded[i] = i < lead ? 1 : repeats[i - lead];
    return nb_repeat(x, padded, rank);
}

static nb_tensor *tri(const nb_op_def *op, nb_tensor *x, int64_t k)
{
    return nbi_apply1(op, x, &(nbk_tri_attrs){ k });
}

NB_API nb_tensor *nb_tril(nb_tensor *x, int64_t k)
{
    return tri(&op_tril, x, k);
}

NB_API nb_tensor *nb_triu(nb_tensor *x, int64_t k)
{
    return tri(&op_triu, x, k);
}

NB_API nb_tensor *nb_diagonal(nb_tensor *x, int64_t offset, int axis1, int axis2)
{
    if (!check_input("nb_diagonal", x))
        return NULL;
    nbk_diagonal_attrs a = { .offset = offset };
    if (!nbi_axis(axis1, x->rank, &a.axis1) || !nbi_axis(axis2, x->rank, &a.axis2)) {
        char buf[NBI_SHAPE_STR];
        nbi_error(NB_ERR_ARG, "nb_diagonal: axes %d and %d must both be in range for %s (rank %d)", axis1, axis2,
                  nbi_shape_of(x, buf), x->rank);
        return NULL;
    }
    return nbi_apply1(&op_diagonal, x, &a);
}

const nb_op_def *const nbi_join_ops[] = {
    &op_cat, &op_stack, &op_pad, &op_pad_backward, &op_flip, &op_roll, &op_repeat,
    &op_tril, &op_triu, &op_diagonal, &op_diagonal_backward, NULL,
};
