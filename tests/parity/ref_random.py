"""References for nabla's random ops (ops/random.c).

PyTorch's random numbers cannot be matched, so these replay nabla's own: a random op
draws one key from its generator, and element i (C order) of its output uses draw i of the
counter-based stream of core/rng_impl.h, splitmix64 read at a counter, transcribed below.
With the key from the attributes the mask is known exactly, and what is checked is the
op's arithmetic in PyTorch: dropout's output x * mask / (1 - p) and its gradient
gz * mask / (1 - p), and bernoulli's comparison of the draws with p. The statistics of
the draws (fraction dropped, independence of the thread count) are in
tests/core/test_rng_iter.c.
"""
import torch

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def uniforms(key, shape):
    """Draws 0 .. n-1 of the stream of key, uniform on [0, 1) with 53 bits, as an f64 tensor."""
    n = 1
    for s in shape:
        n *= s
    values = [(mix64((key + (i + 1) * GAMMA) & MASK64) >> 11) * 2.0 ** -53 for i in range(n)]
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


def dropout(x, a):
    t, p = x[0], a["p"]
    keep = uniforms(a["key"], t.shape) >= p
    scale = torch.tensor(1.0 / (1.0 - p) if p < 1 else 0.0, dtype=torch.float64)   # p = 1 keeps nothing
    mask = torch.where(keep, scale, torch.zeros((), dtype=torch.float64)).to(t.dtype)
    return t * mask, mask


def bernoulli(x, a):
    p = x[0].detach()
    return (uniforms(a["key"], p.shape) < p.to(torch.float64)).to(p.dtype)


OPS = {
    "dropout": dropout,
    "bernoulli": bernoulli,
}
