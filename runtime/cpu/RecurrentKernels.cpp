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

#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Simd.h"
#include "runtime/cpu/VecMath.h"
#include "runtime/plan/KernelCheck.h"

#include <algorithm>
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

/// Row strides (in floats) of the cell kernels' operands: the unrolled cell's are dense, the
/// sequence kernels' walk [batch][steps][...] tensors one step at a time.
struct CellStrides {
  size_t gates, cPrev, h, c;
};

DLC_VECTORIZED
void cellForwardRows(int64_t begin, int64_t end, int units, float fb, const float *gates,
                     const float *cPrev, float *h, float *c, CellStrides ld) {
  const size_t H = units;
  for (int64_t r = begin; r < end; ++r) {
    const float *g = gates + r * ld.gates, *cp = cPrev + r * ld.cPrev;
    float *hr = h + r * ld.h, *cr = c + r * ld.c;
    size_t j = 0;
    for (; j + 16 <= H; j += 16)
      cellForwardUnits<v16, vi16>(H, j, fb, g, cp, hr, cr);
    for (; j + 8 <= H; j += 8)
      cellForwardUnits<v8, vi8>(H, j, fb, g, cp, hr, cr);
    for (; j < H; ++j)
      cellForwardUnits<float, int32_t>(H, j, fb, g, cp, hr, cr);
  }
}

/// As cellForwardRows; here ld.h and ld.c are the strides of dh and dc, dgLd and dcpLd those
/// of dgates and dcPrev.
DLC_VECTORIZED
void cellBackwardRows(int64_t begin, int64_t end, int units, float fb, const float *gates,
                      const float *cPrev, const float *dh, const float *dc, float *dgates,
                      float *dcPrev, CellStrides ld, size_t dgLd, size_t dcpLd) {
  const size_t H = units;
  for (int64_t r = begin; r < end; ++r) {
    const float *g = gates + r * ld.gates, *cp = cPrev + r * ld.cPrev;
    const float *dhr = dh + r * ld.h, *dcr = dc + r * ld.c;
    float *dg = dgates + r * dgLd, *dcp = dcPrev + r * dcpLd;
    size_t j = 0;
    for (; j + 16 <= H; j += 16)
      cellBackwardUnits<v16, vi16>(H, j, fb, g, cp, dhr, dcr, dg, dcp);
    for (; j + 8 <= H; j += 8)
      cellBackwardUnits<v8, vi8>(H, j, fb, g, cp, dhr, dcr, dg, dcp);
    for (; j < H; ++j)
      cellBackwardUnits<float, int32_t>(H, j, fb, g, cp, dhr, dcr, dg, dcp);
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
    const size_t H = units;
    cellForwardRows(begin, end, units, forgetBias, gates, cPrev, h, c, {4 * H, H, H, H});
  });
}

void lstmCellBackward(int n, int units, float forgetBias, const float *gates, const float *cPrev,
                      const float *dh, const float *dc, float *dgates, float *dcPrev) {
  parallelFor(n, kRowGrain, [&](int64_t begin, int64_t end, int) {
    const size_t H = units;
    cellBackwardRows(begin, end, units, forgetBias, gates, cPrev, dh, dc, dgates, dcPrev,
                     {4 * H, H, H, H}, 4 * H, H);
  });
}

LstmReserve lstmReserve(int n, int steps, int units) {
  const size_t N = n, T = steps, H = units;
  LstmReserve r;
  r.gates = 0;
  r.hPrev = N * T * 4 * H;
  r.cPrev = r.hPrev + N * T * H;
  r.floats = r.cPrev + N * (T + 1) * H; // = N * plan::lstmReserveWidth(T, H)
  return r;
}

namespace {
/// The thread count the sequence kernels split the batch over: each part runs every step
/// of its examples with no synchronisation, so at least 8 rows a part.
int sequenceParts(int n) { return int(std::max<int64_t>(1, std::min<int64_t>(threads(), n / 8))); }
} // namespace

