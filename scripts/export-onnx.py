#!/usr/bin/env python3
"""Exports the networks of issue 14 item 6 to ONNX with PyTorch, each with an input and
PyTorch's output, for dlc's import tests (test/Driver/onnx_exports.test).

  export-onnx.py OUT_DIR [lenet resnet18 mobilenet_v2 gpt2_block bert_layer]

Writes OUT_DIR/NAME.onnx (opset 17, torch.onnx.export's TorchScript exporter, eval mode),
OUT_DIR/NAME.in.safetensors (the graph's input "input") and OUT_DIR/NAME.out.safetensors
(PyTorch's output "output", float32 computed in float64 for a tight reference), and prints
each model's parameter count. Seeded: the same files every run. Needs torch (and
torchvision for resnet18 and mobilenet_v2): Debian's python3-torch or bench/.venv.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def save(path, tensors):
    """safetensors with json + struct only."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().to(torch.float32).contiguous()
        b = struct.pack("<%df" % t.numel(), *t.flatten().tolist())
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class LeNet(nn.Module):
    """models/lenet.yaml."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Gpt2Block(nn.Module):
    """A GPT-2 block: pre-norm causal self-attention and a GELU MLP, residuals."""

    def __init__(self, c=64, heads=4, t=16):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(c)
        self.c_attn = nn.Linear(c, 3 * c)
        self.c_proj = nn.Linear(c, c)
        self.ln_2 = nn.LayerNorm(c)
        self.c_fc = nn.Linear(c, 4 * c)
        self.mlp_proj = nn.Linear(4 * c, c)
        self.register_buffer("mask", torch.tril(torch.ones(t, t)).view(1, 1, t, t))

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q = q.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        k = k.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        v = v.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // self.heads))
        att = att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class BertLayer(nn.Module):
    """A BERT encoder layer: post-norm bidirectional self-attention and a GELU MLP."""

    def __init__(self, c=64, heads=4):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(c, c)
        self.key = nn.Linear(c, c)
        self.value = nn.Linear(c, c)
        self.attn_out = nn.Linear(c, c)
        self.attn_norm = nn.LayerNorm(c, eps=1e-12)
        self.intermediate = nn.Linear(c, 4 * c)
        self.output = nn.Linear(4 * c, c)
        self.out_norm = nn.LayerNorm(c, eps=1e-12)

    def forward(self, x):
        b, t, c = x.shape
        d = c // self.heads
        split = lambda y: y.view(b, t, self.heads, d).permute(0, 2, 1, 3)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        att = F.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d), dim=-1)
        y = torch.matmul(att, v).permute(0, 2, 1, 3).contiguous().view(b, t, c)
        x = self.attn_norm(x + self.attn_out(y))
        return self.out_norm(x + self.output(F.gelu(self.intermediate(x))))


def build(name):
    if name == "lenet":
        return LeNet(), torch.randn(2, 1, 28, 28)
    if name == "resnet18":
        import torchvision
        return torchvision.models.resnet18(num_classes=10), torch.randn(2, 3, 64, 64)
    if name == "mobilenet_v2":
        import torchvision
        # models/mobilenet_v2.yaml's network: 1000 classes, 224x224.
        return torchvision.models.mobilenet_v2(num_classes=1000), torch.randn(2, 3, 224, 224)
    if name == "gpt2_block":
        return Gpt2Block(), torch.randn(2, 16, 64)
    if name == "bert_layer":
        return BertLayer(), torch.randn(2, 16, 64)
    raise SystemExit("unknown model " + name)


def main():
    out = sys.argv[1]
    names = sys.argv[2:] or ["lenet", "resnet18", "mobilenet_v2", "gpt2_block", "bert_layer"]
    os.makedirs(out, exist_ok=True)
    for name in names:
        torch.manual_seed(0)
        model, x = build(name)
        model.eval()
        # Batch norm's running statistics away from 0 and 1, so that using them matters.
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
        path = os.path.join(out, name + ".onnx")
        kwargs = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
        # The batch symbolic (dlc's --batch fixes it); batch norm kept as its own node (constant
        # folding would fold it into the convolutions) so the parameters are the module's.
        torch.onnx.export(model, (x,), path, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                          opset_version=17, do_constant_folding=False, **kwargs)
        with torch.no_grad():
            ref = model.double()(x.double())
        save(os.path.join(out, name + ".in.safetensors"), {"input": x})
        save(os.path.join(out, name + ".out.safetensors"), {"output": ref})
        params = sum(p.numel() for p in model.parameters())
        print(f"{name}: {params} parameters, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
