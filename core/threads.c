/* One thread setting for OpenMP loops and OpenBLAS GEMM together. */
#include <omp.h>

#include "core/threads.h"
#include "ops/kernels/blas.h"
#include "nabla/common.h"

static int num_threads;   /* 0 until set or first asked: then one per core */

NB_API void nb_set_num_threads(int n)
{
    if (n <= 0)
        n = omp_get_num_procs();
    num_threads = n;
    omp_set_num_threads(n);
    const nbi_blas *blas = nbi_blas_get();
    if (blas)
        blas->set_num_threads(n);
}

NB_API int nb_get_num_threads(void)
{
    if (num_threads == 0)
        num_threads = omp_get_max_threads();
    return num_threads;
}

int nbi_threads_for(int64_t work)
{
    if (work < NBI_PARALLEL_GRAIN)
        return 1;
    int n = nb_get_num_threads();
    int64_t most = work / (NBI_PARALLEL_GRAIN / 2);   /* at least half a grain each */
    return most < n ? (int)most : n;
}
