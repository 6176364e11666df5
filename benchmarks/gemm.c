/* GEMM inside autograd: matmul forward + backward (z = x w, gx = gz w^T, gw = x^T gz) at
 * the shapes of a 784-512-256-10 MLP with batch 128, against the same three products
 * called straight on OpenBLAS (same library, same transposes as flags) as the ceiling. */
#include <stdio.h>
#include <stdlib.h>

#include <nabla.h>

#include "bench.h"
#include "ops/kernels/blas.h"

typedef struct layer {
    int64_t m, k, n;       /* x [m, k] @ w [k, n] */
    nb_tensor *x, *w, *gz;
} layer;

static void matmul_step(void *ctx)
{
    layer *l = ctx;
    nb_scope *s = nb_scope_begin();
    nb_tensor *z = nb_matmul(l->x, l->w), *grads[2];
    nb_grad(&z, (nb_tensor *const[]){ l->gz }, 1, (nb_tensor *const[]){ l->x, l->w }, 2, grads, NULL);
    nb_scope_end(s);
}

static void raw_step(void *ctx)
{
    layer *l = ctx;
    const nbi_blas *b = nbi_blas_get();
    const float *x = nb_tensor_data(l->x), *w = nb_tensor_data(l->w), *gz = nb_tensor_data(l->gz);
    static float *z, *gx, *gw;
    static size_t cap;
    size_t need = (size_t)(l->m * l->n + l->m * l->k + l->k * l->n);
    if (need > cap) {
        free(z);
        z = malloc(need * sizeof *z);
        gx = z + l->m * l->n;
        gw = gx + l->m * l->k;
        cap = need;
    }
    int m = (int)l->m, k = (int)l->k, n = (int)l->n;
    b->sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, x, k, w, n, 0, z, n);
    b->sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, n, 1, gz, n, w, n, 0, gx, k);
    b->sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, m, 1, x, k, gz, n, 0, gw, n);
}

int main(int argc, char **argv)
{
    int threads = 1, repeats = 50;
    bench_args(argc, argv, &threads, &repeats);
    nb_rng *rng = nb_rng_new(7);
    layer layers[] = {
        { .m = 128, .k = 784, .n = 512 }, { .m = 128, .k = 512, .n = 256 }, { .m = 128, .k = 256, .n = 10 },
        { .m = 1024, .k = 1024, .n = 1024 },
    };
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        layer *l = &layers[i];
        l->x = nb_randn(rng, NB_F32, NB_SHAPE(l->m, l->k));
        l->w = nb_randn(rng, NB_F32, NB_SHAPE(l->k, l->n));
        l->gz = nb_randn(rng, NB_F32, NB_SHAPE(l->m, l->n));
        nb_requires_grad(l->x, true);
        nb_requires_grad(l->w, true);
        double flops = 3.0 * 2.0 * (double)(l->m * l->k * l->n);
        const int64_t shape[] = { l->m, l->k, l->n };
        char extra[128];
        int reps = l->m >= 1024 ? repeats / 5 + 1 : repeats;
        bench_stats raw = bench_run(raw_step, l, 3, reps);
        snprintf(extra, sizeof extra, "\"gflops\": %.1f, \"blas_core\": \"%s\"", flops / (raw.median_ms * 1e6),
                 nb_blas_corename());
        bench_print("gemm", "raw sgemm x3", 3, shape, threads, raw, extra);
        bench_stats ours = bench_run(matmul_step, l, 3, reps);
        snprintf(extra, sizeof extra, "\"gflops\": %.1f, \"of_raw\": %.3f", flops / (ours.median_ms * 1e6),
                 raw.median_ms / ours.median_ms);
        bench_print("gemm", "matmul forward+backward", 3, shape, threads, ours, extra);
        nb_release(l->x);
        nb_release(l->w);
        nb_release(l->gz);
    }
    nb_rng_free(rng);
    return 0;
}
