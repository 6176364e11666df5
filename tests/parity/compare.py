#!/usr/bin/python3
"""Parity of nabla with PyTorch: every registered op's samples, forward and gradient.

Runs parity_dump (tests/parity/dump.c), which writes one JSON line per (op, sample, dtype)
with the inputs nabla used, its outputs, a random upstream gradient per float output and
the gradients nabla computed for the bases. Each case is redone here in PyTorch: the bases
become torch tensors, get the same layout (transposed, strided, expanded) as nbt_layout in
tests/common/samples.c, go through the op's entry in OPS, and torch.autograd.grad with the
same upstream gradients gives the reference gradients.

Every op in the dump needs an entry in OPS; an op without one fails, so a new op cannot
skip parity. Run with Debian's /usr/bin/python3 (python3-torch).

Usage: compare.py [--self-test] DUMP
DUMP is the parity_dump executable (run here) or a file of JSON lines it wrote.
--self-test corrupts one output value and one gradient value of the real dump and passes
only if the comparison reports both.
"""

import argparse
import json
import math
import os
import subprocess
import sys

import torch

from ref_core import DTYPES  # noqa: E402  (the dtype names of the dump)

DTYPE_NAMES = {v: k for k, v in DTYPES.items()}

# enum nb_sample_layout in include/nabla/op_def.h
LAYOUT_CONTIGUOUS, LAYOUT_TRANSPOSED, LAYOUT_STRIDED, LAYOUT_EXPANDED = 0, 1, 2, 3

# f64: |ours - torch| <= 1e-10 + 1e-10 |torch|, element by element.
F64_ATOL, F64_RTOL = 1e-10, 1e-10
# f32: |ours - torch| <= atol + 1e-5 |torch| with atol = 1e-5 max(1, max |torch|) per tensor.
# The absolute term is there for reductions (sum, matmul): nabla and PyTorch add in different
# orders, so an element that comes out near 0 from terms of size max|torch| carries rounding
# of that size, not of its own.
F32_RTOL, F32_ATOL_SCALE = 1e-5, 1e-5

# Relative size of the corruptions that --self-test must catch.
SELF_TEST_CORRUPTION = 1e-3


# ---------------------------------------------------------------- the ops in PyTorch
# Every ref_*.py beside this file defines OPS (name -> function of (inputs, attrs)).

def load_references():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    ops, origin = {}, {}
    for name in sorted(os.listdir(here)):
        if not (name.startswith("ref_") and name.endswith(".py")):
            continue
        module = __import__(name[:-3])
        for op, fn in module.OPS.items():
            if op in ops:
                raise SystemExit("op %s has references in both %s and %s" % (op, origin[op], name))
            ops[op], origin[op] = fn, name
    return ops


OPS = load_references()


def case_name(case):
    return "%s / %s / %s" % (case.get("op"), case.get("sample"), case.get("dtype"))


def lay_out(base, inp):
    """The view of base that the sample feeds the op, as nbt_layout makes it."""
    rank = len(inp["shape"])
    if inp["layout"] == LAYOUT_TRANSPOSED and rank >= 2:
        return base.transpose(-1, -2)
    if inp["layout"] == LAYOUT_STRIDED and rank >= 1:
        return base[..., ::2]
    if inp["layout"] == LAYOUT_EXPANDED and rank >= 1:
        return base.expand(inp["shape"])
    return base


def tensor_of(values, shape, dtype):
    return torch.tensor(values, dtype=dtype).reshape(shape)


class Failure:
    def __init__(self, case, tensor, message):
        self.op, self.sample, self.dtype = case.get("op"), case.get("sample"), case.get("dtype")
        self.tensor, self.message = tensor, message

    def key(self):
        return (self.op, self.sample, self.dtype, self.tensor)

    def __str__(self):
        return "FAIL %s / %s / %s: %s: %s" % (self.op, self.sample, self.dtype, self.tensor, self.message)


