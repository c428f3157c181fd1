// CPU kernels for local response normalisation across channels (TensorFlow's tf.nn.lrn).
//
// An image is a [C][HW] block; every loop runs along HW (contiguous), so GCC vectorises them
// (DLC_VECTORIZED: AVX2 where the CPU has it). Each channel's window sum is formed directly,
// channel c-r up to c+r in that order, in float: a sliding sum (add the new channel, subtract
// the old) would be cheaper but drifts, and the CUDA lowering recomputes each window in the
// same order so that the two agree to rounding. s^-beta has fast paths for beta 0.75 (the
// usual value: rsqrt(s) * sqrt(rsqrt(s))), 0.5 and 1; other betas call powf. This file is
// compiled with -fno-math-errno so that sqrtf vectorises (s > 0 always: bias > 0).
#include "runtime/cpu/LrnKernels.h"

#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Simd.h"

#include <cmath>
#include <cstddef>

namespace dlc::cpu {
namespace {

enum class Power { ThreeQuarters, Half, One, General };

Power powerOf(float beta) {
  if (beta == 0.75f)
    return Power::ThreeQuarters;
  if (beta == 0.5f)
    return Power::Half;
  if (beta == 1.0f)
    return Power::One;
  return Power::General;
}

/// acc[p] = bias + alpha * sum of x[c'][p]^2 over the channels of c's window.
DLC_VECTORIZED
void windowScale(const LrnShape &s, const float *x, int c, float *acc) {
  const int lo = c - s.radius < 0 ? 0 : c - s.radius;
  const int hi = c + s.radius > s.c - 1 ? s.c - 1 : c + s.radius;
  const size_t hw = s.hw;
  for (size_t p = 0; p < hw; ++p)
    acc[p] = 0.0f;
  for (int cc = lo; cc <= hi; ++cc) {
    const float *xc = x + (size_t)cc * hw;
    for (size_t p = 0; p < hw; ++p)
      acc[p] += xc[p] * xc[p];
  }
  for (size_t p = 0; p < hw; ++p)
    acc[p] = s.bias + s.alpha * acc[p];
}

/// out[p] = scale[p]^-beta, in place allowed.
DLC_VECTORIZED
void negPower(Power kind, float beta, size_t n, const float *scale, float *out) {
  switch (kind) {
  case Power::ThreeQuarters:
    for (size_t p = 0; p < n; ++p) {
      const float r = 1.0f / std::sqrt(scale[p]);
      out[p] = r * std::sqrt(r);
    }
    return;
  case Power::Half:
    for (size_t p = 0; p < n; ++p)
      out[p] = 1.0f / std::sqrt(scale[p]);
    return;
  case Power::One:
    for (size_t p = 0; p < n; ++p)
      out[p] = 1.0f / scale[p];
    return;
  case Power::General:
    for (size_t p = 0; p < n; ++p)
      out[p] = std::pow(scale[p], -beta);
    return;
  }
}

DLC_VECTORIZED
void lrnForwardImage(const LrnShape &s, Power kind, const float *x, float *y, float *acc) {
  const size_t hw = s.hw;
  for (int c = 0; c < s.c; ++c) {
    windowScale(s, x, c, acc);
    negPower(kind, s.beta, hw, acc, acc);
    const float *xc = x + (size_t)c * hw;
    float *yc = y + (size_t)c * hw;
    for (size_t p = 0; p < hw; ++p)
      yc[p] = xc[p] * acc[p];
  }
}

/// One image: t[c] = dy[c] * y[c] / s[c] for every channel first, then each channel's dx from
/// its own s^-beta and the window sum of t.
DLC_VECTORIZED
void lrnBackwardImage(const LrnShape &s, Power kind, const float *x, const float *y,
                      const float *dy, float *dx, float *t, float *acc) {
  const size_t hw = s.hw;
  for (int c = 0; c < s.c; ++c) {
    windowScale(s, x, c, acc);
    const size_t off = (size_t)c * hw;
    for (size_t p = 0; p < hw; ++p)
      t[off + p] = dy[off + p] * y[off + p] / acc[p];
  }
  const float k = -2.0f * s.alpha * s.beta;
  for (int c = 0; c < s.c; ++c) {
    const size_t off = (size_t)c * hw;
    const int lo = c - s.radius < 0 ? 0 : c - s.radius;
    const int hi = c + s.radius > s.c - 1 ? s.c - 1 : c + s.radius;
    float *sum = acc + hw; // the window sum of t
    for (size_t p = 0; p < hw; ++p)
      sum[p] = 0.0f;
    for (int cc = lo; cc <= hi; ++cc) {
      const float *tc = t + (size_t)cc * hw;
      for (size_t p = 0; p < hw; ++p)
        sum[p] += tc[p];
    }
    windowScale(s, x, c, acc);
    negPower(kind, s.beta, hw, acc, acc);
    for (size_t p = 0; p < hw; ++p)
      dx[off + p] = dy[off + p] * acc[p] + k * x[off + p] * sum[p];
  }
}

}  // namespace

void lrnForward(const LrnShape &s, const float *x, float *y) {
  const size_t per = (size_t)s.c * s.hw;
  const Power kind = powerOf(s.beta);
  parallelFor(s.n, 1, [&](int64_t b0, int64_t b1, int thread) {
    float *acc = threadScratch(thread, (size_t)s.hw);
    for (int64_t b = b0; b < b1; ++b)
      lrnForwardImage(s, kind, x + b * per, y + b * per, acc);
  });
}

void lrnBackward(const LrnShape &s, const float *x, const float *y, const float *dy, float *dx) {
  const size_t per = (size_t)s.c * s.hw;
  const Power kind = powerOf(s.beta);
  parallelFor(s.n, 1, [&](int64_t b0, int64_t b1, int thread) {
    float *t = threadScratch(thread, per + 2 * (size_t)s.hw);
    for (int64_t b = b0; b < b1; ++b)
      lrnBackwardImage(s, kind, x + b * per, y + b * per, dy + b * per, dx + b * per, t,
                       t + per);
  });
}

}  // namespace dlc::cpu
