// CPU kernels for the activation layers, mul/sub/neg and softmax (ActivationKernels.h).
//
// The loops are DLC_VECTORIZED range functions that GCC turns into AVX2 in their x86-64-v3
// clone. tanh, silu and the tanh form of gelu (forward and backward) get their exponentials
// and tanh from VecMath.h, 8 elements at a time and the same template on single floats for
// the tail, within a few ulp of the expf and tanhf the CUDA lowering calls (libm calls would
// not vectorise: tanhf alone made gelu a fifth of an MLP's step). The exact gelu keeps erff
// and softmax expf, per element.
#include "runtime/cpu/ActivationKernels.h"

#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Simd.h"
#include "runtime/cpu/VecMath.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace dlc::cpu {
namespace {

/// Elements per task: about as much work as the other elementwise kernels' grain.
constexpr int64_t kGrain = 16384;

/// Runs `body(b, e)` over [0, n) on the thread pool.
template <class F> void forRange(size_t n, F body) {
  parallelFor(int64_t(n), kGrain, [&](int64_t b, int64_t e, int) { body(b, e); });
}

// PyTorch's constants (aten/src/ATen/native/cpu/Activation.cpp), as floats.
constexpr float kSqrt1_2 = 0.707106781186547524f;       // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.398942280401432678f;    // 1 / sqrt(2 pi)
constexpr float kSqrt2OverPi = 0.797884560802865355f;   // sqrt(2 / pi)
constexpr float kKappa = 0.044715f;

using simd::v8;
using simd::vi8;

template <class V> DLC_INLINE V load(const float *p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V> DLC_INLINE void store(float *p, V v) { std::memcpy(p, &v, sizeof v); }

// The vectorised activations: Op::f<V, I>(x) forward, Op::df<V, I>(dy, x) backward (from the
// forward input).
struct TanhOp {
  template <class V, class I> static DLC_INLINE V f(V x) { return simd::tanhPreciseT<V, I>(x); }
};
struct SiluOp {
  // exp(-x) is clamped at e^87 for x < -87: x / (1 + e^87) is the limit, -0 to a float.
  template <class V, class I> static DLC_INLINE V f(V x) {
    return x / (1.0f + simd::expT<V, I>(-x));
  }
  template <class V, class I> static DLC_INLINE V df(V dy, V x) {
    const V s = 1.0f / (1.0f + simd::expT<V, I>(-x));
    return dy * s * (1.0f + x * (1.0f - s));
  }
};
struct GeluTanhOp {
  template <class V, class I> static DLC_INLINE V f(V x) {
    const V inner = kSqrt2OverPi * (x + kKappa * x * x * x);
    return 0.5f * x * (1.0f + simd::tanhPreciseT<V, I>(inner));
  }
  template <class V, class I> static DLC_INLINE V df(V dy, V x) {
    const V x2 = x * x;
    const V t = simd::tanhPreciseT<V, I>(kSqrt2OverPi * (x + kKappa * x2 * x));
    const V left = 0.5f * x, right = 1.0f + t;
    const V dRight = (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kKappa * x2);
    return dy * (0.5f * right + left * dRight);
  }
};

/// y[b, e) = Op::f(x), 8 at a time, then the tail.
template <class Op> DLC_INLINE void forwardLanes(const float *x, float *y, int64_t b, int64_t e) {
  int64_t i = b;
  for (; i + 8 <= e; i += 8)
    store(y + i, Op::template f<v8, vi8>(load<v8>(x + i)));
  for (; i < e; ++i)
    y[i] = Op::template f<float, int32_t>(x[i]);
}
/// dx[b, e) = Op::df(dy, x).
template <class Op>
DLC_INLINE void backwardLanes(const float *dy, const float *x, float *dx, int64_t b, int64_t e) {
  int64_t i = b;
  for (; i + 8 <= e; i += 8)
    store(dx + i, Op::template df<v8, vi8>(load<v8>(dy + i), load<v8>(x + i)));
  for (; i < e; ++i)
    dx[i] = Op::template df<float, int32_t>(dy[i], x[i]);
}

DLC_VECTORIZED
void tanhRange(const float *x, float *y, int64_t b, int64_t e) {
  forwardLanes<TanhOp>(x, y, b, e);
}
DLC_VECTORIZED
void siluRange(const float *x, float *y, int64_t b, int64_t e) {
  forwardLanes<SiluOp>(x, y, b, e);
}
DLC_VECTORIZED
void siluBackwardRange(const float *dy, const float *x, float *dx, int64_t b, int64_t e) {
  backwardLanes<SiluOp>(dy, x, dx, b, e);
}
DLC_VECTORIZED
void geluTanhRange(const float *x, float *y, int64_t b, int64_t e) {
  forwardLanes<GeluTanhOp>(x, y, b, e);
}
DLC_VECTORIZED
void geluTanhBackwardRange(const float *dy, const float *x, float *dx, int64_t b, int64_t e) {
  backwardLanes<GeluTanhOp>(dy, x, dx, b, e);
}

DLC_VECTORIZED
void tanhBackwardRange(const float *dy, const float *y, float *dx, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i)
    dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

DLC_VECTORIZED
void leakyReluRange(float slope, const float *x, float *y, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i)
    y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}
DLC_VECTORIZED
void leakyReluBackwardRange(float slope, const float *dy, const float *x, float *dx, int64_t b,
                            int64_t e) {
  for (int64_t i = b; i < e; ++i)
    dx[i] = x[i] > 0.0f ? dy[i] : slope * dy[i];
}

DLC_VECTORIZED
void relu6Range(const float *x, float *y, int64_t b, int64_t e) {
  // Written as compares rather than fminf/fmaxf so that NaN passes through, as in PyTorch.
  for (int64_t i = b; i < e; ++i) {
    float v = x[i] < 0.0f ? 0.0f : x[i];
    y[i] = v > 6.0f ? 6.0f : v;
  }
}
DLC_VECTORIZED
void relu6BackwardRange(const float *dy, const float *y, float *dx, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i)
    dx[i] = y[i] > 0.0f && y[i] < 6.0f ? dy[i] : 0.0f;
}

