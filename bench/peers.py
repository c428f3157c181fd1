#!/usr/bin/env python3
"""dlrun against the strongest CPU peers, same machine, same run, one command (issue 13):

    bench/peers.py [--build build] [--venv bench/.venv] [--threads 1 2] [--reps 3]
                   [--only lenet,lstm,...] [--out results.md] [--inhouse]

Peers: PyTorch 2.x (the CPU build from the package index) eager, in NCHW and channels_last for
convolutional models (its faster layout counts), and ONNX Runtime for inference. The first run
makes a virtual environment at --venv with `pip install torch torchvision onnxruntime onnx
pyyaml` (a few GB; nothing here needs a GPU); later runs reuse it.

Every workload runs on synthetic data (throughput does not depend on pixel values) at each
thread count, dlrun and its peers interleaved, --reps times. Both sides time each step alone,
drop the first --warmup steps and keep the median step time; the table shows the median over
the repetitions and the ratios peer ms / dlrun ms (above 1: dlrun is faster), against the peer
at the same thread count and against the peer's best configuration over every thread count and
layout. Prints a Markdown table (and writes it to --out).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = ["torch", "torchvision", "onnxruntime", "onnx", "onnxscript", "pyyaml"]

# name, model file, batch, timed steps, mode, conv model (channels_last worth trying)
WORKLOADS = [
    ("lenet", "models/lenet.yaml", 100, 60, "train", True),
    ("lenet", "models/lenet.yaml", 100, 60, "infer", True),
    ("lenet", "models/lenet.yaml", 1, 500, "infer", True),
    ("mlp", "models/mlp.yaml", 100, 60, "train", False),
    ("lstm", "models/lstm.yaml", 128, 20, "train", False),
    ("cifar10", "models/cifar10.yaml", 128, 10, "train", True),
    ("mobilenet_v2", "models/mobilenet_v2.yaml", 32, 3, "train", True),
    ("resnet50", "models/resnet50.yaml", 8, 3, "train", True),
    ("resnet50", "models/resnet50.yaml", 32, 2, "train", True),
]


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}{p.stdout}")
    return p.stdout


def ensure_venv(venv):
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        print(f"bench: making {venv} (PyTorch, torchvision, ONNX Runtime; a few GB)", flush=True)
        run([sys.executable, "-m", "venv", venv])
        run([py, "-m", "pip", "install", "-q", *PEERS])
    versions = run([py, "-c", "import torch, onnxruntime; print(torch.__version__, "
                    "onnxruntime.__version__, torch.backends.mkldnn.is_available())"]).split()
    return py, versions


def synthetic_model(tmp, model, batch, steps, warmup):
    """The model file with its data section replaced by synthetic data: enough training
    examples for the timed steps in one epoch, one test batch."""
    src = open(os.path.join(ROOT, model)).read()
    src = src[: src.index("\ndata:")] if "\ndata:" in src else src
    src += (f"\ndata: {{format: synthetic, train_examples: {batch * (steps + warmup + 1)}, "
            f"test_examples: {batch * max(1, 2000 // batch) if batch < 100 else 20 * batch}}}\n")
    path = os.path.join(tmp, os.path.basename(model))
    open(path, "w").write(src)
    return path


def dlrun_ms(build, tmp, wl, threads, warmup, env=None):
    """Median ms per training step (from --log-every 1) or per eval batch (from --eval)."""
    name, model, batch, steps, mode, _ = wl
    yml = synthetic_model(tmp, model, batch, steps, warmup)
    plan = os.path.join(tmp, f"{name}-{batch}.plan")
    if not os.path.exists(plan):
        run([os.path.join(build, "bin", "dlc"), "compile", yml, "-o", plan, "--batch",
             str(batch), "--quiet"])
    dlrun = os.path.join(build, "bin", "dlrun")
    if mode == "train":
        # --limit: the test set too, so the evaluation after the last step (not timed) does
        # not run 2,000 ResNet-50 images.
        out = run([dlrun, plan, "--steps", str(steps + warmup), "--log-every", "1",
                   "--limit", str(batch * (steps + warmup + 1)), "--threads", str(threads),
                   "--quiet"], env)
        ms = [float(m) for m in re.findall(r"step \d+ .*?([0-9.]+) ms/batch", out)]
        if len(ms) != steps + warmup:
            sys.exit(f"bench: expected {steps + warmup} step lines from dlrun, got:\n{out}")
        return statistics.median(ms[warmup:])
    # The median program run: steady state, without copying each batch in (the peers time
    # a forward pass on tensors already in memory), like the peers' median step.
    out = run([dlrun, plan, "--eval", "--threads", str(threads)], env)
    m = re.search(r"test: .*median run ([0-9.]+) ms", out)
    if not m:
        sys.exit(f"bench: no eval timing from dlrun:\n{out}")
    return float(m.group(1))


def peer_ms(py, wl, threads, warmup, layout, engine):
    name, model, batch, steps, mode, _ = wl
    out = run([py, os.path.join(ROOT, "bench", "peer_worker.py"), "--workload", name,
               "--model", os.path.join(ROOT, model), "--mode", mode, "--batch", str(batch),
               "--threads", str(threads), "--steps", str(steps), "--warmup", str(warmup),
               "--layout", layout, "--engine", engine])
    return json.loads(out.strip().splitlines()[-1])["ms"]


def fmt(ms):
    return f"{ms:.3f}" if ms < 10 else f"{ms:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--venv", default=os.path.join(ROOT, "bench", ".venv"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated workload names")
    ap.add_argument("--out", default="")
    ap.add_argument("--inhouse", action="store_true",
                    help="also time dlrun with DLC_DNNL=0 (its own convolutions, not oneDNN's)")
    args = ap.parse_args()
    for tool in ("dlc", "dlrun"):
        if not os.access(os.path.join(args.build, "bin", tool), os.X_OK):
            sys.exit(f"bench: {args.build}/bin/{tool} not found: build first or pass --build")
    py, (torch_v, ort_v, mkldnn) = ensure_venv(args.venv)
    only = set(filter(None, args.only.split(",")))
    wls = [w for w in WORKLOADS if (not only or w[0] in only)
           and os.path.exists(os.path.join(ROOT, w[1]))]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "unknown CPU")
    flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo")
                  if l.startswith("flags")), [])
    isa = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags)
    head = (f"{cpu}, {os.cpu_count()} vCPUs ({isa}); PyTorch {torch_v} (oneDNN: {mkldnn}), "
            f"ONNX Runtime {ort_v}; median of {args.reps} interleaved repetitions, "
            f"{args.warmup} warm-up steps dropped")
    print(head, flush=True)

    # samples[(workload index, threads, config)] -> [ms per rep]
    samples = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for i, wl in enumerate(wls):
                peers = [("torch", "nchw")]
                if wl[5]:
                    peers.append(("torch", "channels_last"))
                if wl[4] == "infer":
                    peers.append(("ort", "nchw"))
                for t in args.threads:
                    samples.setdefault((i, t, "dlrun"), []).append(
                        dlrun_ms(args.build, tmp, wl, t, args.warmup))
                    if args.inhouse:
                        samples.setdefault((i, t, "in-house"), []).append(
                            dlrun_ms(args.build, tmp, wl, t, args.warmup,
                                     dict(os.environ, DLC_DNNL="0")))
                    for engine, layout in peers:
                        samples.setdefault((i, t, f"{engine}/{layout}"), []).append(
                            peer_ms(py, wl, t, args.warmup, layout, engine))
                    line = ", ".join(f"{k[2]} {fmt(v[-1])}" for k, v in samples.items()
                                     if k[0] == i and k[1] == t)
                    print(f"  rep {rep + 1}: {wl[0]} {wl[4]} b{wl[2]} {t}T: {line} ms",
                          flush=True)

    med = {k: statistics.median(v) for k, v in samples.items()}
    inhouse = "dlrun DLC_DNNL=0 ms | " if args.inhouse else ""
    rows = [f"| workload | threads | dlrun ms | {inhouse}PyTorch ms (nchw / channels_last) "
            "| ORT ms | vs PyTorch, same threads | vs PyTorch's best | vs ORT's best |",
            "|---|---|---|---|---|---|---|---|" + ("---|" if args.inhouse else "")]
    for i, wl in enumerate(wls):
        def best(prefix):
            v = [m for k, m in med.items() if k[0] == i and k[2].startswith(prefix)]
            return min(v) if v else None
        torch_best, ort_best = best("torch"), best("ort")
        for t in args.threads:
            d = med[(i, t, "dlrun")]
            tn, tc = med.get((i, t, "torch/nchw")), med.get((i, t, "torch/channels_last"))
            o = med.get((i, t, "ort/nchw"))
            same = min(x for x in (tn, tc) if x is not None)
            torch_cell = fmt(tn) + (f" / {fmt(tc)}" if tc is not None else "")
            ih = f"{fmt(med[(i, t, 'in-house')])} | " if args.inhouse else ""
            rows.append(f"| {wl[0]} {wl[4]} b{wl[2]} | {t} | {fmt(d)} | {ih}{torch_cell} | "
                        f"{'' if o is None else fmt(o)} | {same / d:.2f}x | "
                        f"{torch_best / d:.2f}x | "
                        f"{'' if ort_best is None else f'{ort_best / d:.2f}x'} |")
    table = head + "\n\n" + "\n".join(rows) + "\n"
    print(table)
    if args.out:
        open(args.out, "w").write(table)


if __name__ == "__main__":
    main()