def compare_tensor(case, what, ours, ref):
    """A Failure when nabla's tensor (JSON record) differs from PyTorch's, else None."""
    ref = ref.detach()
    ref_dtype = DTYPE_NAMES.get(ref.dtype, str(ref.dtype))
    if ours["dtype"] != ref_dtype:
        return Failure(case, what, "dtype %s, torch gives %s" % (ours["dtype"], ref_dtype))
    if list(ours["shape"]) != list(ref.shape):
        return Failure(case, what, "shape %s, torch gives %s" % (ours["shape"], list(ref.shape)))
    if ref.numel() == 0:
        return None
    if ref.dtype == torch.int64:
        got = tensor_of(ours["values"], ours["shape"], torch.int64)
        bad = got != ref
        if not bad.any():
            return None
        flat = int(bad.reshape(-1).nonzero()[0])
        return Failure(case, what, "worst element %s: ours %d, torch %d (integers must match exactly)"
                       % (unravel(flat, ref.shape), got.reshape(-1)[flat], ref.reshape(-1)[flat]))
    got = tensor_of(ours["values"], ours["shape"], torch.float64)
    want = ref.to(torch.float64)
    if ref.dtype == torch.float32:
        finite = want[torch.isfinite(want)]
        biggest = float(finite.abs().max()) if finite.numel() else 0.0
        atol, rtol = F32_ATOL_SCALE * max(1.0, biggest), F32_RTOL
    else:
        atol, rtol = F64_ATOL, F64_RTOL
    same = (got == want) | (torch.isnan(got) & torch.isnan(want))   # NaN and Inf must agree exactly
    err = (got - want).abs()
    allowed = atol + rtol * want.abs()
    ratio = torch.where(same, torch.zeros_like(err), err / allowed)
    ratio = torch.where(torch.isnan(ratio), torch.full_like(ratio, math.inf), ratio)
    flat = int(ratio.reshape(-1).argmax())
    if float(ratio.reshape(-1)[flat]) <= 1:
        return None
    return Failure(case, what, "worst element %s: ours %.17g, torch %.17g (|diff| %.3g, allowed %.3g)"
                   % (unravel(flat, ref.shape), float(got.reshape(-1)[flat]), float(want.reshape(-1)[flat]),
                      float(err.reshape(-1)[flat]), float(allowed.reshape(-1)[flat])))


def unravel(flat, shape):
    index = []
    for n in reversed(list(shape)):
        index.append(flat % n)
        flat //= n
    return list(reversed(index))


class Result:
    def __init__(self):
        self.cases, self.forward, self.gradient = 0, 0, 0
        self.ops = set()
        self.failures = []


def check_case(case, result):
    """Redoes one case in PyTorch; adds counts and failures to result."""
    result.cases += 1
    result.ops.add(case.get("op"))
    if "error" in case:
        result.failures.append(Failure(case, "nabla", case["error"]))
        return
    fn = OPS.get(case["op"])
    if fn is None:
        result.failures.append(Failure(case, "op", "no PyTorch entry in OPS of tests/parity/compare.py: "
                                                   "add one so that the op is checked"))
        return
    dtype = DTYPES[case["dtype"]]
    bases, inputs = [], []
    for inp in case["inputs"]:
        base = tensor_of(inp["values"], inp["base_shape"], torch.int64 if inp["integer"] else dtype)
        if not inp["integer"]:
            base.requires_grad_(True)
        bases.append(base)
        inputs.append(lay_out(base, inp))
    try:
        refs = fn(inputs, case["attrs"])
    except Exception as e:  # a wrong entry or a case PyTorch rejects: report, go on
        result.failures.append(Failure(case, "torch", "PyTorch raised %s: %s" % (type(e).__name__, e)))
        return
    refs = list(refs) if isinstance(refs, (tuple, list)) else [refs]
    if len(refs) != len(case["outputs"]):
        result.failures.append(Failure(case, "outputs", "%d outputs, torch gives %d"
                                       % (len(case["outputs"]), len(refs))))
        return
    for j, (ours, ref) in enumerate(zip(case["outputs"], refs)):
        result.forward += 1
        failure = compare_tensor(case, "output %d" % j, ours, ref)
        if failure:
            result.failures.append(failure)

    float_in = [i for i, inp in enumerate(case["inputs"]) if not inp["integer"]]
    torch_differentiable = any(r.requires_grad for r in refs) and float_in
    if not case["differentiable"]:
        if torch_differentiable and any(r.dtype.is_floating_point for r in refs):
            result.failures.append(Failure(case, "gradient", "nabla has no backward rule where PyTorch "
                                                             "differentiates the op"))
        return
    pairs = [(ref, tensor_of(gz["values"], gz["shape"], DTYPES[gz["dtype"]]))
             for ref, gz in zip(refs, case["grad_outputs"]) if gz is not None]
    pairs = [(ref, gz) for ref, gz in pairs if ref.requires_grad]
    wrt = [bases[i] for i in float_in]
    if pairs:
        grads = torch.autograd.grad([r for r, _ in pairs], wrt, [g for _, g in pairs], allow_unused=True)
    else:
        grads = [None] * len(wrt)
    for i, g in zip(float_in, grads):
        result.gradient += 1
        ours = case["grads"][i]
        if ours is None:
            result.failures.append(Failure(case, "grad of input %d" % i, "nabla gave no gradient"))
            continue
        ref = torch.zeros_like(bases[i]) if g is None else g   # unused by the graph: zero gradient
        failure = compare_tensor(case, "grad of input %d" % i, ours, ref)
        if failure:
            result.failures.append(failure)


