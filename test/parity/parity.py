#!/usr/bin/env python3
"""Training parity between dlrun and PyTorch (issue 10 item 6).

For one model file (optionally with its training section overridden), at a small batch on
the first examples of its data set, in file order (training.shuffle: false):
  1. dlc compiles it; `dlrun --steps 0 --save init.safetensors` exports dlrun's initial
     weights, which the torch module takes with load_state_dict(strict=True): PyTorch's
     names and layouts;
  2. dlrun trains N steps logging every step's loss and saves the final weights (safetensors);
  3. the equivalent torch.nn module starts from the same weights and trains N steps on the
     same batches with the same optimizer (torch.optim.SGD / Adam / AdamW), schedule (a
     LambdaLR) and clipping (torch.nn.utils.clip_grad_norm_);
  4. each step's loss must agree within 1e-4 relative (plus half a unit of the 4th decimal
     dlrun prints), and every final parameter tensor within 1e-3 of its largest magnitude.
Prints one line per step and per tensor; exits 1 on any mismatch. Needs python3-torch.

  parity.py --compiler DLC --runner DLRUN --model MODEL.yaml --work DIR [--steps 12] [--batch 32]
            [--limit 320] [--training '{yaml mapping merged into the training section}']
"""
import argparse
import gzip
import json
import math
import struct
import subprocess
import sys
import os

import yaml

try:
    import torch
except ImportError:
    print("parity: SKIPPED: python3-torch is not installed")
    sys.exit(0)

LOSS_REL, PARAM_REL, PRINT_ROUNDING = 1e-4, 1e-3, 5e-5


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


def read_idx(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = raw[3]
    shape = struct.unpack_from(">" + "I" * dims, raw, 4)
    return torch.frombuffer(bytearray(raw[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def build_module(model):
    """The model's layer list as torch modules, named like dlc's parameters."""
    c, h, w = model["inputs"]["image"]["shape"]
    mods, names = [], []
    for layer in model["layers"]:
        op, name = layer["op"], layer["name"]
        pair = lambda v: tuple(v) if isinstance(v, list) else (v, v)
        if op == "conv2d":
            k, s, p = pair(layer["kernel"]), pair(layer.get("stride", 1)), pair(layer.get("padding", 0))
            m = torch.nn.Conv2d(c, layer["filters"], k, s, p, bias=layer.get("bias", True))
            c, h, w = layer["filters"], (h + 2 * p[0] - k[0]) // s[0] + 1, (w + 2 * p[1] - k[1]) // s[1] + 1
        elif op == "maxpool2d":
            k = pair(layer["kernel"])
            s, p = pair(layer.get("stride", layer["kernel"])), pair(layer.get("padding", 0))
            m = torch.nn.MaxPool2d(k, s, p)
            h, w = (h + 2 * p[0] - k[0]) // s[0] + 1, (w + 2 * p[1] - k[1]) // s[1] + 1
        elif op == "relu":
            m = torch.nn.ReLU()
        elif op == "flatten":
            m, c, h, w = torch.nn.Flatten(), c * h * w, 1, 1
        elif op == "linear":
            m = torch.nn.Linear(c, layer["units"], bias=layer.get("bias", True))
            c = layer["units"]
        else:
            sys.exit("parity: layer op '%s' has no torch equivalent here yet" % op)
        mods.append(m)
        names.append(name)
    seq = torch.nn.Sequential()
    for n, m in zip(names, mods):
        seq.add_module(n, m)
    return seq


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compiler", "--dlc", dest="dlc", required=True)
    ap.add_argument("--runner", "--dlrun", dest="dlrun", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--limit", type=int, default=320)
    ap.add_argument("--training", default="{}")
    a = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.work, exist_ok=True)

    model = yaml.safe_load(open(a.model))
    training = model.setdefault("training", {})
    training.update(yaml.safe_load(a.training))
    training["shuffle"] = False
    training["batch"] = a.batch
    if training.get("clip_grad_norm") == 0:  # --training '{clip_grad_norm: 0}': no clipping
        del training["clip_grad_norm"]
    path = os.path.join(a.work, "model.yaml")
    yaml.safe_dump(model, open(path, "w"))
    plan = os.path.join(a.work, "model.plan")
    init, final = os.path.join(a.work, "init.safetensors"), os.path.join(a.work, "final.safetensors")
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    run(a.dlc, "compile", path, "-o", plan, "--quiet")
    lim = ["--limit", str(a.limit), "--quiet"]
    run(a.dlrun, plan, "--steps", "0", "--save", init, *lim)
    log = run(a.dlrun, plan, "--steps", str(a.steps), "--log-every", "1", "--save", final, *lim)
    dl_losses = [float(l.split("loss")[1].split()[0]) for l in log.splitlines()
                 if " step " in l and "loss" in l and l.startswith("epoch")]
    if len(dl_losses) != a.steps:
        sys.exit("parity: expected %d step losses from dlrun, found %d:\n%s" % (a.steps, len(dl_losses), log))

    data = model["data"]
    images = read_idx(data["train"]["images"])[:a.limit].float().div(255.0)
    labels = read_idx(data["train"]["labels"])[:a.limit].long()
    if "normalize" in data:
        images = (images - data["normalize"]["mean"]) / data["normalize"]["std"]
    images = images.reshape(images.shape[0], *model["inputs"]["image"]["shape"])

    net = build_module(model)
    start = read_checkpoint(init)
    net.load_state_dict({k: v for k, v in start.items() if not k.startswith("optim.")}, strict=True)
    opt, sched = torch_optimizer(net.parameters(), training)
    clip = training.get("clip_grad_norm")
    per_epoch = a.limit // a.batch
    bad = 0
    for k in range(a.steps):
        b = k % per_epoch
        x, y = images[b * a.batch:(b + 1) * a.batch], labels[b * a.batch:(b + 1) * a.batch]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
        sched.step()
        ok = abs(dl_losses[k] - loss.item()) <= LOSS_REL * abs(loss.item()) + PRINT_ROUNDING
        bad += not ok
        print("step %2d  loss dlrun %.4f  torch %.6f  %s" % (k + 1, dl_losses[k], loss.item(), "ok" if ok else "MISMATCH"))
    end = read_checkpoint(final)
    for name, p in net.named_parameters():
        got, want = end[name], p.detach()
        assert got.shape == want.shape, name
        err = (got - want).abs().max().item()
        scale = want.abs().max().item()
        ok = err <= PARAM_REL * max(scale, 1e-12)
        bad += not ok
        print("%-12s max |dlrun - torch| %.3g of max |w| %.3g (%.2g)  %s" % (name, err, scale, err / max(scale, 1e-30), "ok" if ok else "MISMATCH"))
    print("parity: %s" % ("PASS" if bad == 0 else "FAIL (%d mismatches)" % bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
