/* Shared by the benchmark programs: timing, statistics, peak memory and the JSON line
 * each measurement is printed as (read by benchmarks/compare). */
#ifndef NABLA_BENCH_H
#define NABLA_BENCH_H

#include <stdbool.h>
#include <stdint.h>

typedef struct bench_stats {
    double median_ms, min_ms, max_ms;
} bench_stats;

/* Median, min and max of n samples in milliseconds (sorts them). */
bench_stats bench_summarize(double *samples_ms, int n);
/* Runs fn(ctx) `warmup` times untimed, then `repeats` times timed one by one. */
bench_stats bench_run(void (*fn)(void *ctx), void *ctx, int warmup, int repeats);
double bench_now(void);                 /* seconds, monotonic */
double bench_peak_rss_mb(void);
/* Parses --threads N and --repeats N; sets nabla's threads. */
void bench_args(int argc, char **argv, int *threads, int *repeats);
/* Prints {"workload": ..., "name": ..., "shape": [...], "threads": ..., "median_ms": ...,
 * "min_ms": ..., "max_ms": ..., "peak_rss_mb": ..., <extra>} on one line. extra is a JSON
 * fragment such as "\"gbps\": 41.2" or NULL. */
void bench_print(const char *workload, const char *name, int rank, const int64_t *shape, int threads,
                 bench_stats s, const char *extra);

#endif
