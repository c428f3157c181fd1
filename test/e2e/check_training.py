#!/usr/bin/env python3
"""Reads dlrun's output and asserts that training worked: the logged loss falls and the final
test accuracy clears a floor. Usage: check_training.py LOG --min-accuracy PCT --max-ratio R"""
import argparse
import re
import sys

ap = argparse.ArgumentParser()
ap.add_argument("log")
ap.add_argument("--min-accuracy", type=float, required=True)
ap.add_argument("--max-ratio", type=float, default=0.7,
                help="last logged loss / first logged loss must be below this")
args = ap.parse_args()
text = open(args.log).read()
losses = [float(m) for m in re.findall(r"^epoch \d+ step \d+  loss ([0-9.]+)", text, re.M)]
acc = re.findall(r"test accuracy ([0-9.]+)%", text)
if len(losses) < 2 or not acc:
    sys.exit(f"check_training: expected step lines and a summary in {args.log}:\n{text}")
ratio = losses[-1] / losses[0]
print(f"first loss {losses[0]:.4f}, last loss {losses[-1]:.4f} (ratio {ratio:.2f}), "
      f"test accuracy {acc[-1]}%")
if ratio >= args.max_ratio:
    sys.exit(f"check_training: loss did not fall enough: ratio {ratio:.2f} >= {args.max_ratio}")
if float(acc[-1]) < args.min_accuracy:
    sys.exit(f"check_training: test accuracy {acc[-1]}% < {args.min_accuracy}%")
