"""Matmul forward + backward in PyTorch at the shapes of benchmarks/gemm.c."""
import torch

import common


def main():
    a = common.args()
    g = torch.Generator().manual_seed(7)
    for m, k, n in [(128, 784, 512), (128, 512, 256), (128, 256, 10), (1024, 1024, 1024)]:
        x = torch.randn(m, k, generator=g, requires_grad=True)
        w = torch.randn(k, n, generator=g, requires_grad=True)
        gz = torch.randn(m, n, generator=g)

        def step():
            z = x @ w
            torch.autograd.grad(z, (x, w), gz)

        stats = common.run(step, 3, a.repeats if m < 1024 else a.repeats // 5 + 1)
        flops = 3 * 2 * m * k * n
        common.emit("gemm", "matmul forward+backward", [m, k, n], a.threads, stats,
                    gflops=round(flops / (stats["median_ms"] * 1e6), 1))


main()
