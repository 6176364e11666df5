"""Graph overhead in PyTorch: the chain of benchmarks/graph_overhead.c."""
import time

import torch

import common

CHAIN = 10000


def chain(x, c):
    t0 = time.perf_counter()
    y = x
    for i in range(CHAIN):
        y = y * c if i % 2 else y + c
    t1 = time.perf_counter()
    y.backward()
    t2 = time.perf_counter()
    x.grad = None
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3


def main():
    a = common.args()
    x = torch.ones((), requires_grad=True)
    c = torch.tensor(1.0001)
    for _ in range(3):
        chain(x, c)
    runs = [chain(x, c) for _ in range(a.repeats)]
    for part, name in enumerate(["chain forward", "chain backward"]):
        stats = common.summarize([r[part] for r in runs])
        common.emit("graph", name, [CHAIN], a.threads, stats, ns_per_op=round(stats["median_ms"] * 1e6 / CHAIN, 1))


main()
