"""dlc's YAML layers and losses as PyTorch, for the parity tests (test/parity/parity.py).

One entry per op in LAYERS: a function of the layer's YAML mapping and its example input
tensors that returns the torch.nn.Module computing it (called with the inputs' tensors).
The module's parameters and buffers carry the names of dlc's (`conv1.weight`,
`bn1.running_mean`, `drop.step`), so a dlrun checkpoint loads into the graph one to one. A new
op is one more entry; where torch.nn already has the layer the entry is one line. LOSSES
does the same for the loss section. docs/model-format.md documents each op's semantics;
where dlc's differ from torch.nn's (TensorFlow's LRN, the LSTM's forget bias, dropout's
masks) the module here writes dlc's formula out.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

LAYERS = {}


def layer(*ops):
    def register(build):
        for op in ops:
            LAYERS[op] = build
        return build
    return register


class Fn(torch.nn.Module):
    """A layer without parameters: a function of its inputs."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def pair(v):
    return tuple(v) if isinstance(v, list) else (v, v)


@layer("conv2d")
def _(L, x):  # groups, dilation and padding 'same'/'valid' as nn.Conv2d takes them
    pad = L.get("padding", 0)
    return torch.nn.Conv2d(x.shape[1], L["filters"], pair(L["kernel"]), pair(L.get("stride", 1)),
                           pad if isinstance(pad, str) else pair(pad),
                           dilation=pair(L.get("dilation", 1)), groups=L.get("groups", 1),
                           bias=L.get("bias", True))


@layer("maxpool2d")
def _(L, x):
    return torch.nn.MaxPool2d(pair(L["kernel"]), pair(L.get("stride", L["kernel"])),
                              pair(L.get("padding", 0)))


@layer("avgpool2d")
def _(L, x):  # padding counts as zeros: divisor kh*kw
    return torch.nn.AvgPool2d(pair(L["kernel"]), pair(L.get("stride", L["kernel"])),
                              pair(L.get("padding", 0)), count_include_pad=True)


@layer("global_avgpool")
def _(L, x):
    return torch.nn.AdaptiveAvgPool2d(1)


@layer("batch_norm")
def _(L, x):
    cls = torch.nn.BatchNorm2d if x.dim() == 4 else torch.nn.BatchNorm1d
    return cls(x.shape[1], eps=L.get("eps", 1e-5), momentum=L.get("momentum", 0.1))


@layer("linear")
def _(L, x):  # on the last axis, as nn.Linear (dlc's linear takes N-D inputs)
    if "tie" in L:
        return Tied(L["_built"][L["tie"]], L["units"], L.get("bias", True))
    return torch.nn.Linear(x.shape[-1], L["units"], bias=L.get("bias", True))


class Tied(torch.nn.Module):
    """dlc's `linear {tie: LAYER}`: F.linear with LAYER's weight (GPT-2's LM head on wte); the
    source is kept out of this module's parameters, so the weight is one tensor, trained by
    the sum of both uses' gradients, as in dlc."""

    def __init__(self, source, units, bias):
        super().__init__()
        self._source = [source]
        self.bias = torch.nn.Parameter(torch.zeros(units)) if bias else None

    def forward(self, x):
        return F.linear(x, self._source[0].weight, self.bias)


@layer("layer_norm")
def _(L, x):
    return torch.nn.LayerNorm(x.shape[-1], eps=L.get("eps", 1e-5))


@layer("reshape")
def _(L, x):
    return Fn(lambda x, shape=tuple(L["shape"]): x.reshape(x.shape[0], *shape))


@layer("transpose")
def _(L, x):
    return Fn(lambda x, perm=tuple(L["perm"]): x.permute(*perm).contiguous())


@layer("embedding")
def _(L, x):
    return torch.nn.Embedding(L["vocab"], L["dim"])


class PositionEmbedding(torch.nn.Module):
    """GPT-2's wpe added to its input: x + nn.Embedding(P, C)(arange(T)), as one module so
    that its table is `NAME.weight` like dlc's."""

    def __init__(self, positions, width):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(positions, width))

    def forward(self, x):
        return x + F.embedding(torch.arange(x.shape[1]), self.weight)


@layer("position_embedding")
def _(L, x):
    return PositionEmbedding(L["positions"], x.shape[-1])


@layer("attention")
def _(L, x, mask=None):  # the padding mask, when named, is the graph's second source
    return Attention(x.shape[-1], L["heads"], L.get("causal", False))


@layer("lrn")
def _(L, x):
    return TfLrn(L.get("depth_radius", 5), L.get("bias", 1.0), L.get("alpha", 1.0),
                 L.get("beta", 0.5))


