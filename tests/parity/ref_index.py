"""PyTorch references for nabla's indexing ops (ops/index.c); see ref_core.py for the format.

Masks arrive as nabla's: the data's float dtype or int64, nonzero meaning true; PyTorch wants
bool, so they are compared with 0 (which also cuts them out of the graph: no gradient).
"""
import torch

from ref_core import DTYPES


def as_bool(mask):
    return mask != 0


def masked_select(x, a):
    # PyTorch 1.13 (Debian's) gives masked_select of a non-contiguous input a wrong gradient:
    # its backward, masked_scatter_ into zeros_like(input), fills in memory order rather than
    # C order (pytorch/pytorch#99638, fixed by #100232 in 2.1). nabla's gradient is the right
    # one; a contiguous copy (differentiable) gives PyTorch's the same.
    return torch.masked_select(x[0].contiguous(), as_bool(x[1]))


def masked_select_backward(x, a):
    # zeros of the given shape with g placed where the broadcast mask is true, in C order
    # (contiguous operands: see masked_select above)
    g, mask = x
    zeros = torch.zeros(a["shape"], dtype=g.dtype)
    return zeros.masked_scatter(as_bool(mask).expand(a["shape"]).contiguous(), g.contiguous())


OPS = {
    "index_select": lambda x, a: torch.index_select(x[0], a["axis"], x[1]),
    "index_add": lambda x, a: torch.index_add(x[0], a["axis"], x[1], x[2]),
    "gather": lambda x, a: torch.gather(x[0], a["axis"], x[1]),
    "scatter_add": lambda x, a: torch.scatter_add(x[0], a["axis"], x[1], x[2]),
    # The samples write each position at most once, where PyTorch's scatter is deterministic.
    "scatter": lambda x, a: torch.scatter(x[0], a["axis"], x[1], x[2]),
    "masked_fill": lambda x, a: torch.masked_fill(x[0], as_bool(x[1]), a["value"]),
    "masked_select": masked_select,
    "masked_select_backward": masked_select_backward,
    # PyTorch's one_hot gives int64; nabla's takes the dtype as an attribute.
    "one_hot": lambda x, a: torch.nn.functional.one_hot(x[0], a["num_classes"]).to(DTYPES[a["dtype"]]),
}
