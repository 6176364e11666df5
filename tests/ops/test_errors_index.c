/* Error tests of the indexing ops (ops/index.c): every check is provoked once and its
 * failure asserted (NULL, nb_error_code() and the key parts of nb_error(): function or op,
 * the shapes or index seen, what was expected), inside a scope whose storage must be gone
 * once it ends. Then what the registry's samples cannot show: float masks with zeros,
 * repeated positions in scatter, a src larger than index, and results that stay
 * bit-identical for any thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "core/alloc.h"

/* ---------------------------------------------------------------- harness (as test_errors.c) */

static int n_checks;                  /* provocations asserted, printed at the end */
static bool check_interrupted;        /* a failed check left its scope open (cmocka longjmps out) */

static void expect_error_at(const char *file, int line, const char *call, bool failed, nb_status code,
                            const char *const *parts)
{
    n_checks++;
    if (!failed)
        fail_msg("%s:%d: %s succeeded; expected error %d", file, line, call, (int)code);
    if (nb_error_code() != code)
        fail_msg("%s:%d: %s: error code %d, expected %d; message: \"%s\"", file, line, call, (int)nb_error_code(),
                 (int)code, nb_error());
    for (; *parts; parts++)
        if (!strstr(nb_error(), *parts))
            fail_msg("%s:%d: %s: message \"%s\" lacks \"%s\"", file, line, call, nb_error(), *parts);
}

#define PARTS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Runs expr (returning a tensor) in a fresh scope with the error cleared and expects NULL
 * with code and every part in the message; the scope's storage must be gone afterwards. */
