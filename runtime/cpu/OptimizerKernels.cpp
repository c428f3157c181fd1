// CPU kernels of the scheduled optimizers (see OptimizerKernels.h). Per-step scalars (bias
// corrections, step size) are computed once per call in double, as PyTorch computes them in
// Python floats; the per-element work is float32, in PyTorch's order of operations.
#include "runtime/cpu/OptimizerKernels.h"

#include "runtime/cpu/Parallel.h"

#include <algorithm>
#include <cmath>

namespace dlc::cpu {

namespace {
constexpr int64_t kGrain = 16384;
constexpr double kPi = 3.14159265358979323846;
} // namespace

double scheduledLr(Schedule type, int64_t warmup, int64_t stepSize, int64_t total, double lr,
                   double gamma, double minLr, double t) {
  if (warmup > 0 && t <= double(warmup))
    return lr * t / double(warmup);
  const double u = t - double(warmup) - 1; // steps since warm-up, 0 on the first
  const double span = double(std::max<int64_t>(total - warmup, 1));
  const double p = std::min(std::max(u, 0.0) / span, 1.0);
  switch (type) {
  case Schedule::Constant:
    return lr;
  case Schedule::Step:
    return lr * std::pow(gamma, std::floor(std::max(u, 0.0) / double(std::max<int64_t>(stepSize, 1))));
  case Schedule::Cosine:
    return minLr + (lr - minLr) * (1 + std::cos(kPi * p)) / 2;
  case Schedule::Linear:
    return lr + (minLr - lr) * p;
  }
  return lr; // unreachable: the plan loader checks the type
}

void lrSchedule(int64_t type, int64_t warmup, int64_t stepSize, int64_t total, float lr, float gamma,
                float minLr, float *state) {
  const float t = state[kOptStep] + 1.0f;
  state[kOptStep] = t;
  state[kOptLr] = float(scheduledLr(Schedule(type), warmup, stepSize, total, lr, gamma, minLr, t));
  state[kOptSumSq] = 0.0f;
  state[kOptClip] = 1.0f;
}

void gradSumSq(size_t n, const float *g, float *state) {
  // Sequential, so the sum (and the clip factor) is the same on every run and thread count.
  double acc = 0.0;
  for (size_t i = 0; i < n; ++i)
    acc += double(g[i]) * g[i];
  state[kOptSumSq] = float(state[kOptSumSq] + acc);
}

void clipScale(float maxNorm, float *state) {
  const float norm = std::sqrt(state[kOptSumSq]);
  state[kOptClip] = std::min(1.0f, maxNorm / (norm + 1e-6f));
}

void sgdStep(size_t n, bool nesterov, float momentum, float weightDecay, float *w, const float *g,
             float *m, const float *state) {
  const float lr = state[kOptLr], clip = state[kOptClip];
  parallelFor(int64_t(n), kGrain, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      float d = g[i] * clip + weightDecay * w[i];
      if (momentum != 0.0f) {
        m[i] = momentum * m[i] + d;
        d = nesterov ? d + momentum * m[i] : m[i];
      }
      w[i] -= lr * d;
    }
  });
}

void adamStep(size_t n, bool decoupled, float beta1, float beta2, float eps, float weightDecay,
              float *w, const float *g, float *m, float *v, const float *state) {
  const double t = state[kOptStep], lr = state[kOptLr];
  const float clip = state[kOptClip];
  const float stepSize = float(lr / (1.0 - std::pow(double(beta1), t)));
  const float bc2Sqrt = float(std::sqrt(1.0 - std::pow(double(beta2), t)));
  const float decay = decoupled ? float(1.0 - lr * weightDecay) : 1.0f;
  const float l2 = decoupled ? 0.0f : weightDecay;
  parallelFor(int64_t(n), kGrain, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      w[i] *= decay;
      const float gi = g[i] * clip + l2 * w[i];
      m[i] = beta1 * m[i] + (1.0f - beta1) * gi;
      v[i] = beta2 * v[i] + (1.0f - beta2) * gi * gi;
      w[i] -= stepSize * (m[i] / (std::sqrt(v[i]) / bc2Sqrt + eps));
    }
  });
}

} // namespace dlc::cpu
