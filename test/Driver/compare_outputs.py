#!/usr/bin/env python3
"""compare_outputs.py DLC.safetensors REF.safetensors TOL: every tensor of REF against the one of
its name in DLC, max |dlc - ref| <= TOL * max |ref| (json + struct only)."""
import json
import struct
import sys


def read(path):
    d = open(path, "rb").read()
    n = struct.unpack("<Q", d[:8])[0]
    out = {}
    for name, v in json.loads(d[8:8 + n]).items():
        if name != "__metadata__":
            b, e = v["data_offsets"]
            out[name] = (v["shape"], struct.unpack("<%df" % ((e - b) // 4), d[8 + n + b:8 + n + e]))
    return out


got, ref, tol = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3])
for name, (shape, values) in ref.items():
    assert got[name][0] == shape, (name, got[name][0], shape)
    scale = max(abs(v) for v in values)
    err = max(abs(a - b) for a, b in zip(got[name][1], values))
    print("%s %s: max |dlc - torch| / max |torch| = %.3g" % (sys.argv[1].split("/")[-1], name, err / scale))
    assert err <= tol * scale