DLC_VECTORIZED
void hardswishRange(const float *x, float *y, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) {
    float r = x[i] + 3.0f;
    r = r < 0.0f ? 0.0f : r;
    r = r > 6.0f ? 6.0f : r;
    y[i] = x[i] * r / 6.0f;
  }
}
DLC_VECTORIZED
void hardswishBackwardRange(const float *dy, const float *x, float *dx, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i)
    dx[i] = x[i] < -3.0f ? 0.0f : x[i] <= 3.0f ? dy[i] * (x[i] / 3.0f + 0.5f) : dy[i];
}

DLC_VECTORIZED
void mulRange(const float *a, const float *b, float *y, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i)
    y[i] = a[i] * b[i];
}
DLC_VECTORIZED
void subRange(const float *a, const float *b, float *y, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i)
    y[i] = a[i] - b[i];
}
DLC_VECTORIZED
void negRange(const float *x, float *y, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i)
    y[i] = -x[i];
}

} // namespace

void tanhForward(size_t n, const float *x, float *y) {
  forRange(n, [&](int64_t b, int64_t e) { tanhRange(x, y, b, e); });
}
void tanhBackward(size_t n, const float *dy, const float *y, float *dx) {
  forRange(n, [&](int64_t b, int64_t e) { tanhBackwardRange(dy, y, dx, b, e); });
}

void siluForward(size_t n, const float *x, float *y) {
  forRange(n, [&](int64_t b, int64_t e) { siluRange(x, y, b, e); });
}
void siluBackward(size_t n, const float *dy, const float *x, float *dx) {
  forRange(n, [&](int64_t b, int64_t e) { siluBackwardRange(dy, x, dx, b, e); });
}

