#!/usr/bin/python3
"""Parity of nabla's optimizers and learning-rate schedules with torch.optim (PyTorch 1.13).

Runs optim_parity_dump (tests/optim/parity_dump.c), which writes one JSON line per case:

- optimizer cases: the initial weights of a small model, the gradient nabla fed its
  optimizer at each of 100 steps (null where a parameter had none), the clipping and
  scheduling it did, its final weights and every state tensor by name ("state.0.exp_avg").
  Here the same weights go into torch.optim with the same groups and options, get the same
  gradients (after torch.nn.utils.clip_grad_norm_ / clip_grad_value_ where nabla clipped,
  whose total norms are compared too), the same scheduler steps, and the final weights and
  the optimizer's state_dict() are compared with nabla's.
- schedule cases: the learning rate of each of two groups after construction and after
  every epoch; here torch.optim.lr_scheduler does the same epochs (with the same metrics for
  ReduceLROnPlateau) and the rates are compared.

Tolerances: f32 final weights within 1e-5 (absolute), f64 within 1e-10; state tensors
and clipping norms the same, relative for values above 1; learning rates within 1e-12
relative. Prints the largest difference per case.

Usage: parity.py [--self-test] DUMP
DUMP is the optim_parity_dump executable (run here) or a file of the JSON lines it wrote.
--self-test corrupts one f32 final weight, one f64 state value and one learning rate of the
real dump and passes only if the comparison reports all three (and nothing else).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import warnings

import torch

DTYPES = {"f32": torch.float32, "f64": torch.float64}
TOL = {"f32": 1e-5, "f64": 1e-10}
LR_RTOL = 1e-12
SELF_TEST_CORRUPTION = 1e-3

OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}


def group_options(opts):
    opts = dict(opts)
    if "betas" in opts:
        opts["betas"] = tuple(opts["betas"])
    return opts


def make_scheduler(opt, spec):
    s = torch.optim.lr_scheduler
    kind = spec["type"]
    if kind == "step":
        return s.StepLR(opt, step_size=spec["step_size"], gamma=spec["gamma"])
    if kind == "multistep":
        return s.MultiStepLR(opt, milestones=spec["milestones"], gamma=spec["gamma"])
    if kind == "exponential":
        return s.ExponentialLR(opt, gamma=spec["gamma"])
    if kind == "cosine":
        return s.CosineAnnealingLR(opt, T_max=spec["t_max"], eta_min=spec["eta_min"])
    if kind == "linear":
        return s.LinearLR(opt, start_factor=spec["start_factor"], end_factor=spec["end_factor"],
                          total_iters=spec["total_iters"])
    if kind == "plateau":
        return s.ReduceLROnPlateau(opt, mode=spec["mode"], factor=spec["factor"], patience=spec["patience"],
                                   threshold=spec["threshold"], threshold_mode=spec["threshold_mode"],
                                   cooldown=spec["cooldown"], min_lr=spec["min_lr"], eps=spec["eps"])
    raise ValueError("unknown schedule type %r" % kind)


class Check:
    """Failures and the largest differences seen in one case."""

    def __init__(self, case):
        self.name = "%s / %s" % (case.get("name"), case.get("dtype", "lr"))
        self.failures = []
        self.worst = 0.0       # largest |ours - torch| over the final weights
        self.worst_state = 0.0
        self.worst_norm = 0.0

    def fail(self, what, message):
        self.failures.append((self.name, what, message))


def compare_values(check, what, ours, ref, tol, relative_above_one=True):
    """ours: list of floats; ref: torch tensor. Returns the largest absolute difference."""
    ref = ref.detach().to(torch.float64).reshape(-1)
    got = torch.tensor(ours, dtype=torch.float64).reshape(-1)
    if got.numel() != ref.numel():
        check.fail(what, "%d values, torch has %d" % (got.numel(), ref.numel()))
        return math.inf
    if got.numel() == 0:
        return 0.0
    diff = (got - ref).abs()
    allowed = tol * torch.clamp(ref.abs(), min=1.0) if relative_above_one else torch.full_like(ref, tol)
    nan_same = torch.isnan(got) & torch.isnan(ref)
    diff = torch.where(nan_same, torch.zeros_like(diff), diff)
    bad = ~(diff <= allowed)
    if bad.any():
        k = int(bad.nonzero()[0])
        check.fail(what, "element %d: ours %.17g, torch %.17g (|diff| %.3g, allowed %.3g)"
                   % (k, float(got[k]), float(ref[k]), float(diff[k]), float(allowed[k])))
    return float(diff.max())


def state_dict_tensors(opt):
    """torch's optimizer state as {"state.<i>.<key>": tensor}."""
    out = {}
    for i, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            if value is None:
                continue
            if not torch.is_tensor(value):
                value = torch.tensor(float(value), dtype=torch.float64)
            out["state.%d.%s" % (i, key)] = value
    return out


