/* The shared test fixture and helpers declared in check.h. */
#include "check.h"

#include <math.h>
#include <stdio.h>

#include "core/alloc.h"

/* ---------------------------------------------------------------- fixture */

static int64_t live_at_start;

int64_t nbt_live_bytes(void)
{
    return nb_memory_stats().live_bytes;
}

void nbt_reset_state(void)
{
    nbi_alloc_fail_after(0);
    nb_set_anomaly_mode(false);
    for (int i = 0; i < 64 && !nb_grad_enabled(); i++)   /* a failed test may leave no-grad open */
        nb_no_grad_end();
}

int nbt_setup(void **state)
{
    (void)state;
    nb_error_clear();
    nbt_reset_state();
    live_at_start = nbt_live_bytes();
    return 0;
}

int nbt_teardown(void **state)
{
    (void)state;
    nbt_reset_state();
    int64_t live = nbt_live_bytes();
    if (live != live_at_start) {
        print_error("storage leaked: %lld bytes live after the test, %lld before\n", (long long)live,
                    (long long)live_at_start);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- assertions */

void nbt_assert_shape(const nb_tensor *t, int rank, const int64_t *shape)
{
    NOT_NULL(t);
    assert_int_equal(nb_tensor_rank(t), rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(nb_tensor_shape(t)[i], shape[i]);
}

void nbt_assert_close(const nb_tensor *t, const double *expected, int64_t n, double tol)
{
    if (!t)
        fail_msg("tensor is NULL: %s", nb_error());
    assert_int_equal(nb_tensor_numel(t), n);
    for (int64_t j = 0; j < n; j++) {
        double v = nbt_value_at(t, j);
        if (!(fabs(v - expected[j]) <= tol * (1 + fabs(expected[j]))))
            fail_msg("element %lld is %.17g, expected %.17g", (long long)j, v, expected[j]);
    }
}

/* ---------------------------------------------------------------- reading tensors */

int64_t nbt_offset_of(const nb_tensor *t, int64_t j)
{
    int rank = nb_tensor_rank(t);
    const int64_t *shape = nb_tensor_shape(t), *strides = nb_tensor_strides(t);
    int64_t off = 0;
    for (int d = rank - 1; d >= 0; d--) {
        off += (j % shape[d]) * strides[d];
        j /= shape[d];
    }
    return off;
}

double nbt_value_at(const nb_tensor *t, int64_t j)
{
    if (!t)
        fail_msg("tensor is NULL: %s", nb_error());
    int64_t off = nbt_offset_of(t, j);
    switch (nb_tensor_dtype(t)) {
    case NB_F32: return ((const float *)nb_tensor_data(t))[off];
    case NB_F64: return ((const double *)nb_tensor_data(t))[off];
    case NB_I64: return (double)((const int64_t *)nb_tensor_data(t))[off];
    }
    fail_msg("tensor has no known dtype (%d)", (int)nb_tensor_dtype(t));
    return NAN;
}

/* ---------------------------------------------------------------- making tensors */

nb_tensor *nbt_leaf(const double *data, int rank, const int64_t *shape)
{
    nb_tensor *t = nb_tensor_from_data(data, NB_F64, rank, shape);
    NOT_NULL(t);
    ASSERT_OK(nb_requires_grad(t, true));
    return t;
}

char *nbt_graph_dot_text(const nb_tensor *root)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    ASSERT_OK(nb_graph_dot(root, f));
    fclose(f);
    return text;
}
