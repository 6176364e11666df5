/* Error tests of the joining and rearranging ops (ops/join.c) and the random ops and fills
 * (ops/random.c, core/rng.c): every check is provoked once, and each asserts the failure
 * value, nb_error_code() and the parts of nb_error() that name the function or op, the
 * shapes or values seen and what was expected. Each provocation runs in a scope of its own
 * whose live storage bytes must come back to where they were: a failure leaks nothing.
 *
 * The shape rules are reached two ways: through the public functions, and through
 * nb_apply with attributes the public functions would never build (an axis out of range,
 * a shift not reduced), since users may call the registered ops directly. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../common/check.h"
#include "core/alloc.h"
#include "ops/kernels/join.h"
#include "ops/kernels/random.h"

/* ---------------------------------------------------------------- harness (as test_errors.c) */

static int n_checks;                  /* provocations asserted, printed at the end */
static bool check_interrupted;         /* a failed check left its scope open (cmocka longjmps out) */

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

static void expect_live_at(const char *file, int line, const char *call, int64_t before)
{
    int64_t now = nbt_live_bytes();
    if (now != before)
        fail_msg("%s:%d: %s: %lld bytes of tensor storage live after the failure, %lld before", file, line, call,
                 (long long)now, (long long)before);
}

#define PARTS(...) ((const char *const[]){ __VA_ARGS__, NULL })

#define IN_SCOPE(call, block)                                           \
    do {                                                                \
        int64_t live_before_ = nbt_live_bytes();                        \
        nb_scope *scope_ = nb_scope_begin();                            \
        nb_error_clear();                                               \
        check_interrupted = true;                                       \
        block                                                           \
        check_interrupted = false;                                      \
        nb_status end_ = nb_scope_end(scope_);                          \
        if (end_ != NB_OK)                                              \
            fail_msg("%s:%d: %s: scope end failed: %s", __FILE__, __LINE__, call, nb_error()); \
        expect_live_at(__FILE__, __LINE__, call, live_before_);         \
    } while (0)

/* expr returns a tensor (or a pointer): expects NULL. */
#define EXPECT_NULL(expr, code, ...)                                                             \
    IN_SCOPE(#expr, {                                                                            \
        const void *r_ = (expr);                                                                 \
        expect_error_at(__FILE__, __LINE__, #expr, r_ == NULL, code, PARTS(__VA_ARGS__));        \
    })

/* expr returns an nb_status: expects exactly code. */
#define EXPECT_STATUS(expr, code, ...)                                                           \
    IN_SCOPE(#expr, {                                                                            \
        nb_status s_ = (expr);                                                                   \
        if (s_ != (code))                                                                        \
            fail_msg("%s:%d: %s returned %d, expected %d (%s)", __FILE__, __LINE__, #expr,       \
                     (int)s_, (int)(code), nb_error());                                          \
        expect_error_at(__FILE__, __LINE__, #expr, true, code, PARTS(__VA_ARGS__));              \
    })

/* expr returns a count that is 0 on failure (nb_chunk). */
#define EXPECT_ZERO(expr, code, ...)                                                             \
    IN_SCOPE(#expr, {                                                                            \
        int n_ = (expr);                                                                         \
        expect_error_at(__FILE__, __LINE__, #expr, n_ == 0, code, PARTS(__VA_ARGS__));           \
    })

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

static const nb_op_def *op_named(const char *name)
{
    const nb_op_def *op = nb_op_find(name);
    if (!op)
        fail_msg("op '%s' is not registered", name);
    return op;
}

static nb_tensor *apply1(const char *op, nb_tensor *x, const void *attrs)
{
    return nb_apply(op_named(op), (nb_tensor *const[]){ x }, attrs);
}

static nb_tensor *apply_n(const char *op, nb_tensor *const *x, int n, const void *attrs)
{
    nb_tensor *z;
    return nb_apply_variadic(op_named(op), x, n, attrs, &z) ? NULL : z;
}

/* The first output of a two-output op (dropout), NULL on failure. */
static nb_tensor *apply1_multi(const char *op, nb_tensor *x, const void *attrs)
{
    nb_tensor *z[NB_MAX_OUTPUTS];
    return nb_apply_multi(op_named(op), (nb_tensor *const[]){ x }, attrs, z) ? NULL : z[0];
}

/* ---------------------------------------------------------------- cat and stack */

