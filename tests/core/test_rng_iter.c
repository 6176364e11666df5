/* Seeded random numbers and determinism (DESIGN §8), and the shared strided iterator
 * (core/iter.h, internal): axis merging, size-1 and broadcast axes, cursor order, and the
 * parallel row runner visiting every element once.
 *
 * The pinned generator values come from an independent transcription of splitmix64 and
 * xoshiro256** (Blackman and Vigna's reference code) run outside nabla; a change to the
 * generator or to how draws become floats changes them and fails here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "core/iter.h"

/* ---------------------------------------------------------------- fixture and helpers */

/* nbt_teardown, after setting the thread count back to its default: two tests change it.
 * Every test in this file runs with it. */
static int teardown(void **state)
{
    nb_set_num_threads(0);
    return nbt_teardown(state);
}

#undef TEST
#define TEST(f) cmocka_unit_test_setup_teardown(f, nbt_setup, teardown)

static const uint64_t SEED = 12345;

static int64_t count_equal(const nb_tensor *a, const nb_tensor *b)
{
    int64_t n = nb_tensor_numel(a), same = 0;
    size_t size = nb_dtype_size(nb_tensor_dtype(a));
    const char *pa = nb_tensor_data(a), *pb = nb_tensor_data(b);
    for (int64_t i = 0; i < n; i++)
        same += memcmp(pa + i * (int64_t)size, pb + i * (int64_t)size, size) == 0;
    return same;
}

/* ---------------------------------------------------------------- reproducibility */

static void same_seed_gives_identical_tensors(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_rng *a = nb_rng_new(SEED), *b = nb_rng_new(SEED);
    NOT_NULL(a);
    NOT_NULL(b);
    nb_tensor *ua = nb_rand(a, NB_F32, NB_SHAPE(37, 11)), *ub = nb_rand(b, NB_F32, NB_SHAPE(37, 11));
    nb_tensor *na = nb_randn(a, NB_F64, NB_SHAPE(101)), *nbb = nb_randn(b, NB_F64, NB_SHAPE(101));
    nb_tensor *ia = nb_randint(a, -50, 50, NB_SHAPE(64)), *ib = nb_randint(b, -50, 50, NB_SHAPE(64));
    NOT_NULL(ua);
    NOT_NULL(ub);
    NOT_NULL(na);
    NOT_NULL(nbb);
    NOT_NULL(ia);
    NOT_NULL(ib);
    assert_memory_equal(nb_tensor_data(ua), nb_tensor_data(ub), 37 * 11 * sizeof(float));
    assert_memory_equal(nb_tensor_data(na), nb_tensor_data(nbb), 101 * sizeof(double));
    assert_memory_equal(nb_tensor_data(ia), nb_tensor_data(ib), 64 * sizeof(int64_t));
    nb_rng_free(a);
    nb_rng_free(b);
    nb_scope_end(s);
}

static void different_seeds_give_different_numbers(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_rng *a = nb_rng_new(SEED), *b = nb_rng_new(SEED + 1);
    nb_tensor *ua = nb_rand(a, NB_F64, NB_SHAPE(1000)), *ub = nb_rand(b, NB_F64, NB_SHAPE(1000));
    nb_tensor *na = nb_randn(a, NB_F32, NB_SHAPE(1000)), *nbb = nb_randn(b, NB_F32, NB_SHAPE(1000));
    nb_tensor *ia = nb_randint(a, 0, 1000000, NB_SHAPE(1000)), *ib = nb_randint(b, 0, 1000000, NB_SHAPE(1000));
    NOT_NULL(ua);
    NOT_NULL(ub);
    NOT_NULL(na);
    NOT_NULL(nbb);
    NOT_NULL(ia);
    NOT_NULL(ib);
    assert_true(count_equal(ua, ub) < 5);
    assert_true(count_equal(na, nbb) < 5);
    assert_true(count_equal(ia, ib) < 5);
    nb_rng_free(a);
    nb_rng_free(b);
    nb_scope_end(s);
}

static void the_default_generator_follows_manual_seed(void **state)
{
    (void)state;
    nb_manual_seed(SEED);
    uint64_t first = nb_rng_next(NULL);
    nb_manual_seed(SEED);
    assert_true(nb_rng_next(NULL) == first);
    assert_true(first == UINT64_C(0xbe6a36374160d49b));   /* the same stream as nb_rng_new(SEED) */
}

/* ---------------------------------------------------------------- pinned values of seed 12345 */

