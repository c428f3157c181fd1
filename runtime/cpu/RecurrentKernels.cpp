// CPU kernels for the recurrent ops (zeros, time_step, lstm_cell and its gradient).
//
// An LSTM step's elementwise work is five exponentials per hidden unit forward and as many
// again backward (which recomputes the activations from the gates rather than storing them),
// 28 steps per example on MNIST: scalar expf calls would cost as much as the step's matmuls.
// So exp is computed inline by range reduction (x = n ln2 + r, |r| <= ln2/2) and a degree-6
// Taylor polynomial for e^r, with 2^n built in the exponent bits (runtime/cpu/VecMath.h), on
// 16 hidden units at a time (GCC vector extensions, as runtime/cpu/Simd.h: one AVX-512
// register in the DLC_VECTORIZED x86-64-v4 clone, two AVX2 ones in the v3 clone), then 8,
// and the same template on single floats for a row's last units.
// The CUDA lowering calls expf; the two agree to a few ulp.
#include "runtime/cpu/RecurrentKernels.h"

#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Simd.h"
#include "runtime/cpu/VecMath.h"

#include <cstddef>
#include <cstring>

namespace dlc::cpu {
namespace {

using namespace simd;

template <class V, class I> DLC_INLINE V sigmoidT(V x) { return 1.0f / (1.0f + expT<V, I>(-x)); }
template <class V, class I> DLC_INLINE V tanhT(V x) {
  return 2.0f / (1.0f + expT<V, I>(-2.0f * x)) - 1.0f;
}

/// Loads `count` floats (8 or 1) as V.
template <class V> DLC_INLINE V ld(const float *p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V> DLC_INLINE void st(float *p, V v) { std::memcpy(p, &v, sizeof v); }

constexpr int64_t kRowGrain = 8;

/// Units [j, j + lanes of V) of one row.
template <class V, class I>
DLC_INLINE void cellForwardUnits(size_t H, size_t j, float fb, const float *g, const float *cp,
                                 float *h, float *c) {
  const V i = sigmoidT<V, I>(ld<V>(g + j));
  const V f = sigmoidT<V, I>(ld<V>(g + H + j) + fb);
  const V gg = tanhT<V, I>(ld<V>(g + 2 * H + j));
  const V o = sigmoidT<V, I>(ld<V>(g + 3 * H + j));
  const V cn = f * ld<V>(cp + j) + i * gg;
  st(c + j, cn);
  st(h + j, o * tanhT<V, I>(cn));
}

template <class V, class I>
DLC_INLINE void cellBackwardUnits(size_t H, size_t j, float fb, const float *g, const float *cpr,
                                  const float *dh, const float *dc, float *dg, float *dcp) {
  const V i = sigmoidT<V, I>(ld<V>(g + j));
  const V f = sigmoidT<V, I>(ld<V>(g + H + j) + fb);
  const V gg = tanhT<V, I>(ld<V>(g + 2 * H + j));
  const V o = sigmoidT<V, I>(ld<V>(g + 3 * H + j));
  const V cp = ld<V>(cpr + j);
  const V tc = tanhT<V, I>(f * cp + i * gg);
  const V dhj = ld<V>(dh + j);
  const V dct = ld<V>(dc + j) + dhj * o * (1.0f - tc * tc);
  st(dg + j, dct * gg * i * (1.0f - i));
  st(dg + H + j, dct * cp * f * (1.0f - f));
  st(dg + 2 * H + j, dct * i * (1.0f - gg * gg));
  st(dg + 3 * H + j, dhj * tc * o * (1.0f - o));
  st(dcp + j, dct * f);
}

DLC_VECTORIZED
void cellForwardRows(int64_t begin, int64_t end, int units, float fb, const float *gates,
                     const float *cPrev, float *h, float *c) {
  const size_t H = units;
  for (int64_t r = begin; r < end; ++r) {
    const float *g = gates + r * 4 * H;
    const size_t o = r * H;
    size_t j = 0;
    for (; j + 16 <= H; j += 16)
      cellForwardUnits<v16, vi16>(H, j, fb, g, cPrev + o, h + o, c + o);
    for (; j + 8 <= H; j += 8)
      cellForwardUnits<v8, vi8>(H, j, fb, g, cPrev + o, h + o, c + o);
    for (; j < H; ++j)
      cellForwardUnits<float, int32_t>(H, j, fb, g, cPrev + o, h + o, c + o);
  }
}

DLC_VECTORIZED
void cellBackwardRows(int64_t begin, int64_t end, int units, float fb, const float *gates,
                      const float *cPrev, const float *dh, const float *dc, float *dgates,
                      float *dcPrev) {
  const size_t H = units;
  for (int64_t r = begin; r < end; ++r) {
    const float *g = gates + r * 4 * H;
    float *dg = dgates + r * 4 * H;
    const size_t o = r * H;
    size_t j = 0;
    for (; j + 16 <= H; j += 16)
      cellBackwardUnits<v16, vi16>(H, j, fb, g, cPrev + o, dh + o, dc + o, dg, dcPrev + o);
    for (; j + 8 <= H; j += 8)
      cellBackwardUnits<v8, vi8>(H, j, fb, g, cPrev + o, dh + o, dc + o, dg, dcPrev + o);
    for (; j < H; ++j)
      cellBackwardUnits<float, int32_t>(H, j, fb, g, cPrev + o, dh + o, dc + o, dg, dcPrev + o);
  }
}

} // namespace

float sigmoid(float x) { return sigmoidT<float, int32_t>(x); }
float tanhApprox(float x) { return tanhT<float, int32_t>(x); }

void zeros(int64_t count, float *y) { std::memset(y, 0, size_t(count) * sizeof(float)); }

void timeStep(int n, int steps, int features, int step, const float *x, float *y) {
  for (int r = 0; r < n; ++r)
    std::memcpy(y + size_t(r) * features, x + (size_t(r) * steps + step) * features,
                size_t(features) * sizeof(float));
}

void lstmCellForward(int n, int units, float forgetBias, const float *gates, const float *cPrev,
                     float *h, float *c) {
  parallelFor(n, kRowGrain, [&](int64_t begin, int64_t end, int) {
    cellForwardRows(begin, end, units, forgetBias, gates, cPrev, h, c);
  });
}

void lstmCellBackward(int n, int units, float forgetBias, const float *gates, const float *cPrev,
                      const float *dh, const float *dc, float *dgates, float *dcPrev) {
  parallelFor(n, kRowGrain, [&](int64_t begin, int64_t end, int) {
    cellBackwardRows(begin, end, units, forgetBias, gates, cPrev, dh, dc, dgates, dcPrev);
  });
}

} // namespace dlc::cpu
