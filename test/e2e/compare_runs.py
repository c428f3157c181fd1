#!/usr/bin/env python3
"""Compares two dlrun training runs that should agree up to float rounding, e.g. one process
at batch 100 and `mpirun -np 2` at batch 50 (the same examples per step, summed in another
order): per-step losses and accuracies from the logs (--log-every 1), the final test loss and
accuracy, and every tensor of their --save checkpoints.

Usage: compare_runs.py LOG_A LOG_B CKPT_A CKPT_B [--loss-tol T] [--param-tol T]"""
import argparse
import re
import struct
import sys


def steps(path):
    text = open(path).read()
    rows = re.findall(r"^epoch \d+ step (\d+)  loss ([0-9.]+)  train acc +([0-9.]+)%", text, re.M)
    test = re.findall(r"test loss ([0-9.]+) acc ([0-9.]+)%", text)
    if not rows or not test:
        sys.exit(f"compare_runs: {path}: no step lines or no test result:\n{text}")
    return [(int(s), float(l), float(a)) for s, l, a in rows], [tuple(map(float, t)) for t in test]


def checkpoint(path):
    """{name: tuple of floats}, per runtime/train/Checkpoint.cpp: "DLCCKPT1", u32 count, then per
    tensor u32 name length, name, u64 float count, floats; then a u64 checksum."""
    data = open(path, "rb").read()
    if data[:8] != b"DLCCKPT1":
        sys.exit(f"compare_runs: {path}: not a dlrun checkpoint")
    (count,), at = struct.unpack_from("<I", data, 8), 12
    tensors = {}
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, at)
        name = data[at + 4:at + 4 + n].decode()
        (floats,) = struct.unpack_from("<Q", data, at + 4 + n)
        at += 12 + n
        tensors[name] = struct.unpack_from(f"<{floats}f", data, at)
        at += 4 * floats
    return tensors


ap = argparse.ArgumentParser()
ap.add_argument("log_a")
ap.add_argument("log_b")
ap.add_argument("ckpt_a")
ap.add_argument("ckpt_b")
ap.add_argument("--loss-tol", type=float, default=2e-3, help="absolute, per logged loss")
ap.add_argument("--param-tol", type=float, default=1e-4,
                help="max |a - b| / (1 + max |a|) over each tensor")
args = ap.parse_args()

bad = []
(sa, ta), (sb, tb) = steps(args.log_a), steps(args.log_b)
if [s for s, _, _ in sa] != [s for s, _, _ in sb]:
    bad.append(f"logged steps differ: {[s for s, _, _ in sa]} vs {[s for s, _, _ in sb]}")
worst = 0.0
for (s, la, aa), (_, lb, ab) in zip(sa, sb):
    worst = max(worst, abs(la - lb))
    if abs(la - lb) > args.loss_tol:
        bad.append(f"step {s}: loss {la} vs {lb}")
    if abs(aa - ab) > 1.0 + 1e-9:  # one example in 100 may flip at a near-tie
        bad.append(f"step {s}: train accuracy {aa}% vs {ab}%")
for (la, aa), (lb, ab) in zip(ta, tb):
    if abs(la - lb) > args.loss_tol or abs(aa - ab) > 0.5:
        bad.append(f"test loss/accuracy {la}/{aa}% vs {lb}/{ab}%")
print(f"{len(sa)} steps: largest loss difference {worst:.2e}")

ca, cb = checkpoint(args.ckpt_a), checkpoint(args.ckpt_b)
if sorted(ca) != sorted(cb):
    bad.append(f"checkpoints hold different tensors: {sorted(ca)} vs {sorted(cb)}")
worst, where = 0.0, ""
for name in sorted(set(ca) & set(cb)):
    a, b = ca[name], cb[name]
    if len(a) != len(b):
        bad.append(f"{name}: {len(a)} vs {len(b)} floats")
        continue
    scale = 1.0 + max(abs(x) for x in a)
    err = max(abs(x - y) for x, y in zip(a, b)) / scale
    if err > worst:
        worst, where = err, name
    if err > args.param_tol:
        bad.append(f"{name}: relative difference {err:.2e} > {args.param_tol}")
print(f"{len(ca)} tensors: largest relative difference {worst:.2e} ({where})")
if bad:
    sys.exit("compare_runs: runs differ:\n  " + "\n  ".join(bad[:20]))
