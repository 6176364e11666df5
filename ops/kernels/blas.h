/* OpenBLAS, loaded at first use (internal).
 *
 * Debian's OpenBLAS 0.3.21 picks its kernels when it initialises, from the CPU it detects or
 * from the environment variable OPENBLAS_CORETYPE. It does not know recent AVX-512 CPUs
 * (AMD Zen 4/5 run its AVX2 "Haswell" kernels, about half the speed), and machines often
 * pin OPENBLAS_CORETYPE=Haswell for that reason. Linking OpenBLAS normally would initialise
 * it before any code of ours runs, so nabla loads it with dlopen on first use, with
 * OPENBLAS_CORETYPE set to SkylakeX for the duration of the load when the CPU has the
 * AVX-512 subsets those kernels use (the caller's value is put back afterwards).
 *   NB_BLAS_CORETYPE=<name>  load with that core type instead;
 *   NB_BLAS_CORETYPE=inherit keep OPENBLAS_CORETYPE or OpenBLAS's own detection.
 * An OPENBLAS_CORETYPE that already names an AVX-512 core is kept. A process that loaded
 * OpenBLAS before nabla keeps that copy's choice (dlopen returns it). */
#ifndef NABLA_OPS_KERNELS_BLAS_H
#define NABLA_OPS_KERNELS_BLAS_H

#include <cblas.h>

typedef struct nbi_blas {
    void (*sgemm)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint m, blasint n,
                  blasint k, float alpha, const float *a, blasint lda, const float *b, blasint ldb, float beta,
                  float *c, blasint ldc);
    void (*dgemm)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint m, blasint n,
                  blasint k, double alpha, const double *a, blasint lda, const double *b, blasint ldb,
                  double beta, double *c, blasint ldc);
    void (*set_num_threads)(int n);
    char *(*get_corename)(void);
} nbi_blas;

/* The loaded library, or NULL with nb_error() set when it cannot be loaded. */
const nbi_blas *nbi_blas_get(void);

#endif
