"""PyTorch references for nabla's core ops (elementwise, reductions, matmul, shapes).

Each ref_*.py file in this folder defines OPS: op name -> function (inputs, attrs) giving the
output or a tuple of outputs. Inputs arrive laid out as the sample says; attrs is the JSON
of the op's format_attrs. compare.py merges all of them; a name defined twice is an error.
The helpers below (binary, unary, with_scalar, reduced_shape, ...) serve the other files too.
"""
import math

import torch

DTYPES = {"f32": torch.float32, "f64": torch.float64, "i64": torch.int64}

def reduced_shape(shape, axes, keepdim):
    return [1 if d in axes else n for d, n in enumerate(shape) if keepdim or d not in axes]


def reduce_blocks(x, axes):
    """x as [*kept, block]: kept axes first, reduced ones flattened in C order last."""
    kept = [d for d in range(x.dim()) if d not in axes]
    kept_shape = [x.shape[d] for d in kept]
    block = math.prod(x.shape[d] for d in axes)
    return x.permute(kept + list(axes)).reshape(kept_shape + [block]), kept_shape


def sum_op(x, a):
    if not a["axes"]:
        return x[0]   # nabla's empty axis mask reduces nothing; torch's dim=[] would reduce all
    return torch.sum(x[0], dim=a["axes"], keepdim=a["keepdim"])


def arg_op(fn):
    # Index = C-order position within the reduced block; the first one on ties.
    def run(x, a):
        blocks, _ = reduce_blocks(x[0], a["axes"])
        return fn(blocks, dim=-1).reshape(reduced_shape(x[0].shape, a["axes"], a["keepdim"]))
    return run


def reduce_gather(x, a):
    blocks, kept_shape = reduce_blocks(x[0], a["axes"])
    picked = blocks.gather(-1, x[1].reshape(kept_shape + [1]))
    return picked.reshape(reduced_shape(x[0].shape, a["axes"], a["keepdim"]))


def reduce_scatter(x, a):
    g, index = x
    shape, axes = a["shape"], a["axes"]
    kept = [d for d in range(len(shape)) if d not in axes]
    kept_shape = [shape[d] for d in kept]
    block = math.prod(shape[d] for d in axes)
    zeros = torch.zeros(kept_shape + [block], dtype=g.dtype)
    blocks = zeros.scatter(-1, index.reshape(kept_shape + [1]), g.reshape(kept_shape + [1]))
    order = kept + list(axes)
    permuted = blocks.reshape([shape[d] for d in order])
    return permuted.permute([order.index(d) for d in range(len(shape))])


def slice_range(a):
    """(start, stop) of a slice of count elements from start by step."""
    stop = a["start"] + (a["count"] - 1) * a["step"] + 1 if a["count"] > 0 else a["start"]
    return a["start"], stop


def slice_op(x, a):
    start, stop = slice_range(a)
    index = [slice(None)] * x[0].dim()
    index[a["axis"]] = slice(start, stop, a["step"])
    return x[0][tuple(index)]


def slice_backward(x, a):
    start, stop = slice_range(a)
    zeros = torch.zeros(a["shape"], dtype=x[0].dtype)
    return torch.slice_scatter(zeros, x[0], dim=a["axis"], start=start, end=stop, step=a["step"])


def binary(fn):
    return lambda x, a: fn(x[0], x[1])


def comparison(fn):
    return lambda x, a: fn(x[0], x[1]).to(x[0].dtype)   # masks as 0/1 in the input dtype


def unary(fn):
    return lambda x, a: fn(x[0])


def with_scalar(fn):
    return lambda x, a: fn(x[0], a["s"])


OPS = {
    "add": binary(torch.add),
    "sub": binary(torch.sub),
    "mul": binary(torch.mul),
    "div": binary(torch.div),
    "pow": binary(torch.pow),
    "maximum": binary(torch.maximum),
    "minimum": binary(torch.minimum),
    "eq": comparison(torch.eq),
    "ne": comparison(torch.ne),
    "lt": comparison(torch.lt),
    "le": comparison(torch.le),
    "gt": comparison(torch.gt),
    "ge": comparison(torch.ge),
    # The fused gradients as differentiable expressions, so that their gradients are checked too.
    "tanh_backward": binary(lambda gz, z: gz * (1 - z * z)),
    "sigmoid_backward": binary(lambda gz, z: gz * z * (1 - z)),
    "relu_backward": binary(lambda gz, x: gz * (x > 0).to(gz.dtype)),
    "add_scalar": with_scalar(lambda x, s: x + s),
    "mul_scalar": with_scalar(lambda x, s: x * s),
    "pow_scalar": with_scalar(torch.pow),
    "rsub_scalar": with_scalar(lambda x, s: s - x),
    "neg": unary(torch.neg),
    "exp": unary(torch.exp),
    "log": unary(torch.log),
    "sqrt": unary(torch.sqrt),
    "tanh": unary(torch.tanh),
    "sigmoid": unary(torch.sigmoid),
    "relu": unary(torch.relu),
    "abs": unary(torch.abs),
    "sign": unary(torch.sign),
    "square": unary(torch.square),
    "sum": sum_op,
    "argmax": arg_op(torch.argmax),
    "argmin": arg_op(torch.argmin),
    "reduce_gather": reduce_gather,
    "reduce_scatter": reduce_scatter,
    "matmul": binary(torch.matmul),
    "reshape": lambda x, a: x[0].reshape(a["shape"]),
    "permute": lambda x, a: x[0].permute(a["perm"]),
    "slice": slice_op,
    "slice_backward": slice_backward,
    "expand": lambda x, a: x[0].expand(a["shape"]),
    "clone": unary(torch.clone),
    "cast": lambda x, a: x[0].to(DTYPES[a["dtype"]]),
}


# ---------------------------------------------------------------- cases

