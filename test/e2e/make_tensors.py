#!/usr/bin/env python3
"""Writes the safetensors data sets of test/e2e/safetensors_data.test: x [N, 8] float and
y [N, 1] = x . w + 0.3, train (512) and test (128), with json + struct only (no torch).

  make_tensors.py DIR [--variant good|no-y|int-y|shape-y|count-y|labels]

The variants break one thing each for the refusal tests; `labels` adds c [N] int32 class ids
of which one is out of range for a 3-class input."""
import json
import random
import struct
import sys

W = [0.5, -1.0, 2.0, 0.25, -0.75, 1.5, 0.0, 1.0]


def save(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (dtype, shape, values) in tensors.items():
        b = struct.pack("<%d%s" % (len(values), {"F32": "f", "I32": "i"}[dtype]), *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    out, variant = sys.argv[1], (sys.argv[3] if len(sys.argv) > 3 else "good")
    rng = random.Random(1)
    for split, n in (("train", 512), ("test", 128)):
        xs = [rng.uniform(-1, 1) for _ in range(n * 8)]
        ys = [sum(W[j] * xs[i * 8 + j] for j in range(8)) + 0.3 for i in range(n)]
        t = {"x": ("F32", [n, 8], xs), "y": ("F32", [n, 1], ys)}
        if variant == "no-y":
            t["z"] = t.pop("y")
        elif variant == "int-y":
            t["y"] = ("I32", [n, 1], [int(v) for v in ys])
        elif variant == "shape-y":
            t["y"] = ("F32", [n // 2, 2], ys)
        elif variant == "count-y":
            t["y"] = ("F32", [n - 1, 1], ys[:-1])
        elif variant == "labels":
            t["c"] = ("I32", [n], [i % 3 if i != 7 else 3 for i in range(n)])
        save("%s/%s.safetensors" % (out, split), t)


if __name__ == "__main__":
    main()
