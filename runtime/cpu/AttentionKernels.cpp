// Multi-head self-attention's core on the CPU: see AttentionKernels.h for the formulas.
#include "runtime/cpu/AttentionKernels.h"

#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Simd.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dlc::cpu {
namespace {

/// Dot product of two rows of n floats, vectorised.
DLC_INLINE float dot(const float *a, const float *b, int64_t n) {
  simd::v8 acc{};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    acc += simd::load(a + i) * simd::load(b + i);
  float sum = 0.0f;
  for (int l = 0; l < 8; ++l)
    sum += acc[l];
  for (; i < n; ++i)
    sum += a[i] * b[i];
  return sum;
}

/// y += alpha * x over n floats.
DLC_INLINE void axpy(float alpha, const float *x, float *y, int64_t n) {
  const simd::v8 a = simd::splat(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    simd::store(y + i, simd::load(y + i) + a * simd::load(x + i));
  for (; i < n; ++i)
    y[i] += alpha * x[i];
}

/// One (batch, head): rows of q, k, v are 3C floats apart in qkv; out rows C apart. mask
/// (this example's T entries, or null) zeroes the probability of padding keys.
DLC_VECTORIZED
void forwardHead(const AttentionShape &s, const float *qkv, float *out, float *probs,
                 const int32_t *mask) {
  const int64_t T = s.steps, D = s.headDim, C = s.width(), row = 3 * C;
  const float scale = 1.0f / std::sqrt(float(D));
  const float *q = qkv, *k = qkv + C, *v = qkv + 2 * C;
  for (int64_t i = 0; i < T; ++i) {
    float *p = probs + i * T;
    const int64_t visible = s.causal ? i + 1 : T;
    float mx = -std::numeric_limits<float>::infinity();
    bool any = false;
    for (int64_t j = 0; j < visible; ++j) {
      if (mask && mask[j] == 0)
        continue;
      p[j] = dot(q + i * row, k + j * row, D) * scale;
      mx = std::max(mx, p[j]);
      any = true;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < visible; ++j) {
      p[j] = mask && mask[j] == 0 ? 0.0f : std::exp(p[j] - mx);
      sum += p[j];
    }
    // Every key masked: a zero row (PyTorch's softmax would give NaN here).
    const float inv = any ? float(1.0 / sum) : 0.0f;
    for (int64_t j = 0; j < visible; ++j)
      p[j] *= inv;
    std::fill(p + visible, p + T, 0.0f); // masked: exactly zero, as softmax of -inf
    float *o = out + i * C;
    std::fill(o, o + D, 0.0f);
    for (int64_t j = 0; j < visible; ++j)
      axpy(p[j], v + j * row, o, D);
  }
}

DLC_VECTORIZED
void backwardHead(const AttentionShape &s, const float *dout, const float *qkv,
                  const float *probs, const float *out, float *dqkv) {
  const int64_t T = s.steps, D = s.headDim, C = s.width(), row = 3 * C;
  const float scale = 1.0f / std::sqrt(float(D));
  const float *q = qkv, *k = qkv + C, *v = qkv + 2 * C;
  float *dq = dqkv, *dk = dqkv + C, *dv = dqkv + 2 * C;
  for (int64_t t = 0; t < T; ++t) {
    std::fill(dq + t * row, dq + t * row + D, 0.0f);
    std::fill(dk + t * row, dk + t * row + D, 0.0f);
    std::fill(dv + t * row, dv + t * row + D, 0.0f);
  }
  for (int64_t i = 0; i < T; ++i) {
    const float *p = probs + i * T, *g = dout + i * C;
    const int64_t visible = s.causal ? i + 1 : T;
    // w = sum_j dP_ij P_ij = dout_i . out_i; then per key j: dv_j += P_ij dout_i,
    // dS_ij = P_ij (dP_ij - w), dq_i += dS_ij k_j * scale and dk_j += dS_ij q_i * scale.
    const float weighted = dot(g, out + i * C, D);
    for (int64_t j = 0; j < visible; ++j) {
      axpy(p[j], g, dv + j * row, D);
      const float ds = p[j] * (dot(g, v + j * row, D) - weighted) * scale;
      axpy(ds, k + j * row, dq + i * row, D);
      axpy(ds, q + i * row, dk + j * row, D);
    }
  }
}

} // namespace

void attentionForward(const AttentionShape &s, const float *qkv, float *out, float *probs,
                      const int32_t *mask) {
  const int64_t C = s.width(), T = s.steps;
  parallelFor(s.batch * s.heads, 1, [&](int64_t lo, int64_t hi, int) {
    for (int64_t bh = lo; bh < hi; ++bh) {
      const int64_t b = bh / s.heads, h = bh % s.heads;
      forwardHead(s, qkv + b * T * 3 * C + h * s.headDim, out + b * T * C + h * s.headDim,
                  probs + bh * T * T, mask ? mask + b * T : nullptr);
    }
  });
}

void attentionBackward(const AttentionShape &s, const float *dout, const float *qkv,
                       const float *probs, const float *out, float *dqkv) {
  const int64_t C = s.width(), T = s.steps;
  parallelFor(s.batch * s.heads, 1, [&](int64_t lo, int64_t hi, int) {
    for (int64_t bh = lo; bh < hi; ++bh) {
      const int64_t b = bh / s.heads, h = bh % s.heads, at = b * T * 3 * C + h * s.headDim;
      const int64_t o = b * T * C + h * s.headDim;
      backwardHead(s, dout + o, qkv + at, probs + bh * T * T, out + o, dqkv + at);
    }
  });
}

} // namespace dlc::cpu