@layer("lstm")
def _(L, x):
    return Lstm(x.shape[-1], L["units"], L.get("forget_bias", 1.0))


@layer("dropout")
def _(L, x):
    return Dropout(L.get("rate", 0.5), L["name"], L["_seed"])


LAYERS.update({
    "relu": lambda L, x: torch.nn.ReLU(),
    "sigmoid": lambda L, x: torch.nn.Sigmoid(),
    "tanh": lambda L, x: torch.nn.Tanh(),
    "silu": lambda L, x: torch.nn.SiLU(),
    "gelu": lambda L, x: torch.nn.GELU(approximate=L.get("approximate", "none")),
    "leaky_relu": lambda L, x: torch.nn.LeakyReLU(L.get("slope", 0.01)),
    "relu6": lambda L, x: torch.nn.ReLU6(),
    "hardswish": lambda L, x: torch.nn.Hardswish(),
    "softmax": lambda L, x: torch.nn.Softmax(dim=-1),
    "flatten": lambda L, x: torch.nn.Flatten(),
    "add": lambda L, a, b: Fn(torch.add),
    "mul": lambda L, a, b: Fn(torch.mul),
    "sub": lambda L, a, b: Fn(torch.sub),
    "concat": lambda L, a, b: Fn(lambda a, b, axis=L.get("axis", 1): torch.cat([a, b], axis)),
})