#define EXPECT_NULL(expr, code, ...)                                                           \
    do {                                                                                       \
        int64_t live_before_ = nbt_live_bytes();                                               \
        nb_scope *scope_ = nb_scope_begin();                                                   \
        nb_error_clear();                                                                      \
        check_interrupted = true;                                                              \
        const void *r_ = (expr);                                                               \
        expect_error_at(__FILE__, __LINE__, #expr, r_ == NULL, code, PARTS(__VA_ARGS__));      \
        check_interrupted = false;                                                             \
        if (nb_scope_end(scope_) != NB_OK)                                                     \
            fail_msg("%s:%d: scope end failed: %s", __FILE__, __LINE__, nb_error());           \
        if (nbt_live_bytes() != live_before_)                                                  \
            fail_msg("%s:%d: %s: %lld bytes live after the failure, %lld before", __FILE__,    \
                     __LINE__, #expr, (long long)nbt_live_bytes(), (long long)live_before_);   \
    } while (0)

static int setup(void **state)
{
    if (nbt_setup(state) != 0)
        return -1;
    *state = nb_scope_begin();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    nbt_reset_state();
    if (check_interrupted) {   /* the failure is reported already; just clean up */
        check_interrupted = false;
        nb_scope_end(*state);
        nb_error_clear();
        return 0;
    }
    if (nb_scope_end(*state) != NB_OK)
        fail_msg("the test left a scope open: %s", nb_error());
    return nbt_teardown(state);
}

static nb_tensor *f32(int rank, const int64_t *shape)
{
    return nb_ones(NB_F32, rank, shape);
}

static nb_tensor *f64(int rank, const int64_t *shape)
{
    return nb_ones(NB_F64, rank, shape);
}

static nb_tensor *i64(int rank, const int64_t *shape)
{
    return nb_zeros(NB_I64, rank, shape);
}

/* An i64 tensor of the given values. */
#define INDEX(values, ...) nb_tensor_from_data((const int64_t[])values, NB_I64, NB_SHAPE(__VA_ARGS__))
#define V(...) { __VA_ARGS__ }

/* An f64 tensor of the given values that requires grad. */
#define LEAF(values, ...) nbt_leaf((const double[])values, NB_SHAPE(__VA_ARGS__))

/* Byte-compatible copies of the attribute structs of ops/index.c, for nb_apply. */
typedef struct shape_attrs_copy {
    int rank;
    int64_t shape[NB_MAX_RANK];
} shape_attrs_copy;

typedef struct one_hot_attrs_copy {
    int64_t num_classes;
    nb_dtype dtype;
} one_hot_attrs_copy;

static const nb_op_def *op_named(const char *name)
{
    const nb_op_def *op = nb_op_find(name);
    if (!op)
        fail_msg("op '%s' is not registered", name);
    return op;
}

static nb_tensor *masked_select_backward(nb_tensor *g, nb_tensor *mask, int rank, const int64_t *shape)
{
    shape_attrs_copy a = { .rank = rank };
    if (rank >= 0 && rank <= NB_MAX_RANK)
        memcpy(a.shape, shape, (size_t)rank * sizeof *shape);
    return nb_apply(op_named("masked_select_backward"), (nb_tensor *const[]){ g, mask }, &a);
}

/* The registered op one_hot (the public nb_one_hot of data.h is a separate function). */
static nb_tensor *one_hot(nb_tensor *index, int64_t num_classes, nb_dtype dtype)
{
    one_hot_attrs_copy a = { num_classes, dtype };
    return nb_apply(op_named("one_hot"), (nb_tensor *const[]){ index }, &a);
}

static void attrs_sizes_match(void **state)
{
    (void)state;
    assert_int_equal(op_named("masked_select_backward")->attr_size, sizeof(shape_attrs_copy));
    assert_int_equal(op_named("one_hot")->attr_size, sizeof(one_hot_attrs_copy));
}

/* ---------------------------------------------------------------- NULL inputs */

static void every_function_names_itself_for_a_null_input(void **state)
{
    (void)state;
    nb_tensor *x = f32(NB_SHAPE(3, 4)), *index = i64(NB_SHAPE(2)), *mask = i64(NB_SHAPE(3, 4));
    EXPECT_NULL(nb_index_select(NULL, 0, index), NB_ERR_NULL, "nb_index_select: input 0 is NULL");
    EXPECT_NULL(nb_index_select(x, 0, NULL), NB_ERR_NULL, "nb_index_select: input 1 is NULL");
    EXPECT_NULL(nb_index_add(x, 0, index, NULL), NB_ERR_NULL, "nb_index_add: input 2 is NULL");
    EXPECT_NULL(nb_gather(NULL, 0, index), NB_ERR_NULL, "nb_gather: input 0 is NULL");
    EXPECT_NULL(nb_scatter_add(x, 0, NULL, x), NB_ERR_NULL, "nb_scatter_add: input 1 is NULL");
    EXPECT_NULL(nb_scatter(x, 0, index, NULL), NB_ERR_NULL, "nb_scatter: input 2 is NULL");
    EXPECT_NULL(nb_masked_fill(NULL, mask, 0), NB_ERR_NULL, "nb_masked_fill: input 0 is NULL");
    EXPECT_NULL(nb_masked_select(x, NULL), NB_ERR_NULL, "nb_masked_select: input 1 is NULL");
    EXPECT_NULL(one_hot(NULL, 3, NB_F32), NB_ERR_NULL, "nb_one_hot: input 0 is NULL");
    EXPECT_NULL(nb_take_along_axis(NULL, index, 0), NB_ERR_NULL, "nb_take_along_axis: x is NULL");
    EXPECT_NULL(nb_take_along_axis(x, NULL, 0), NB_ERR_NULL, "nb_take_along_axis: index is NULL");
    EXPECT_NULL(nb_index_rows(NULL, index), NB_ERR_NULL, "nb_index_rows: x is NULL");
    EXPECT_NULL(nb_index_rows(x, NULL), NB_ERR_NULL, "nb_index_rows: index is NULL");
    EXPECT_NULL(nb_embedding(NULL, index), NB_ERR_NULL, "nb_embedding: weight is NULL");
    EXPECT_NULL(nb_embedding(x, NULL), NB_ERR_NULL, "nb_embedding: indices is NULL");
    EXPECT_NULL(nb_mask_rows(NULL, mask), NB_ERR_NULL, "nb_mask_rows: x is NULL");
    EXPECT_NULL(nb_mask_rows(x, NULL), NB_ERR_NULL, "nb_mask_rows: mask is NULL");
    /* the first error of a chain is kept */
    EXPECT_NULL(nb_embedding(nb_add(x, NULL), index), NB_ERR_NULL, "nb_add: input 1 is NULL");
}

/* ---------------------------------------------------------------- index_select, index_add */

static void index_select_checks_dtypes_axis_and_index_shape(void **state)
{
    (void)state;
    nb_tensor *x = f32(NB_SHAPE(3, 4)), *index = i64(NB_SHAPE(2));
    EXPECT_NULL(nb_index_select(i64(NB_SHAPE(3, 4)), 0, index), NB_ERR_DTYPE,
                "nb_index_select: input 0 has dtype i64, expected f32 or f64");
    EXPECT_NULL(nb_index_select(x, 2, index), NB_ERR_ARG,
                "nb_index_select: axis 2 is out of range for x of shape [3, 4] (rank 2)");
    EXPECT_NULL(nb_index_select(x, -3, index), NB_ERR_ARG, "nb_index_select: axis -3 is out of range");
    EXPECT_NULL(nb_index_select(nb_scalar(NB_F32, 1), 0, index), NB_ERR_ARG, "axis 0 is out of range for x of shape []");
    EXPECT_NULL(nb_index_select(x, 0, f32(NB_SHAPE(2))), NB_ERR_DTYPE,
                "nb_index_select: index (input 1) has dtype f32, expected i64");
    EXPECT_NULL(nb_index_select(x, 0, i64(NB_SHAPE(2, 2))), NB_ERR_SHAPE,
                "nb_index_select: index has shape [2, 2], expected a vector");
}

static void index_select_names_the_bad_index_its_position_and_the_range(void **state)
{
    (void)state;
    nb_tensor *x = f32(NB_SHAPE(3, 4));
    EXPECT_NULL(nb_index_select(x, 0, INDEX(V(0, 2, 3, 1), 4)), NB_ERR_ARG,
                "nb_index_select: index 3 at position [2] is out of range for axis 0 of size 3 (valid: 0 to 2)");
    EXPECT_NULL(nb_index_select(x, -1, INDEX(V(1, -1), 2)), NB_ERR_ARG,
                "nb_index_select: index -1 at position [1] is out of range for axis 1 of size 4",
                "negative indices are not accepted");
    EXPECT_NULL(nb_index_select(f32(NB_SHAPE(0, 4)), 0, INDEX(V(0), 1)), NB_ERR_ARG,
                "index 0 at position [0] is out of range for axis 0 of size 0 (no index is valid)");
    nb_tensor *scalar_index = nb_full(NB_I64, 0, NULL, 7);
    EXPECT_NULL(nb_index_select(x, 1, scalar_index), NB_ERR_ARG, "index 7 at position [] is out of range");
    /* the first bad index in C order is named, in a strided index too */
    nb_tensor *every_other = nb_slice(INDEX(V(0, 9, 5, 0, 6, 0), 6), 0, 0, 6, 2);
    EXPECT_NULL(nb_index_select(x, 0, every_other), NB_ERR_ARG, "index 5 at position [1]");
}

static void index_add_checks_src_against_x_and_index(void **state)
{
    (void)state;
    nb_tensor *x = f64(NB_SHAPE(3, 4)), *index = INDEX(V(0, 2), 2);
    EXPECT_NULL(nb_index_add(i64(NB_SHAPE(3, 4)), 0, index, f64(NB_SHAPE(2, 4))), NB_ERR_DTYPE,
                "nb_index_add: input 0 has dtype i64, expected f32 or f64");
    EXPECT_NULL(nb_index_add(x, 5, index, f64(NB_SHAPE(2, 4))), NB_ERR_ARG, "nb_index_add: axis 5 is out of range");
    EXPECT_NULL(nb_index_add(x, 0, f64(NB_SHAPE(2)), f64(NB_SHAPE(2, 4))), NB_ERR_DTYPE,
                "nb_index_add: index (input 1) has dtype f64, expected i64");
    EXPECT_NULL(nb_index_add(x, 0, i64(NB_SHAPE(1, 2)), f64(NB_SHAPE(2, 4))), NB_ERR_SHAPE,
                "nb_index_add: index has shape [1, 2], expected a vector");
    EXPECT_NULL(nb_index_add(x, 0, index, f32(NB_SHAPE(2, 4))), NB_ERR_DTYPE,
                "nb_index_add: src (input 2) has dtype f32, x has f64", "nb_cast");
    EXPECT_NULL(nb_index_add(x, 0, index, f64(NB_SHAPE(3, 4))), NB_ERR_SHAPE,
                "nb_index_add: src has shape [3, 4], expected [2, 4] (x's shape with the 2 indices along axis 0)");
    EXPECT_NULL(nb_index_add(x, 1, index, f64(NB_SHAPE(3, 3))), NB_ERR_SHAPE,
                "src has shape [3, 3], expected [3, 2]");
    EXPECT_NULL(nb_index_add(x, 0, INDEX(V(0, 3), 2), f64(NB_SHAPE(2, 4))), NB_ERR_ARG,
                "nb_index_add: index 3 at position [1] is out of range for axis 0 of size 3 (valid: 0 to 2)");
}

/* ---------------------------------------------------------------- composites of index_select */

static void index_rows_and_embedding_check_their_arguments(void **state)
{
    (void)state;
    nb_tensor *table = f32(NB_SHAPE(5, 3));
    EXPECT_NULL(nb_embedding(f32(NB_SHAPE(5)), INDEX(V(0), 1)), NB_ERR_SHAPE,
                "nb_embedding: weight has shape [5], expected [num_embeddings, dim]");
    EXPECT_NULL(nb_embedding(table, f32(NB_SHAPE(2))), NB_ERR_DTYPE, "nb_embedding: indices has dtype f32, expected i64");
    EXPECT_NULL(nb_index_rows(nb_scalar(NB_F32, 1), INDEX(V(0), 1)), NB_ERR_SHAPE,
                "nb_index_rows: x has shape []: there are no rows to pick");
    nb_tensor *deep_index = i64(NB_SHAPE(1, 1, 1, 1, 1, 1, 1));
    EXPECT_NULL(nb_index_rows(f32(NB_SHAPE(2, 2, 2)), deep_index), NB_ERR_SHAPE,
                "nb_index_rows: index [1, 1, 1, 1, 1, 1, 1] and x [2, 2, 2] give a result of rank 9, more than 8");
    /* positions are the index's own, not those of the flattened index */
    EXPECT_NULL(nb_embedding(table, INDEX(V(0, 1, 2, 3, 4, 7), 2, 3)), NB_ERR_ARG,
                "nb_embedding: index 7 at position [1, 2] is out of range for 5 rows (valid: 0 to 4)");
    EXPECT_NULL(nb_index_rows(table, INDEX(V(-2), 1)), NB_ERR_ARG,
                "nb_index_rows: index -2 at position [0] is out of range for 5 rows", "negative");
}

static void mask_rows_checks_the_mask(void **state)
{
    (void)state;
    nb_tensor *x = f64(NB_SHAPE(3, 2));
    EXPECT_NULL(nb_mask_rows(x, i64(NB_SHAPE(2))), NB_ERR_SHAPE,
                "nb_mask_rows: mask has shape [2] and x [3, 2]: expected a vector of x's first size");
    EXPECT_NULL(nb_mask_rows(x, i64(NB_SHAPE(3, 1))), NB_ERR_SHAPE, "mask has shape [3, 1]");
    EXPECT_NULL(nb_mask_rows(nb_scalar(NB_F64, 1), i64(NB_SHAPE(1))), NB_ERR_SHAPE, "x []");
    EXPECT_NULL(nb_mask_rows(x, f32(NB_SHAPE(3))), NB_ERR_DTYPE,
                "nb_mask_rows: nb_masked_select: mask (input 1) has dtype f32, expected f64 (the data's) or i64");
}

/* ---------------------------------------------------------------- gather, scatter */

static void gather_checks_index_rank_sizes_and_values(void **state)
{
    (void)state;
    nb_tensor *x = f32(NB_SHAPE(3, 4));
    EXPECT_NULL(nb_gather(i64(NB_SHAPE(3, 4)), 1, i64(NB_SHAPE(3, 2))), NB_ERR_DTYPE,
                "nb_gather: input 0 has dtype i64, expected f32 or f64");
    EXPECT_NULL(nb_gather(x, 2, i64(NB_SHAPE(3, 2))), NB_ERR_ARG, "nb_gather: axis 2 is out of range for x of shape [3, 4]");
    EXPECT_NULL(nb_gather(x, 1, f32(NB_SHAPE(3, 2))), NB_ERR_DTYPE, "nb_gather: index (input 1) has dtype f32, expected i64");
    EXPECT_NULL(nb_gather(x, 1, i64(NB_SHAPE(3))), NB_ERR_SHAPE,
                "nb_gather: index has shape [3] and x [3, 4]: index must have x's rank 2");
    EXPECT_NULL(nb_gather(x, 1, i64(NB_SHAPE(4, 2))), NB_ERR_SHAPE,
                "nb_gather: index has shape [4, 2] and x [3, 4]: index's size 4 at axis 0 exceeds x's 3 (only axis 1 may be larger)");
    EXPECT_NULL(nb_gather(x, 1, INDEX(V(0, 1, 2, 3, 4, 0), 3, 2)), NB_ERR_ARG,
                "nb_gather: index 4 at position [2, 0] is out of range for axis 1 of size 4 (valid: 0 to 3)");
    EXPECT_NULL(nb_gather(x, 0, INDEX(V(0, -5), 1, 2)), NB_ERR_ARG,
                "nb_gather: index -5 at position [0, 1] is out of range for axis 0 of size 3", "negative");
}

static void take_along_axis_checks_and_names_itself(void **state)
{
    (void)state;
    nb_tensor *x = f32(NB_SHAPE(3, 4));
    EXPECT_NULL(nb_take_along_axis(x, i64(NB_SHAPE(3, 1)), 2), NB_ERR_ARG,
                "nb_take_along_axis: axis 2 is out of range for x of shape [3, 4] (rank 2)");
    EXPECT_NULL(nb_take_along_axis(x, i64(NB_SHAPE(3)), 1), NB_ERR_SHAPE,
                "nb_take_along_axis: index has shape [3] and x [3, 4]: index must have x's rank 2");
    EXPECT_NULL(nb_take_along_axis(x, i64(NB_SHAPE(2, 1)), 1), NB_ERR_SHAPE,
                "nb_take_along_axis: cannot broadcast x [3, 4] with index [2, 1]: sizes 3 and 2 at axis 0 differ");
    EXPECT_NULL(nb_take_along_axis(x, nb_full(NB_I64, NB_SHAPE(1, 2), 4), 1), NB_ERR_ARG,
                "nb_take_along_axis: nb_gather: index 4 at position [0, 0] is out of range for axis 1 of size 4");
    EXPECT_NULL(nb_take_along_axis(x, f32(NB_SHAPE(3, 1)), 1), NB_ERR_DTYPE,
                "nb_take_along_axis: nb_gather: index (input 1) has dtype f32, expected i64");
}

static void scatter_ops_check_src_and_index(void **state)
{
    (void)state;
    typedef nb_tensor *(*scatter_fn)(nb_tensor *, int, nb_tensor *, nb_tensor *);
    const struct { const char *name; scatter_fn fn; } ops[] = { { "nb_scatter_add", nb_scatter_add },
                                                               { "nb_scatter", nb_scatter } };
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        scatter_fn fn = ops[i].fn;
        const char *name = ops[i].name;
        nb_tensor *x = f64(NB_SHAPE(3, 4)), *index = i64(NB_SHAPE(3, 2)), *src = f64(NB_SHAPE(3, 2));
        EXPECT_NULL(fn(i64(NB_SHAPE(3, 4)), 1, index, src), NB_ERR_DTYPE, name,
                    "input 0 has dtype i64, expected f32 or f64");
        EXPECT_NULL(fn(x, -3, index, src), NB_ERR_ARG, name, "axis -3 is out of range for x of shape [3, 4]");
        EXPECT_NULL(fn(x, 1, f64(NB_SHAPE(3, 2)), src), NB_ERR_DTYPE, name, "index (input 1) has dtype f64");
        EXPECT_NULL(fn(x, 1, index, f32(NB_SHAPE(3, 2))), NB_ERR_DTYPE, name, "src (input 2) has dtype f32, x has f64");
        EXPECT_NULL(fn(x, 1, i64(NB_SHAPE(3, 2, 1)), f64(NB_SHAPE(3, 2, 1))), NB_ERR_SHAPE, name,
                    "index has shape [3, 2, 1] and x [3, 4]: index must have x's rank 2");
        EXPECT_NULL(fn(x, 1, i64(NB_SHAPE(4, 2)), f64(NB_SHAPE(4, 2))), NB_ERR_SHAPE, name,
                    "index's size 4 at axis 0 exceeds x's 3 (only axis 1 may be larger)");
        EXPECT_NULL(fn(x, 1, index, f64(NB_SHAPE(3, 1))), NB_ERR_SHAPE, name,
                    "src has shape [3, 1], expected the index's shape [3, 2] (or larger on any axis");
        EXPECT_NULL(fn(x, 1, INDEX(V(0, 1, 2, 3, 3, 4), 3, 2), src), NB_ERR_ARG, name,
                    "index 4 at position [2, 1] is out of range for axis 1 of size 4 (valid: 0 to 3)");
        EXPECT_NULL(fn(x, 0, INDEX(V(-1, 0), 1, 2), f64(NB_SHAPE(1, 2))), NB_ERR_ARG, name,
                    "index -1 at position [0, 0]", "negative indices are not accepted");
    }
}

/* ---------------------------------------------------------------- masks */

static void masked_fill_and_select_check_mask_dtype_and_broadcast(void **state)
{
    (void)state;
    nb_tensor *x = f32(NB_SHAPE(3, 4));
    EXPECT_NULL(nb_masked_fill(i64(NB_SHAPE(3, 4)), i64(NB_SHAPE(3, 4)), 1), NB_ERR_DTYPE,
                "nb_masked_fill: input 0 has dtype i64, expected f32 or f64");
    EXPECT_NULL(nb_masked_fill(x, f64(NB_SHAPE(3, 4)), 1), NB_ERR_DTYPE,
                "nb_masked_fill: mask (input 1) has dtype f64, expected f32 (the data's) or i64");
    EXPECT_NULL(nb_masked_fill(x, i64(NB_SHAPE(2, 4)), 1), NB_ERR_SHAPE,
                "nb_masked_fill: cannot broadcast x [3, 4] with mask [2, 4]: sizes at axis -2 (from the end) differ");
    EXPECT_NULL(nb_masked_select(f64(NB_SHAPE(3)), f32(NB_SHAPE(3))), NB_ERR_DTYPE,
                "nb_masked_select: mask (input 1) has dtype f32, expected f64 (the data's) or i64");
    EXPECT_NULL(nb_masked_select(x, i64(NB_SHAPE(5))), NB_ERR_SHAPE,
                "nb_masked_select: cannot broadcast x [3, 4] with mask [5]");
    EXPECT_NULL(nb_masked_select(i64(NB_SHAPE(2)), i64(NB_SHAPE(2))), NB_ERR_DTYPE,
                "nb_masked_select: input 0 has dtype i64, expected f32 or f64");
}

/* masked_select_backward(g, mask) with the output shape as attribute. */
static void masked_select_backward_checks_gradient_mask_and_shape(void **state)
{
    (void)state;
    nb_tensor *ones = nb_ones(NB_I64, NB_SHAPE(2, 3)), *g = f64(NB_SHAPE(6));
    EXPECT_NULL(masked_select_backward(i64(NB_SHAPE(6)), ones, NB_SHAPE(2, 3)), NB_ERR_DTYPE,
                "nb_masked_select_backward: input 0 has dtype i64, expected f32 or f64");
    EXPECT_NULL(masked_select_backward(g, f32(NB_SHAPE(2, 3)), NB_SHAPE(2, 3)), NB_ERR_DTYPE,
                "nb_masked_select_backward: mask (input 1) has dtype f32, expected f64 (the data's) or i64");
    EXPECT_NULL(masked_select_backward(f64(NB_SHAPE(2, 3)), ones, NB_SHAPE(2, 3)), NB_ERR_SHAPE,
                "nb_masked_select_backward: gradient has shape [2, 3], expected a vector");
    EXPECT_NULL(masked_select_backward(g, ones, 9, NULL), NB_ERR_ARG,
                "nb_masked_select_backward: attributes describe rank 9, shape ?: expected rank 0 to 8");
    EXPECT_NULL(masked_select_backward(g, ones, NB_SHAPE(2, -3)), NB_ERR_ARG, "attributes describe rank 2, shape [2, -3]");
    EXPECT_NULL(masked_select_backward(g, ones, NB_SHAPE(3, 2)), NB_ERR_SHAPE,
                "nb_masked_select_backward: mask of shape [2, 3] does not broadcast to the output shape [3, 2]");
    EXPECT_NULL(masked_select_backward(g, ones, NB_SHAPE(3)), NB_ERR_SHAPE, "mask of shape [2, 3] does not broadcast");
    EXPECT_NULL(masked_select_backward(f64(NB_SHAPE(5)), ones, NB_SHAPE(2, 3)), NB_ERR_SHAPE,
                "nb_masked_select_backward: gradient has 5 elements, the mask selects 6 of shape [2, 3]");
}

/* ---------------------------------------------------------------- one_hot */

static void one_hot_checks_index_classes_and_dtype(void **state)
{
    (void)state;
    nb_tensor *index = INDEX(V(0, 2, 1), 3);
    EXPECT_NULL(one_hot(f32(NB_SHAPE(3)), 3, NB_F32), NB_ERR_DTYPE,
                "nb_one_hot: index (input 0) has dtype f32, expected i64");
    EXPECT_NULL(one_hot(index, 3, (nb_dtype)7), NB_ERR_DTYPE,
                "nb_one_hot: dtype 7 is not one of NB_F32, NB_F64, NB_I64");
    EXPECT_NULL(one_hot(i64(NB_SHAPE(1, 1, 1, 1, 1, 1, 1, 1)), 3, NB_F32), NB_ERR_SHAPE,
                "nb_one_hot: index has shape [1, 1, 1, 1, 1, 1, 1, 1]: the result would have rank 9, more than 8");
    EXPECT_NULL(one_hot(index, -2, NB_F32), NB_ERR_ARG,
                "nb_one_hot: num_classes is -2, expected at least 0 (or -1 to count them)");
    EXPECT_NULL(one_hot(i64(NB_SHAPE(0)), -1, NB_F32), NB_ERR_ARG,
                "nb_one_hot: cannot count the classes of an empty index [0]: give num_classes");
    EXPECT_NULL(one_hot(INDEX(V(1, -3), 2), -1, NB_F32), NB_ERR_ARG,
                "nb_one_hot: index -3 at position [1] is out of range for classes counted from the data (valid: 0 or more",
                "negative indices are not accepted");
    EXPECT_NULL(one_hot(index, 2, NB_F64), NB_ERR_ARG,
                "nb_one_hot: index 2 at position [1] is out of range for 2 classes (valid: 0 to 1)");
    EXPECT_NULL(one_hot(index, (int64_t)1 << 58, NB_F32), NB_ERR_SHAPE,
                "nb_one_hot: index [3] with 288230376151711744 classes gives more than 2^58 elements");
}

/* ---------------------------------------------------------------- memory */

/* index_add on several threads sorts its indices in scratch memory; when that allocation
 * fails, the op fails with its name and nothing leaks. */
static void index_add_out_of_scratch_memory_fails_cleanly(void **state)
{
    (void)state;
    int threads = nb_get_num_threads();
    nb_set_num_threads(2);
    int64_t start = nbt_live_bytes();
    bool failed_in_kernel = false, succeeded = false;
    for (long n = 1; n < 64 && !succeeded; n++) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *x = nb_zeros(NB_F32, NB_SHAPE(100, 64));
        nb_tensor *index = nb_zeros(NB_I64, NB_SHAPE(2048));
        nb_tensor *src = nb_ones(NB_F32, NB_SHAPE(2048, 64));
        NOT_NULL(x);
        NOT_NULL(index);
        NOT_NULL(src);
        nbi_alloc_fail_after(n);
        nb_tensor *z = nb_index_add(x, 0, index, src);
        nbi_alloc_fail_after(0);
        if (z) {
            succeeded = true;
            assert_true(nb_tensor_get(z, (const int64_t[]){ 0, 5 }) == 2048);
        } else {
            assert_int_equal(nb_error_code(), NB_ERR_MEMORY);
            failed_in_kernel |= strncmp(nb_error(), "nb_index_add: out of memory", 27) == 0;
            nb_error_clear();
        }
        nb_scope_end(s);
        assert_int_equal(nbt_live_bytes(), start);
    }
    nb_set_num_threads(threads);
    assert_true(succeeded);
    assert_true(failed_in_kernel);
    n_checks++;
}

