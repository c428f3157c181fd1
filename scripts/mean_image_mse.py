#!/usr/bin/env python3
# Usage: scripts/mean_image_mse.py  (reads Fashion-MNIST from /usr/share/datasets/fashion-mnist)
# The baseline models/autoencoder.yaml is compared with (docs/model-format.md).
# The test MSE of predicting the training set's mean image (pixels scaled to [0, 1]).
import gzip, collections
def load(p):
    b = gzip.open(p).read()
    return b[16:], int.from_bytes(b[4:8], 'big')
d = '/usr/share/datasets/fashion-mnist/'
tr, ntr = load(d + 'train-images-idx3-ubyte.gz')
te, nte = load(d + 't10k-images-idx3-ubyte.gz')
total = 0.0
for j in range(784):
    m = sum(tr[j::784]) / ntr / 255.0
    c = collections.Counter(te[j::784])
    total += sum(k * ((v / 255.0 - m) ** 2) for v, k in c.items())
print("mean-image test mse %.5f" % (total / (nte * 784)))
