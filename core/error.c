/* The thread-local error record: one code and one message per thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error_impl.h"

static _Thread_local nb_status error_code;
static _Thread_local char error_message[1024];
static _Thread_local uint64_t error_count;

static bool abort_on_error(void)
{
    static int cached = -1;   /* benign race: every thread computes the same value */
    if (cached < 0) {
        const char *v = getenv("NB_ABORT_ON_ERROR");
        cached = v && *v && strcmp(v, "0") != 0;
    }
    return cached;
}

nb_status nbi_verror(nb_status code, const char *fmt, va_list ap)
{
    error_code = code;
    error_count++;
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    if (abort_on_error()) {
        fprintf(stderr, "nabla error (NB_ABORT_ON_ERROR is set): %s\n", error_message);
        abort();
    }
    return code;
}

nb_status nbi_error(nb_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nbi_verror(code, fmt, ap);
    va_end(ap);
    return code;
}

nb_status nbi_error_keep(nb_status code, const char *fmt, ...)
{
    if (error_code != NB_OK)
        return error_code;
    va_list ap;
    va_start(ap, fmt);
    nbi_verror(code, fmt, ap);
    va_end(ap);
    return code;
}

uint64_t nbi_error_count(void)
{
    return error_count;
}

void nbi_error_prefix(const char *fn, uint64_t errors_before)
{
    size_t n = strlen(fn);
    if (error_count == errors_before || error_code == NB_OK
        || (strncmp(error_message, fn, n) == 0 && error_message[n] == ':'))
        return;
    char reason[sizeof error_message];
    memcpy(reason, error_message, sizeof reason);
    nbi_error(error_code, "%s: %s", fn, reason);
}

void nbi_assert_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "nabla internal error: %s:%d: assertion '%s' failed\n", file, line, what);
    abort();
}

NB_API const char *nb_error(void)
{
    return error_code == NB_OK ? "" : error_message;
}

NB_API nb_status nb_error_code(void)
{
    return error_code;
}

NB_API void nb_error_clear(void)
{
    error_code = NB_OK;
    error_message[0] = '\0';
}
