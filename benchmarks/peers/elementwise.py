"""Elementwise throughput in PyTorch: the workloads of benchmarks/elementwise.c."""
import time

import torch

import common

N = 16 << 20


def rate(arrays, stats):
    return {"gbps": round(arrays * N * 4 / (stats["median_ms"] * 1e-3) / 1e9, 2)} if arrays else {}


def main():
    a = common.args()
    g = torch.Generator().manual_seed(42)
    x = (torch.rand(N, generator=g) * 4 - 2).requires_grad_()
    y = (torch.rand(N, generator=g) * 4 - 2).requires_grad_()
    gz = torch.randn(N, generator=g)
    ops = [("add", lambda: x + y, (x, y), 3, 0), ("mul", lambda: x * y, (x, y), 3, 6),
           ("exp", lambda: torch.exp(x), (x,), 2, 3), ("tanh", lambda: torch.tanh(x), (x,), 2, 3),
           ("sigmoid", lambda: torch.sigmoid(x), (x,), 2, 3)]
    for name, fn, inputs, fwd_arrays, bwd_arrays in ops:
        with torch.no_grad():
            stats = common.run(fn, 2, a.repeats)
        common.emit("elementwise", name + " forward", [N], a.threads, stats, **rate(fwd_arrays, stats))
        samples = []
        for i in range(a.repeats + 2):
            z = fn()
            start = time.perf_counter()
            torch.autograd.grad(z, inputs, gz)
            if i >= 2:
                samples.append((time.perf_counter() - start) * 1e3)
            del z
        stats = common.summarize(samples)
        common.emit("elementwise", name + " backward", [N], a.threads, stats, **rate(bwd_arrays, stats))


main()
