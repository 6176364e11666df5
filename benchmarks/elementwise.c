/* Elementwise throughput on 16M f32 elements, the way training loops use ops: each
 * iteration makes its outputs inside a scope that frees them. Forward and backward (the
 * op's gradient alone, through nb_grad) of add, mul, exp, tanh, sigmoid, with GB/s of the
 * memory each moves, and a STREAM-like triad in the same run as the machine's ceiling. */
#include <stdio.h>
#include <stdlib.h>

#include <nabla.h>

#include "bench.h"

enum { N = 16 << 20 };

typedef struct op_case {
    const char *name;
    nb_tensor *(*unary)(nb_tensor *);
    nb_tensor *(*binary)(nb_tensor *, nb_tensor *);
    int forward_arrays;    /* arrays read and written by the forward */
    int backward_arrays;   /* by the gradient kernels (0: the gradient is passed through) */
} op_case;

typedef struct run_ctx {
    const op_case *op;
    nb_tensor *x, *y, *gz;
} run_ctx;

static nb_tensor *apply(const run_ctx *r)
{
    return r->op->unary ? r->op->unary(r->x) : r->op->binary(r->x, r->y);
}

static void forward_once(void *ctx)
{
    nb_scope *s = nb_scope_begin();
    apply(ctx);
    nb_scope_end(s);
}

/* The gradient alone: each timed nb_grad follows an untimed forward. */
static bench_stats time_backward(const run_ctx *r, int repeats)
{
    double *samples = malloc((size_t)repeats * sizeof *samples);
    nb_tensor *inputs[2] = { r->x, r->y }, *grads[2];
    for (int i = -2; i < repeats; i++) {   /* two warm-up rounds */
        nb_scope *s = nb_scope_begin();
        nb_tensor *z = apply(r);
        double start = bench_now();
        nb_grad(&z, (nb_tensor *const[]){ r->gz }, 1, inputs, r->op->unary ? 1 : 2, grads, NULL);
        double ms = (bench_now() - start) * 1e3;
        nb_scope_end(s);
        if (i >= 0)
            samples[i] = ms;
    }
    bench_stats st = bench_summarize(samples, repeats);
    free(samples);
    return st;
}

typedef struct triad_ctx {
    float *a, *b, *c;
} triad_ctx;

static void triad_once(void *ctx)
{
    triad_ctx *t = ctx;
    const float s = 3.0f;
    #pragma omp parallel for schedule(static)
    for (long i = 0; i < N; i++)
        t->a[i] = t->b[i] + s * t->c[i];
}

static void print_rate(const char *name, bench_stats s, int arrays, int threads)
{
    char extra[64] = "";
    if (arrays)
        snprintf(extra, sizeof extra, "\"gbps\": %.2f", (double)arrays * N * 4 / (s.median_ms * 1e-3) / 1e9);
    const int64_t shape[] = { N };
    bench_print("elementwise", name, 1, shape, threads, s, arrays ? extra : NULL);
}

int main(int argc, char **argv)
{
    int threads = 1, repeats = 15;
    bench_args(argc, argv, &threads, &repeats);

    triad_ctx t = { malloc(N * sizeof(float)), malloc(N * sizeof(float)), malloc(N * sizeof(float)) };
    for (long i = 0; i < N; i++)
        t.a[i] = 0, t.b[i] = 1, t.c[i] = 2;   /* pre-touched, as STREAM does */
    print_rate("triad", bench_run(triad_once, &t, 2, repeats), 3, threads);
    free(t.a);
    free(t.b);
    free(t.c);

    nb_rng *rng = nb_rng_new(42);
    nb_tensor *x = nb_uniform(rng, NB_F32, NB_SHAPE(N), -2, 2), *y = nb_uniform(rng, NB_F32, NB_SHAPE(N), -2, 2);
    nb_tensor *gz = nb_randn(rng, NB_F32, NB_SHAPE(N));
    nb_requires_grad(x, true);
    nb_requires_grad(y, true);
    const op_case ops[] = {
        { "add", NULL, nb_add, 3, 0 },
        { "mul", NULL, nb_mul, 3, 6 },   /* gx = gz y, gy = gz x */
        { "exp", nb_exp, NULL, 2, 3 },   /* gx = gz z */
        { "tanh", nb_tanh, NULL, 2, 3 },
        { "sigmoid", nb_sigmoid, NULL, 2, 3 },
    };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        run_ctx r = { &ops[k], x, y, gz };
        char name[64];
        nb_no_grad_begin();
        snprintf(name, sizeof name, "%s forward", ops[k].name);
        print_rate(name, bench_run(forward_once, &r, 2, repeats), ops[k].forward_arrays, threads);
        nb_no_grad_end();

        snprintf(name, sizeof name, "%s backward", ops[k].name);
        print_rate(name, time_backward(&r, repeats), ops[k].backward_arrays, threads);
    }
    nb_release(x);
    nb_release(y);
    nb_release(gz);
    nb_rng_free(rng);
    return 0;
}
