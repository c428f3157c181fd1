#!/usr/bin/env python3
"""Reads dlrun's .safetensors checkpoints the way other programs do (lit tests' helper).

The header is parsed with json + struct only (always available), independently of dlc's
reader; when the `safetensors` package is importable its loader must agree.

  safetensors_check.py list ST               every tensor: name dtype shape (header order)
  safetensors_check.py compare ST CKPT [K]   ST holds exactly CKPT's tensors (dlc's own format;
                                             optimizer state under optim.), values = K x CKPT's
  safetensors_check.py rewrite ST OUT K      OUT as another writer lays it out: keys sorted,
                                             data in reverse order, an extra I64 tensor, every
                                             value times K (exact for K = 2)
  safetensors_check.py torch ST MODEL.yaml   (needs torch) the model as torch.nn modules named
                                             like dlc's layers takes ST's non-optim tensors with
                                             load_state_dict(strict=True); every optim. tensor
                                             has a parameter of its shape
"""
import json
import struct
import sys


def read_safetensors(path):
    """name -> (dtype, shape, bytes); checks the layout the format requires."""
    data = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out, spans = {}, []
    for name, t in header.items():
        if name == "__metadata__":
            assert all(isinstance(v, str) for v in t.values()), t
            continue
        b, e = t["data_offsets"]
        spans.append((b, e))
        out[name] = (t["dtype"], t["shape"], body[b:e])
    spans.sort()
    at = 0
    for b, e in spans:
        assert b == at, "hole or overlap at %d" % b
        at = e
    assert at == len(body), "trailing bytes"
    try:
        import numpy
        from safetensors.numpy import load_file
    except ImportError:
        return out
    for name, arr in load_file(path).items():  # the library's reader must agree
        dtype, shape, raw = out[name]
        assert list(arr.shape) == shape and arr.tobytes() == raw, name
    return out


def read_dlc_checkpoint(path):
    """dlc's own format (runtime/train/Checkpoint.cpp): name -> float32 bytes."""
    data = open(path, "rb").read()
    assert data[:8] == b"DLCCKPT1", path
    (count,) = struct.unpack_from("<I", data, 8)
    at, out = 12, {}
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, at)
        name = data[at + 4:at + 4 + n].decode()
        at += 4 + n
        (floats,) = struct.unpack_from("<Q", data, at)
        at += 8
        out[name] = data[at:at + 4 * floats]
        at += 4 * floats
    return out


def floats(raw):
    return struct.unpack("<%df" % (len(raw) // 4), raw)


def main():
    mode, path = sys.argv[1], sys.argv[2]
    st = read_safetensors(path)
    if mode == "list":
        for name, (dtype, shape, _) in st.items():
            print("tensor %s %s %s" % (name, dtype, shape))
    elif mode == "compare":
        ckpt = read_dlc_checkpoint(sys.argv[3])
        k = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
        seen = set()
        for name, raw in ckpt.items():
            key = name if name in st else "optim." + name
            assert key in st, "missing " + name
            dtype, shape, got = st[key]
            assert dtype == "F32", key
            want = [k * v for v in floats(raw)]
            if list(floats(got)) != want:
                sys.exit("compare: MISMATCH in %s" % key)
            seen.add(key)
        assert seen == set(st), "extra tensors %s" % sorted(set(st) - seen)
        print("compare: %d tensors equal" % len(seen))
    elif mode == "rewrite":
        k = float(sys.argv[4])
        items = sorted(st.items())
        items.append(("bn.num_batches_tracked", ("I64", [], struct.pack("<q", 7))))
        header, chunks, at = {"__metadata__": {"format": "pt"}}, [], 0
        for name, (dtype, shape, raw) in reversed(items):
            if dtype == "F32":
                raw = struct.pack("<%df" % (len(raw) // 4), *[k * v for v in floats(raw)])
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(raw)]}
            chunks.append(raw)
            at += len(raw)
        text = json.dumps(dict(sorted(header.items())), separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        with open(sys.argv[3], "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))
        print("rewrite: %d tensors" % len(items))
    elif mode == "torch":
        import torch
        import yaml
        model = yaml.safe_load(open(sys.argv[3]))
        c = model["inputs"]["image"]["shape"][0]
        net = torch.nn.Sequential()
        for layer in model["layers"]:
            op = layer["op"]
            if op == "conv2d":
                m = torch.nn.Conv2d(c, layer["filters"], layer["kernel"], padding=layer.get("padding", 0))
                c = layer["filters"]
            elif op == "batch_norm":
                m = torch.nn.BatchNorm2d(c)
            elif op == "linear":
                m = torch.nn.LazyLinear(layer["units"])
            elif op in ("relu", "maxpool2d", "flatten"):
                m = {"relu": torch.nn.ReLU(), "flatten": torch.nn.Flatten(),
                     "maxpool2d": torch.nn.MaxPool2d(layer.get("kernel", 2))}[op]
            else:
                sys.exit("torch: no torch module for op " + op)
            net.add_module(layer["name"], m)
        net(torch.zeros(1, *model["inputs"]["image"]["shape"]))  # sizes the lazy layers
        tensors = {name: torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(shape)
                   for name, (dtype, shape, raw) in st.items()}
        try:
            from safetensors.torch import load_file
            tensors = load_file(path)
            print("torch: read with safetensors.torch.load_file")
        except ImportError:
            pass
        state = {k: v for k, v in tensors.items() if not k.startswith("optim.")}
        print("torch:", net.load_state_dict(state, strict=True))
        params = dict(net.named_parameters())
        for k, v in tensors.items():
            if k.startswith("optim.") and k != "optim.optimizer.state":
                owner = k[len("optim."):].rsplit(".", 1)[0]
                assert owner in params and params[owner].shape == v.shape, k
        print("torch: %d model tensors, %d optimizer tensors" %
              (len(state), len(tensors) - len(state)))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