void lstmSequenceForward(int n, int steps, int inputs, int units, float forgetBias, const float *x,
                         const float *wih, const float *whh, const float *bias, float *hLast,
                         float *reserve) {
  const int T = steps, H = units;
  const LstmReserve at = lstmReserve(n, steps, units);
  const size_t gLd = size_t(T) * 4 * H, hLd = size_t(T) * H, cLd = size_t(T + 1) * H;
  // Examples are independent through the whole recurrence: each thread runs every step of its
  // share of the batch, its products on its own rows (no barrier per step, its rows of the
  // state staying in its core's cache).
  const int parts = sequenceParts(n);
  parallelChunks(parts, [&](int part, int) {
    const int r0 = int(int64_t(n) * part / parts), m = int(int64_t(n) * (part + 1) / parts) - r0;
    float *gates = reserve + at.gates + r0 * gLd, *hPrev = reserve + at.hPrev + r0 * hLd,
          *cPrev = reserve + at.cPrev + r0 * cLd;
    // Every step's input projection (and the bias) at once: rows (example, step) of x.
    matmul(m * T, 4 * H, inputs, false, true, x + size_t(r0) * T * inputs, wih, gates, bias);
    for (int r = 0; r < m; ++r) {
      std::memset(hPrev + r * hLd, 0, size_t(H) * sizeof(float));
      std::memset(cPrev + r * cLd, 0, size_t(H) * sizeof(float));
    }
    for (int t = 0; t < T; ++t) {
      float *g = gates + size_t(t) * 4 * H;
      // h_{t-1} W_hh^T added to the step's projection (h_{-1} = 0: nothing to add at t = 0).
      if (t > 0)
        gemm(m, 4 * H, H, false, true, hPrev + size_t(t) * H, int(hLd), whh, H, 1.0f, g,
             int(gLd));
      const bool last = t == T - 1;
      float *h = last ? hLast + size_t(r0) * H : hPrev + size_t(t + 1) * H;
      cellForwardRows(0, m, units, forgetBias, g, cPrev + size_t(t) * H, h,
                      cPrev + size_t(t + 1) * H, {gLd, cLd, last ? size_t(H) : hLd, cLd});
    }
  });
}

void lstmSequenceBackward(int n, int steps, int inputs, int units, float forgetBias,
                          const float *x, const float *whh, float *reserve,
                          const float *dhLast, float *dwih, float *dwhh, float *db,
                          float *workspace) {
  const int T = steps, H = units;
  const LstmReserve at = lstmReserve(n, steps, units);
  const size_t gLd = size_t(T) * 4 * H, cLd = size_t(T + 1) * H, NH = size_t(n) * H;
  // Each step's gate gradients replace its gates, which only that step's cell reads (every
  // unit's four gates are read before its four gradients are written).
  float *dG = reserve + at.gates;
  float *dh[2] = {workspace, workspace + NH}, *dc[2] = {workspace + 2 * NH, workspace + 3 * NH};
  // As the forward: each thread carries its examples back through every step.
  const int parts = sequenceParts(n);
  parallelChunks(parts, [&](int part, int) {
    const int r0 = int(int64_t(n) * part / parts), m = int(int64_t(n) * (part + 1) / parts) - r0;
    const float *gates = reserve + at.gates + r0 * gLd, *cPrev = reserve + at.cPrev + r0 * cLd;
    float *dGp = dG + r0 * gLd, *dhp[2] = {dh[0] + size_t(r0) * H, dh[1] + size_t(r0) * H},
          *dcp[2] = {dc[0] + size_t(r0) * H, dc[1] + size_t(r0) * H};
    std::memset(dcp[0], 0, size_t(m) * H * sizeof(float)); // only h is returned: dc_T = 0
    const float *dhT = dhLast + size_t(r0) * H;
    for (int t = T - 1, p = 0; t >= 0; --t, p ^= 1) {
      float *dg = dGp + size_t(t) * 4 * H;
      cellBackwardRows(0, m, units, forgetBias, gates + size_t(t) * 4 * H, cPrev + size_t(t) * H,
                       dhT, dcp[p], dg, dcp[p ^ 1], {gLd, cLd, size_t(H), size_t(H)}, gLd,
                       size_t(H));
      // dh_{t-1} = dgates_t W_hh (the recurrence), not needed below the first step.
      if (t > 0) {
        gemm(m, H, 4 * H, false, false, dg, int(gLd), whh, H, 0.0f, dhp[p], H);
        dhT = dhp[p];
      }
    }
  });
  // The weight gradients of every step at once, sums over rows (example, step), split over
  // the threads by output. (Summing each step's share into them instead, a product of K =
  // 128 rows a step, measured as fast on one thread and 7% slower on two.)
  const int rows = n * T;
  matmul(4 * H, inputs, rows, true, false, dG, x, dwih);
  matmul(4 * H, H, rows, true, false, dG, reserve + at.hPrev, dwhh);
  biasAddBackward(size_t(rows), size_t(4) * H, 1, dG, db);
}

} // namespace dlc::cpu
