// CPU kernels for local response normalisation across channels (float32, NCHW), with
// TensorFlow's semantics (tf.nn.lrn): alpha multiplies the plain sum of squares.
//
// Like the rest of the kernel library: pure functions over raw pointers, split over the
// thread pool by images, every output fully overwritten.
#pragma once

namespace dlc::cpu {

/// x[n][c][hw] with window radius `radius` over channels.
struct LrnShape {
  int n, c, hw, radius;
  float bias, alpha, beta;
};

/// s[c] = bias + alpha * sum_{c' in [c-radius, c+radius] within [0, C)} x[c']^2;
/// y = x * s^-beta. bias must be positive and alpha, beta non-negative (the compiler checks),
/// so s > 0.
void lrnForward(const LrnShape &s, const float *x, float *y);
/// dx[c] = dy[c] * s[c]^-beta - 2 * alpha * beta * x[c] * sum_{c' in window(c)} dy[c'] * y[c'] / s[c'],
/// with s recomputed from x and y lrnForward's output. dx overwritten.
void lrnBackward(const LrnShape &s, const float *x, const float *y, const float *dy, float *dx);

}  // namespace dlc::cpu