class Attention(torch.nn.Module):
    """dlc's attention layer: GPT-2's c_attn (C -> 3C, q|k|v along the last axis), the heads'
    scaled dot-product attention (causal or not), c_proj (C -> C); nn.Linear layouts."""

    def __init__(self, width, heads, causal):
        super().__init__()
        self.c_attn = torch.nn.Linear(width, 3 * width)
        self.c_proj = torch.nn.Linear(width, width)
        self.heads, self.causal = heads, causal

    def forward(self, x, mask=None):
        b, t, c = x.shape
        q, k, v = (z.reshape(b, t, self.heads, c // self.heads).transpose(1, 2)
                   for z in self.c_attn(x).split(c, dim=2))
        # F.scaled_dot_product_attention written out (Debian's torch 1.13 predates it).
        s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        hidden = torch.zeros(b, 1, t, t, dtype=torch.bool)
        if self.causal:
            hidden = hidden | torch.ones(t, t, dtype=torch.bool).triu(1)
        if mask is not None:  # key_padding_mask = (mask == 0)
            hidden = hidden | (mask == 0)[:, None, None, :]
        s = s.masked_fill(hidden, float("-inf"))
        # A query with no key left: dlc's zero row where softmax would give NaN.
        seen = (~hidden).any(-1, keepdim=True)
        y = (torch.softmax(s.masked_fill(~seen, 0.0), dim=-1) * seen) @ v
        return self.c_proj(y.transpose(1, 2).reshape(b, t, c))


class TfLrn(torch.nn.Module):
    """tf.nn.lrn: y = x / (bias + alpha * sum of x^2 over channels c-r..c+r)^beta. (torch's
    LocalResponseNorm divides alpha by the window size and pads differently.)"""

    def __init__(self, radius, bias, alpha, beta):
        super().__init__()
        self.r, self.bias, self.alpha, self.beta = radius, bias, alpha, beta

    def forward(self, x):
        sq = F.pad(x * x, (0, 0, 0, 0, self.r, self.r))
        c = x.shape[1]
        s = sum(sq[:, d:d + c] for d in range(2 * self.r + 1))
        return x * torch.pow(self.bias + self.alpha * s, -self.beta)


class Lstm(torch.nn.Module):
    """dlc's lstm layer: one bias, gate order (i, f, g, o) as torch.nn.LSTM, TensorFlow's
    constant forget bias inside the sigmoid, the last hidden state. A one-channel image
    [N, 1, H, W] is H steps of W features."""

    def __init__(self, features, units, forget_bias):
        super().__init__()
        self.weight_ih = torch.nn.Parameter(torch.zeros(4 * units, features))
        self.weight_hh = torch.nn.Parameter(torch.zeros(4 * units, units))
        self.bias = torch.nn.Parameter(torch.zeros(4 * units))
        self.units, self.forget_bias = units, forget_bias

    def forward(self, x):
        if x.dim() == 4:
            x = x.squeeze(1)
        h = c = x.new_zeros(x.shape[0], self.units)
        for t in range(x.shape[1]):
            i, f, g, o = (x[:, t] @ self.weight_ih.T + h @ self.weight_hh.T + self.bias).chunk(4, 1)
            c = torch.sigmoid(f + self.forget_bias) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        return h


M64 = (1 << 64) - 1


def dropout_seed(model_seed, name):
    """compiler/Import/YamlImporter.cpp: the model's seed times Knuth's constant, xor the
    FNV-1a hash of the layer's name, in 32 bits."""
    h = 2166136261
    for ch in name.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return ((model_seed & 0xFFFFFFFF) * 2654435761 & 0xFFFFFFFF) ^ h


class Dropout(torch.nn.Module):
    """dlc's dropout while training: runtime/cpu/DropoutKernels.h's counter-based mask (the
    splitmix64 finaliser of (step << 32 | index) ^ seed mix, kept when its top 24 bits reach
    rate * 2^24), scale 1 / (1 - rate), and the layer's step counter, a buffer that counts
    training steps (one per forward here)."""

    def __init__(self, rate, name, model_seed):
        super().__init__()
        rate32 = float(np.float32(rate))
        self.threshold = np.uint64(math.floor(rate32 * (1 << 24) + 0.5))
        self.scale = float(np.float32(1.0 / (1.0 - rate32)))
        self.mix = np.uint64(dropout_seed(model_seed, name) * 0x9E3779B97F4A7C15 & M64)
        self.register_buffer("step", torch.zeros(1))

    def forward(self, x):
        if not self.training:
            return x
        idx = np.arange(x.numel(), dtype=np.uint64)
        z = ((np.uint64(int(self.step.item())) << np.uint64(32)) | idx) ^ self.mix
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
        keep = torch.from_numpy((z >> np.uint64(40)) >= self.threshold).reshape(x.shape)
        self.step += 1
        return torch.where(keep, x * self.scale, torch.zeros_like(x))


class Graph(torch.nn.Module):
    """A model's layers in dependency order, each reading its `input`, `inputs` or the layer
    before it (the image input for the first). Built from example inputs, so each layer's
    module sees its input shapes."""

    def __init__(self, model, example):
        super().__init__()
        layers = model["layers"]
        seed = model.get("training", {}).get("seed", 0)
        first = next(iter(example))
        self.sources = {}
        for k, L in enumerate(layers):
            if "inputs" in L:
                self.sources[L["name"]] = list(L["inputs"])
            else:
                self.sources[L["name"]] = [L.get("input", layers[k - 1]["name"] if k else first)]
            if L["op"] == "attention" and "mask" in L:  # a program input, not a layer
                self.sources[L["name"]].append(L["mask"])
        self.order, done = [], set(example)
        pending = list(layers)
        while pending:  # dlc orders layers by their inputs (a layer may name a later one)
            ready = [L for L in pending if all(s in done for s in self.sources[L["name"]])]
            if not ready:
                raise SystemExit("parity: the layers form a cycle or name a missing input")
            for L in ready:
                self.order.append(L["name"])
                done.add(L["name"])
            pending = [L for L in pending if L["name"] not in done]
        spec = {L["name"]: L for L in layers}
        self.blocks = torch.nn.ModuleList()
        env = dict(example)
        with torch.no_grad():
            for name in self.order:
                L = dict(spec[name], _seed=seed, _built=dict(zip(self.order, self.blocks)))
                if L["op"] not in LAYERS:
                    raise SystemExit("parity: layer op '%s' has no torch equivalent in "
                                     "test/parity/torch_layers.py yet" % L["op"])
                xs = [env[s] for s in self.sources[name]]
                m = LAYERS[L["op"]](L, *xs)
                self.blocks.append(m)
                env[name] = m.eval()(*xs)
        self.train()

    def forward(self, inputs):
        env = dict(inputs)
        for name, m in zip(self.order, self.blocks):
            env[name] = m(*[env[s] for s in self.sources[name]])
        return env

    def dlc_tensors(self):
        """dlc's name -> this graph's parameter or buffer (torch's batch-norm step count,
        which dlc has not, left out)."""
        out = {}
        for name, m in zip(self.order, self.blocks):
            for k, t in list(m.named_parameters()) + list(m.named_buffers()):
                if not k.endswith("num_batches_tracked"):
                    out[name + "." + k] = t
        return out


def cross_entropy(env, spec, model):
    """Mean over examples, or over every position of a sequence ([N, T, V] against [N, T])."""
    logits = env[spec.get("logits", model["layers"][-1]["name"])]
    labels = env[spec.get("labels", label_input(model))].long()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def label_input(model):
    return next(k for k, v in model["inputs"].items() if "classes" in v)


def regression(fn):
    # dlc gives the target no gradient: torch's equivalent detaches it.
    return lambda env, spec, model: fn(env[spec.get("input", model["layers"][-1]["name"])],
                                       env[spec["target"]].detach())


LOSSES = {
    "softmax_cross_entropy": cross_entropy,
    "mse": regression(F.mse_loss),
    "bce_with_logits": regression(F.binary_cross_entropy_with_logits),
}
