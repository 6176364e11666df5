/* Timing and reporting helpers for the benchmark programs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <nabla.h>

#include "bench.h"

double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bench_stats bench_summarize(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, compare_doubles);
    return (bench_stats){ .min_ms = t[0], .max_ms = t[n - 1],
                          .median_ms = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]) };
}

bench_stats bench_run(void (*fn)(void *ctx), void *ctx, int warmup, int repeats)
{
    for (int i = 0; i < warmup; i++)
        fn(ctx);
    double *t = malloc((size_t)repeats * sizeof *t);
    for (int i = 0; i < repeats; i++) {
        double start = bench_now();
        fn(ctx);
        t[i] = (bench_now() - start) * 1e3;
    }
    bench_stats s = bench_summarize(t, repeats);
    free(t);
    return s;
}

double bench_peak_rss_mb(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0;   /* Linux reports kilobytes */
}

void bench_args(int argc, char **argv, int *threads, int *repeats)
{
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0)
            *threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeats") == 0)
            *repeats = atoi(argv[++i]);
    }
    nb_set_num_threads(*threads);
}

void bench_print(const char *workload, const char *name, int rank, const int64_t *shape, int threads,
                 bench_stats s, const char *extra)
{
    printf("{\"engine\": \"nabla\", \"workload\": \"%s\", \"name\": \"%s\", \"shape\": [", workload, name);
    for (int i = 0; i < rank; i++)
        printf("%s%lld", i ? ", " : "", (long long)shape[i]);
    printf("], \"threads\": %d, \"median_ms\": %.6g, \"min_ms\": %.6g, \"max_ms\": %.6g, \"peak_rss_mb\": %.1f%s%s}\n",
           threads, s.median_ms, s.min_ms, s.max_ms, bench_peak_rss_mb(), extra ? ", " : "", extra ? extra : "");
    fflush(stdout);
}