def check_all(cases):
    result = Result()
    for case in cases:
        check_case(case, result)
    return result


def load_cases(source):
    """The cases of a dump: run the parity_dump executable, or read a file it wrote."""
    if os.access(source, os.X_OK) and not os.path.isdir(source):
        run = subprocess.run([source], stdout=subprocess.PIPE, check=False)
        if run.returncode != 0:
            sys.exit("compare.py: %s exited with status %d" % (source, run.returncode))
        text = run.stdout.decode()
    else:
        with open(source) as f:
            text = f.read()
    cases = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            cases.append(json.loads(line))
        except json.JSONDecodeError as e:
            cases.append({"op": "?", "sample": "line %d" % n, "dtype": "?",
                          "error": "the dump line is not JSON (%s)" % e})
    if not cases:
        sys.exit("compare.py: the dump has no cases")
    return cases


def summary(result):
    return ("parity: %d cases (%d ops x samples x dtypes), %d forward and %d gradient comparisons, %d failed"
            % (result.cases, len(result.ops), result.forward, result.gradient, len(result.failures)))


# ---------------------------------------------------------------- self-test

def largest_element(record):
    """Flat index of the largest |value| of a float tensor record (None if not float or empty)."""
    if record is None or record["dtype"] not in ("f32", "f64") or not record["values"]:
        return None
    values = record["values"]
    return max(range(len(values)), key=lambda k: abs(values[k]) if math.isfinite(values[k]) else -1)


def pick_target(cases, clean_failed, field, avoid_op=None):
    """The first f32 case that passed cleanly and has a float tensor in field whose largest
    element is at least 0.1 (so that a 1e-3 relative change is far above the f32 tolerance)."""
    for c, case in enumerate(cases):
        if case.get("dtype") != "f32" or "error" in case or case["op"] == avoid_op or c in clean_failed:
            continue
        for j, record in enumerate(case.get(field) or []):
            k = largest_element(record)
            if k is not None and abs(record["values"][k]) >= 0.1:
                return c, j, k
    return None


def self_test(cases):
    """Corrupts one output and one gradient value; passes if the comparison reports both."""
    clean_failed = set()
    for c, case in enumerate(cases):
        r = Result()
        check_case(case, r)
        if r.failures:
            clean_failed.add(c)
    out_target = pick_target(cases, clean_failed, "outputs")
    if out_target is None:
        print("self-test: no clean case has an output to corrupt")
        return 1
    grad_target = pick_target(cases, clean_failed, "grads", avoid_op=cases[out_target[0]]["op"])
    if grad_target is None:
        print("self-test: no clean case has a gradient to corrupt")
        return 1
    expected = []
    for (c, j, k), field, label in ((out_target, "outputs", "output %d"), (grad_target, "grads", "grad of input %d")):
        case = json.loads(json.dumps(cases[c]))   # a deep copy
        record = case[field][j]
        old = record["values"][k]
        record["values"][k] = old * (1 + SELF_TEST_CORRUPTION)
        cases = cases[:c] + [case] + cases[c + 1:]
        expected.append((case["op"], case["sample"], case["dtype"], label % j))
        print("self-test: corrupted %s / %s / %s %s element %d: %.9g -> %.9g"
              % (case["op"], case["sample"], case["dtype"], label % j, k, old, record["values"][k]))
    result = check_all(cases)
    reported = {f.key(): f for f in result.failures}
    missed = 0
    for key in expected:
        if key in reported:
            print("self-test: caught: %s" % reported[key])
        else:
            print("self-test: MISSED the corruption of %s / %s / %s %s" % key)
            missed += 1
    print(summary(result))
    print("self-test: %s" % ("passed, both corruptions reported" if not missed else "FAILED"))
    return 1 if missed else 0


# ---------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--self-test", action="store_true",
                        help="corrupt one output and one gradient and check that both are reported")
    parser.add_argument("dump", help="the parity_dump executable, or a file of its JSON lines")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = load_cases(args.dump)
    if args.self_test:
        return self_test(cases)
    result = check_all(cases)
    missing = sorted({f.op for f in result.failures if f.tensor == "op"})
    for failure in result.failures:
        print(failure)
    if missing:
        print("ops without a PyTorch entry: %s" % ", ".join(missing))
    print(summary(result))
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
