/* Graph overhead: a chain of 10,000 ops on one-element tensors (alternating add and mul,
 * requiring grad), then backward. Reports nanoseconds per op, forward and backward: the
 * cost of recording and running the graph, with almost no arithmetic. */
#include <stdio.h>
#include <stdlib.h>

#include <nabla.h>

#include "bench.h"

enum { CHAIN = 10000 };

/* One forward and backward over the chain; the two durations in milliseconds. */
static void run_chain(nb_tensor *x, nb_tensor *c, double *forward_ms, double *backward_ms)
{
    nb_scope *s = nb_scope_begin();
    double t0 = bench_now();
    nb_tensor *y = x;
    for (int i = 0; i < CHAIN; i++)
        y = i % 2 ? nb_mul(y, c) : nb_add(y, c);
    double t1 = bench_now();
    nb_backward(y, NULL);
    double t2 = bench_now();
    nb_scope_end(s);
    nb_zero_grad(x);
    *forward_ms = (t1 - t0) * 1e3;
    *backward_ms = (t2 - t1) * 1e3;
}

int main(int argc, char **argv)
{
    int threads = 1, repeats = 30;
    bench_args(argc, argv, &threads, &repeats);
    nb_tensor *x = nb_scalar(NB_F32, 1.0), *c = nb_scalar(NB_F32, 1.0001);
    nb_requires_grad(x, true);
    double *fwd = malloc((size_t)repeats * sizeof *fwd), *bwd = malloc((size_t)repeats * sizeof *bwd), ignore;
    for (int i = 0; i < 3; i++)
        run_chain(x, c, &ignore, &ignore);
    for (int i = 0; i < repeats; i++)
        run_chain(x, c, &fwd[i], &bwd[i]);
    const int64_t shape[] = { CHAIN };
    const char *names[] = { "chain forward", "chain backward" };
    double *samples[] = { fwd, bwd };
    for (int part = 0; part < 2; part++) {
        bench_stats s = bench_summarize(samples[part], repeats);
        char extra[64];
        snprintf(extra, sizeof extra, "\"ns_per_op\": %.1f", s.median_ms * 1e6 / CHAIN);
        bench_print("graph", names[part], 1, shape, threads, s, extra);
    }
    free(fwd);
    free(bwd);
    nb_release(x);
    nb_release(c);
    return 0;
}
