/* Loading OpenBLAS with the fastest kernels this CPU runs (see blas.h). */
#include <dlfcn.h>
#include <stdio.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error_impl.h"
#include "nabla/common.h"
#include "ops/kernels/blas.h"

static nbi_blas table;
static bool loaded;
static char load_error[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The kernels OpenBLAS calls SkylakeX use AVX-512 F, CD, BW, DQ and VL. */
static bool has_skylakex_isa(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd")
           && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
           && __builtin_cpu_supports("avx512vl");
}

/* The core type to load OpenBLAS with, or NULL to leave the environment alone. */
static const char *wanted_coretype(void)
{
    static const char *const avx512_cores[] = { "SkylakeX", "Cooperlake", "SapphireRapids" };
    const char *chosen = getenv("NB_BLAS_CORETYPE");
    if (chosen)
        return strcmp(chosen, "inherit") == 0 ? NULL : chosen;
    const char *current = getenv("OPENBLAS_CORETYPE");
    for (size_t i = 0; current && i < sizeof avx512_cores / sizeof avx512_cores[0]; i++)
        if (strcasecmp(current, avx512_cores[i]) == 0)
            return NULL;
    return has_skylakex_isa() ? "SkylakeX" : NULL;
}

static void load(void)
{
    const char *coretype = wanted_coretype();
    const char *previous = getenv("OPENBLAS_CORETYPE");
    char saved[64] = "";
    if (previous)
        snprintf(saved, sizeof saved, "%s", previous);
    if (coretype)
        setenv("OPENBLAS_CORETYPE", coretype, 1);
    void *lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_GLOBAL);
    if (!lib)
        lib = dlopen("libopenblas.so", RTLD_NOW | RTLD_GLOBAL);
    if (coretype && previous)
        setenv("OPENBLAS_CORETYPE", saved, 1);
    else if (coretype)
        unsetenv("OPENBLAS_CORETYPE");
    if (!lib) {
        snprintf(load_error, sizeof load_error, "cannot load OpenBLAS (libopenblas.so.0): %s", dlerror());
        return;
    }
    *(void **)&table.sgemm = dlsym(lib, "cblas_sgemm");
    *(void **)&table.dgemm = dlsym(lib, "cblas_dgemm");
    *(void **)&table.set_num_threads = dlsym(lib, "openblas_set_num_threads");
    *(void **)&table.get_corename = dlsym(lib, "openblas_get_corename");
    if (!table.sgemm || !table.dgemm || !table.set_num_threads || !table.get_corename) {
        snprintf(load_error, sizeof load_error, "the loaded OpenBLAS lacks cblas_sgemm, cblas_dgemm or its thread control");
        return;
    }
    loaded = true;
}

const nbi_blas *nbi_blas_get(void)
{
    pthread_once(&once, load);
    if (!loaded) {
        nbi_error(NB_ERR_STATE, "%s", load_error);
        return NULL;
    }
    return &table;
}

NB_API const char *nb_blas_corename(void)
{
    const nbi_blas *b = nbi_blas_get();
    return b ? b->get_corename() : "unavailable";
}
