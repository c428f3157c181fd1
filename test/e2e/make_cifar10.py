#!/usr/bin/env python3
"""Writes a small synthetic CIFAR-10 binary data set in the layout of cifar-10-binary.tar.gz
(DIR/cifar-10-batches-bin/data_batch_1..5.bin and test_batch.bin; records of 1 label byte
and 3072 pixel bytes, R, G and B planes of 32x32), for tests and throughput measurements.

The classes are learnable through crops, flips and per-image standardization: class
c = channel + 3 * half, 6 classes, where `channel` (R, G, B) is bright and `half` (0: top,
1: bottom) is the half of the image where it is brightest, over uniform noise.
Usage: make_cifar10.py DIR --per-file N [--test N] [--seed S]"""
import argparse
import os
import random

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--per-file", type=int, default=256, help="records in each training file")
ap.add_argument("--test", type=int, default=256, help="records in test_batch.bin")
ap.add_argument("--seed", type=int, default=1)
args = ap.parse_args()

rng = random.Random(args.seed)
out = os.path.join(args.dir, "cifar-10-batches-bin")
os.makedirs(out, exist_ok=True)
noise = [bytes(rng.randrange(0, 96) for _ in range(3072)) for _ in range(64)]


def record():
    label = rng.randrange(6)
    channel, half = label % 3, label // 3
    pixels = bytearray(noise[rng.randrange(len(noise))])
    for row in range(32):
        lift = 150 if (row < 16) == (half == 0) else 60
        base = channel * 1024 + row * 32
        for col in range(32):
            pixels[base + col] = min(255, pixels[base + col] + lift)
    return bytes([label]) + bytes(pixels)


for name, count in [(f"data_batch_{i}.bin", args.per_file) for i in range(1, 6)] + \
                   [("test_batch.bin", args.test)]:
    with open(os.path.join(out, name), "wb") as f:
        for _ in range(count):
            f.write(record())
