#!/usr/bin/env python3
# Usage: scripts/mean_image_mse.py  (reads Fashion-MNIST from /usr/share/datasets/fashion-mnist)
# Baselines that models/autoencoder.yaml's test loss is judged by (docs/model-format.md), with
# pixels scaled to [0, 1]: the test MSE and binary cross-entropy of predicting the training
# set's mean image for every test image, and the cross-entropy floor of a perfect
# reconstruction (the entropy of the soft targets: BCE against a target t is never below it).
import collections
import gzip
import math


def load(path):
    b = gzip.open(path).read()
    return b[16:], int.from_bytes(b[4:8], 'big')


def h(p, q):  # -(p log q + (1 - p) log(1 - q)), 0 log 0 = 0
    q = min(max(q, 1e-7), 1 - 1e-7)
    return -((p * math.log(q) if p > 0 else 0) + ((1 - p) * math.log(1 - q) if p < 1 else 0))


d = '/usr/share/datasets/fashion-mnist/'
train, ntrain = load(d + 'train-images-idx3-ubyte.gz')
test, ntest = load(d + 't10k-images-idx3-ubyte.gz')
mse = bce = floor = 0.0
for j in range(784):
    m = sum(train[j::784]) / ntrain / 255.0
    for v, k in collections.Counter(test[j::784]).items():
        t = v / 255.0
        mse += k * (t - m) ** 2
        bce += k * h(t, m)
        floor += k * h(t, t)
n = ntest * 784
print("mean image: test mse %.4f, test bce %.4f; bce of a perfect reconstruction %.4f"
      % (mse / n, bce / n, floor / n))
