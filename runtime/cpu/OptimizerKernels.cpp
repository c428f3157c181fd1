// CPU kernels of the scheduled optimizers (see OptimizerKernels.h). Per-step scalars (bias
// corrections, step size) are computed once per call in double, as PyTorch computes them in
// Python floats; the per-element work is float32, in PyTorch's order of operations.
#include "runtime/cpu/OptimizerKernels.h"

#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Simd.h"

#include <algorithm>
#include <cmath>

namespace dlc::cpu {

namespace {
constexpr int64_t kGrain = 16384;
constexpr double kPi = 3.14159265358979323846;

// The element loops, on restrict pointers so that they vectorise (sqrt too: this file is
// built with -fno-math-errno, v is never negative).
DLC_VECTORIZED
void sgdRange(bool nesterov, float momentum, float weightDecay, float lr, float clip,
              float *__restrict w, const float *__restrict g, float *__restrict m, int64_t b,
              int64_t e) {
  if (momentum == 0.0f) {
    for (int64_t i = b; i < e; ++i)
      w[i] -= lr * (g[i] * clip + weightDecay * w[i]);
    return;
  }
  for (int64_t i = b; i < e; ++i) {
    const float d = g[i] * clip + weightDecay * w[i];
    const float mi = momentum * m[i] + d;
    m[i] = mi;
    w[i] -= lr * (nesterov ? d + momentum * mi : mi);
  }
}

DLC_VECTORIZED
void adamRange(float beta1, float beta2, float eps, float l2, float decay, float stepSize,
               float bc2Sqrt, float clip, float *__restrict w, const float *__restrict g,
               float *__restrict m, float *__restrict v, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) {
    const float wi = w[i] * decay;
    const float gi = g[i] * clip + l2 * wi;
    const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = wi - stepSize * (mi / (std::sqrt(vi) / bc2Sqrt + eps));
  }
}
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
  // One thread in a fixed order, so the sum (and the clip factor) is the same on every run
  // and thread count; eight independent double sums keep the adds from waiting on each other.
  double acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l)
      acc[l] += double(g[i + l]) * g[i + l];
  double total = 0.0;
  for (int l = 0; l < 8; ++l)
    total += acc[l];
  for (; i < n; ++i)
    total += double(g[i]) * g[i];
  state[kOptSumSq] = float(state[kOptSumSq] + total);
}

void clipScale(float maxNorm, float *state) {
  const float norm = std::sqrt(state[kOptSumSq]);
  state[kOptClip] = std::min(1.0f, maxNorm / (norm + 1e-6f));
}

void sgdStep(size_t n, bool nesterov, float momentum, float weightDecay, float *w, const float *g,
             float *m, const float *state) {
  const float lr = state[kOptLr], clip = state[kOptClip];
  parallelFor(int64_t(n), kGrain, [&](int64_t b, int64_t e, int) {
    sgdRange(nesterov, momentum, weightDecay, lr, clip, w, g, m, b, e);
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
    adamRange(beta1, beta2, eps, l2, decay, stepSize, bc2Sqrt, clip, w, g, m, v, b, e);
  });
}

} // namespace dlc::cpu
