// CPU kernels for the activation layers (tanh, silu, gelu in both of PyTorch's forms,
// leaky_relu, relu6, hardswish), the two-input elementwise ops mul and sub with neg (the
// gradient of sub's second operand), and softmax over the last axis.
//
// Like the rest of the kernel library: pure functions over raw pointers, split over the
// thread pool, every output fully overwritten; an output may alias the input it replaces.
// Each formula, forward and backward, is PyTorch's (aten/src/ATen/native/cpu/Activation.cpp)
// so that a model trains to the same numbers in both.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dlc::cpu {

/// y = tanh(x); dx = dy * (1 - y^2) from the forward output.
void tanhForward(size_t n, const float *x, float *y);
void tanhBackward(size_t n, const float *dy, const float *y, float *dx);

/// y = x * sigmoid(x); dx = dy * s * (1 + x * (1 - s)), s = sigmoid(x), from the input.
void siluForward(size_t n, const float *x, float *y);
void siluBackward(size_t n, const float *dy, const float *x, float *dx);

/// y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) (nn.GELU()); dx = dy * (Phi(x) + x phi(x)).
void geluForward(size_t n, const float *x, float *y);
void geluBackward(size_t n, const float *dy, const float *x, float *dx);
/// y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (nn.GELU(approximate='tanh')).
void geluTanhForward(size_t n, const float *x, float *y);
void geluTanhBackward(size_t n, const float *dy, const float *x, float *dx);

/// y = x > 0 ? x : slope * x; dx = x > 0 ? dy : slope * dy, from the input (any slope).
void leakyReluForward(size_t n, float slope, const float *x, float *y);
void leakyReluBackward(size_t n, float slope, const float *dy, const float *x, float *dx);

/// y = min(max(x, 0), 6); dx = 0 < y < 6 ? dy : 0 from the forward output (as PyTorch's
/// hardtanh_backward: no gradient at the two corners).
void relu6Forward(size_t n, const float *x, float *y);
void relu6Backward(size_t n, const float *dy, const float *y, float *dx);

/// y = x * relu6(x + 3) / 6; dx = x < -3 ? 0 : x <= 3 ? dy * (x / 3 + 0.5) : dy.
void hardswishForward(size_t n, const float *x, float *y);
void hardswishBackward(size_t n, const float *dy, const float *x, float *dx);

/// y = a * b, y = a - b, y = -x (elementwise, same sizes; y may alias an input).
void mul(size_t n, const float *a, const float *b, float *y);
void sub(size_t n, const float *a, const float *b, float *y);
void neg(size_t n, const float *x, float *y);

/// Row-wise softmax of x [rows][cols]: y = exp(x - max) / sum exp(x - max), sums in double.
void softmaxForward(int64_t rows, int64_t cols, const float *x, float *y);
/// dx = y * (dy - sum(dy * y)) per row, from the forward output; dx may alias dy.
void softmaxBackward(int64_t rows, int64_t cols, const float *dy, const float *y, float *dx);

} // namespace dlc::cpu