/* ---------------------------------------------------------------- behaviour */

static void float_masks_with_zeros_fill_select_and_pick_rows(void **state)
{
    (void)state;
    nb_tensor *x = LEAF(V(1, 2, 3, 4, 5, 6), 2, 3);
    nb_tensor *mask = nb_tensor_from_data((const double[]){ 0, -0.5, NAN }, NB_F64, NB_SHAPE(3));
    nbt_assert_close(nb_masked_fill(x, mask, 9), (const double[]){ 1, 9, 9, 4, 9, 9 }, 6, 0);
    nb_tensor *picked = nb_masked_select(x, mask);
    nbt_assert_shape(picked, 1, (const int64_t[]){ 4 });
    nbt_assert_close(picked, (const double[]){ 2, 3, 5, 6 }, 4, 0);
    ASSERT_OK(nb_backward(nb_sum_all(nb_mul(picked, nb_tensor_from_data((const double[]){ 1, 2, 3, 4 }, NB_F64,
                                                                        NB_SHAPE(4)))), NULL));
    nbt_assert_close(nb_tensor_grad(x), (const double[]){ 0, 1, 2, 0, 3, 4 }, 6, 0);

    nb_tensor *rows = nb_mask_rows(x, nb_tensor_from_data((const double[]){ 0, 1 }, NB_F64, NB_SHAPE(2)));
    nbt_assert_shape(rows, 2, (const int64_t[]){ 1, 3 });
    nbt_assert_close(rows, (const double[]){ 4, 5, 6 }, 3, 0);
    nb_tensor *none = nb_mask_rows(x, nb_zeros(NB_I64, NB_SHAPE(2)));
    nbt_assert_shape(none, 2, (const int64_t[]){ 0, 3 });
    nb_zero_grad(x);
    ASSERT_OK(nb_backward(nb_sum_all(none), NULL));
    nbt_assert_close(nb_tensor_grad(x), (const double[]){ 0, 0, 0, 0, 0, 0 }, 6, 0);
}

