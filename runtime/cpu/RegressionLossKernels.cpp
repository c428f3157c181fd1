//===- RegressionLossKernels.cpp - mse and bce_with_logits on the CPU ---*- C++ -*-===//
#include "runtime/cpu/RegressionLossKernels.h"

#include <cmath>

namespace dlc::cpu {

void mseForward(size_t n, const float *x, const float *t, float *loss) {
  double sum = 0.0;
  for (size_t j = 0; j < n; ++j) {
    const double d = double(x[j]) - t[j];
    sum += d * d;
  }
  *loss = float(sum / double(n));
}

void mseBackward(size_t n, const float *x, const float *t, float *dx) {
  const float scale = float(2.0 / double(n));
  for (size_t j = 0; j < n; ++j)
    dx[j] = (x[j] - t[j]) * scale;
}

void bceWithLogitsForward(size_t n, const float *x, const float *t, float *loss) {
  double sum = 0.0;
  for (size_t j = 0; j < n; ++j) {
    const double v = x[j];
    sum += (v > 0 ? v : 0.0) - v * t[j] + std::log1p(std::exp(-std::fabs(v)));
  }
  *loss = float(sum / double(n));
}

void bceWithLogitsBackward(size_t n, const float *x, const float *t, float *dx) {
  const float scale = float(1.0 / double(n));
  for (size_t j = 0; j < n; ++j)
    dx[j] = (1.0f / (1.0f + std::exp(-x[j])) - t[j]) * scale;
}

} // namespace dlc::cpu