static void cat_and_stack_check_the_list_and_the_axis(void **state)
{
    (void)state;
    nb_tensor *a = f32(NB_SHAPE(2, 3)), *b = f32(NB_SHAPE(2, 3));
    nb_tensor *pair[2] = { a, b }, *with_null[3] = { a, NULL, b };
    EXPECT_NULL(nb_cat(NULL, 2, 0), NB_ERR_NULL, "nb_cat: tensor list is NULL");
    EXPECT_NULL(nb_cat(pair, 0, 0), NB_ERR_ARG, "nb_cat: 0 tensors given, expected 1 to 65536");
    EXPECT_NULL(nb_stack(pair, NB_MAX_VARIADIC_INPUTS + 1, 0), NB_ERR_ARG, "nb_stack: 65537 tensors given");
    EXPECT_NULL(nb_cat(pair, 2, 2), NB_ERR_ARG, "nb_cat: axis 2 is out of range for [2, 3] (rank 2)");
    EXPECT_NULL(nb_cat(pair, 2, -3), NB_ERR_ARG, "nb_cat: axis -3 is out of range");
    EXPECT_NULL(nb_stack(pair, 2, 3), NB_ERR_ARG, "nb_stack: axis 3 is out of range for stacking tensors of "
                "shape [2, 3] (rank 3)");
    EXPECT_NULL(nb_cat(with_null, 3, 0), NB_ERR_NULL, "nb_cat: input 1 is NULL");
    EXPECT_NULL(nb_stack(with_null, 3, 0), NB_ERR_NULL, "nb_stack: input 1 is NULL");
    /* an earlier failure is kept, not replaced by the NULL it produced */
    EXPECT_NULL(nb_cat((nb_tensor *[]){ a, nb_add(a, f32(NB_SHAPE(4))) }, 2, 0), NB_ERR_SHAPE,
                "nb_add: cannot broadcast");
}

static void cat_rule_checks_dtypes_axis_and_shapes(void **state)
{
    (void)state;
    nb_tensor *a = f32(NB_SHAPE(3, 3)), *w = f32(NB_SHAPE(2, 4)), *d = f64(NB_SHAPE(3, 3)), *n = i64(NB_SHAPE(3, 3));
    EXPECT_NULL(nb_cat((nb_tensor *[]){ n, n }, 2, 0), NB_ERR_DTYPE, "nb_cat: input 0 has dtype i64, expected f32 or f64");
    EXPECT_NULL(nb_cat((nb_tensor *[]){ a, a, d }, 3, 0), NB_ERR_DTYPE,
                "nb_cat: dtypes differ: input 0 is f32, input 2 is f64", "nb_cast");
    EXPECT_NULL(nb_cat((nb_tensor *[]){ a, w }, 2, 0), NB_ERR_SHAPE,
                "nb_cat: input 1 has shape [2, 4] and input 0 [3, 3]: their shapes must match except along axis 0");
    EXPECT_NULL(nb_cat((nb_tensor *[]){ a, f32(NB_SHAPE(3, 3, 1)) }, 2, 1), NB_ERR_SHAPE,
                "input 1 has shape [3, 3, 1] and input 0 [3, 3]");
    EXPECT_NULL(apply_n("cat", (nb_tensor *[]){ a, a }, 2, &(nbk_axis_attrs){ 2 }), NB_ERR_ARG,
                "nb_cat: axis 2 is out of range 0 to 1 for inputs of shape [3, 3]");
    /* three views of 2^57 elements each (stride 0, no memory): the sum would pass 2^58 */
    nb_tensor *huge = nb_expand(f32(NB_SHAPE(1)), NB_SHAPE(INT64_C(1) << 57));
    NOT_NULL(huge);
    EXPECT_NULL(nb_cat((nb_tensor *[]){ huge, huge, huge }, 3, 0), NB_ERR_SHAPE,
                "nb_cat: the joined axis 0 exceeds 2^58 elements at input 2");
}

static void stack_rule_checks_rank_axis_and_shapes(void **state)
{
    (void)state;
    nb_tensor *a = f32(NB_SHAPE(2, 3)), *t = f32(NB_SHAPE(3, 2)), *n = i64(NB_SHAPE(2, 3));
    nb_tensor *r8 = f32(NB_SHAPE(1, 1, 1, 1, 1, 1, 1, 2));
    EXPECT_NULL(nb_stack((nb_tensor *[]){ r8, r8 }, 2, 0), NB_ERR_SHAPE,
                "nb_stack: inputs of shape [1, 1, 1, 1, 1, 1, 1, 2] have rank 8 already");
    EXPECT_NULL(nb_stack((nb_tensor *[]){ a, t }, 2, 0), NB_ERR_SHAPE,
                "nb_stack: input 1 has shape [3, 2] and input 0 [2, 3]: stacked tensors must have one shape");
    EXPECT_NULL(nb_stack((nb_tensor *[]){ n }, 1, 0), NB_ERR_DTYPE, "nb_stack: input 0 has dtype i64");
    EXPECT_NULL(nb_stack((nb_tensor *[]){ a, f64(NB_SHAPE(2, 3)) }, 2, 0), NB_ERR_DTYPE,
                "nb_stack: dtypes differ: input 0 is f32, input 1 is f64");
    EXPECT_NULL(apply_n("stack", (nb_tensor *[]){ a, a }, 2, &(nbk_axis_attrs){ 3 }), NB_ERR_ARG,
                "nb_stack: axis 3 is out of range 0 to 2 for inputs of shape [2, 3]");
    EXPECT_NULL(apply_n("stack", (nb_tensor *[]){ a, a }, 2, &(nbk_axis_attrs){ -1 }), NB_ERR_ARG,
                "axis -1 is out of range 0 to 2");
}