static void scatter_with_repeated_positions_keeps_the_last_in_c_order(void **state)
{
    (void)state;
    nb_tensor *x = nb_zeros(NB_F64, NB_SHAPE(2, 3));
    nb_tensor *index = INDEX(V(1, 1, 0, 2, 2, 2), 2, 3);
    nb_tensor *src = nb_tensor_from_data((const double[]){ 10, 20, 30, 40, 50, 60 }, NB_F64, NB_SHAPE(2, 3));
    nbt_assert_close(nb_scatter(x, 1, index, src), (const double[]){ 30, 20, 0, 0, 0, 60 }, 6, 0);
    nbt_assert_close(nb_scatter_add(x, 1, index, src), (const double[]){ 30, 30, 0, 0, 0, 150 }, 6, 0);
    /* along axis 0 the fibers are columns: row 1 comes after row 0 */
    nb_tensor *down = INDEX(V(0, 0, 0, 0, 1, 0), 2, 3);
    nbt_assert_close(nb_scatter(x, 0, down, src), (const double[]){ 40, 20, 60, 0, 50, 0 }, 6, 0);
}

static void scatter_reads_the_leading_part_of_a_larger_src(void **state)
{
    (void)state;
    nb_tensor *x = nb_zeros(NB_F64, NB_SHAPE(2, 3));
    nb_tensor *src = LEAF(V(1, 2, 3, 4, 5, 6, 7, 8, 9), 3, 3);
    nb_tensor *z = nb_scatter_add(x, 1, INDEX(V(2, 0), 1, 2), src);
    nbt_assert_close(z, (const double[]){ 2, 0, 1, 0, 0, 0 }, 6, 0);
    ASSERT_OK(nb_backward(nb_sum_all(z), NULL));
    nbt_assert_close(nb_tensor_grad(src), (const double[]){ 1, 1, 0, 0, 0, 0, 0, 0, 0 }, 9, 0);
}

