"""Shared by the PyTorch peers: timing, peak memory and the JSON line format of bench.c."""
import argparse
import json
import resource
import statistics
import time

import torch


def args():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=15)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    return a


def run(fn, warmup, repeats):
    """Median, min and max in milliseconds of repeats timed calls after warmup calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return summarize(samples)


def summarize(samples):
    return {"median_ms": statistics.median(samples), "min_ms": min(samples), "max_ms": max(samples)}


def emit(workload, name, shape, threads, stats, **extra):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    line = {"engine": "pytorch", "workload": workload, "name": name, "shape": list(shape),
            "threads": threads, **stats, "peak_rss_mb": round(rss, 1), **extra}
    print(json.dumps(line), flush=True)