/* ---------------------------------------------------------------- split, chunk, unflatten */

static void split_checks_its_pieces(void **state)
{
    (void)state;
    nb_tensor *x = f32(NB_SHAPE(4, 6)), *out[3] = { x, x, x };
    EXPECT_STATUS(nb_split(x, 1, (const int64_t[]){ 2, 4 }, 2, NULL), NB_ERR_NULL, "nb_split: output array is NULL");
    EXPECT_STATUS(nb_split(NULL, 1, (const int64_t[]){ 2, 4 }, 2, out), NB_ERR_NULL, "nb_split: input is NULL");
    assert_null(out[0]);   /* the outputs are cleared first, whatever fails */
    assert_null(out[1]);
    EXPECT_STATUS(nb_split(x, 1, (const int64_t[]){ 6 }, 0, out), NB_ERR_ARG,
                  "nb_split: 0 sizes given, expected at least one");
    EXPECT_STATUS(nb_split(x, 1, NULL, 2, out), NB_ERR_NULL, "nb_split: 2 sizes given as NULL");
    EXPECT_STATUS(nb_split(x, 2, (const int64_t[]){ 2, 4 }, 2, out), NB_ERR_ARG,
                  "nb_split: axis 2 is out of range for [4, 6] (rank 2)");
    EXPECT_STATUS(nb_split(x, 1, (const int64_t[]){ 7, -1 }, 2, out), NB_ERR_ARG,
                  "nb_split: sizes of pieces 0 to 0 already add up to 7, more than the 6 elements of axis 1 of [4, 6]");
    EXPECT_STATUS(nb_split(x, 1, (const int64_t[]){ 2, -1, 5 }, 3, out), NB_ERR_ARG,
                  "nb_split: size -1 of piece 1 is negative");
    EXPECT_STATUS(nb_split(x, -1, (const int64_t[]){ 2, 3 }, 2, out), NB_ERR_ARG,
                  "nb_split: sizes add up to 5, but axis 1 of [4, 6] has 6 elements");
    assert_null(out[0]);
}

static void chunk_and_unflatten_check_their_arguments(void **state)
{
    (void)state;
    nb_tensor *x = f32(NB_SHAPE(4, 6)), *out[4];
    EXPECT_ZERO(nb_chunk(x, 2, 0, NULL), NB_ERR_NULL, "nb_chunk: output array is NULL");
    EXPECT_ZERO(nb_chunk(NULL, 2, 0, out), NB_ERR_NULL, "nb_chunk: input is NULL");
    EXPECT_ZERO(nb_chunk(x, 0, 0, out), NB_ERR_ARG, "nb_chunk: 0 chunks asked for, expected at least 1");
    EXPECT_ZERO(nb_chunk(x, 2, -3, out), NB_ERR_ARG, "nb_chunk: axis -3 is out of range for [4, 6] (rank 2)");

    EXPECT_NULL(nb_unflatten(NULL, 0, (const int64_t[]){ 2, 2 }, 2), NB_ERR_NULL, "nb_unflatten: input is NULL");
    EXPECT_NULL(nb_unflatten(x, 2, (const int64_t[]){ 2, 2 }, 2), NB_ERR_ARG,
                "nb_unflatten: axis 2 is out of range for [4, 6] (rank 2)");
    EXPECT_NULL(nb_unflatten(x, 0, (const int64_t[]){ 4 }, 0), NB_ERR_ARG,
                "nb_unflatten: 0 sizes given for axis 0 of [4, 6], expected 1 to 7");
    EXPECT_NULL(nb_unflatten(x, 0, NULL, 2), NB_ERR_ARG, "nb_unflatten: 2 sizes given as NULL");
    EXPECT_NULL(nb_unflatten(x, 0, (const int64_t[]){ 1, 1, 1, 1, 1, 1, 1, 4 }, 8), NB_ERR_ARG,
                "8 sizes given for axis 0 of [4, 6], expected 1 to 7");
    EXPECT_NULL(nb_unflatten(x, 1, (const int64_t[]){ 4, 2 }, 2), NB_ERR_SHAPE,
                "nb_unflatten: sizes [4, 2] do not multiply to the size 6 of axis 1 of [4, 6] (one size may be -1)");
    EXPECT_NULL(nb_unflatten(x, 1, (const int64_t[]){ 4, -1 }, 2), NB_ERR_SHAPE, "sizes [4, -1] do not multiply");
    EXPECT_NULL(nb_unflatten(x, 1, (const int64_t[]){ -1, -1 }, 2), NB_ERR_SHAPE, "sizes [-1, -1]");
    EXPECT_NULL(nb_unflatten(x, 1, (const int64_t[]){ 0, -1 }, 2), NB_ERR_SHAPE, "sizes [0, -1]");
    EXPECT_NULL(nb_unflatten(x, 1, (const int64_t[]){ 3, -2 }, 2), NB_ERR_SHAPE, "sizes [3, -2]");
    /* sizes whose product overflows must not wrap around to the axis size */
    EXPECT_NULL(nb_unflatten(x, 1, (const int64_t[]){ 6, INT64_C(1) << 62, 4 }, 3), NB_ERR_SHAPE,
                "do not multiply to the size 6");
}