static void embedding_rows_and_repeated_index_gradients(void **state)
{
    (void)state;
    nb_tensor *w = LEAF(V(0, 1, 10, 11, 20, 21), 3, 2);
    nb_tensor *z = nb_embedding(w, INDEX(V(2, 0, 2, 2), 2, 2));
    nbt_assert_shape(z, 3, (const int64_t[]){ 2, 2, 2 });
    nbt_assert_close(z, (const double[]){ 20, 21, 0, 1, 20, 21, 20, 21 }, 8, 0);
    ASSERT_OK(nb_backward(nb_sum_all(z), NULL));
    nbt_assert_close(nb_tensor_grad(w), (const double[]){ 1, 1, 0, 0, 3, 3 }, 6, 0);
    nb_tensor *one = nb_index_rows(w, nb_full(NB_I64, 0, NULL, 1));
    nbt_assert_shape(one, 1, (const int64_t[]){ 2 });
    nbt_assert_close(one, (const double[]){ 10, 11 }, 2, 0);
}

static void take_along_axis_broadcasts_x_and_index(void **state)
{
    (void)state;
    nb_tensor *x = LEAF(V(1, 2, 3), 1, 3);
    nb_tensor *z = nb_take_along_axis(x, INDEX(V(2, 0, 1, 1), 2, 2), 1);
    nbt_assert_shape(z, 2, (const int64_t[]){ 2, 2 });
    nbt_assert_close(z, (const double[]){ 3, 1, 2, 2 }, 4, 0);
    ASSERT_OK(nb_backward(nb_sum_all(z), NULL));
    nbt_assert_close(nb_tensor_grad(x), (const double[]){ 1, 2, 1 }, 3, 0);
}

