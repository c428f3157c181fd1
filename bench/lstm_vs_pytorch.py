#!/usr/bin/python3
"""dlrun against PyTorch on the LSTM sequence classifier (models/lstm.yaml), one command:

    bench/lstm_vs_pytorch.py [--build build] [--threads 1 2] [--steps 100] [--reps 3]

The same network on both sides: each 28x28 image is 28 steps of 28 inputs, one LSTM layer of
128 units, the last hidden state through linear 10, softmax cross-entropy, SGD lr 0.1
momentum 0.9, batch 128. dlrun trains models/lstm.yaml with its data section replaced by
synthetic data; PyTorch (Debian's python3-torch, so /usr/bin/python3) runs torch.nn.LSTM on
random tensors. Both report steady-state training examples/s (best of --reps), per thread
count, and the ratio against PyTorch's best thread count. Builds nothing.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def torch_train(threads, steps):
    import torch
    import torch.nn as nn
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    lstm, out = nn.LSTM(28, 128, batch_first=True), nn.Linear(128, 10)
    params = list(lstm.parameters()) + list(out.parameters())
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    x, y = torch.randn(128, 28, 28), torch.randint(0, 10, (128,))

    def step():
        opt.zero_grad()
        h, _ = lstm(x)
        loss = nn.functional.cross_entropy(out(h[:, -1]), y)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return 128 * steps / (time.perf_counter() - t)


def dlrun_train(build, plan, threads, steps):
    p = subprocess.run([os.path.join(build, "bin", "dlrun"), plan, "--steps", str(steps),
                        "--threads", str(threads), "--quiet"], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"bench: dlrun failed:\n{p.stderr}{p.stdout}")
    m = re.search(r"summary: .* ([0-9.]+) examples/s", p.stdout)
    if not m:
        sys.exit(f"bench: no summary line in:\n{p.stdout}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = open(os.path.join(ROOT, "models", "lstm.yaml")).read()
        src = src[: src.index("\ndata:")] + (
            "\ndata: {format: synthetic, train_examples: %d, test_examples: 128}\n"
            % (128 * (a.steps + 1)))
        model, plan = os.path.join(tmp, "lstm.yaml"), os.path.join(tmp, "lstm.plan")
        open(model, "w").write(src)
        subprocess.run([os.path.join(a.build, "bin", "dlc"), "compile", model, "-o", plan,
                        "--quiet"], check=True)
        rows = []
        for t in a.threads:
            d = max(dlrun_train(a.build, plan, t, a.steps) for _ in range(a.reps))
            # PyTorch in a child process per thread count: set_num_threads only lowers.
            code = ("import sys; sys.path.insert(0, %r); import lstm_vs_pytorch as b; "
                    "print(max(b.torch_train(%d, %d) for _ in range(%d)))"
                    % (os.path.dirname(os.path.abspath(__file__)), t, a.steps, a.reps))
            p = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True)
            if p.returncode:
                sys.exit(f"bench: PyTorch failed:\n{p.stderr}")
            rows.append((t, d, float(p.stdout)))
    best = max(r[2] for r in rows)
    print("threads  dlrun ex/s  PyTorch ex/s  ratio  vs best PyTorch")
    for t, d, p in rows:
        print(f"{t:7d} {d:11.0f} {p:13.0f} {d / p:6.2f}x {d / best:8.2f}x")


if __name__ == "__main__":
    main()
