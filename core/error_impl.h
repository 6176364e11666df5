/* Recording errors (internal). Public side: nb_error(), nb_error_code(), nb_error_clear(). */
#ifndef NABLA_CORE_ERROR_IMPL_H
#define NABLA_CORE_ERROR_IMPL_H

#include <stdarg.h>
#include "nabla/common.h"

/* Records a new error (replacing an older one) and returns code. */
nb_status nbi_error(nb_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
nb_status nbi_verror(nb_status code, const char *fmt, va_list ap);
/* Records an error only when none is recorded: a NULL input means an earlier call failed and
 * its message is the one worth keeping. */
nb_status nbi_error_keep(nb_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* When an error was recorded since errors_before (an nbi_error_count() value), prefixes its
 * message with "fn: ", so that a composite (nb_max over argmax) names the function the caller
 * called as well as the op that failed. Messages that already start with fn are left alone. */
void nbi_error_prefix(const char *fn, uint64_t errors_before);

/* How many errors this thread has recorded so far: a change across a call means it failed,
 * even when an older error was still set before it. */
uint64_t nbi_error_count(void);

/* Internal invariant (never a caller's mistake): aborts with file and line when false. */
#define NB_ASSERT(cond) \
    ((cond) ? (void)0 : nbi_assert_fail(#cond, __FILE__, __LINE__))
_Noreturn void nbi_assert_fail(const char *what, const char *file, int line);

#endif