/* ---------------------------------------------------------------- pad */

#define PAD_ATTRS(mode_, rank_, before_, after_) \
    (&(nbk_pad_attrs){ .mode = mode_, .rank = rank_, .before = before_, .after = after_ })
#define S(...) { __VA_ARGS__ }

static void pad_checks_amounts_modes_and_sizes(void **state)
{
    (void)state;
    nb_tensor *x = f32(NB_SHAPE(2, 4));
    EXPECT_NULL(nb_pad(NULL, (const int64_t[]){ 1, 1 }, 2, NB_PAD_CONSTANT, 0), NB_ERR_NULL, "nb_pad: input is NULL");
    EXPECT_NULL(nb_pad(x, (const int64_t[]){ 1, 1, 1 }, 3, NB_PAD_CONSTANT, 0), NB_ERR_ARG,
                "nb_pad: 3 pad amounts for [2, 4]: expected an even number, at most 2 x rank 2");
    EXPECT_NULL(nb_pad(x, (const int64_t[]){ 1, 1, 1, 1, 1, 1 }, 6, NB_PAD_CONSTANT, 0), NB_ERR_ARG, "6 pad amounts");
    EXPECT_NULL(nb_pad(x, NULL, 2, NB_PAD_CONSTANT, 0), NB_ERR_ARG, "2 pad amounts (NULL)");
    EXPECT_NULL(nb_pad(i64(NB_SHAPE(2, 4)), (const int64_t[]){ 1, 1 }, 2, NB_PAD_CONSTANT, 0), NB_ERR_DTYPE,
                "nb_pad: input 0 has dtype i64, expected f32 or f64");
    EXPECT_NULL(nb_pad(x, (const int64_t[]){ 1, 1 }, 2, (nb_pad_mode)7, 0), NB_ERR_ARG,
                "nb_pad: mode 7 is not NB_PAD_CONSTANT, NB_PAD_REFLECT or NB_PAD_REPLICATE");
    EXPECT_NULL(nb_pad(x, (const int64_t[]){ -1, 1 }, 2, NB_PAD_REFLECT, 0), NB_ERR_ARG,
                "nb_pad: reflect padding (-1, 1) of axis 1 of [2, 4] is negative (only constant padding crops)");
    EXPECT_NULL(nb_pad(x, (const int64_t[]){ 0, 0, 0, -1 }, 4, NB_PAD_REPLICATE, 0), NB_ERR_ARG,
                "replicate padding (0, -1) of axis 0 of [2, 4] is negative");
    EXPECT_NULL(nb_pad(x, (const int64_t[]){ 1, 4 }, 2, NB_PAD_REFLECT, 0), NB_ERR_ARG,
                "nb_pad: reflect padding (1, 4) of axis 1 of [2, 4] must be below the axis size 4");
    EXPECT_NULL(nb_pad(f32(NB_SHAPE(2, 0)), (const int64_t[]){ 1, 0 }, 2, NB_PAD_REPLICATE, 0), NB_ERR_ARG,
                "nb_pad: replicate padding (1, 0) of axis 1 of [2, 0] has no edge to copy: the axis is empty");
    EXPECT_NULL(nb_pad(x, (const int64_t[]){ -5, 3 }, 2, NB_PAD_CONSTANT, 0), NB_ERR_ARG,
                "nb_pad: constant padding (-5, 3) of axis 1 of [2, 4] crops more than the axis' 4 elements");
    EXPECT_NULL(nb_pad(x, (const int64_t[]){ -3, -2 }, 2, NB_PAD_CONSTANT, 0), NB_ERR_ARG,
                "constant padding (-3, -2) of axis 1 of [2, 4] crops more");
    EXPECT_NULL(nb_pad(x, (const int64_t[]){ 0, INT64_C(1) << 60 }, 2, NB_PAD_CONSTANT, 0), NB_ERR_ARG,
                "nb_pad: padding (0, 1152921504606846976) of axis 1 of [2, 4] is too large");
    EXPECT_NULL(apply1("pad", x, PAD_ATTRS(NBK_PAD_CONSTANT, 3, S(0), S(0))), NB_ERR_ARG,
                "nb_pad: attributes describe rank 3, the input [2, 4] has rank 2");
}