static void one_hot_values_and_counted_classes(void **state)
{
    (void)state;
    nb_tensor *z = one_hot(INDEX(V(2, 0), 2), -1, NB_I64);
    nbt_assert_shape(z, 2, (const int64_t[]){ 2, 3 });
    nbt_assert_close(z, (const double[]){ 0, 0, 1, 1, 0, 0 }, 6, 0);
    nbt_assert_shape(one_hot(i64(NB_SHAPE(0)), 0, NB_F32), 2, (const int64_t[]){ 0, 0 });
}

/* Runs f with 1, 2 and 3 threads; every result must have the same bits. */
static void expect_same_bits_for_any_thread_count(nb_tensor *(*f)(void *), void *user)
{
    int threads = nb_get_num_threads();
    nb_set_num_threads(1);
    nb_tensor *first = f(user);
    NOT_NULL(first);
    size_t bytes = (size_t)nb_tensor_numel(first) * nb_dtype_size(nb_tensor_dtype(first));
    for (int n = 2; n <= 3; n++) {
        nb_set_num_threads(n);
        nb_tensor *again = f(user);
        NOT_NULL(again);
        assert_int_equal(nb_tensor_numel(again), nb_tensor_numel(first));
        if (memcmp(nb_tensor_data(first), nb_tensor_data(again), bytes) != 0)
            fail_msg("results differ between 1 and %d threads", n);
    }
    nb_set_num_threads(threads);
}

