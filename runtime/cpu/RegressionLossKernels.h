// CPU kernels of the regression losses mse and bce_with_logits, whose target is a float
// tensor of the input's shape (a layer of the model, e.g. the flattened image an autoencoder
// reconstructs), not class labels. Both are means over every element, as PyTorch's
// nn.MSELoss() and nn.BCEWithLogitsLoss() with their default reduction='mean'. The target
// gets no gradient: it is data (PyTorch's `target.detach()`).
//
// Sums run in double in element order; the CUDA generator (compiler/Target/Cuda) emits the
// same order on one thread, so the host emulation compares them tightly.
#pragma once
#include <cstddef>

namespace dlc::cpu {

/// *loss = 1/n sum (x - t)^2
void mseForward(size_t n, const float *x, const float *t, float *loss);
/// dx = (x - t) * (2/n), the factor rounded to float once (as the GPU does); dx may alias x.
void mseBackward(size_t n, const float *x, const float *t, float *dx);

/// *loss = 1/n sum max(x, 0) - x t + log(1 + exp(-|x|)), the numerically stable form of
/// -[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))] (no overflow for any finite x).
void bceWithLogitsForward(size_t n, const float *x, const float *t, float *loss);
/// dx = (sigmoid(x) - t) * (1/n); dx may alias x.
void bceWithLogitsBackward(size_t n, const float *x, const float *t, float *dx);

} // namespace dlc::cpu
