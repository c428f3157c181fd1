"""dlrun's training batches, reproduced in PyTorch for the parity tests (test/parity/parity.py).

The same examples in the same order as `dlrun --limit N` with training.shuffle: false:
  - the data sets of runtime/data/Datasets.cpp: MNIST idx files, CIFAR-10 binary batches
    (bytes / 255 as float32) and the synthetic set (splitmix64, one label then the pixels of
    each example, the stream seeded with training.seed + 1);
  - data.normalize;
  - runtime/train/Runner.cpp's augmentation, bit for bit: one std::mt19937_64 seeded with
    training.seed ^ 0xC1FA510 draws each training example's crop (top, then left) and
    flip, in batch order across epochs; then TensorFlow's per_image_standardization;
  - named tensors from a safetensors file (F32, I32), one per input, in file order.
"""
import gzip
import json
import struct

import numpy as np
import torch

M64 = (1 << 64) - 1


def read_idx(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = raw[3]
    shape = struct.unpack_from(">" + "I" * dims, raw, 4)
    return torch.frombuffer(bytearray(raw[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def splitmix64(seed, count):
    """The first `count` outputs of Datasets.cpp's nextRandom from state `seed` (output k mixes
    seed + k * golden gamma)."""
    k = np.arange(1, count + 1, dtype=np.uint64)
    z = np.uint64(seed & M64) + k * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def synthetic(count, shape, classes, seed):
    per = int(np.prod(shape))
    r = splitmix64(seed, count * (per + 1)).reshape(count, per + 1)
    labels = ((r[:, 0] >> np.uint64(32)) * np.uint64(classes)) >> np.uint64(32)
    pixels = (r[:, 1:] >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    return (torch.from_numpy(pixels.reshape(count, *shape)),
            torch.from_numpy(labels.astype(np.int64)))


def cifar10(paths, limit):
    records = b"".join(open(p, "rb").read() for p in paths)
    n = min(len(records) // 3073, limit)
    r = torch.frombuffer(bytearray(records[:n * 3073]), dtype=torch.uint8).reshape(n, 3073)
    return r[:, 1:].reshape(n, 3, 32, 32), r[:, 0].long()


def text(path, seq_len, test_fraction, limit):
    """runtime/data/Sequences.cpp's training part of a text: the file's bytes, the last
    floor(n * test_fraction) (the fraction a float32, as in the plan) left for the test set,
    cut into non-overlapping windows of seq_len tokens; each window's targets are the same
    window one byte later. Returns int64 tokens and targets [N, seq_len]."""
    raw = np.frombuffer(open(path, "rb").read(), dtype=np.uint8).astype(np.int64)
    n = raw.shape[0]
    train = n - int(np.floor(n * float(np.float32(test_fraction))))
    count = min((train - 1) // seq_len, limit)
    idx = np.arange(count)[:, None] * seq_len + np.arange(seq_len)[None, :]
    return torch.from_numpy(raw[idx]), torch.from_numpy(raw[idx + 1])


def named_tensors(path, limit):
    """A safetensors file's F32 and I32 tensors by name, the first `limit` examples of each
    (I32 as int64, what torch's embeddings and losses take)."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    out = {}
    for name, t in json.loads(raw[8:8 + n]).items():
        if name == "__metadata__":
            continue
        dtype = {"F32": np.float32, "I32": np.int32}[t["dtype"]]
        lo, hi = t["data_offsets"]
        a = np.frombuffer(raw[8 + n + lo:8 + n + hi], dtype=dtype).reshape(t["shape"])[:limit]
        out[name] = torch.from_numpy(a.astype(np.int64) if dtype == np.int32 else a.copy())
    return out


def load(model, limit):
    """The training set as dlrun loads it: float32 images [N, C, H, W] and int64 labels (or,
    for the text format, int64 token windows and their next bytes)."""
    data = model["data"]
    fmt = data["format"]
    if fmt == "text":
        return text(data["file"], data["seq_len"], data.get("test_fraction", 0.1), limit)
    shape = next(v["shape"] for v in model["inputs"].values() if "shape" in v)
    if fmt == "synthetic":
        n = min(data.get("train_examples", 6000), limit)
        classes = max([v["classes"] for v in model["inputs"].values() if "classes" in v] or [1])
        return synthetic(n, shape, classes, model["training"].get("seed", 0) + 1)
    if fmt == "mnist":
        images = read_idx(data["train"]["images"])[:limit]
        labels = read_idx(data["train"]["labels"])[:limit].long()
        images = images.reshape(images.shape[0], 1, *images.shape[1:])
    elif fmt == "cifar10":
        images, labels = cifar10(data["train"], limit)
    else:
        raise SystemExit("parity: data format '%s' is not reproduced here" % fmt)
    images = images.float().div(255.0)
    if "normalize" in data:
        images = (images - data["normalize"]["mean"]) / data["normalize"]["std"]
    return images, labels


class Mt19937_64:
    """std::mt19937_64, whose output the C++ standard fixes."""

    def __init__(self, seed):
        self.mt = [seed & M64]
        for i in range(1, 312):
            prev = self.mt[-1]
            self.mt.append((6364136223846793005 * (prev ^ (prev >> 62)) + i) & M64)
        self.i = 312

    def __call__(self):
        if self.i >= 312:
            mt = self.mt
            for k in range(312):
                x = (mt[k] & 0xFFFFFFFF80000000) | (mt[(k + 1) % 312] & 0x7FFFFFFF)
                mt[k] = mt[(k + 156) % 312] ^ (x >> 1) ^ (0xB5026F5AA96619E9 if x & 1 else 0)
            self.i = 0
        x = self.mt[self.i]
        self.i += 1
        x ^= (x >> 29) & 0x5555555555555555
        x ^= (x << 17) & 0x71D67FFFEDA60000
        x ^= (x << 37) & 0xFFF7EEE000000000
        return x ^ (x >> 43)

    def below(self, n):
        return ((self() >> 32) * n) >> 32


def standardize(x):
    """Datasets.cpp's standardizeImage: mean and spread in double, the map in float."""
    d = x.double()
    mean = d.mean()
    spread = max(((d - mean) ** 2).mean().sqrt().item(), 1.0 / d.numel() ** 0.5)
    m = torch.tensor(mean.item(), dtype=torch.float32)
    return (x - m) * torch.tensor(1.0 / spread, dtype=torch.float32)


class Batches:
    """Training batch k (0-based) as dlrun's step k + 1 sees it: file order, every epoch."""

    def __init__(self, model, images, labels, batch):
        self.images, self.labels, self.batch = images, labels, batch
        data = model["data"]
        crop = data.get("crop")
        self.crop = None if crop is None else pair(crop)
        self.flip, self.std = data.get("flip", False), data.get("standardize", False)
        self.rng = Mt19937_64(model["training"].get("seed", 0) ^ 0xC1FA510)
        self.per_epoch = images.shape[0] // batch

    def peek(self):
        """A batch of zeros of the model's input shape (to build the graph with); draws nothing."""
        if self.images.dim() != 4:  # token windows
            return torch.zeros_like(self.images[:self.batch]), self.labels[:self.batch]
        n, c, h, w = self.images[:self.batch].shape
        return torch.zeros(n, c, *(self.crop or (h, w))), self.labels[:self.batch]

    def __call__(self, k):
        b = k % self.per_epoch
        x = self.images[b * self.batch:(b + 1) * self.batch]
        y = self.labels[b * self.batch:(b + 1) * self.batch]
        if self.crop is None and not self.flip and not self.std:
            return x, y
        out = []
        h, w = x.shape[2:]
        oh, ow = self.crop or (h, w)
        for img in x:
            if self.crop or self.flip:
                top, left = self.rng.below(h - oh + 1), self.rng.below(w - ow + 1)
                img = img[:, top:top + oh, left:left + ow]
                if self.flip and self.rng() >> 63:
                    img = img.flip(-1)
            out.append(standardize(img) if self.std else img)
        return torch.stack(out), y


def pair(v):
    return tuple(v) if isinstance(v, list) else (v, v)
