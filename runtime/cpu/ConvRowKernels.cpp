//===- ConvRowKernels.cpp - convolution along output rows ---------*- C++ -*-===//
//
// For layers with a short reduction per output pixel (LeNet's first layer: 1 input channel,
// 3x3 taps, 6 filters), the channel-vectorised kernel does 9 FMAs per pixel and then a
// scalar epilogue that costs more than the FMAs. Here a vector holds 8 consecutive output
// pixels of one row instead (rows are contiguous in NCHW), so loads, the bias/ReLU epilogue
// and stores are all vector operations:
//
//  - forward: a register tile of KT output channels x XV vectors of a row (12 vectors),
//    over the filter taps that read non-padding rows; the weight of each (channel, tap) is
//    broadcast. Rows are computed in whole vectors from an image padded on the right so
//    that every load is in bounds; the lanes past the row's end are not stored.
//  - filter gradient: a tile of KT channels x TT taps (12 vectors) accumulates
//    dy(pixels) * x(pixels shifted by the tap) over every row of an image, 8 pixels per
//    lane set; the lanes are summed at the end. dy rows are copied into a zero-extended
//    buffer first, so tail lanes contribute nothing. As in ConvKernels.cpp, a fixed number
//    of image groups each make a partial sum, added in group order (thread-count
//    independent results).
//
// Where the CPU has AVX-512 the forward runs in 16-pixel vectors (ConvRowKernels512.cpp),
// on the same packed weights and padded image.
//
#include "runtime/cpu/ConvVariants.h"
#include "runtime/cpu/Isa.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Simd.h"

#include <algorithm>