def check_optimizer(case):
    check = Check(case)
    if "error" in case:
        check.fail("nabla", case["error"])
        return check
    dtype, tol = DTYPES[case["dtype"]], TOL[case["dtype"]]
    params = [torch.tensor(v, dtype=dtype).reshape(s).requires_grad_()
              for v, s in zip(case["initial"], case["shapes"])]
    groups = [dict(group_options(g["opts"]), params=[params[i] for i in g["params"]]) for g in case["groups"]]
    # Group 0's options are the constructor's too: Adagrad (1.13) fills every parameter's
    # "sum" with the constructor's initial_accumulator_value, whatever the group says.
    opt = OPTIMIZERS[case["optimizer"]](groups, **group_options(case["groups"][0]["opts"]))
    sched = make_scheduler(opt, case["schedule"]) if case["schedule"] else None
    clip = case["clip"]
    for t, grads in enumerate(case["grads"]):
        for p, g in zip(params, grads):
            p.grad = None if g is None else torch.tensor(g, dtype=dtype).reshape(p.shape)
        if clip and clip["type"] == "norm":
            norm_type = clip["norm_type"]
            total = torch.nn.utils.clip_grad_norm_(params, clip["max_norm"], norm_type=norm_type)
            d = compare_values(check, "total norm at step %d" % t, [case["total_norms"][t]], total, tol)
            check.worst_norm = max(check.worst_norm, d)
        elif clip and clip["type"] == "value":
            torch.nn.utils.clip_grad_value_(params, clip["clip_value"])
        opt.step()
        if sched:
            sched.step()
    for i, (ours, p) in enumerate(zip(case["final"], params)):
        check.worst = max(check.worst, compare_values(check, "final weight %d" % i, ours, p, tol,
                                                      relative_above_one=False))
    ref_state = state_dict_tensors(opt)
    ours_state = case["state"]
    if set(ours_state) != set(ref_state):
        check.fail("state names", "nabla has %s, torch has %s" % (sorted(ours_state), sorted(ref_state)))
    for name in sorted(set(ours_state) & set(ref_state)):
        d = compare_values(check, name, ours_state[name], ref_state[name], tol)
        check.worst_state = max(check.worst_state, d)
    return check


def check_schedule(case):
    check = Check(case)
    if "error" in case:
        check.fail("nabla", case["error"])
        return check
    params = [torch.zeros(1, requires_grad=True) for _ in case["group_lrs"]]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, case["group_lrs"])],
                          lr=case["group_lrs"][0])
    scheds = [make_scheduler(opt, spec) for spec in case["schedulers"]]
    lrs = [[g["lr"] for g in opt.param_groups]]
    for e in range(case["epochs"]):
        opt.step()   # no gradients: changes nothing, keeps PyTorch from warning about the order
        for s in scheds:
            if isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau):
                s.step(case["metrics"][e])
            else:
                s.step()
        lrs.append([g["lr"] for g in opt.param_groups])
    if len(lrs) != len(case["lrs"]):
        check.fail("epochs", "nabla has %d rows of rates, torch %d" % (len(case["lrs"]), len(lrs)))
        return check
    for e, (ours, ref) in enumerate(zip(case["lrs"], lrs)):
        for g, (a, b) in enumerate(zip(ours, ref)):
            d = abs(a - b)
            check.worst = max(check.worst, d / max(abs(b), 1e-300))
            if not d <= LR_RTOL * abs(b):
                check.fail("lr of group %d after epoch %d" % (g, e), "ours %.17g, torch %.17g" % (a, b))
    return check


