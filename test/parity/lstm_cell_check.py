#!/usr/bin/env python3
"""Checks torch_layers.Lstm, the hand-written LSTM the parity tests compare dlc's lstm layer
with, against torch.nn.LSTM: with PyTorch's gate order (i, f, g, o), dlc's one bias in
bias_ih, the forget bias added to its forget slice and bias_hh zero, the two give the same
last hidden state and the same gradients. A swapped gate order must not pass (the check can
fail). Prints the differences; exits 1 on a mismatch. Needs python3-torch."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_layers  # noqa: E402

torch.manual_seed(0)
steps, features, units, fb = 7, 5, 6, 1.0
x = torch.randn(3, steps, features, dtype=torch.float64)
mine = torch_layers.Lstm(features, units, fb).double()
with torch.no_grad():
    for p in mine.parameters():
        p.uniform_(-0.5, 0.5)


def reference(weight_ih, weight_hh, bias):
    ref = torch.nn.LSTM(features, units, batch_first=True).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(weight_ih)
        ref.weight_hh_l0.copy_(weight_hh)
        ref.bias_ih_l0.copy_(bias + torch.cat([torch.zeros(units), torch.full((units,), fb),
                                               torch.zeros(2 * units)]).double())
        ref.bias_hh_l0.zero_()
    return ref


def last_h(ref):
    return ref(x)[1][0][0]


h = mine(x)
h.sum().backward()
ref = reference(mine.weight_ih.detach(), mine.weight_hh.detach(), mine.bias.detach())
r = last_h(ref)
r.sum().backward()
diffs = {"h": (h - r).abs().max().item(),
         "d weight_ih": (mine.weight_ih.grad - ref.weight_ih_l0.grad).abs().max().item(),
         "d weight_hh": (mine.weight_hh.grad - ref.weight_hh_l0.grad).abs().max().item(),
         "d bias": (mine.bias.grad - ref.bias_ih_l0.grad).abs().max().item()}
# The same weights with the input and forget gates swapped: a different layer.
swap = lambda w: torch.cat([w[units:2 * units], w[:units], w[2 * units:]])
wrong = last_h(reference(swap(mine.weight_ih.detach()), swap(mine.weight_hh.detach()),
                         swap(mine.bias.detach())))
swapped = (h - wrong).abs().max().item()
ok = max(diffs.values()) < 1e-12 and swapped > 1e-3
print("lstm cell vs torch.nn.LSTM: " + ", ".join("%s %.2g" % kv for kv in diffs.items()) +
      "; gates i and f swapped: h differs by %.2g" % swapped)
print("lstm cell: %s" % ("PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