namespace dlc::cpu {
using namespace simd;
namespace {

constexpr int kLanes = 8;
constexpr int kMaxReduction = 32;  // C*R*S up to which the row kernels are used
constexpr int kFilterGroups = 8;   // as in ConvKernels.cpp
constexpr int kFilterKT = 3, kFilterTT = 4;

size_t roundUp(size_t v, size_t to) { return (v + to - 1) / to * to; }

/// out[0, roundUp(n, 8)) = in[0, n) followed by zeros, in vector stores (rows here are a few
/// dozen floats: std::copy and std::fill would be a libc call each).
DLC_INLINE void copyRow(const float *in, int n, float *out) {
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    store(out + i, load(in + i));
  if (i < n) {
    float lanes[kLanes];
    for (int j = 0; j < kLanes; ++j)
      lanes[j] = i + j < n ? in[i + j] : 0.0f;
    store(out + i, load(lanes));
  }
}

/// Copies one image into a zero-padded [c][hp][width] buffer (writing every float of it;
/// `xp` has room for a whole vector past the last row).
DLC_INLINE void padRows(const ConvShape &s, const float *x, int width, float *xp) {
  const int hp = s.h + 2 * s.padH;
  for (int c = 0; c < s.c; ++c, xp += (size_t)hp * width) {
    for (int i = 0; i < s.padH * width; i += kLanes)
      store(xp + i, v8{});
    for (int y = 0; y < s.h; ++y, x += s.w) {
      float *row = xp + (size_t)(y + s.padH) * width;
      for (int i = 0; i < s.padW; ++i)
        row[i] = 0.0f;
      copyRow(x, s.w, row + s.padW); // zeros up to the next multiple of 8 ...
      for (int i = s.padW + int(roundUp(s.w, kLanes)); i < width; ++i)
        row[i] = 0.0f; // ... and the rest of the row
    }
    for (int i = (s.h + s.padH) * width; i < hp * width; i += kLanes)
      store(xp + i, v8{});
  }
}

/// offsets of taps in (r, c, s) order, filter row first (see ConvKernels.cpp's tapOffsets).
void rowTapOffsets(const ConvShape &s, int width, int *offsets) {
  const int hp = s.h + 2 * s.padH;
  for (int r = 0; r < s.r; ++r)
    for (int c = 0; c < s.c; ++c)
      for (int t = 0; t < s.s; ++t)
        *offsets++ = (c * hp + r) * width + t;
}

// ------------------------------------------------------------------------------- forward

/// y[k][p] for KT channels and XV*8 pixels from `xb` (row start of the first tap) over
/// `taps` taps; `valid` pixels are stored (channel stride `kStride`), with the epilogue.
template <int KT, int XV>
DLC_INLINE void rowTile(const float *xb, const int *offsets, int taps, const float *wp,
                        int kCount, float *y, size_t kStride, int valid, const float *bias,
                        bool relu) {
  // Zeroed lane by lane: `= {}` on the array becomes a `rep stos` to the stack (a quarter
  // of this kernel's time for 9-tap rows) before the values are loaded into registers.
  v8 acc[KT][XV];
  for (int k = 0; k < KT; ++k)
    for (int v = 0; v < XV; ++v)
      acc[k][v] = v8{};
  for (int i = 0; i < taps; ++i, wp += KT) {
    const float *b = xb + offsets[i];
    v8 xv[XV];
    for (int v = 0; v < XV; ++v)
      xv[v] = load(b + kLanes * v);
    for (int k = 0; k < KT; ++k) {
      const v8 wv = splat(wp[k]);
      for (int v = 0; v < XV; ++v)
        acc[k][v] += wv * xv[v];
    }
  }
  const v8 zero = {};
  // A constant trip count with an early exit, so acc is indexed by constants only and
  // stays in registers.
  for (int k = 0; k < KT; ++k, y += kStride) {
    if (k >= kCount)
      break;
    const v8 b = splat(bias ? bias[k] : 0.0f);
    for (int v = 0; v < XV; ++v) {
      v8 out = acc[k][v] + b;
      if (relu)
        out = out > zero ? out : zero;
      const int n = valid - kLanes * v;
      if (n >= kLanes)
        store(y + kLanes * v, out);
      else if (n > 0)
        storePartial(y + kLanes * v, out, n);
    }
  }
}

template <int XV>
DLC_INLINE void rowTileXV(const float *xb, const int *offsets, int taps, const float *wp,
                          int kCount, float *y, size_t kStride, int valid, const float *bias,
                          bool relu) {
  rowTile<12 / XV, XV>(xb, offsets, taps, wp, kCount, y, kStride, valid, bias, relu);
}

DLC_VECTORIZED
void rowForwardImages(const ConvShape &s, const RowCut &cut, const float *x, const float *wp,
                      const int *offsets, float *padded, int n0, int n1, float *y,
                      const float *bias, bool relu) {
  const int oh = s.oh(), ow = s.ow(), taps = s.c * s.r * s.s;
  const size_t ohw = (size_t)oh * ow;
  const int kBlocks = (s.k + cut.kt - 1) / cut.kt;
  for (int n = n0; n < n1; ++n) {
    padRows(s, x + (size_t)n * s.c * s.h * s.w, cut.width, padded);
    float *yi = y + (size_t)n * s.k * ohw;
    for (int oy = 0; oy < oh; ++oy) {
      const float *row = padded + (size_t)oy * s.strideH * cut.width;
      const int r0 = std::max(0, s.padH - oy * s.strideH);
      const int r1 = std::min(s.r, s.padH + s.h - oy * s.strideH);
      const int t0 = std::max(0, r1 - r0) > 0 ? r0 * s.c * s.s : 0;
      const int tn = std::max(0, r1 - r0) * s.c * s.s;
      for (int kb = 0; kb < kBlocks; ++kb) {
        const int k0 = kb * cut.kt, kCount = std::min(cut.kt, s.k - k0);
        const float *w = wp + ((size_t)kb * taps + t0) * cut.kt;
        const float *bb = bias ? bias + k0 : nullptr;
        for (int seg = 0; seg < cut.segments; ++seg) {
          const int ox = seg * cut.xv * kLanes;
          if (ox >= ow)
            break;
          float *yb = yi + (size_t)k0 * ohw + (size_t)oy * ow + ox;
          switch (cut.xv) {
          case 1: rowTileXV<1>(row + ox, offsets + t0, tn, w, kCount, yb, ohw, ow - ox, bb, relu); break;
          case 2: rowTileXV<2>(row + ox, offsets + t0, tn, w, kCount, yb, ohw, ow - ox, bb, relu); break;
          case 3: rowTileXV<3>(row + ox, offsets + t0, tn, w, kCount, yb, ohw, ow - ox, bb, relu); break;
          default: rowTileXV<4>(row + ox, offsets + t0, tn, w, kCount, yb, ohw, ow - ox, bb, relu); break;
          }
        }
      }
    }
  }
}

// ------------------------------------------------------------------------ filter gradient

/// acc[k][t] += dyE[k][pixels] * x[pixels + offset t] over `rows` rows of `vectors` vectors,
/// for KT channels and TT taps; acc lives in `sum` as [k][t][8 lanes] (tap stride 8).
template <int KT, int TT>
DLC_INLINE void filterRowTile(const float *dyE, size_t dyK, const float *xi, int width,
                              int strideH, const int *offsets, int rows, int vectors,
                              float *sum, size_t sumK) {
  v8 acc[KT][TT];
  for (int k = 0; k < KT; ++k)
    for (int t = 0; t < TT; ++t)
      acc[k][t] = load(sum + k * sumK + t * kLanes);
  const size_t dyRow = (size_t)vectors * kLanes;
  for (int oy = 0; oy < rows; ++oy) {
    const float *xr = xi + (size_t)oy * strideH * width;
    const float *dr = dyE + oy * dyRow;
    for (int v = 0; v < vectors; ++v) {
      v8 d[KT], xv[TT];
      for (int k = 0; k < KT; ++k)
        d[k] = load(dr + k * dyK + v * kLanes);
      for (int t = 0; t < TT; ++t)
        xv[t] = load(xr + offsets[t] + v * kLanes);
      for (int k = 0; k < KT; ++k)
        for (int t = 0; t < TT; ++t)
          acc[k][t] += d[k] * xv[t];
    }
  }
  for (int k = 0; k < KT; ++k)
    for (int t = 0; t < TT; ++t)
      store(sum + k * sumK + t * kLanes, acc[k][t]);
}

/// Adds the filter gradient of images [n0, n1) into sum[k (rounded up)][taps (rounded
/// up)][8 lanes].
DLC_VECTORIZED
void rowFilterImages(const ConvShape &s, const RowCut &cut, const float *dy, const float *x,
                     const int *offsets, float *padded, float *dyE, int n0, int n1,
                     float *sum) {
  const int oh = s.oh(), ow = s.ow(), taps = s.c * s.r * s.s;
  const int tapsP = int(roundUp(taps, kFilterTT));
  const size_t dyRow = (size_t)cut.vectors * kLanes, dyK = (size_t)oh * dyRow;
  const size_t sumK = (size_t)tapsP * kLanes;
  for (int n = n0; n < n1; ++n) {
    padRows(s, x + (size_t)n * s.c * s.h * s.w, cut.width, padded);
    const float *dyi = dy + (size_t)n * s.k * oh * ow;
    // dyE[k (rounded up to KT)][oy][vectors*8]: dy rows with zeros past ow.
    const int kP = int(roundUp(s.k, kFilterKT));
    for (int k = 0; k < s.k; ++k)
      for (int oy = 0; oy < oh; ++oy)
        copyRow(dyi + ((size_t)k * oh + oy) * ow, ow, dyE + k * dyK + oy * dyRow);
    for (size_t i = s.k * dyK; i < kP * dyK; i += kLanes)
      store(dyE + i, v8{});
    for (int k0 = 0; k0 < kP; k0 += kFilterKT)
      for (int t0 = 0; t0 < tapsP; t0 += kFilterTT)
        filterRowTile<kFilterKT, kFilterTT>(dyE + k0 * dyK, dyK, padded, cut.width, s.strideH,
                                            offsets + t0, oh, cut.vectors,
                                            sum + k0 * sumK + (size_t)t0 * kLanes, sumK);
  }
}

} // namespace

bool useRowForward(const ConvShape &s) {
  return s.strideW == 1 && s.c * s.r * s.s <= kMaxReduction;
}

void convForwardRows(const ConvShape &s, const float *x, const float *w, float *y,
                     const float *bias, bool relu) {
  const RowCut cut(s, wideVectors() ? 16 : kLanes);
  const int taps = s.c * s.r * s.s, kBlocks = (s.k + cut.kt - 1) / cut.kt;
  // Weights as [k block][tap (r, c, s order)][kt], zero past the last channel.
  const size_t packed = roundUp((size_t)kBlocks * taps * cut.kt, 16);
  float *wp = sharedScratch(packed + roundUp(taps, 16));
  int *offsets = reinterpret_cast<int *>(wp + packed);
  rowTapOffsets(s, cut.width, offsets);
  const int rs = s.r * s.s;
  for (int kb = 0; kb < kBlocks; ++kb)
    for (int t = 0; t < taps; ++t)
      for (int j = 0; j < cut.kt; ++j) {
        const int k = kb * cut.kt + j, r = t / (s.c * s.s), c = t / s.s % s.c;
        wp[((size_t)kb * taps + t) * cut.kt + j] =
            k < s.k ? w[((size_t)k * s.c + c) * rs + r * s.s + t % s.s] : 0.0f;
      }
  // See padRows: room for a whole vector past the last row.
  const size_t padded = (size_t)s.c * (s.h + 2 * s.padH) * cut.width + cut.lanes;
  parallelFor(s.n, 1, [&](int64_t n0, int64_t n1, int thread) {
    float *scratch = threadScratch(thread, padded);
    if (cut.lanes == 16)
      rowForwardImages16(s, cut, x, wp, offsets, scratch, int(n0), int(n1), y, bias, relu);
    else
      rowForwardImages(s, cut, x, wp, offsets, scratch, int(n0), int(n1), y, bias, relu);
  });
}

bool useRowFilter(const ConvShape &s) { return useRowForward(s); }

void convBackwardFilterRows(const ConvShape &s, const float *dy, const float *x, float *dw) {
  const RowCut cut(s, kLanes);
  const int taps = s.c * s.r * s.s, tapsP = int(roundUp(taps, kFilterTT));
  const int kP = int(roundUp(s.k, kFilterKT));
  const size_t sumFloats = (size_t)kP * tapsP * kLanes;
  const int groups = std::min(s.n, kFilterGroups);
  float *partial = sharedScratch(groups * sumFloats + roundUp(tapsP, 16));
  int *offsets = reinterpret_cast<int *>(partial + groups * sumFloats);
  rowTapOffsets(s, cut.width, offsets);
  for (int t = taps; t < tapsP; ++t)
    offsets[t] = 0; // padding taps read x at the row start; their sums are dropped
  const size_t padded = roundUp((size_t)s.c * (s.h + 2 * s.padH) * cut.width + kLanes, 16);
  const size_t dyE = (size_t)kP * s.oh() * cut.vectors * kLanes;
  parallelChunks(groups, [&](int g, int thread) {
    float *work = threadScratch(thread, padded + dyE), *sum = partial + g * sumFloats;
    std::fill(sum, sum + sumFloats, 0.0f);
    rowFilterImages(s, cut, dy, x, offsets, work, work + padded, s.n * g / groups,
                    s.n * (g + 1) / groups, sum);
  });
  // dw[k][c][r][s] = sum over groups (in order) and lanes of partial[g][k][tap][lane].
  const int rs = s.r * s.s;
  for (int k = 0; k < s.k; ++k)
    for (int t = 0; t < taps; ++t) {
      float total = 0.0f;
      for (int g = 0; g < groups; ++g) {
        const float *lanes = partial + g * sumFloats + ((size_t)k * tapsP + t) * kLanes;
        float groupSum = 0.0f;
        for (int i = 0; i < kLanes; ++i)
          groupSum += lanes[i];
        total += groupSum;
      }
      const int r = t / (s.c * s.s), c = t / s.s % s.c;
      dw[((size_t)k * s.c + c) * rs + r * s.s + t % s.s] = total;
    }
}

} // namespace dlc::cpu
