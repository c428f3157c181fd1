#!/usr/bin/env python3
"""Training parity between dlrun and PyTorch (issue 10 item 6).

For one model file (optionally with its input shape, data sizes, layers or training section
overridden), at a small batch on the first examples of its data set, in file order
(training.shuffle: false):
  1. dlc compiles it; `dlrun --steps 0 --save init.safetensors` exports dlrun's initial
     weights and buffers (batch-norm statistics, dropout counters), which the torch graph
     (torch_layers.py) takes one to one: every tensor of the checkpoint has its counterpart;
  2. dlrun trains N steps printing every step's loss with 9 decimals (--loss-digits) and
     saves the final state (safetensors);
  3. the torch graph starts from the same weights and trains N steps on the same batches
     (dlrun_data.py: the same examples, crops, flips and standardisation) with the same
     optimizer (torch.optim.SGD / Adam / AdamW), schedule (a LambdaLR) and clipping
     (torch.nn.utils.clip_grad_norm_);
  4. each step's loss must agree within 1e-4 relative, and every final tensor (parameters
     and buffers) within 1e-3 of its scale (layer_scales; --norm l2 measures tensors by
     their L2 norms instead of their largest elements).
Prints one line per step and per tensor, then the worst relative errors; exits 1 on any
mismatch. Needs python3-torch. docs/parity.md explains the choices and the measurements.

  parity.py --compiler DLC --runner DLRUN --model MODEL.yaml --work DIR [--steps 12]
            [--batch 32] [--limit 320] [--set 'YAML mapping merged into the model']
            [--training 'YAML mapping merged into the training section']
            [--scale GLOB=FACTOR] [--norm max|l2] [--outliers N] [--float64]
--set merges recursively (`{inputs: {image: {shape: [3, 32, 32]}}}` shrinks a model's
input; `{layers: {drop: {rate: 0}}}` changes the layer named drop).
"""
import argparse
import copy
import fnmatch
import json
import math
import os
import struct
import subprocess
import sys

import yaml

try:
    import torch
except ImportError:
    print("parity: SKIPPED: python3-torch is not installed")
    sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlrun_data  # noqa: E402
import torch_layers  # noqa: E402

LOSS_REL, PARAM_REL = 1e-4, 1e-3


def read_checkpoint(path):
    """dlrun's .safetensors checkpoint (runtime/train/Safetensors.h), parsed with json + struct:
    name -> float32 tensor in its saved shape; optimizer state keys start with optim."""
    data = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", data, 0)
    out = {}
    for name, t in json.loads(data[8:8 + n]).items():
        if name != "__metadata__":
            b, e = t["data_offsets"]
            assert t["dtype"] == "F32", name
            raw = bytearray(data[8 + n + b:8 + n + e])
            out[name] = torch.frombuffer(raw, dtype=torch.float32).reshape(t["shape"])
    return out


def scale_tensors(path, spec):
    """--scale GLOB=FACTOR: the checkpoint's tensors whose names match the glob start multiplied
    by FACTOR (rewritten in place; both sides start from the file)."""
    pattern, factor = spec.rsplit("=", 1)
    data = bytearray(open(path, "rb").read())
    (n,) = struct.unpack_from("<Q", data, 0)
    hits = 0
    for name, t in json.loads(data[8:8 + n]).items():
        if name != "__metadata__" and fnmatch.fnmatchcase(name, pattern):
            b, e = t["data_offsets"]
            v = torch.frombuffer(bytearray(data[8 + n + b:8 + n + e]), dtype=torch.float32)
            data[8 + n + b:8 + n + e] = (v * float(factor)).numpy().tobytes()
            hits += 1
    if not hits:
        sys.exit("parity: --scale '%s' matches no tensor" % spec)
    open(path, "wb").write(data)


