#!/usr/bin/env python3
"""yaml_infer.test's check: dlrun --infer's output 'fit' [128, 1] against x . w + b computed
here from the saved checkpoint (within 1e-5), and against the data's targets (within 0.05)."""
import json
import struct
import sys


def read(path):
    d = open(path, "rb").read()
    n = struct.unpack("<Q", d[:8])[0]
    header = json.loads(d[8:8 + n])
    out = {}
    for name, v in header.items():
        if name != "__metadata__":
            b, e = v["data_offsets"]
            out[name] = (v["shape"], struct.unpack("<%df" % ((e - b) // 4), d[8 + n + b:8 + n + e]))
    return out


out, data, fit = read(sys.argv[1]), read(sys.argv[2]), read(sys.argv[3])
shape, pred = out["fit"]
assert shape == [128, 1], shape
_, x = data["x"]
_, y = data["y"]
_, w = fit["fit.weight"]
_, b = fit["fit.bias"]
want = [sum(w[j] * x[i * 8 + j] for j in range(8)) + b[0] for i in range(128)]
exact = max(abs(p - q) for p, q in zip(pred, want))
fitted = max(abs(p - q) for p, q in zip(pred, y))
print("max |infer - x.w+b| = %.3g, max |infer - y| = %.3g" % (exact, fitted))
assert exact < 1e-5 and fitted < 0.05