static void raw_bits_of_a_seed_are_pinned(void **state)
{
    (void)state;
    nb_rng *r = nb_rng_new(SEED);
    assert_true(nb_rng_next(r) == UINT64_C(0xbe6a36374160d49b));
    assert_true(nb_rng_next(r) == UINT64_C(0x214aaa0637a688c6));
    assert_true(nb_rng_next(r) == UINT64_C(0xf69d16de9954d388));
    assert_true(nb_rng_next(r) == UINT64_C(0x0c60048c4e96e033));
    nb_rng_free(r);
}

static void uniform_draws_of_a_seed_are_pinned(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    /* f64: the top 53 bits over 2^53 */
    const double f64_expected[4] = { 6699628332854298 * 0x1p-53, 1171346042582225 * 0x1p-53,
                                     8676945727531674 * 0x1p-53, 435409046328028 * 0x1p-53 };
    nb_rng *r = nb_rng_new(SEED);
    for (int i = 0; i < 4; i++)
        assert_true(nb_rng_uniform(r) == f64_expected[i]);
    nb_rng_free(r);
    r = nb_rng_new(SEED);
    nb_tensor *t64 = nb_rand(r, NB_F64, NB_SHAPE(4));
    NOT_NULL(t64);
    assert_memory_equal(nb_tensor_data(t64), f64_expected, sizeof f64_expected);
    nb_rng_free(r);
    /* f32: the top 24 bits over 2^24 */
    const float f32_expected[4] = { 12479030 * 0x1p-24f, 2181802 * 0x1p-24f, 16162070 * 0x1p-24f,
                                    811012 * 0x1p-24f };
    r = nb_rng_new(SEED);
    nb_tensor *t32 = nb_rand(r, NB_F32, NB_SHAPE(2, 2));
    NOT_NULL(t32);
    assert_memory_equal(nb_tensor_data(t32), f32_expected, sizeof f32_expected);
    nb_rng_free(r);
    nb_scope_end(s);
}

