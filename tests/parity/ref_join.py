"""PyTorch references for nabla's joining and rearranging ops (ops/join.c).

OPS as in ref_core.py: op name -> function (inputs, attrs). Attributes arrive normalised
(axes in range, roll shifts in [0, size), pads for every axis in F.pad's order).
"""
import torch
import torch.nn.functional as F

# F.pad's reflect and replicate modes take 1, 2 or 3 padded trailing axes, on inputs of
# one or two more axes than that (batch, channels). nabla pads any axes of any rank; the
# other cases are checked against pad_by_index, the same semantics written with index_select.
TORCH_PAD_RANKS = {1: (2, 3), 2: (3, 4), 3: (4, 5)}


def pad_source(k, before, n, mode):
    """The input index output index k of a padded axis reads (reflect and replicate)."""
    s = k - before
    if 0 <= s < n:
        return s
    if mode == "reflect":
        return -s if s < 0 else 2 * (n - 1) - s
    return 0 if s < 0 else n - 1


def pad_by_index(x, pads, mode):
    rank = x.dim()
    for i in range(len(pads) // 2):
        axis, before, after = rank - 1 - i, pads[2 * i], pads[2 * i + 1]
        if before == 0 and after == 0:
            continue
        n = x.shape[axis]
        index = torch.tensor([pad_source(k, before, n, mode) for k in range(n + before + after)], dtype=torch.int64)
        x = x.index_select(axis, index)
    return x


def pad(x, a):
    t, pads, mode = x[0], list(a["pads"]), a["mode"]
    if mode == "constant":
        return F.pad(t, pads, mode="constant", value=a["value"])
    while pads and pads[-1] == 0 and pads[-2] == 0:   # drop unpadded leading axes
        pads = pads[:-2]
    if not pads:
        return t.clone()
    if t.dim() in TORCH_PAD_RANKS.get(len(pads) // 2, ()):
        return F.pad(t, pads, mode=mode)
    return pad_by_index(t, pads, mode)


def pad_backward(x, a):
    """The vector-Jacobian product of pad at gradient x[0], kept differentiable in it."""
    g, pads = x[0], a["pads"]
    shape = list(g.shape)
    for i in range(len(pads) // 2):
        shape[g.dim() - 1 - i] -= pads[2 * i] + pads[2 * i + 1]
    z = torch.zeros(shape, dtype=g.dtype, requires_grad=True)
    padded = pad([z], dict(a, value=0.0))
    return torch.autograd.grad(padded, z, g, create_graph=True)[0]


def roll(x, a):
    if x[0].dim() == 0:
        return x[0].clone()   # torch.roll wants at least one shift
    return torch.roll(x[0], shifts=tuple(a["shifts"]), dims=tuple(range(x[0].dim())))


def diagonal_backward(x, a):
    zeros = torch.zeros(a["shape"], dtype=x[0].dtype)
    return torch.diagonal_scatter(zeros, x[0], a["offset"], a["axis1"], a["axis2"])


OPS = {
    "cat": lambda x, a: torch.cat(x, dim=a["axis"]),
    "stack": lambda x, a: torch.stack(x, dim=a["axis"]),
    "pad": pad,
    "pad_backward": pad_backward,
    "flip": lambda x, a: torch.flip(x[0], a["axes"]),
    "roll": roll,
    "repeat": lambda x, a: x[0].repeat(*a["repeats"]),
    "tril": lambda x, a: torch.tril(x[0], a["k"]),
    "triu": lambda x, a: torch.triu(x[0], a["k"]),
    "diagonal": lambda x, a: torch.diagonal(x[0], a["offset"], a["axis1"], a["axis2"]),
    "diagonal_backward": diagonal_backward,
}