typedef struct lookup {
    nb_tensor *weight, *indices, *noise;
} lookup;

/* The gradient of a char-LSTM sized embedding lookup (vocab 100, dim 64, batch 32 x 64)
 * with many repeated indices: sums of many rows, in the order of the indices. */
static nb_tensor *embedding_gradient(void *user)
{
    lookup *l = user;
    nb_tensor *g;
    nb_tensor *loss = nb_sum_all(nb_mul(nb_embedding(l->weight, l->indices), l->noise));
    if (!loss || nb_grad(&loss, NULL, 1, &l->weight, 1, &g, NULL))
        return NULL;
    return g;
}

static nb_tensor *scatter_add_big(void *user)
{
    lookup *l = user;
    return nb_scatter_add(nb_zeros(NB_F32, NB_SHAPE(40000, 3)), 1, l->indices, l->noise);
}

static nb_tensor *masked_select_big(void *user)
{
    lookup *l = user;
    return nb_masked_select(l->noise, l->indices);
}

static void accumulation_is_bit_identical_for_any_thread_count(void **state)
{
    (void)state;
    nb_rng *rng = nb_rng_new(7);
    lookup l = { .weight = nb_randn(rng, NB_F32, NB_SHAPE(100, 64)), .indices = nb_randint(rng, 0, 100, NB_SHAPE(32, 64)),
                 .noise = nb_randn(rng, NB_F32, NB_SHAPE(32, 64, 64)) };
    ASSERT_OK(nb_requires_grad(l.weight, true));
    expect_same_bits_for_any_thread_count(embedding_gradient, &l);
    l = (lookup){ .indices = nb_randint(rng, 0, 3, NB_SHAPE(40000, 5)), .noise = nb_randn(rng, NB_F32, NB_SHAPE(40000, 5)) };
    expect_same_bits_for_any_thread_count(scatter_add_big, &l);
    l = (lookup){ .indices = nb_randint(rng, 0, 2, NB_SHAPE(300, 1)), .noise = nb_randn(rng, NB_F32, NB_SHAPE(300, 300)) };
    expect_same_bits_for_any_thread_count(masked_select_big, &l);
    nb_rng_free(rng);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(attrs_sizes_match),
        T(every_function_names_itself_for_a_null_input),
        T(index_select_checks_dtypes_axis_and_index_shape),
        T(index_select_names_the_bad_index_its_position_and_the_range),
        T(index_add_checks_src_against_x_and_index),
        T(index_rows_and_embedding_check_their_arguments),
        T(mask_rows_checks_the_mask),
        T(gather_checks_index_rank_sizes_and_values),
        T(take_along_axis_checks_and_names_itself),
        T(scatter_ops_check_src_and_index),
        T(masked_fill_and_select_check_mask_dtype_and_broadcast),
        T(masked_select_backward_checks_gradient_mask_and_shape),
        T(one_hot_checks_index_classes_and_dtype),
        T(index_add_out_of_scratch_memory_fails_cleanly),
        T(float_masks_with_zeros_fill_select_and_pick_rows),
        T(scatter_with_repeated_positions_keeps_the_last_in_c_order),
        T(scatter_reads_the_leading_part_of_a_larger_src),
        T(embedding_rows_and_repeated_index_gradients),
        T(take_along_axis_broadcasts_x_and_index),
        T(one_hot_values_and_counted_classes),
        T(accumulation_is_bit_identical_for_any_thread_count),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    printf("test_errors_index: %d error checks in %zu tests\n", n_checks, sizeof tests / sizeof tests[0]);
    return failed;
}
