#!/usr/bin/python3
"""dlc/dlrun against PyTorch on LeNet (models/lenet.yaml), same machine, one command:

    bench/lenet_vs_pytorch.py [--build build] [--threads 1 2] [--reps 3]

Builds nothing: uses BUILD/bin/dlc and BUILD/bin/dlrun. PyTorch is Debian's python3-torch, so
run it with /usr/bin/python3. Both sides train the same network (same layers, batch 100, SGD
lr 0.01 momentum 0.9) on synthetic 28x28 images (throughput does not depend on pixel values),
with the same thread counts, and report the best of --reps repetitions:

  train      examples/s of training steps (batch 100), excluding data loading and evaluation
  infer      examples/s of the forward pass (batch 100; dlrun --eval of the eval program)
  latency    ms per example at batch 1 (dlc compile --batch 1; dlrun --eval)
  compile    dlc compile wall time; for PyTorch, import + model construction
  peak RSS   of the training process (dlrun; the PyTorch process runs all three measurements)

Prints one table and the dlrun/PyTorch ratios, including against PyTorch's best thread count.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    """Runs cmd; returns (stdout, wall seconds)."""
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    out, err = p.stdout, p.stderr
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}):\n{err}{out}")
    return out, wall


def run_rss(cmd):
    """Like run() but also returns the child's own peak RSS in MiB: os.wait4 reports it per
    child, where RUSAGE_CHILDREN would give the maximum over every child so far."""
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t
        out.seek(0), err.seek(0)
        text = out.read()
        if p.returncode != 0:
            sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}):\n{err.read()}{text}")
    return text, wall, usage.ru_maxrss / 1024


def model_yaml(tmp, train_examples, test_examples):
    """models/lenet.yaml with its data section replaced by synthetic data."""
    src = open(os.path.join(ROOT, "models", "lenet.yaml")).read()
    src = src[: src.index("\ndata:")] + (
        f"\ndata: {{format: synthetic, train_examples: {train_examples}, "
        f"test_examples: {test_examples}}}\n")
    path = os.path.join(tmp, "lenet_bench.yaml")
    open(path, "w").write(src)
    return path


def number(pattern, text):
    m = re.search(pattern, text)
    if not m:
        sys.exit(f"bench: no match for {pattern!r} in:\n{text}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=300, help="timed training steps per run")
    args = ap.parse_args()
    dlc, dlrun = (os.path.join(args.build, "bin", t) for t in ("dlc", "dlrun"))
    for tool in (dlc, dlrun):
        if not os.access(tool, os.X_OK):
            sys.exit(f"bench: {tool} not found; build first (scripts/setup.sh) or pass --build")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "unknown CPU")
    print(f"machine: {cpu}, {os.cpu_count()} cores; reps {args.reps}, best taken")

    with tempfile.TemporaryDirectory() as tmp:
        # Small data sets keep dlrun's RSS about the model, not the data: --steps runs several
        # epochs over 5,000 examples (the per-epoch evaluation is not timed as training).
        yaml = model_yaml(tmp, train_examples=5000, test_examples=10000)
        plan, plan1 = os.path.join(tmp, "lenet.plan"), os.path.join(tmp, "lenet1.plan")
        compile_s = min(run([dlc, "compile", yaml, "-o", plan, "--quiet"])[1]
                        for _ in range(args.reps))
        run([dlc, "compile", yaml, "-o", plan1, "--batch", "1", "--quiet"])

        results = {}
        for t in args.threads:
            train, infer, lat, rss = 0.0, 0.0, float("inf"), 0.0
            for _ in range(args.reps):
                out, _, r = run_rss([dlrun, plan, "--steps", str(args.steps), "--quiet",
                                     "--log-every", "1000000", "--threads", str(t)])
                train = max(train, number(r"summary: .*?([0-9.]+) examples/s", out))
                rss = max(rss, r)
                out, _ = run([dlrun, plan, "--eval", "--threads", str(t)])
                infer = max(infer, number(r"test: .*?, ([0-9.]+) ex/s", out))
                out, _ = run([dlrun, plan1, "--eval", "--threads", str(t), "--limit", "5000"])
                lat = min(lat, 1e3 / number(r"test: .*?, ([0-9.]+) ex/s", out))
            torch_out, _ = run(["/usr/bin/python3", os.path.join(ROOT, "bench", "lenet_torch.py"),
                                "--threads", str(t), "--steps", str(args.steps),
                                "--reps", str(args.reps)])
            results[t] = {"dlrun": {"train_ex_s": train, "infer_ex_s": infer, "latency_ms": lat,
                                    "peak_rss_mib": rss},
                          "torch": json.loads(torch_out)}

    best_torch = {k: max(r["torch"][k] for r in results.values())
                  for k in ("train_ex_s", "infer_ex_s")}
    best_torch["latency_ms"] = min(r["torch"]["latency_ms"] for r in results.values())
    print(f"dlc compile (batch 100): {compile_s * 1e3:.0f} ms;  "
          f"PyTorch import + model build: {results[args.threads[0]]['torch']['setup_s'] * 1e3:.0f} ms"
          " (after interpreter start)")
    print(f"{'threads':>7} {'metric':<22} {'dlrun':>10} {'PyTorch':>10} {'ratio':>7} "
          f"{'vs best PyTorch':>16}")
    for t, r in results.items():
        d, p = r["dlrun"], r["torch"]
        for key, label, higher, fmt in (("train_ex_s", "train ex/s (b100)", True, ".0f"),
                                        ("infer_ex_s", "infer ex/s (b100)", True, ".0f"),
                                        ("latency_ms", "latency ms (b1)", False, ".3f"),
                                        ("peak_rss_mib", "peak RSS MiB", False, ".1f")):
            ratio = d[key] / p[key] if higher else p[key] / d[key]
            vs_best = ""
            if key in best_torch:
                best = best_torch[key]
                vs_best = f"{(d[key] / best if higher else best / d[key]):.2f}x"
            print(f"{t:>7} {label:<22} {d[key]:>10{fmt}} {p[key]:>10{fmt}} {ratio:>6.2f}x "
                  f"{vs_best:>16}")
    print("ratio: how many times better dlrun is (throughput, or inverse latency/RSS)")


if __name__ == "__main__":
    main()