void geluForward(size_t n, const float *x, float *y) {
  forRange(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      y[i] = x[i] * 0.5f * (1.0f + erff(x[i] * kSqrt1_2));
  });
}
void geluBackward(size_t n, const float *dy, const float *x, float *dx) {
  forRange(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float cdf = 0.5f * (1.0f + erff(x[i] * kSqrt1_2));
      const float pdf = expf(-0.5f * x[i] * x[i]) * kInvSqrt2Pi;
      dx[i] = dy[i] * (cdf + x[i] * pdf);
    }
  });
}

void geluTanhForward(size_t n, const float *x, float *y) {
  forRange(n, [&](int64_t b, int64_t e) { geluTanhRange(x, y, b, e); });
}
void geluTanhBackward(size_t n, const float *dy, const float *x, float *dx) {
  forRange(n, [&](int64_t b, int64_t e) { geluTanhBackwardRange(dy, x, dx, b, e); });
}

void leakyReluForward(size_t n, float slope, const float *x, float *y) {
  forRange(n, [&](int64_t b, int64_t e) { leakyReluRange(slope, x, y, b, e); });
}
void leakyReluBackward(size_t n, float slope, const float *dy, const float *x, float *dx) {
  forRange(n, [&](int64_t b, int64_t e) { leakyReluBackwardRange(slope, dy, x, dx, b, e); });
}

void relu6Forward(size_t n, const float *x, float *y) {
  forRange(n, [&](int64_t b, int64_t e) { relu6Range(x, y, b, e); });
}
void relu6Backward(size_t n, const float *dy, const float *y, float *dx) {
  forRange(n, [&](int64_t b, int64_t e) { relu6BackwardRange(dy, y, dx, b, e); });
}

void hardswishForward(size_t n, const float *x, float *y) {
  forRange(n, [&](int64_t b, int64_t e) { hardswishRange(x, y, b, e); });
}
void hardswishBackward(size_t n, const float *dy, const float *x, float *dx) {
  forRange(n, [&](int64_t b, int64_t e) { hardswishBackwardRange(dy, x, dx, b, e); });
}

void mul(size_t n, const float *a, const float *b, float *y) {
  forRange(n, [&](int64_t lo, int64_t hi) { mulRange(a, b, y, lo, hi); });
}
void sub(size_t n, const float *a, const float *b, float *y) {
  forRange(n, [&](int64_t lo, int64_t hi) { subRange(a, b, y, lo, hi); });
}
void neg(size_t n, const float *x, float *y) {
  forRange(n, [&](int64_t b, int64_t e) { negRange(x, y, b, e); });
}

void softmaxForward(int64_t rows, int64_t cols, const float *x, float *y) {
  parallelFor(rows, std::max<int64_t>(1, kGrain / cols), [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float *xr = x + r * cols;
      float *yr = y + r * cols;
      float m = xr[0];
      for (int64_t j = 1; j < cols; ++j)
        m = xr[j] > m ? xr[j] : m;
      double sum = 0.0;
      for (int64_t j = 0; j < cols; ++j) {
        yr[j] = expf(xr[j] - m);
        sum += yr[j];
      }
      const float inv = float(1.0 / sum);
      for (int64_t j = 0; j < cols; ++j)
        yr[j] *= inv;
    }
  });
}

void softmaxBackward(int64_t rows, int64_t cols, const float *dy, const float *y, float *dx) {
  parallelFor(rows, std::max<int64_t>(1, kGrain / cols), [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float *dyr = dy + r * cols, *yr = y + r * cols;
      float *dxr = dx + r * cols;
      double dot = 0.0;
      for (int64_t j = 0; j < cols; ++j)
        dot += double(dyr[j]) * yr[j];
      const float d = float(dot);
      for (int64_t j = 0; j < cols; ++j)
        dxr[j] = yr[j] * (dyr[j] - d);
    }
  });
}

} // namespace dlc::cpu
