/* Shared vocabulary of the public API: export macro, dtypes, status codes, errors, threads. */
#ifndef NABLA_COMMON_H
#define NABLA_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define NB_EXTERN_C extern "C"
#else
#define NB_EXTERN_C
#endif
#define NB_API NB_EXTERN_C __attribute__((visibility("default")))

/* Largest number of dimensions a tensor can have. */
#define NB_MAX_RANK 8

typedef enum nb_dtype {
    NB_F32 = 0,     /* float: the fast path */
    NB_F64 = 1,     /* double: gradcheck and scientific use */
    NB_I64 = 2,     /* int64_t: indices and labels; never requires grad */
} nb_dtype;
#define NB_DTYPE_COUNT 3

/* Every failure has one of these codes; nb_error() holds the sentence that explains it. */
typedef enum nb_status {
    NB_OK = 0,
    NB_ERR_NULL,        /* a NULL tensor was passed in */
    NB_ERR_SHAPE,       /* shapes do not fit the operation */
    NB_ERR_DTYPE,       /* dtypes mixed or not supported by the operation */
    NB_ERR_ARG,         /* an argument is out of range (axis, index, size, ...) */
    NB_ERR_MEMORY,      /* allocation failed */
    NB_ERR_AUTOGRAD,    /* misuse of the graph: freed graph, leaf modified in place, ... */
    NB_ERR_STATE,       /* API used in the wrong order (scopes ended out of order, ...) */
    NB_ERR_NUMERIC,     /* anomaly mode found NaN or Inf */
    NB_ERR_IO,          /* a file could not be read or written */
} nb_status;

/* The message of the first error since the last nb_error_clear() on this thread,
 * or "" when there is none. Borrowed: valid until the next nabla call on this thread. */
NB_API const char *nb_error(void);
/* The code of that error, NB_OK when there is none. */
NB_API nb_status nb_error_code(void);
/* Forget the current error so that the next one is recorded. */
NB_API void nb_error_clear(void);

/* Setting the environment variable NB_ABORT_ON_ERROR=1 makes every error print its message
 * to stderr and abort(), so a debugger stops where the mistake happened. */

NB_API const char *nb_dtype_name(nb_dtype dtype);  /* "f32", "f64", "i64" */
NB_API size_t nb_dtype_size(nb_dtype dtype);       /* bytes per element */

/* Threads for both OpenMP loops and OpenBLAS GEMM (they never run at once). n <= 0 means
 * one per core. */
NB_API void nb_set_num_threads(int n);
NB_API int nb_get_num_threads(void);

/* The OpenBLAS kernel family in use for matrix products ("SkylakeX", "Haswell", ...).
 * nabla loads OpenBLAS itself, asking for AVX-512 kernels where the CPU has them; set
 * OPENBLAS_CORETYPE (or NB_BLAS_CORETYPE) to choose. */
NB_API const char *nb_blas_corename(void);

/* Call sites: each op records the file and line it was called from, for anomaly mode's
 * reports. The op headers wrap their functions in macros that pass them in (two stores per
 * call). Define NB_NO_CALL_SITES before including nabla.h to call the plain functions. */
NB_API void nb_set_call_site(const char *file, int line);
#if !defined(NB_NO_CALL_SITES) && !defined(NB_BUILDING_LIBRARY)
#define NB_CALL_SITES
#define NB_AT(call) (nb_set_call_site(__FILE__, __LINE__), call)
#endif

#endif