static void pad_backward_checks_the_gradient_against_the_pads(void **state)
{
    (void)state;
    nb_tensor *g = f64(NB_SHAPE(2, 5));
    EXPECT_NULL(apply1("pad_backward", g, PAD_ATTRS(NBK_PAD_REFLECT, 2, S(0, 3), S(0, 3))), NB_ERR_SHAPE,
                "nb_pad_backward: gradient [2, 5] is smaller than the padding (3, 3) of axis 1");
    /* the unpadded axis would have 2 elements: a reflect pad of 2 does not fit it */
    EXPECT_NULL(apply1("pad_backward", g, PAD_ATTRS(NBK_PAD_REFLECT, 2, S(0, 2), S(0, 1))), NB_ERR_ARG,
                "nb_pad_backward: reflect padding (2, 1) of axis 1 of [2, 2] must be below the axis size 2");
    EXPECT_NULL(apply1("pad_backward", i64(NB_SHAPE(2, 5)), PAD_ATTRS(NBK_PAD_REFLECT, 2, S(0, 1), S(0, 1))),
                NB_ERR_DTYPE, "nb_pad_backward: input 0 has dtype i64");
    EXPECT_NULL(apply1("pad_backward", g, PAD_ATTRS(NBK_PAD_REFLECT, 1, S(1), S(1))), NB_ERR_ARG,
                "nb_pad_backward: attributes describe rank 1, the input [2, 5] has rank 2");
}

/* ---------------------------------------------------------------- flip, roll, repeat, tile */

static void flip_and_roll_check_axes_and_shifts(void **state)
{
    (void)state;
    nb_tensor *x = f32(NB_SHAPE(3, 4)), *n = i64(NB_SHAPE(3, 4));
    EXPECT_NULL(nb_flip(NULL, (const int[]){ 0 }, 1), NB_ERR_NULL, "nb_flip: input is NULL");
    EXPECT_NULL(nb_flip(x, (const int[]){ 2 }, 1), NB_ERR_ARG, "nb_flip: axis 2 is out of range for shape [3, 4]");
    EXPECT_NULL(nb_flip(x, (const int[]){ 1, -1 }, 2), NB_ERR_ARG, "nb_flip: axis -1 appears twice");
    EXPECT_NULL(nb_flip(x, NULL, 1), NB_ERR_ARG, "nb_flip: 1 axes given with a NULL axis list");
    EXPECT_NULL(nb_flip(n, (const int[]){ 0 }, 1), NB_ERR_DTYPE, "nb_flip: input 0 has dtype i64");
    EXPECT_NULL(apply1("flip", x, &(nbk_flip_attrs){ 1u << 2 }), NB_ERR_ARG,
                "nb_flip: axes [2] are not all axes of [3, 4] (rank 2)");

    EXPECT_NULL(nb_roll(NULL, (const int64_t[]){ 1 }, NULL, 1), NB_ERR_NULL, "nb_roll: input is NULL");
    EXPECT_NULL(nb_roll(x, NULL, NULL, 1), NB_ERR_ARG, "nb_roll: 1 shifts (NULL) with no axes");
    EXPECT_NULL(nb_roll(x, (const int64_t[]){ 1, 1 }, NULL, 2), NB_ERR_ARG,
                "nb_roll: 2 shifts with no axes: expected 1 to 8 shifts, one per axis (or one shift and no axes");
    EXPECT_NULL(nb_roll(x, (const int64_t[]){ 1 }, (const int[]){ 0 }, 0), NB_ERR_ARG, "nb_roll: 0 shifts");
    EXPECT_NULL(nb_roll(x, (const int64_t[]){ 1, 2 }, (const int[]){ 0, 2 }, 2), NB_ERR_ARG,
                "nb_roll: axis 2 is out of range for [3, 4] (rank 2)");
    EXPECT_NULL(nb_roll(n, (const int64_t[]){ 1 }, (const int[]){ 0 }, 1), NB_ERR_DTYPE,
                "nb_roll: input 0 has dtype i64");
    EXPECT_NULL(apply1("roll", x, &(nbk_roll_attrs){ 2, S(3, 0) }), NB_ERR_ARG,
                "nb_roll: shift 3 of axis 0 of [3, 4] is outside [0, size)");
    EXPECT_NULL(apply1("roll", x, &(nbk_roll_attrs){ 2, S(-1, 0) }), NB_ERR_ARG, "shift -1 of axis 0");
    EXPECT_NULL(apply1("roll", x, &(nbk_roll_attrs){ 1, S(1) }), NB_ERR_ARG,
                "nb_roll: attributes give 1 shifts for [3, 4] (rank 2)");
    /* the flattened roll names nb_roll when an op inside it fails */
    IN_SCOPE("nb_roll flattened, out of memory", {
        nbi_alloc_fail_after(1);
        nb_tensor *z = nb_roll(x, (const int64_t[]){ 1 }, NULL, 1);
        nbi_alloc_fail_after(0);
        expect_error_at(__FILE__, __LINE__, "nb_roll flattened", z == NULL, NB_ERR_MEMORY, PARTS("nb_roll: "));
    });
}