def scheduled_lr(sched, lr, t):
    """runtime/cpu/OptimizerKernels.h's scheduledLr, the learning rate of step t (1-based)."""
    kind = sched.get("type", "constant")
    warmup = sched.get("warmup_steps", 0)
    if warmup > 0 and t <= warmup:
        return lr * t / warmup
    u = max(t - warmup - 1, 0)
    if kind == "constant":
        return lr
    if kind == "step":
        return lr * sched.get("gamma", 0.1) ** (u // sched["step_size"])
    p = min(u / max(sched["total_steps"] - warmup, 1), 1.0)
    lo = sched.get("min_lr", 0.0)
    if kind == "cosine":
        return lo + (lr - lo) * (1 + math.cos(math.pi * p)) / 2
    return lr + (lo - lr) * p


def torch_optimizer(params, training):
    opt = dict(training.get("optimizer", {}))
    kind = opt.get("type", "sgd")
    if kind == "sgd":
        o = torch.optim.SGD(params, lr=opt.get("lr", 0.01), momentum=opt.get("momentum", 0.0),
                            nesterov=opt.get("nesterov", False),
                            weight_decay=opt.get("weight_decay", 0.0))
    else:
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        o = cls(params, lr=opt.get("lr", 0.001), betas=tuple(opt.get("betas", [0.9, 0.999])),
                eps=opt.get("eps", 1e-8),
                weight_decay=opt.get("weight_decay", 0.01 if kind == "adamw" else 0.0))
    base = o.param_groups[0]["lr"]
    sched = training.get("schedule", {})
    # Step k (0-based) runs with lambda(k): the schedule's step t = k + 1.
    lam = lambda k: scheduled_lr(sched, base, k + 1) / base
    return o, torch.optim.lr_scheduler.LambdaLR(o, lam)


def merge(into, change):
    """--set, --training: mappings merge key by key, except that one with a `type` (an
    optimizer, a schedule) replaces the old; `layers` maps layer names to their changes."""
    for k, v in change.items():
        if k == "layers" and isinstance(v, dict):
            byname = {L["name"]: L for L in into["layers"]}
            for name, fields in v.items():
                if name not in byname:
                    sys.exit("parity: --set names no layer '%s'" % name)
                merge(byname[name], fields)
        elif isinstance(v, dict) and isinstance(into.get(k), dict) and "type" not in v:
            merge(into[k], v)
        else:
            into[k] = v


def prepare(a):
    """The model file dlc compiles: the overrides, file-order batches, absolute data paths."""
    path = os.path.abspath(a.model)
    model = yaml.safe_load(open(path))
    absolute_paths(model.get("data", {}), os.path.dirname(path))
    change = yaml.safe_load(a.set) or {}
    absolute_paths(change.get("data", {}), os.getcwd())  # --set's paths: from here
    merge(model, change)
    training = model.setdefault("training", {})
    merge(training, yaml.safe_load(a.training) or {})
    training["shuffle"] = False
    training["batch"] = a.batch
    if training.get("clip_grad_norm") == 0:  # --training '{clip_grad_norm: 0}': no clipping
        del training["clip_grad_norm"]
    return model


def absolute_paths(data, base):
    """A data section's file names made absolute from `base` (the copy dlc compiles lives in
    the work folder)."""
    for part in ("train", "test"):
        if isinstance(data.get(part), str):  # safetensors
            data[part] = os.path.join(base, data[part])
        elif isinstance(data.get(part), dict):
            data[part] = {k: os.path.join(base, v) for k, v in data[part].items()}
        elif isinstance(data.get(part), list):
            data[part] = [os.path.join(base, v) for v in data[part]]


def run_dlrun(a, model):
    path = os.path.join(a.work, "model.yaml")
    yaml.safe_dump(model, open(path, "w"))
    plan = os.path.join(a.work, "model.plan")
    init = os.path.join(a.work, "init.safetensors")
    final = os.path.join(a.work, "final.safetensors")

    def run(*cmd):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            sys.exit("parity: %s failed:\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
        return r.stdout
    run(a.dlc, "compile", path, "-o", plan, "--quiet")
    lim = ["--limit", str(a.limit), "--quiet"]
    run(a.dlrun, plan, "--steps", "0", "--save", init, *lim)
    load = []
    if a.scale:
        for spec in a.scale:
            scale_tensors(init, spec)
        load = ["--load", init]
    log = run(a.dlrun, plan, *load, "--steps", str(a.steps), "--log-every", "1",
              "--loss-digits", "9",
              "--save", final, *lim)
    losses = [float(l.split("loss")[1].split()[0]) for l in log.splitlines()
              if " step " in l and "loss" in l and l.startswith("epoch")]
    if len(losses) != a.steps:
        sys.exit("parity: expected %d step losses from dlrun, found %d:\n%s"
                 % (a.steps, len(losses), log))
    return losses, read_checkpoint(init), read_checkpoint(final)


def layer_scales(net, size):
    """The scale each final tensor is compared at: its largest magnitude, and for a parameter
    at least its layer's largest parameter magnitude. A layer's output moves with its weight
    and bias alike, so a bias is as precise as its layer needs when its error is small beside
    the weights: batch norm's biases inside a bottleneck (followed by relu, conv and another
    batch norm, which removes most of any shift) get gradients that are small remainders of
    cancelling sums, stay near 1e-6 while their gammas are near 1, and float32 leaves them
    no relative precision to compare (dlrun and torch alike, measured against float64)."""
    own = {}
    for name, m in zip(net.order, net.blocks):
        for k, t in m.named_parameters():
            own[name + "." + k] = (name, size(t.detach()), True)
        buffers = dict(m.named_buffers())
        for k, t in buffers.items():
            if not k.endswith("num_batches_tracked"):
                v = size(t)
                # A batch norm's running mean is an estimate of its input's mean, as precise as
                # that input's spread allows: where the true mean is 0 (a bias-free conv of a
                # zero-mean input) float32 leaves only noise, so it is held to the running
                # standard deviation's scale instead of its own.
                var = buffers.get(k.replace("running_mean", "running_var"))
                if k.endswith("running_mean") and var is not None:
                    v = max(v, size(var.clamp(min=0).sqrt()))
                own[name + "." + k] = (name, v, False)
    layer = {}
    for layer_name, v, is_param in own.values():
        if is_param:
            layer[layer_name] = max(layer.get(layer_name, 0.0), v)
    return {n: max(v, layer[l]) if p else v for n, (l, v, p) in own.items()}


class Run:
    """One torch copy of the model with its optimizer, schedule and clipping."""

    def __init__(self, net, training, dtype):
        self.net, self.dtype = net, dtype
        self.opt, self.sched = torch_optimizer(list(net.parameters()), training)
        self.clip = training.get("clip_grad_norm")

    def step(self, loss_of, inputs):
        """One training step on `inputs`; returns the loss."""
        self.opt.zero_grad()
        env = self.net({k: v.to(self.dtype) if v.is_floating_point() else v
                        for k, v in inputs.items()})
        loss = loss_of(env)
        loss.backward()
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.clip)
        self.opt.step()
        self.sched.step()
        return loss.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compiler", "--dlc", dest="dlc", required=True)
    ap.add_argument("--runner", "--dlrun", dest="dlrun", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--limit", type=int, default=320)
    ap.add_argument("--set", default="{}")
    ap.add_argument("--training", default="{}")
    ap.add_argument("--norm", choices=["max", "l2"], default="max",
                    help="tensor errors as largest element (default) or L2 norm, of the scale's")
    ap.add_argument("--scale", action="append",
                    help="GLOB=FACTOR: start the tensors whose names match the glob "
                    "scaled by FACTOR (0: torchvision's zero_init_residual); may repeat")
    ap.add_argument("--outliers", type=int, default=0,
                    help="tensors that may miss the tolerance by up to 10x (float32 ReLU-kink "
                    "crossings in the ResNets, docs/parity.md)")
    ap.add_argument("--reference", choices=["float32", "float64"], default="float32",
                    help="the torch run dlrun is held to: float32 (default) or float64, for a "
                         "model where the installed torch's own float32 run is the one that "
                         "strays (it is then checked against float64 too, see --float64)")
    ap.add_argument("--float64", action="store_true",
                    help="also train a float64 copy and print both sides' distance from it")
    a = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.work, exist_ok=True)

    model = prepare(a)
    dl_losses, start, end = run_dlrun(a, model)
    if model["data"]["format"] == "safetensors":
        # Every input from the tensor of its name, batches in file order.
        named = dlrun_data.named_tensors(model["data"]["train"], a.limit)
        per_epoch = next(iter(named.values())).shape[0] // a.batch
        batch_of = lambda k: {n: named[n][k % per_epoch * a.batch:][:a.batch]
                              for n in model["inputs"]}
        example = {n: torch.zeros_like(t[:a.batch]) for n, t in batch_of(0).items()
                   if "classes" not in model["inputs"][n]}
    else:
        images, labels = dlrun_data.load(model, a.limit)
        batches = dlrun_data.Batches(model, images, labels, a.batch)
        image = next(k for k, v in model["inputs"].items() if "shape" in v)
        example = {image: batches.peek()[0]}
        label = next((k for k, v in model["inputs"].items() if "classes" in v), None)

        def batch_of(k):
            x, y = batches(k)
            return {image: x, **({label: y} if label else {})}
    net = torch_layers.Graph(model, example)
    tensors = net.dlc_tensors()
    saved = {k for k in start if not k.startswith("optim.")}
    if saved != set(tensors):
        sys.exit("parity: dlrun's checkpoint and the torch graph disagree on tensors: "
                 "only dlrun %s,"
                 " only torch %s" % (sorted(saved - set(tensors)), sorted(set(tensors) - saved)))
    with torch.no_grad():
        for k, t in tensors.items():
            t.copy_(start[k].reshape(t.shape))
    # --float64: a float64 copy trains alongside; how far torch's own float32 run strays from
    # it is the noise floor float32 allows, which dlrun's error is measured against.
    if a.reference == "float64":
        net.double()
        tensors = net.dlc_tensors()  # buffers are new tensors after .double()
    ref = copy.deepcopy(net).double() if a.float64 else None
    training = model["training"]
    runs = [Run(net, training, torch.float64 if a.reference == "float64" else torch.float32)]
    runs += [Run(ref, training, torch.float64)] if ref else []
    spec = model["loss"]
    loss_fn = torch_layers.LOSSES[spec["op"]]
    bad, worst_loss = 0, 0.0
    for k in range(a.steps):
        inputs = batch_of(k)
        losses = [r.step(lambda env: loss_fn(env, spec, model), inputs) for r in runs]
        rel = abs(dl_losses[k] - losses[0]) / max(abs(losses[0]), 1e-30)
        worst_loss = max(worst_loss, rel)
        ok = rel <= LOSS_REL
        bad += not ok
        floor = "  [float64: dlrun %.2g, torch %.2g]" % tuple(
            abs(v - losses[1]) / abs(losses[1]) for v in (dl_losses[k], losses[0])) if ref else ""
        print("step %2d  loss dlrun %.9f  torch %.9f  rel %.2g  %s%s" % (
            k + 1, dl_losses[k], losses[0], rel, "ok" if ok else "MISMATCH", floor))
    worst_param, worst_name, tolerated = 0.0, "", 0
    exact = ref.dlc_tensors() if ref else {}
    size = (lambda t: t.norm().item()) if a.norm == "l2" else (lambda t: t.abs().max().item())
    scales = layer_scales(net, size)
    for name, t in tensors.items():
        got, want = end[name].reshape(t.shape), t.detach()
        err = size(got - want)
        scale = scales[name]
        rel = err / max(scale, 1e-30)
        ok = err <= PARAM_REL * max(scale, 1e-12)
        if rel > worst_param:
            worst_param, worst_name = rel, name
        verdict = "ok" if ok else "MISMATCH"
        if not ok and tolerated < a.outliers and err <= 10 * PARAM_REL * scale:
            tolerated += 1
            verdict = "MISMATCH tolerated (outlier %d of %d allowed)" % (tolerated, a.outliers)
        else:
            bad += not ok
        floor = ""
        if ref:
            e = exact[name].detach()
            s = max(size(e), 1e-30)
            floor = "  [float64: dlrun %.2g, torch %.2g]" % (
                size(got.double() - e) / s, size(want.double() - e) / s)
        print("%-28s %s |dlrun - torch| %.3g of scale %.3g (%.2g)  %s%s" % (
            name, "L2" if a.norm == "l2" else "max",
            err, scale, rel, verdict, floor))
    print("parity: worst relative error: loss %.2g, tensors %.2g (%s)"
          % (worst_loss, worst_param, worst_name))
    print("parity: %s" % ("PASS" if bad == 0 else "FAIL (%d mismatches)" % bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