static void normal_and_integer_draws_of_a_seed_are_pinned(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    /* Box-Muller on pairs of the uniforms above: r cos, then r sin. */
    const double normal_expected[4] = { 0x1.212043b727f2ep+0, 0x1.341085172a5f8p+0, 0x1.3a11491f3d799p+1,
                                        0x1.89bffdeb3d4bep-1 };
    nb_rng *r = nb_rng_new(SEED);
    nb_tensor *n = nb_randn(r, NB_F64, NB_SHAPE(4));
    NOT_NULL(n);
    for (int i = 0; i < 4; i++)
        assert_true(fabs(((double *)nb_tensor_data(n))[i] - normal_expected[i]) < 1e-14);
    nb_rng_free(r);
    r = nb_rng_new(SEED);
    for (int i = 0; i < 4; i++)
        assert_true(fabs(nb_rng_normal(r) - normal_expected[i]) < 1e-14);
    nb_rng_free(r);
    /* Lemire's unbiased multiply-shift into [-3, 5) */
    const int64_t int_expected[8] = { 2, -2, 4, -3, 1, -3, -2, -1 };
    r = nb_rng_new(SEED);
    nb_tensor *k = nb_randint(r, -3, 5, NB_SHAPE(8));
    NOT_NULL(k);
    assert_memory_equal(nb_tensor_data(k), int_expected, sizeof int_expected);
    nb_rng_free(r);
    r = nb_rng_new(SEED);
    for (int i = 0; i < 8; i++)
        assert_int_equal(nb_rng_int(r, -3, 5), int_expected[i]);
    nb_rng_free(r);
    /* the widest range, 2^64 - 1 values: INT64_MIN + floor(bits * (2^64 - 1) / 2^64), with
     * no signed overflow on the way (UBSan checks that) */
    r = nb_rng_new(SEED);
    assert_true(nb_rng_int(r, INT64_MIN, INT64_MAX) == INT64_C(0x3e6a36374160d49a));
    nb_rng_free(r);
    r = nb_rng_new(SEED);
    nb_tensor *wide = nb_randint(r, INT64_MIN, INT64_MAX, NB_SHAPE(1));
    NOT_NULL(wide);
    assert_true(((int64_t *)nb_tensor_data(wide))[0] == INT64_C(0x3e6a36374160d49a));
    nb_rng_free(r);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- ranges and distributions */

static void randint_stays_in_its_half_open_range_and_hits_every_value(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_rng *r = nb_rng_new(7);
    nb_tensor *k = nb_randint(r, -3, 5, NB_SHAPE(100, 100));
    NOT_NULL(k);
    assert_int_equal(nb_tensor_dtype(k), NB_I64);
    int counts[8] = { 0 };
    const int64_t *v = nb_tensor_data(k);
    for (int i = 0; i < 10000; i++) {
        if (v[i] < -3 || v[i] >= 5)
            fail_msg("draw %d is %lld, outside [-3, 5)", i, (long long)v[i]);
        counts[v[i] + 3]++;
    }
    for (int j = 0; j < 8; j++)   /* 1250 expected each; sd about 33 */
        assert_true(counts[j] > 1100 && counts[j] < 1400);
    /* a range of one value */
    nb_tensor *one = nb_randint(r, 9, 10, NB_SHAPE(5));
    NOT_NULL(one);
    for (int i = 0; i < 5; i++)
        assert_int_equal(((int64_t *)nb_tensor_data(one))[i], 9);
    assert_null(nb_randint(r, 5, 5, NB_SHAPE(1)));
    assert_int_equal(nb_error_code(), NB_ERR_ARG);
    nb_rng_free(r);
    nb_scope_end(s);
}

static void uniform_and_normal_draws_have_the_right_mean_and_variance(void **state)
{
    (void)state;
    enum { COUNT = 100000 };
    nb_scope *s = nb_scope_begin();
    nb_rng *r = nb_rng_new(2024);
    nb_tensor *u64 = nb_rand(r, NB_F64, NB_SHAPE(COUNT));
    nb_tensor *u32 = nb_rand(r, NB_F32, NB_SHAPE(COUNT));
    nb_tensor *g64 = nb_randn(r, NB_F64, NB_SHAPE(COUNT));
    nb_tensor *g32 = nb_randn(r, NB_F32, NB_SHAPE(COUNT));
    nb_tensor *w = nb_uniform(r, NB_F64, NB_SHAPE(COUNT), -2, 6);
    NOT_NULL(u64);
    NOT_NULL(u32);
    NOT_NULL(g64);
    NOT_NULL(g32);
    NOT_NULL(w);
    struct {
        const nb_tensor *t;
        double lo, hi, mean, var, var_sd;   /* var_sd: sd of the sample variance */
    } cases[] = {
        /* uniform [0, 1): var 1/12, fourth central moment 1/80 */
        { u64, 0, 1, 0.5, 1.0 / 12, sqrt((1.0 / 80 - 1.0 / 144) / COUNT) },
        { u32, 0, 1, 0.5, 1.0 / 12, sqrt((1.0 / 80 - 1.0 / 144) / COUNT) },
        /* standard normal: var 1, fourth moment 3 */
        { g64, -INFINITY, INFINITY, 0, 1, sqrt(2.0 / COUNT) },
        { g32, -INFINITY, INFINITY, 0, 1, sqrt(2.0 / COUNT) },
        /* uniform [-2, 6): mean 2, var 64/12 */
        { w, -2, 6, 2, 64.0 / 12, 64 * sqrt((1.0 / 80 - 1.0 / 144) / COUNT) },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double sum = 0, sq = 0;
        for (int i = 0; i < COUNT; i++) {
            double v = nb_tensor_dtype(cases[c].t) == NB_F32 ? ((const float *)nb_tensor_data(cases[c].t))[i]
                                                              : ((const double *)nb_tensor_data(cases[c].t))[i];
            if (!(v >= cases[c].lo && v < cases[c].hi))
                fail_msg("case %zu: draw %d is %g, outside [%g, %g)", c, i, v, cases[c].lo, cases[c].hi);
            sum += v;
            sq += v * v;
        }
        double mean = sum / COUNT, var = sq / COUNT - mean * mean;
        double mean_sd = sqrt(cases[c].var / COUNT);
        if (fabs(mean - cases[c].mean) > 5 * mean_sd)
            fail_msg("case %zu: mean %g, expected %g +- %g", c, mean, cases[c].mean, 5 * mean_sd);
        if (fabs(var - cases[c].var) > 5 * cases[c].var_sd)
            fail_msg("case %zu: variance %g, expected %g +- %g", c, var, cases[c].var, 5 * cases[c].var_sd);
    }
    nb_rng_free(r);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- determinism across threads */

static void big_sum_is_bit_identical_for_one_and_two_threads(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_rng *r = nb_rng_new(99);
    nb_set_num_threads(1);
    nb_tensor *x1 = nb_rand(r, NB_F32, NB_SHAPE(1000000));
    nb_rng_free(r);
    nb_set_num_threads(2);
    assert_int_equal(nb_get_num_threads(), 2);
    r = nb_rng_new(99);
    nb_tensor *x2 = nb_rand(r, NB_F32, NB_SHAPE(1000000));   /* generation ignores threads too */
    nb_rng_free(r);
    NOT_NULL(x1);
    NOT_NULL(x2);
    assert_memory_equal(nb_tensor_data(x1), nb_tensor_data(x2), 1000000 * sizeof(float));

    nb_set_num_threads(1);
    nb_tensor *s1 = nb_sum_all(x1);
    nb_tensor *m1 = nb_sum(nb_reshape(x1, NB_SHAPE(1000, 1000)), (const int[]){ 0 }, 1, false);
    nb_set_num_threads(2);
    nb_tensor *s2 = nb_sum_all(x1);
    nb_tensor *m2 = nb_sum(nb_reshape(x1, NB_SHAPE(1000, 1000)), (const int[]){ 0 }, 1, false);
    NOT_NULL(s1);
    NOT_NULL(s2);
    NOT_NULL(m1);
    NOT_NULL(m2);
    float a = *(const float *)nb_tensor_data(s1), b = *(const float *)nb_tensor_data(s2);
    assert_memory_equal(&a, &b, sizeof a);
    assert_memory_equal(nb_tensor_data(m1), nb_tensor_data(m2), 1000 * sizeof(float));

    /* and the sum is right: compare with a double-precision sum done here */
    double exact = 0;
    const float *v = nb_tensor_data(x1);
    for (int i = 0; i < 1000000; i++)
        exact += v[i];
    assert_true(fabs(a - exact) <= 1e-5 * exact);
    double col0 = 0;
    for (int i = 0; i < 1000; i++)
        col0 += v[i * 1000];
    assert_true(fabs(((const float *)nb_tensor_data(m1))[0] - col0) <= 1e-5 * col0);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- random ops and fills
 * What parity with PyTorch cannot check (tests/parity/ref_random.py replays the masks):
 * the statistics of the draws, their dependence on the seed only (not on threads, dtype or
 * layout), and the in-place fills. */

/* Elements of t (f32 or f64, contiguous) equal to 0. */
static int64_t count_zeros(const nb_tensor *t)
{
    int64_t n = nb_tensor_numel(t), zeros = 0;
    for (int64_t i = 0; i < n; i++)
        zeros += nbt_value_at(t, i) == 0;
    return zeros;
}

static void dropout_drops_a_fraction_p_and_scales_the_rest(void **state)
{
    (void)state;
    enum { COUNT = 100000 };
    nb_scope *s = nb_scope_begin();
    nb_rng *r = nb_rng_new(31);
    const double ps[] = { 0.1, 0.3, 0.5, 0.9 };
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++)
        for (nb_dtype dtype = NB_F32; dtype <= NB_F64; dtype++) {
            double p = ps[k];
            nb_tensor *z = nb_dropout(nb_ones(dtype, NB_SHAPE(COUNT)), p, true, r);
            NOT_NULL(z);
            double kept_value = dtype == NB_F32 ? (double)(float)(1 / (1 - p)) : 1 / (1 - p);
            int64_t zeros = 0;
            for (int64_t i = 0; i < COUNT; i++) {
                double v = nbt_value_at(z, i);
                zeros += v == 0;
                if (v != 0 && v != kept_value)
                    fail_msg("p %g: element %lld is %.17g, neither 0 nor 1 / (1 - p)", p, (long long)i, v);
            }
            /* binomial: the fraction dropped has standard error sqrt(p (1 - p) / n) */
            double fraction = (double)zeros / COUNT, se = sqrt(p * (1 - p) / COUNT);
            if (fabs(fraction - p) > 5 * se)
                fail_msg("p %g (%s): dropped %g of the elements, expected %g +- %g", p, nb_dtype_name(dtype), fraction,
                         p, 5 * se);
        }
    nb_rng_free(r);
    nb_scope_end(s);
}

static void dropout_masks_follow_the_seed(void **state)
{
    (void)state;
    enum { COUNT = 100000 };
    nb_scope *s = nb_scope_begin();
    nb_rng *a = nb_rng_new(SEED), *b = nb_rng_new(SEED), *c = nb_rng_new(SEED + 1);
    nb_tensor *x = nb_ones(NB_F32, NB_SHAPE(COUNT));
    nb_tensor *za = nb_dropout(x, 0.5, true, a), *zb = nb_dropout(x, 0.5, true, b), *zc = nb_dropout(x, 0.5, true, c);
    NOT_NULL(za);
    NOT_NULL(zb);
    NOT_NULL(zc);
    assert_memory_equal(nb_tensor_data(za), nb_tensor_data(zb), COUNT * sizeof(float));
    /* independent masks agree on about half the elements (sd 158) */
    int64_t same = count_equal(za, zc);
    assert_true(same > COUNT / 2 - 1000 && same < COUNT / 2 + 1000);
    /* the next call from the same generator draws a new mask */
    nb_tensor *za2 = nb_dropout(x, 0.5, true, a);
    NOT_NULL(za2);
    same = count_equal(za, za2);
    assert_true(same > COUNT / 2 - 1000 && same < COUNT / 2 + 1000);
    /* the mask depends on the position only, not on the dtype or layout of x */
    nb_rng *d = nb_rng_new(SEED);
    nb_tensor *zd = nb_dropout(nb_transpose(nb_ones(NB_F64, NB_SHAPE(COUNT / 100, 100)), 0, 1), 0.5, true, d);
    NOT_NULL(zd);
    for (int64_t i = 0; i < COUNT; i++)
        if ((nbt_value_at(zd, i) == 0) != (nbt_value_at(za, i) == 0))
            fail_msg("element %lld: the f64 transposed mask differs from the f32 one", (long long)i);
    nb_rng_free(a);
    nb_rng_free(b);
    nb_rng_free(c);
    nb_rng_free(d);
    nb_scope_end(s);
}

static void random_ops_are_bit_identical_for_one_and_two_threads(void **state)
{
    (void)state;
    enum { COUNT = 1000000 };   /* far above the grain: two threads split the rows */
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = nb_ones(NB_F32, NB_SHAPE(COUNT / 1000, 1000)), *half = nb_full(NB_F64, NB_SHAPE(COUNT), 0.5);
    nb_tensor *z[2], *k[2];
    for (int t = 0; t < 2; t++) {
        nb_set_num_threads(t + 1);
        nb_rng *r = nb_rng_new(77);
        z[t] = nb_dropout(nb_transpose(x, 0, 1), 0.25, true, r);
        k[t] = nb_bernoulli(half, r);
        nb_rng_free(r);
        NOT_NULL(z[t]);
        NOT_NULL(k[t]);
    }
    assert_int_equal(nb_get_num_threads(), 2);
    assert_memory_equal(nb_tensor_data(z[0]), nb_tensor_data(z[1]), COUNT * sizeof(float));
    assert_memory_equal(nb_tensor_data(k[0]), nb_tensor_data(k[1]), COUNT * sizeof(double));
    nb_scope_end(s);
}

static void dropout_backward_reuses_the_saved_mask(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_rng *r = nb_rng_new(41), *twin = nb_rng_new(41);
    nb_tensor *x = nb_full(NB_F64, NB_SHAPE(50, 40), 2.0);
    ASSERT_OK(nb_requires_grad(x, true));
    nb_tensor *z = nb_dropout(x, 0.4, true, r);
    NOT_NULL(z);
    nb_rng_next(twin);   /* dropout took one key from the generator, and only one */
    assert_true(nb_rng_next(r) == nb_rng_next(twin));
    ASSERT_OK(nb_backward(nb_sum_all(z), NULL));
    nb_tensor *g = nb_tensor_grad(x);
    NOT_NULL(g);
    int64_t zeros = 0;
    for (int64_t i = 0; i < 2000; i++) {
        double expected = nbt_value_at(z, i) == 0 ? 0 : 1 / 0.6;   /* dz/dx = mask / (1 - p) */
        if (fabs(nbt_value_at(g, i) - expected) > 1e-15)
            fail_msg("element %lld: gradient %.17g, expected %.17g", (long long)i, nbt_value_at(g, i), expected);
        zeros += expected == 0;
    }
    assert_true(zeros > 0 && zeros < 2000);
    nb_rng_free(r);
    nb_rng_free(twin);
    nb_scope_end(s);
}

static void dropout_without_draws_in_eval_and_at_p_zero_and_one(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_rng *r = nb_rng_new(42), *twin = nb_rng_new(42);
    nb_tensor *x = nb_full(NB_F32, NB_SHAPE(3, 4), 1.5);
    ASSERT_OK(nb_requires_grad(x, true));
    /* the input itself, as PyTorch */
    assert_ptr_equal(nb_dropout(x, 0.5, false, r), x);
    assert_ptr_equal(nb_dropout(x, 0, true, r), x);
    nb_tensor *zero = nb_dropout(x, 1, true, r);
    NOT_NULL(zero);
    assert_int_equal(count_zeros(zero), 12);
    assert_true(nb_rng_next(r) == nb_rng_next(twin));   /* none of them drew */
    ASSERT_OK(nb_backward(nb_sum_all(zero), NULL));
    assert_int_equal(count_zeros(nb_tensor_grad(x)), 12);
    nb_rng_free(r);
    nb_rng_free(twin);
    nb_scope_end(s);
}

static void bernoulli_frequencies_follow_p(void **state)
{
    (void)state;
    enum { COUNT = 100000 };
    nb_scope *s = nb_scope_begin();
    nb_rng *r = nb_rng_new(43);
    const double ps[] = { 0, 0.05, 0.5, 0.8, 1 };
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        nb_tensor *draws = nb_bernoulli(nb_full(NB_F32, NB_SHAPE(COUNT), ps[k]), r);
        NOT_NULL(draws);
        assert_false(nb_tensor_requires_grad(draws));
        int64_t ones = COUNT - count_zeros(draws);
        double fraction = (double)ones / COUNT, se = sqrt(ps[k] * (1 - ps[k]) / COUNT);
        if (fabs(fraction - ps[k]) > 5 * se)
            fail_msg("p %g: %g of the draws are 1, expected %g +- %g", ps[k], fraction, ps[k], 5 * se);
    }
    nb_rng_free(r);
    nb_scope_end(s);
}

static void fills_draw_what_fresh_tensors_would(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_rng *a = nb_rng_new(SEED), *b = nb_rng_new(SEED);
    /* into a transposed view: C order of the view, whatever the strides */
    nb_tensor *base = nb_zeros(NB_F64, NB_SHAPE(7, 5)), *view = nb_transpose(base, 0, 1);
    ASSERT_OK(nb_normal_inplace(view, 0, 1, a));
    nb_tensor *fresh = nb_randn(b, NB_F64, NB_SHAPE(5, 7));
    for (int64_t i = 0; i < 35; i++)
        assert_true(nbt_value_at(view, i) == nbt_value_at(fresh, i));
    nb_tensor *u32 = nb_zeros(NB_F32, NB_SHAPE(100));
    ASSERT_OK(nb_uniform_inplace(u32, -2, 6, a));
    nb_tensor *w32 = nb_uniform(b, NB_F32, NB_SHAPE(100), -2, 6);
    assert_memory_equal(nb_tensor_data(u32), nb_tensor_data(w32), 100 * sizeof(float));
    /* an empty tensor is filled with nothing, and the generator is where it was */
    ASSERT_OK(nb_uniform_inplace(nb_zeros(NB_F32, NB_SHAPE(0, 3)), 0, 1, a));
    assert_true(nb_rng_next(a) == nb_rng_next(b));
    nb_rng_free(a);
    nb_rng_free(b);
    nb_scope_end(s);
}

static void fills_have_the_asked_mean_and_spread(void **state)
{
    (void)state;
    enum { COUNT = 100000 };
    nb_scope *s = nb_scope_begin();
    nb_rng *r = nb_rng_new(44);
    nb_tensor *g = nb_empty(NB_F32, NB_SHAPE(COUNT)), *u = nb_empty(NB_F64, NB_SHAPE(COUNT));
    ASSERT_OK(nb_normal_inplace(g, 3, 0.5, r));
    ASSERT_OK(nb_uniform_inplace(u, -1, 3, r));
    double gsum = 0, gsq = 0, usum = 0, usq = 0;
    for (int64_t i = 0; i < COUNT; i++) {
        double gv = nbt_value_at(g, i), uv = nbt_value_at(u, i);
        if (!(uv >= -1 && uv < 3))
            fail_msg("uniform draw %lld is %g, outside [-1, 3)", (long long)i, uv);
        gsum += gv, gsq += gv * gv, usum += uv, usq += uv * uv;
    }
    double gmean = gsum / COUNT, gvar = gsq / COUNT - gmean * gmean;
    double umean = usum / COUNT, uvar = usq / COUNT - umean * umean;
    /* normal: var 0.25, sd of the sample variance 0.25 sqrt(2 / n); uniform on [-1, 3): var 16/12 */
    assert_true(fabs(gmean - 3) < 5 * 0.5 / sqrt(COUNT));
    assert_true(fabs(gvar - 0.25) < 5 * 0.25 * sqrt(2.0 / COUNT));
    assert_true(fabs(umean - 1) < 5 * sqrt(16.0 / 12 / COUNT));
    assert_true(fabs(uvar - 16.0 / 12) < 5 * 16 * sqrt((1.0 / 80 - 1.0 / 144) / COUNT));
    /* std 0 gives the mean exactly */
    ASSERT_OK(nb_normal_inplace(g, -1.25, 0, r));
    assert_true(nbt_value_at(g, 777) == -1.25);
    nb_rng_free(r);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- the strided iterator */

static void contiguous_tensor_is_one_row(void **state)
{
    (void)state;
    nbi_iter it;
    const int64_t shape[3] = { 4, 5, 6 }, strides[3] = { 30, 6, 1 };
    nbi_iter_init(&it, 3, shape, 1, (const int64_t *const[]){ strides });
    assert_int_equal(it.rank, 1);
    assert_int_equal(it.rows, 1);
    assert_int_equal(it.inner, 120);
    assert_int_equal(it.strides[0][0], 1);
    /* two operands contiguous alike merge too */
    nbi_iter_init(&it, 3, shape, 2, (const int64_t *const[]){ strides, strides });
    assert_int_equal(it.rank, 1);
    assert_int_equal(it.inner, 120);
}

static void size_one_axes_are_dropped(void **state)
{
    (void)state;
    nbi_iter it;
    /* A transposed [4, 3] with a unit axis in the middle: its stride (99) is irrelevant. */
    const int64_t shape[3] = { 3, 1, 4 }, strides[3] = { 1, 99, 3 };
    nbi_iter_init(&it, 3, shape, 1, (const int64_t *const[]){ strides });
    assert_int_equal(it.rank, 2);
    assert_int_equal(it.shape[0], 3);
    assert_int_equal(it.shape[1], 4);
    assert_int_equal(it.strides[0][0], 1);
    assert_int_equal(it.strides[0][1], 3);
    assert_int_equal(it.rows, 3);
    assert_int_equal(it.inner, 4);
    /* the size-1 axis between two mergeable axes does not stop the merge */
    const int64_t shape2[3] = { 2, 1, 5 }, strides2[3] = { 5, 7, 1 };
    nbi_iter_init(&it, 3, shape2, 1, (const int64_t *const[]){ strides2 });
    assert_int_equal(it.rank, 1);
    assert_int_equal(it.inner, 10);
    /* all axes of size 1 (or rank 0): one row of one element */
    const int64_t ones[2] = { 1, 1 }, any[2] = { 8, 3 };
    nbi_iter_init(&it, 2, ones, 1, (const int64_t *const[]){ any });
    assert_int_equal(it.rank, 1);
    assert_int_equal(it.rows, 1);
    assert_int_equal(it.inner, 1);
    nbi_iter_init(&it, 0, NULL, 1, (const int64_t *const[]){ any });
    assert_int_equal(it.rows, 1);
    assert_int_equal(it.inner, 1);
}

static void broadcast_axes_stay_separate(void **state)
{
    (void)state;
    nbi_iter it;
    const int64_t shape[2] = { 3, 4 }, out[2] = { 4, 1 }, row[2] = { 0, 1 }, col[2] = { 1, 0 };
    /* a matrix plus a broadcast row: rows of 4, the row operand restarting each time */
    nbi_iter_init(&it, 2, shape, 2, (const int64_t *const[]){ out, row });
    assert_int_equal(it.rank, 2);
    assert_int_equal(it.rows, 3);
    assert_int_equal(it.inner, 4);
    assert_int_equal(it.strides[1][0], 0);
    assert_int_equal(it.strides[1][1], 1);
    assert_int_equal(it.strides[0][0], 4);
    /* a single broadcast operand is not merged either */
    nbi_iter_init(&it, 2, shape, 1, (const int64_t *const[]){ col });
    assert_int_equal(it.rank, 2);
    assert_int_equal(it.strides[0][0], 1);
    assert_int_equal(it.strides[0][1], 0);
    /* but two stride-0 axes in a row (a fully broadcast scalar) merge into one */
    const int64_t zero[2] = { 0, 0 };
    nbi_iter_init(&it, 2, shape, 2, (const int64_t *const[]){ out, zero });
    assert_int_equal(it.rank, 1);
    assert_int_equal(it.inner, 12);
    assert_int_equal(it.strides[1][0], 0);
}

static void empty_shapes_have_no_rows(void **state)
{
    (void)state;
    nbi_iter it;
    const int64_t shape[3] = { 3, 0, 2 }, strides[3] = { 2, 2, 1 };
    nbi_iter_init(&it, 3, shape, 1, (const int64_t *const[]){ strides });
    assert_int_equal(it.rows * it.inner, 0);
}

static void cursor_visits_row_offsets_in_c_order(void **state)
{
    (void)state;
    nbi_iter it;
    /* shape [2, 3, 4] with strides that merge nowhere; a second operand contiguous */
    const int64_t shape[3] = { 2, 3, 4 }, a[3] = { 1, 10, 2 }, b[3] = { 12, 4, 1 };
    nbi_iter_init(&it, 3, shape, 2, (const int64_t *const[]){ a, b });
    assert_int_equal(it.rank, 3);
    assert_int_equal(it.rows, 6);
    assert_int_equal(it.inner, 4);
    int64_t expected_a[6], expected_b[6];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            expected_a[i * 3 + j] = i * 1 + j * 10;
            expected_b[i * 3 + j] = i * 12 + j * 4;
        }
    nbi_cursor c;
    nbi_cursor_seek(&it, &c, 0);
    for (int r = 0; r < 6; r++) {
        assert_int_equal(c.offset[0], expected_a[r]);
        assert_int_equal(c.offset[1], expected_b[r]);
        nbi_cursor_next(&it, &c);
    }
    for (int r = 0; r < 6; r++) {   /* seeking lands where stepping does */
        nbi_cursor_seek(&it, &c, r);
        assert_int_equal(c.offset[0], expected_a[r]);
        assert_int_equal(c.offset[1], expected_b[r]);
    }
    nbi_cursor_seek(&it, &c, 2);   /* and stepping on from a seek continues in order */
    nbi_cursor_next(&it, &c);
    assert_int_equal(c.offset[0], expected_a[3]);
    nbi_cursor_next(&it, &c);
    assert_int_equal(c.offset[0], expected_a[4]);
}

typedef struct visit_ctx {
    _Atomic int *hits;        /* per element of the target: how often it was visited */
    int64_t count;
    _Atomic int rows;
} visit_ctx;

static void visit_row(void *ctx, const int64_t *offset, const int64_t *inner_strides, int64_t n)
{
    visit_ctx *v = ctx;
    v->rows++;
    for (int64_t i = 0; i < n; i++) {
        int64_t o = offset[0] + i * inner_strides[0];
        if (o >= 0 && o < v->count)
            v->hits[o]++;
    }
}

static void run_visits_every_element_once_with_two_threads(void **state)
{
    (void)state;
    nb_set_num_threads(2);
    /* Large enough to go parallel: a transposed [300, 400] (rows split between threads)
     * and a contiguous one (one row split into pieces). */
    enum { R = 300, C = 400 };
    visit_ctx v = { calloc(R * C, sizeof(int)), R * C, 0 };
    assert_non_null(v.hits);
    const int64_t shape[2] = { C, R }, transposed[2] = { 1, C }, contiguous[2] = { C, 1 };
    const int64_t shape_c[2] = { R, C };
    nbi_iter it;
    nbi_iter_init(&it, 2, shape, 1, (const int64_t *const[]){ transposed });
    assert_int_equal(it.rows, C);
    nbi_iter_run(&it, visit_row, &v);
    assert_int_equal(v.rows, C);
    for (int i = 0; i < R * C; i++)
        if (v.hits[i] != 1)
            fail_msg("transposed: element %d visited %d times", i, (int)v.hits[i]);
    nbi_iter_init(&it, 2, shape_c, 1, (const int64_t *const[]){ contiguous });
    assert_int_equal(it.rows, 1);
    nbi_iter_run(&it, visit_row, &v);
    for (int i = 0; i < R * C; i++)
        if (v.hits[i] != 2)
            fail_msg("contiguous: element %d visited %d times in all", i, (int)v.hits[i]);
    free(v.hits);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(same_seed_gives_identical_tensors),
        TEST(different_seeds_give_different_numbers),
        TEST(the_default_generator_follows_manual_seed),
        TEST(raw_bits_of_a_seed_are_pinned),
        TEST(uniform_draws_of_a_seed_are_pinned),
        TEST(normal_and_integer_draws_of_a_seed_are_pinned),
        TEST(randint_stays_in_its_half_open_range_and_hits_every_value),
        TEST(uniform_and_normal_draws_have_the_right_mean_and_variance),
        TEST(big_sum_is_bit_identical_for_one_and_two_threads),
        TEST(dropout_drops_a_fraction_p_and_scales_the_rest),
        TEST(dropout_masks_follow_the_seed),
        TEST(random_ops_are_bit_identical_for_one_and_two_threads),
        TEST(dropout_backward_reuses_the_saved_mask),
        TEST(dropout_without_draws_in_eval_and_at_p_zero_and_one),
        TEST(bernoulli_frequencies_follow_p),
        TEST(fills_draw_what_fresh_tensors_would),
        TEST(fills_have_the_asked_mean_and_spread),
        TEST(contiguous_tensor_is_one_row),
        TEST(size_one_axes_are_dropped),
        TEST(broadcast_axes_stay_separate),
        TEST(empty_shapes_have_no_rows),
        TEST(cursor_visits_row_offsets_in_c_order),
        TEST(run_visits_every_element_once_with_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