static void repeat_and_tile_check_counts_and_sizes(void **state)
{
    (void)state;
    nb_tensor *x = f32(NB_SHAPE(2, 3));
    EXPECT_NULL(nb_repeat(NULL, (const int64_t[]){ 2, 2 }, 2), NB_ERR_NULL, "nb_repeat: input is NULL");
    EXPECT_NULL(nb_repeat(x, NULL, 2), NB_ERR_NULL, "nb_repeat: repeats is NULL");
    EXPECT_NULL(nb_repeat(x, (const int64_t[]){ 2 }, 1), NB_ERR_ARG,
                "nb_repeat: 1 repeats given for [2, 3]: need at least its rank 2 and at most 8 (nb_tile pads them)");
    EXPECT_NULL(nb_repeat(x, (const int64_t[]){ 1, 1, 1, 1, 1, 1, 1, 1, 1 }, 9), NB_ERR_ARG, "9 repeats given");
    EXPECT_NULL(nb_repeat(x, (const int64_t[]){ 2, -1 }, 2), NB_ERR_ARG,
                "nb_repeat: repeat -1 for axis 1 of [2, 3] is negative");
    EXPECT_NULL(nb_repeat(x, (const int64_t[]){ 2, INT64_C(1) << 57 }, 2), NB_ERR_ARG,
                "nb_repeat: repeating [2, 3] 144115188075855872 times along axis 1 makes too many elements");
    EXPECT_NULL(nb_repeat(i64(NB_SHAPE(2, 3)), (const int64_t[]){ 2, 2 }, 2), NB_ERR_DTYPE,
                "nb_repeat: input 0 has dtype i64");
    EXPECT_NULL(apply1("repeat", x, &(nbk_repeat_attrs){ 1, S(2) }), NB_ERR_ARG,
                "nb_repeat: 1 repeats given for [2, 3]: need at least its rank 2 and at most 8");
    EXPECT_NULL(nb_tile(NULL, (const int64_t[]){ 2 }, 1), NB_ERR_NULL, "nb_tile: input is NULL");
    EXPECT_NULL(nb_tile(x, NULL, 1), NB_ERR_ARG, "nb_tile: 1 repeats given as NULL, expected 0 to 8");
    EXPECT_NULL(nb_tile(x, (const int64_t[]){ 2 }, -1), NB_ERR_ARG, "nb_tile: -1 repeats given");
    EXPECT_NULL(nb_tile(x, (const int64_t[]){ 1, -2 }, 2), NB_ERR_ARG, "nb_repeat: repeat -2 for axis 1");
}

/* ---------------------------------------------------------------- tril, triu, diagonal */

static void triangles_and_diagonals_need_two_axes(void **state)
{
    (void)state;
    nb_tensor *v = f32(NB_SHAPE(4)), *m = f32(NB_SHAPE(3, 4));
    EXPECT_NULL(nb_tril(NULL, 0), NB_ERR_NULL, "nb_tril: input 0 is NULL");
    EXPECT_NULL(nb_triu(v, 0), NB_ERR_SHAPE, "nb_triu: input [4] has rank 1: it needs two axes");
    EXPECT_NULL(nb_tril(i64(NB_SHAPE(3, 3)), 0), NB_ERR_DTYPE, "nb_tril: input 0 has dtype i64");

    EXPECT_NULL(nb_diagonal(NULL, 0, 0, 1), NB_ERR_NULL, "nb_diagonal: input is NULL");
    EXPECT_NULL(nb_diagonal(m, 0, 0, 2), NB_ERR_ARG, "nb_diagonal: axes 0 and 2 must both be in range for [3, 4]");
    EXPECT_NULL(nb_diagonal(m, 0, 1, -1), NB_ERR_ARG,
                "nb_diagonal: axes 1 and 1 must be two different axes of [3, 4] (rank 2)");
    EXPECT_NULL(nb_diagonal(v, 0, 0, 0), NB_ERR_SHAPE, "nb_diagonal: [4] has rank 1: a diagonal needs two axes");
}