def check_all(cases, quiet=False):
    failures, counts = [], {"optimizer": 0, "schedule": 0}
    for case in cases:
        kind = case.get("kind")
        if kind == "optimizer":
            check = check_optimizer(case)
            if not quiet:
                print("%-48s max |w - torch| %.3g   state %.3g%s" % (
                    check.name, check.worst, check.worst_state,
                    "   total norm %.3g" % check.worst_norm if case.get("total_norms") else ""))
        elif kind == "schedule":
            check = check_schedule(case)
            if not quiet:
                print("%-48s max relative lr difference %.3g over %d epochs" % (check.name, check.worst,
                                                                                 case.get("epochs", 0)))
        else:
            check = Check(case)
            check.fail("case", "unknown kind %r" % kind)
        counts[kind if kind in counts else "optimizer"] += 1
        failures += check.failures
    return failures, counts


def load_cases(source):
    if os.access(source, os.X_OK) and not os.path.isdir(source):
        run = subprocess.run([source], stdout=subprocess.PIPE, check=False)
        if run.returncode != 0:
            sys.exit("parity.py: %s exited with status %d" % (source, run.returncode))
        text = run.stdout.decode()
    else:
        with open(source) as f:
            text = f.read()
    cases = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not cases:
        sys.exit("parity.py: the dump has no cases")
    return cases


def report(failures, counts):
    for name, what, message in failures:
        print("FAIL %s: %s: %s" % (name, what, message))
    print("optim parity: %d optimizer cases, %d schedule cases, %d failed"
          % (counts["optimizer"], counts["schedule"], len(failures)))


def largest(values):
    return max(range(len(values)), key=lambda k: abs(values[k]))


def self_test(cases):
    clean, _ = check_all(cases, quiet=True)
    if clean:
        report(clean, {"optimizer": 0, "schedule": 0})
        print("self-test: the real dump already fails; fix that first")
        return 1
    cases = json.loads(json.dumps(cases))   # a deep copy to corrupt
    expected = []
    # One final weight of an f32 case, by 1e-3 of its size (far above the 1e-5 tolerance).
    case = next(c for c in cases if c["kind"] == "optimizer" and c["dtype"] == "f32")
    i = max(range(len(case["final"])), key=lambda i: max(abs(v) for v in case["final"][i]))
    k = largest(case["final"][i])
    case["final"][i][k] *= 1 + SELF_TEST_CORRUPTION
    expected.append(("%s / f32" % case["name"], "final weight %d" % i))
    # One state value of an f64 case, by 1e-8: 100 times the f64 tolerance, far below f32's.
    case = next(c for c in cases if c["kind"] == "optimizer" and c["dtype"] == "f64"
                and any(n.endswith(".exp_avg") for n in c["state"]))
    name = sorted(n for n in case["state"] if n.endswith(".exp_avg"))[0]
    case["state"][name][largest(case["state"][name])] += 1e-8
    expected.append(("%s / f64" % case["name"], name))
    # One learning rate of a schedule, by 1e-9 relative.
    case = next(c for c in cases if c["kind"] == "schedule")
    case["lrs"][3][0] *= 1 + 1e-9
    expected.append(("%s / lr" % case["name"], "lr of group 0 after epoch 3"))
    failures, counts = check_all(cases, quiet=True)
    report(failures, counts)
    caught = {(name, what) for name, what, _ in failures}
    missed = [e for e in expected if e not in caught]
    extra = [f for f in failures if (f[0], f[1]) not in expected]
    for name, what in missed:
        print("self-test: MISSED the corruption of %s: %s" % (name, what))
    for name, what, message in extra:
        print("self-test: unexpected failure %s: %s: %s" % (name, what, message))
    ok = not missed and not extra
    print("self-test: %s" % ("passed, all %d corruptions reported" % len(expected) if ok else "FAILED"))
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--self-test", action="store_true",
                        help="corrupt values of the dump and check that each is reported")
    parser.add_argument("dump", help="the optim_parity_dump executable, or a file of its JSON lines")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    cases = load_cases(args.dump)
    if args.self_test:
        return self_test(cases)
    failures, counts = check_all(cases)
    report(failures, counts)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
