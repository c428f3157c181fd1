//===- LossScaleKernels.cpp - dynamic loss scaling of mixed-fp16 plans ------===//
#include "runtime/cpu/LossScaleKernels.h"

#include <cmath>

namespace dlc::cpu {

float lossScaleOf(const float *state) { return std::exp2(16.0f + state[kScaleLog2]); }

void lossScale(size_t n, float *x, const float *state) {
  const float s = lossScaleOf(state);
  for (size_t i = 0; i < n; ++i)
    x[i] *= s;
}

void unscaleGrad(size_t n, float *g, float *state) {
  const float inv = std::exp2(-16.0f - state[kScaleLog2]);
  bool bad = false;
  for (size_t i = 0; i < n; ++i) {
    g[i] *= inv;
    bad |= !std::isfinite(g[i]);
  }
  if (bad)
    state[kFoundInf] = 1.0f;
}

void lossScaleUpdate(int64_t interval, float *state) {
  if (state[kFoundInf] != 0.0f) {
    state[kScaleLog2] -= 1.0f;
    state[kGoodSteps] = 0.0f;
  } else if ((state[kGoodSteps] += 1.0f) >= float(interval)) {
    state[kScaleLog2] += 1.0f;
    state[kGoodSteps] = 0.0f;
  }
  state[kFoundInf] = 0.0f;
}

} // namespace dlc::cpu