static void diagonal_backward_checks_its_attributes(void **state)
{
    (void)state;
    nb_tensor *g = f64(NB_SHAPE(3));
#define DIAG_BACK(offset_, a1, a2, rank_, shape_) \
    (&(nbk_diagonal_attrs){ .offset = offset_, .axis1 = a1, .axis2 = a2, .rank = rank_, .shape = shape_ })
    EXPECT_NULL(apply1("diagonal_backward", i64(NB_SHAPE(3)), DIAG_BACK(0, 0, 1, 2, S(3, 3))), NB_ERR_DTYPE,
                "nb_diagonal_backward: input 0 has dtype i64");
    EXPECT_NULL(apply1("diagonal_backward", g, DIAG_BACK(0, 0, 1, 1, S(3))), NB_ERR_ARG,
                "nb_diagonal_backward: attributes describe rank 1, expected 2 to 8");
    EXPECT_NULL(apply1("diagonal_backward", g, DIAG_BACK(0, 0, 1, 2, S(3, -3))), NB_ERR_ARG,
                "nb_diagonal_backward: attributes describe shape [3, -3]: sizes must be at least 0");
    EXPECT_NULL(apply1("diagonal_backward", g, DIAG_BACK(0, 1, 1, 2, S(3, 3))), NB_ERR_ARG,
                "nb_diagonal_backward: axes 1 and 1 must be two different axes of [3, 3]");
    EXPECT_NULL(apply1("diagonal_backward", g, DIAG_BACK(1, 0, 1, 2, S(3, 3))), NB_ERR_SHAPE,
                "nb_diagonal_backward: gradient has shape [3], expected [2] (the diagonal of [3, 3])");
#undef DIAG_BACK
}

/* ---------------------------------------------------------------- dropout and bernoulli */

static void dropout_checks_p_and_dtype_and_keeps_the_generator_on_failure(void **state)
{
    (void)state;
    nb_tensor *x = f32(NB_SHAPE(3, 4));
    nb_rng *rng = nb_rng_new(5), *twin = nb_rng_new(5);
    EXPECT_NULL(nb_dropout(NULL, 0.5, true, rng), NB_ERR_NULL, "nb_dropout: input is NULL");
    EXPECT_NULL(nb_dropout(x, 1.5, true, rng), NB_ERR_ARG, "nb_dropout: probability 1.5 is outside [0, 1]");
    EXPECT_NULL(nb_dropout(x, -0.1, false, rng), NB_ERR_ARG, "probability -0.1 is outside [0, 1]");
    EXPECT_NULL(nb_dropout(x, NAN, true, rng), NB_ERR_ARG, "probability nan is outside [0, 1]");
    EXPECT_NULL(nb_dropout(i64(NB_SHAPE(3)), 0.5, true, rng), NB_ERR_DTYPE,
                "nb_dropout: input 0 has dtype i64, expected f32 or f64");
    EXPECT_NULL(apply1_multi("dropout", x, &(nbk_dropout_attrs){ 2, 1 }), NB_ERR_ARG,
                "nb_dropout: probability 2 is outside [0, 1]");
    /* none of the failures drew from the generator */
    assert_true(nb_rng_next(rng) == nb_rng_next(twin));
    nb_rng_free(rng);
    nb_rng_free(twin);
}

static void bernoulli_checks_dtype_and_probabilities(void **state)
{
    (void)state;
    nb_rng *rng = nb_rng_new(6);
    EXPECT_NULL(nb_bernoulli(NULL, rng), NB_ERR_NULL, "nb_bernoulli: input is NULL");
    EXPECT_NULL(nb_bernoulli(i64(NB_SHAPE(3)), rng), NB_ERR_DTYPE,
                "nb_bernoulli: input 0 has dtype i64, expected f32 or f64");
    double bad[4] = { 0.5, 1, 0, 1.5 };
    nb_tensor *p = nb_tensor_from_data(bad, NB_F64, NB_SHAPE(2, 2));
    EXPECT_NULL(nb_bernoulli(p, rng), NB_ERR_ARG,
                "nb_bernoulli: probability 1.5 at element 3 (C order) is outside [0, 1]");
    /* the element is counted in C order of the (transposed) input */
    EXPECT_NULL(nb_bernoulli(nb_transpose(p, 0, 1), rng), NB_ERR_ARG, "probability 1.5 at element 3 (C order)");
    float nan_at_1[3] = { 0.25f, NAN, 0.75f };
    EXPECT_NULL(nb_bernoulli(nb_tensor_from_data(nan_at_1, NB_F32, NB_SHAPE(3)), rng), NB_ERR_ARG,
                "probability nan at element 1");
    nb_rng_free(rng);
}

