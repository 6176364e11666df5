/* What the cmocka tests share: the fixture every test runs in, the assertion macros, and
 * reading tensors back element by element to compare them with values written out by hand.
 *
 * Including this brings in cmocka (with the headers it needs first) and nabla.h. */
#ifndef NABLA_TESTS_CHECK_H
#define NABLA_TESTS_CHECK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include <nabla.h>

/* ---------------------------------------------------------------- fixture */

/* Puts back the global state a test may change, or a failed test may leave behind:
 * allocation failure injection off, anomaly mode off, no nb_no_grad_begin left open. The
 * thread count is left alone (setting it starts OpenBLAS); files that change it reset it. */
void nbt_reset_state(void);
/* cmocka setup: clears the error, resets the state and notes the live storage bytes. */
int nbt_setup(void **state);
/* cmocka teardown: resets the state and fails unless the live storage bytes are back where
 * nbt_setup found them (the test leaked nothing). */
int nbt_teardown(void **state);

/* A test run between nbt_setup and nbt_teardown. */
#define TEST(f) cmocka_unit_test_setup_teardown(f, nbt_setup, nbt_teardown)

/* Bytes of tensor storage alive now (nb_memory_stats().live_bytes). */
int64_t nbt_live_bytes(void);

/* ---------------------------------------------------------------- assertions */

/* Fails with nb_error() when t is NULL. */
#define NOT_NULL(t)                                                            \
    do {                                                                       \
        if (!(t))                                                              \
            fail_msg("%s is NULL: %s", #t, nb_error());                        \
    } while (0)

/* Fails with the status and nb_error() unless call returns NB_OK. */
#define ASSERT_OK(call)                                                        \
    do {                                                                       \
        nb_status st_ = (call);                                                \
        if (st_ != NB_OK)                                                      \
            fail_msg("%s returned %d: %s", #call, (int)st_, nb_error());       \
    } while (0)

/* Fails unless the string haystack (NULL fails) contains needle. */
#define ASSERT_CONTAINS(haystack, needle)                                      \
    do {                                                                       \
        const char *h_ = (haystack);                                           \
        if (!h_ || !strstr(h_, (needle)))                                      \
            fail_msg("expected \"%s\" in \"%s\"", (needle), h_ ? h_ : "(null)"); \
    } while (0)

/* t (not NULL) has rank `rank` and the given shape. */
void nbt_assert_shape(const nb_tensor *t, int rank, const int64_t *shape);

/* t (not NULL) has n elements, element j within tol * (1 + |expected[j]|) of expected[j].
 * Any dtype; a file that expects one dtype checks it itself. */
void nbt_assert_close(const nb_tensor *t, const double *expected, int64_t n, double tol);

/* ---------------------------------------------------------------- reading tensors */

/* Offset, in elements from the data pointer, of element j counted in C order, through t's
 * strides. */
int64_t nbt_offset_of(const nb_tensor *t, int64_t j);
/* Element j (C order) of t, of any dtype, read with plain pointer arithmetic; fails the test
 * if t is NULL. */
double nbt_value_at(const nb_tensor *t, int64_t j);

/* ---------------------------------------------------------------- making tensors */

/* An f64 leaf with a copy of data that requires grad, owned by the current scope. */
nb_tensor *nbt_leaf(const double *data, int rank, const int64_t *shape);

/* nb_graph_dot(root) as a string; free() it. */
char *nbt_graph_dot_text(const nb_tensor *root);

#endif