/* ---------------------------------------------------------------- in-place fills */

static void random_fills_refuse_what_they_cannot_fill(void **state)
{
    (void)state;
    nb_rng *rng = nb_rng_new(7);
    nb_tensor *t = f32(NB_SHAPE(2, 3));
    EXPECT_STATUS(nb_normal_inplace(NULL, 0, 1, rng), NB_ERR_NULL, "nb_normal_inplace: tensor is NULL");
    EXPECT_STATUS(nb_uniform_inplace(NULL, 0, 1, rng), NB_ERR_NULL, "nb_uniform_inplace: tensor is NULL");
    nb_tensor *w = f32(NB_SHAPE(2, 3));
    ASSERT_OK(nb_requires_grad(w, true));
    EXPECT_STATUS(nb_normal_inplace(w, 0, 1, rng), NB_ERR_AUTOGRAD,
                  "nb_normal_inplace: tensor requires grad and grad mode is on", "nb_no_grad_begin");
    EXPECT_STATUS(nb_uniform_inplace(w, 0, 1, rng), NB_ERR_AUTOGRAD, "nb_uniform_inplace: tensor requires grad");
    EXPECT_STATUS(nb_uniform_inplace(i64(NB_SHAPE(3)), 0, 1, rng), NB_ERR_DTYPE,
                  "nb_uniform_inplace: dtype i64 is not a floating type");
    EXPECT_STATUS(nb_normal_inplace(nb_expand(f32(NB_SHAPE(1, 3)), NB_SHAPE(4, 3)), 0, 1, rng), NB_ERR_ARG,
                  "nb_normal_inplace: tensor of shape [4, 3] is expanded along axis 0 (stride 0)");
    EXPECT_STATUS(nb_normal_inplace(t, 0, -1, rng), NB_ERR_ARG,
                  "nb_normal_inplace: mean 0 and std -1 must be finite, std at least 0");
    EXPECT_STATUS(nb_normal_inplace(t, NAN, 1, rng), NB_ERR_ARG, "mean nan and std 1 must be finite");
    EXPECT_STATUS(nb_normal_inplace(t, 0, INFINITY, rng), NB_ERR_ARG, "std inf");
    EXPECT_STATUS(nb_uniform_inplace(t, 1, 0, rng), NB_ERR_ARG,
                  "nb_uniform_inplace: low 1 and high 0 must be finite with low <= high");
    EXPECT_STATUS(nb_uniform_inplace(t, -INFINITY, 0, rng), NB_ERR_ARG, "low -inf and high 0");
    /* a refused fill leaves the tensor and its version alone: a backward that saved it still runs */
    nb_tensor *y = nb_mul(w, w);
    EXPECT_STATUS(nb_uniform_inplace(w, 0, 1, rng), NB_ERR_AUTOGRAD, "requires grad");
    ASSERT_OK(nb_backward(nb_sum_all(y), NULL));
    nb_rng_free(rng);
}

/* ---------------------------------------------------------------- errors of a backward */

/* A fill between forward and backward changes a tensor a graph saved: backward refuses,
 * naming the op (the version check of DESIGN §3 sees the fill). */
static void a_fill_after_forward_is_caught_by_backward(void **state)
{
    (void)state;
    nb_rng *rng = nb_rng_new(8);
    nb_tensor *w = f64(NB_SHAPE(3)), *x = f64(NB_SHAPE(3));
    ASSERT_OK(nb_requires_grad(w, true));
    nb_tensor *y = nb_sum_all(nb_mul(w, x));
    ASSERT_OK(nb_uniform_inplace(x, 0, 1, rng));
    EXPECT_STATUS(nb_backward(y, NULL), NB_ERR_AUTOGRAD, "mul");
    nb_rng_free(rng);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(cat_and_stack_check_the_list_and_the_axis),
        T(cat_rule_checks_dtypes_axis_and_shapes),
        T(stack_rule_checks_rank_axis_and_shapes),
        T(split_checks_its_pieces),
        T(chunk_and_unflatten_check_their_arguments),
        T(pad_checks_amounts_modes_and_sizes),
        T(pad_backward_checks_the_gradient_against_the_pads),
        T(flip_and_roll_check_axes_and_shifts),
        T(repeat_and_tile_check_counts_and_sizes),
        T(triangles_and_diagonals_need_two_axes),
        T(diagonal_backward_checks_its_attributes),
        T(dropout_checks_p_and_dtype_and_keeps_the_generator_on_failure),
        T(bernoulli_checks_dtype_and_probabilities),
        T(random_fills_refuse_what_they_cannot_fill),
        T(a_fill_after_forward_is_caught_by_backward),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    printf("test_errors_join: %d error checks in %d tests\n", n_checks, (int)(sizeof tests / sizeof tests[0]));
    return failed;
}
