//===- ConvKernels.cpp - direct 2-D convolution kernels -----------*- C++ -*-===//
//
// Convolution as an implicit GEMM with no im2col matrix: the weights are packed as
// [C*R*S][K rounded up to 8] so that one vector holds 8 output channels, and each input
// value is broadcast straight from the (zero-padded) image. A register tile of 8 or 16
// channels by up to 12 or 6 output pixels stays in registers over the whole C*R*S
// reduction. LeNet-sized layers (6 to 16 channels, 10 to 28 pixels wide) are far too small
// for a BLAS call per image to pay (measured 4-20 GFLOP/s); this reaches most of the FMA
// peak, and the batch is split over the thread pool. Where the CPU has AVX-512 and the
// channels come in blocks of 16, the forward runs one 16-channel vector a pixel
// (ConvKernels512.cpp).
//
//  - forward: any stride and padding; bias and ReLU are applied as the tile is written.
//  - backward data: for stride 1 it is the forward convolution of dy with the flipped,
//    transposed filter and padding R-1-pad; other strides use im2col + SGEMM + col2im.
//  - backward filter: each of a fixed number of image groups accumulates its dW in
//    registers tile by tile (channels x filter taps, reduced over pixels); the groups'
//    partial sums are added in group order, so results do not depend on the thread count.
//
#include "runtime/cpu/ConvVariants.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Simd.h"

#include <algorithm>
#include <cblas.h>
#include <vector>

namespace dlc::cpu {
using namespace simd;
namespace {

constexpr size_t kAlign = 16; // floats: keeps each scratch region 64-byte aligned
/// Image groups of the filter gradient: enough to balance two to four threads, few enough
/// that adding up the groups' partial sums stays cheap.
constexpr int kFilterGroups = 8;
size_t roundUp(size_t v, size_t to) { return (v + to - 1) / to * to; }

/// Copies one image into a zero-padded [c][hp][wp] buffer.
void padImage(const float *x, int c, int h, int w, int padH, int padW, float *xp) {
  const int hp = h + 2 * padH, wp = w + 2 * padW;
  std::fill(xp, xp + (size_t)c * hp * wp, 0.0f);
  for (int ci = 0; ci < c; ++ci)
    for (int y = 0; y < h; ++y)
      std::copy(x + ((size_t)ci * h + y) * w, x + ((size_t)ci * h + y + 1) * w,
                xp + ((size_t)ci * hp + y + padH) * wp + padW);
}

/// offsets[i] of filter tap i in a padded image with rows of `wp` floats. Taps are ordered
/// (r, c, s), filter row first, so the taps that read one input row are contiguous and an
/// output row whose window hangs over top or bottom padding can skip them.
void tapOffsets(int c, int r, int s, int hp, int wp, int *offsets) {
  for (int kr = 0; kr < r; ++kr)
    for (int ci = 0; ci < c; ++ci)
      for (int ks = 0; ks < s; ++ks)
        *offsets++ = (ci * hp + kr) * wp + ks;
}

/// Output channels are processed in blocks of 16 (two vectors) and a last block of 8.
int blockVectors(int k, int k0) { return k - k0 > 8 ? 2 : 1; }

/// The forward register tile: acc[pixel][vector] over `taps` filter taps, for PT output
/// pixels `sw` floats apart starting at `xb`, then written to y (row stride `ystride`)
/// with the epilogue. SW is the stride when known at compile time (1), else 0.
template <int KV, int PT, int SW>
DLC_INLINE void convTile(const float *xb, int sw, const int *offsets, int taps, const float *wp,
                         int kCount, float *y, size_t ystride, const float *bias, bool relu) {
  if (SW)
    sw = SW;
  v8 acc[PT][KV] = {};
  for (int i = 0; i < taps; ++i, wp += 8 * KV) {
    const float *b = xb + offsets[i];
    v8 wv[KV];
    for (int v = 0; v < KV; ++v)
      wv[v] = load(wp + 8 * v);
    for (int j = 0; j < PT; ++j) {
      v8 xv = splat(b[j * sw]);
      for (int v = 0; v < KV; ++v)
        acc[j][v] += xv * wv[v];
    }
  }
  float out[PT][8 * KV];
  for (int j = 0; j < PT; ++j)
    for (int v = 0; v < KV; ++v)
      store(&out[j][8 * v], acc[j][v]);
  for (int k = 0; k < kCount; ++k, y += ystride) {
    const float b = bias ? bias[k] : 0.0f;
    for (int j = 0; j < PT; ++j) {
      float v = out[j][k] + b;
      y[j] = relu && v < 0.0f ? 0.0f : v;
    }
  }
}

/// Largest pixel tile per channel-vector count: 12 (or 6 x 2) accumulators of 16 registers.
constexpr int kMaxTile[3] = {0, 12, 6};

/// Calls convTile for a run-time tile width pt <= PT. Everything is inlined into the
/// DLC_VECTORIZED caller: a function pointer would get the baseline (SSE2) code.
template <int KV, int SW, int PT = kMaxTile[KV]>
DLC_INLINE void convTileN(int pt, const float *xb, int sw, const int *offsets, int taps,
                          const float *wp, int kCount, float *y, size_t ystride,
                          const float *bias, bool relu) {
  if constexpr (PT >= 1) {
    if (pt == PT)
      return convTile<KV, PT, SW>(xb, sw, offsets, taps, wp, kCount, y, ystride, bias, relu);
    convTileN<KV, SW, PT - 1>(pt, xb, sw, offsets, taps, wp, kCount, y, ystride, bias, relu);
  }
}

/// y = conv(x, w) for the images [n0, n1). `w` is packed per block as [taps][8*KV].
DLC_VECTORIZED
void convForwardImages(const ConvShape &s, const float *x, const float *wPacked,
                       const int *offsets, float *padded, int n0, int n1, float *y,
                       const float *bias, bool relu) {
  const int oh = s.oh(), ow = s.ow(), taps = s.c * s.r * s.s;
  const int wp = s.w + 2 * s.padW;
  const bool pad = s.padH || s.padW;
  const size_t ohw = (size_t)oh * ow;
  for (int n = n0; n < n1; ++n) {
    const float *xi = x + (size_t)n * s.c * s.h * s.w;
    if (pad) {
      padImage(xi, s.c, s.h, s.w, s.padH, s.padW, padded);
      xi = padded;
    }
    float *yi = y + (size_t)n * s.k * ohw;
    const float *wb = wPacked;
    for (int k0 = 0; k0 < s.k; k0 += 8 * blockVectors(s.k, k0)) {
      const int kv = blockVectors(s.k, k0), kCount = std::min(s.k - k0, 8 * kv);
      // Balanced tiles: 28 pixels become 10+10+8 rather than 12+12+4.
      const int tiles = (ow + kMaxTile[kv] - 1) / kMaxTile[kv], tile = (ow + tiles - 1) / tiles;
      for (int oy = 0; oy < oh; ++oy) {
        const float *row = xi + (size_t)oy * s.strideH * wp;
        // Filter rows r whose input row oy*strideH + r is padding contribute nothing.
        const int r0 = std::max(0, s.padH - oy * s.strideH);
        const int r1 = std::min(s.r, s.padH + s.h - oy * s.strideH);
        if (r1 <= r0) { // the whole window is padding: the output is the epilogue of 0
          for (int k = 0; k < kCount; ++k) {
            float v = bias ? bias[k0 + k] : 0.0f;
            std::fill_n(yi + (size_t)(k0 + k) * ohw + (size_t)oy * ow, ow,
                        relu && v < 0.0f ? 0.0f : v);
          }
          continue;
        }
        const int t0 = r0 * s.c * s.s, tn = (r1 - r0) * s.c * s.s;
        const int *offs = offsets + t0;
        const float *wt = wb + (size_t)t0 * 8 * kv;
        for (int ox = 0; ox < ow; ox += tile) {
          const int pt = std::min(tile, ow - ox);
          const float *xb = row + (size_t)ox * s.strideW;
          float *yb = yi + (size_t)k0 * ohw + (size_t)oy * ow + ox;
          const float *bb = bias ? bias + k0 : nullptr;
          if (kv == 1 && s.strideW == 1)
            convTileN<1, 1>(pt, xb, 1, offs, tn, wt, kCount, yb, ohw, bb, relu);
          else if (kv == 1)
            convTileN<1, 0>(pt, xb, s.strideW, offs, tn, wt, kCount, yb, ohw, bb, relu);
          else if (s.strideW == 1)
            convTileN<2, 1>(pt, xb, 1, offs, tn, wt, kCount, yb, ohw, bb, relu);
          else
            convTileN<2, 0>(pt, xb, s.strideW, offs, tn, wt, kCount, yb, ohw, bb, relu);
        }
      }
      wb += (size_t)taps * 8 * kv;
    }
  }
}

/// Packs w[k][c][r][s] into blocks of [taps][8*KV] with taps in tapOffsets' (r, c, s) order,
/// zero-filling missing channels.
/// With `flip`, w is [C][K][R][S] of the convolution being transposed and is read with the
/// taps mirrored, which turns the data gradient into a forward convolution.
void packFilter(const ConvShape &s, const float *w, bool flip, float *out) {
  // Loops in the packed order (block, r, c, s, lane) with the source index built up
  // incrementally: this runs every step (the weights change), and at batch 1 the per-element
  // divisions it used to do cost as much as the convolution.
  const int rs = s.r * s.s;
  for (int k0 = 0; k0 < s.k; k0 += 8 * blockVectors(s.k, k0)) {
    const int width = 8 * blockVectors(s.k, k0), kn = std::min(width, s.k - k0);
    for (int r = 0; r < s.r; ++r)
      for (int c = 0; c < s.c; ++c)
        for (int q = 0; q < s.s; ++q, out += width) {
          const int tap = r * s.s + q;
          if (flip) {
            const float *src = w + ((size_t)c * s.k + k0) * rs + (rs - 1 - tap);
            for (int v = 0; v < kn; ++v)
              out[v] = src[(size_t)v * rs];
          } else {
            const float *src = w + ((size_t)k0 * s.c + c) * rs + tap;
            const size_t kStride = (size_t)s.c * rs;
            for (int v = 0; v < kn; ++v)
              out[v] = src[v * kStride];
          }
          for (int v = kn; v < width; ++v)
            out[v] = 0.0f;
        }
  }
}

size_t packedFloats(const ConvShape &s) {
  return roundUp((size_t)s.c * s.r * s.s * roundUp(s.k, 8), kAlign);
}

/// Forward convolution of the whole batch, split over the pool by image.
void convForward(const ConvShape &s, const float *x, const float *w, bool flip, float *y,
                 const float *bias, bool relu) {
  const int taps = s.c * s.r * s.s;
  const size_t packed = packedFloats(s);
  const size_t padded = (size_t)s.c * (s.h + 2 * s.padH) * (s.w + 2 * s.padW);
  float *shared = sharedScratch(packed + roundUp(taps, kAlign));
  int *offsets = reinterpret_cast<int *>(shared + packed);
  packFilter(s, w, flip, shared);
  tapOffsets(s.c, s.r, s.s, s.h + 2 * s.padH, s.w + 2 * s.padW, offsets);
  const bool wide = useForward16(s);
  parallelFor(s.n, 1, [&](int64_t n0, int64_t n1, int thread) {
    float *scratch = threadScratch(thread, padded);
    if (wide)
      convForwardImages16(s, x, shared, offsets, scratch, int(n0), int(n1), y, bias, relu);
    else
      convForwardImages(s, x, shared, offsets, scratch, int(n0), int(n1), y, bias, relu);
  });
}

/// The filter-gradient register tile: acc[tap][vector] += x(tap at pixel) * dyT(pixel) over
/// every output pixel of one image, added into `dw` ([taps][8*KV] of this channel block).
template <int KV, int T>
DLC_INLINE void filterTile(const ConvShape &s, const float *xi, int wp, const float *dyT,
                           size_t dyStride, const int *offsets, float *dw) {
  v8 acc[T][KV];
  int off[T];
  for (int t = 0; t < T; ++t) {
    off[t] = offsets[t];
    for (int v = 0; v < KV; ++v)
      acc[t][v] = load(dw + (size_t)t * 8 * KV + 8 * v);
  }
  const int oh = s.oh(), ow = s.ow();
  for (int oy = 0; oy < oh; ++oy) {
    const float *row = xi + (size_t)oy * s.strideH * wp;
    for (int ox = 0; ox < ow; ++ox, dyT += dyStride) {
      const float *b = row + (size_t)ox * s.strideW;
      v8 d[KV];
      for (int v = 0; v < KV; ++v)
        d[v] = load(dyT + 8 * v);
      for (int t = 0; t < T; ++t) {
        v8 xv = splat(b[off[t]]);
        for (int v = 0; v < KV; ++v)
          acc[t][v] += xv * d[v];
      }
    }
  }
  for (int t = 0; t < T; ++t)
    for (int v = 0; v < KV; ++v)
      store(dw + (size_t)t * 8 * KV + 8 * v, acc[t][v]);
}

/// Calls filterTile for a run-time tap count t <= T, inlined like convTileN.
template <int KV, int T = kMaxTile[KV]>
DLC_INLINE void filterTileN(int t, const ConvShape &s, const float *xi, int wp, const float *dyT,
                            size_t dyStride, const int *offsets, float *dw) {
  if constexpr (T >= 1) {
    if (t == T)
      return filterTile<KV, T>(s, xi, wp, dyT, dyStride, offsets, dw);
    filterTileN<KV, T - 1>(t, s, xi, wp, dyT, dyStride, offsets, dw);
  }
}

/// Adds the filter gradient of images [n0, n1) into `dw`, packed like packFilter's output.
DLC_VECTORIZED
void convFilterImages(const ConvShape &s, const float *dy, const float *x, const int *offsets,
                      float *padded, float *dyT, int n0, int n1, float *dw) {
  const int taps = s.c * s.r * s.s, ohw = s.oh() * s.ow(), kp = int(roundUp(s.k, 8));
  const int wp = s.w + 2 * s.padW;
  for (int n = n0; n < n1; ++n) {
    const float *xi = x + (size_t)n * s.c * s.h * s.w;
    if (s.padH || s.padW) {
      padImage(xi, s.c, s.h, s.w, s.padH, s.padW, padded);
      xi = padded;
    }
    // dy[k][pixel] -> dyT[pixel][k]: one vector load per pixel and channel block.
    const float *dyi = dy + (size_t)n * s.k * ohw;
    for (int p = 0; p < ohw; ++p) {
      for (int k = 0; k < s.k; ++k)
        dyT[(size_t)p * kp + k] = dyi[(size_t)k * ohw + p];
      for (int k = s.k; k < kp; ++k)
        dyT[(size_t)p * kp + k] = 0.0f;
    }
    float *block = dw;
    for (int k0 = 0; k0 < s.k; k0 += 8 * blockVectors(s.k, k0)) {
      const int kv = blockVectors(s.k, k0), maxT = kMaxTile[kv];
      for (int t0 = 0; t0 < taps; t0 += maxT) {
        const int t = std::min(maxT, taps - t0);
        float *out = block + (size_t)t0 * 8 * kv;
        if (kv == 1)
          filterTileN<1>(t, s, xi, wp, dyT + k0, kp, offsets + t0, out);
        else
          filterTileN<2>(t, s, xi, wp, dyT + k0, kp, offsets + t0, out);
      }
      block += (size_t)taps * 8 * kv;
    }
  }
}

/// The stride > 1 data gradient: per image, col = W^T dy, then scatter-add col onto dx.
void convBackwardDataIm2col(const ConvShape &s, const float *dy, const float *w, float *dx,
                            float *scratch);

} // namespace

size_t convScratchFloats(const ConvShape &s) {
  return (size_t)s.c * s.r * s.s * s.oh() * s.ow();
}

// The direct kernels need no im2col workspace (see convScratchFloats).
void conv2dForward(const ConvShape &s, const float *x, const float *w, float *y,
                   float * /*scratch*/, const float *bias, bool relu) {
  if (useRowForward(s))
    return convForwardRows(s, x, w, y, bias, relu);
  convForward(s, x, w, false, y, bias, relu);
}

void conv2dBackwardData(const ConvShape &s, const float *dy, const float *w, float *dx,
                        float *scratch) {
  if (s.strideH != 1 || s.strideW != 1 || s.padH > s.r - 1 || s.padW > s.s - 1)
    return convBackwardDataIm2col(s, dy, w, dx, scratch);
  if (useBatchedData(s))
    return convBackwardDataBatched(s, dy, w, dx);
  // dx = dy (padded by R-1-pad) convolved with w flipped and with C and K swapped.
  ConvShape t{s.n, s.k, s.oh(), s.ow(), s.c, s.r, s.s, 1, 1, s.r - 1 - s.padH, s.s - 1 - s.padW};
  convForward(t, dy, w, true, dx, nullptr, false);
}

void conv2dBackwardFilter(const ConvShape &s, const float *dy, const float *x, float *dw,
                          float * /*scratch*/) {
  if (useRowFilter(s))
    return convBackwardFilterRows(s, dy, x, dw);
  const int taps = s.c * s.r * s.s;
  const size_t packed = packedFloats(s);
  const size_t padded = roundUp((size_t)s.c * (s.h + 2 * s.padH) * (s.w + 2 * s.padW), kAlign);
  const size_t dyT = (size_t)s.oh() * s.ow() * roundUp(s.k, 8);
  // A fixed number of image groups, each with its own partial sum, added in group order:
  // the result does not depend on the thread count or on which thread ran which group.
  const int groups = std::min(s.n, kFilterGroups);
  float *partial = sharedScratch(groups * packed + roundUp(taps, kAlign));
  int *offsets = reinterpret_cast<int *>(partial + groups * packed);
  tapOffsets(s.c, s.r, s.s, s.h + 2 * s.padH, s.w + 2 * s.padW, offsets);
  parallelChunks(groups, [&](int g, int thread) {
    float *work = threadScratch(thread, padded + dyT), *sum = partial + g * packed;
    std::fill(sum, sum + packed, 0.0f);
    convFilterImages(s, dy, x, offsets, work, work + padded, s.n * g / groups,
                     s.n * (g + 1) / groups, sum);
  });
  // Unpack [block][taps][8*KV] to dw[k][c][r][s], summing the groups' partials in order.
  for (int k0 = 0, offset = 0; k0 < s.k; k0 += 8 * blockVectors(s.k, k0)) {
    const int width = 8 * blockVectors(s.k, k0), kCount = std::min(s.k - k0, width);
    for (int t = 0; t < taps; ++t) {
      const int r = t / (s.c * s.s), c = t / s.s % s.c, tap = (c * s.r + r) * s.s + t % s.s;
      for (int v = 0; v < kCount; ++v) {
        float sum = 0.0f;
        for (int g = 0; g < groups; ++g)
          sum += partial[g * packed + offset + t * width + v];
        dw[(size_t)(k0 + v) * taps + tap] = sum;
      }
    }
    offset += taps * width;
  }
}

namespace {
/// Adjoint of im2col: scatters col back onto the image, accumulating where windows overlap.
void col2imAccumulate(const ConvShape &s, const float *col, float *x) {
  const int oh = s.oh(), ow = s.ow();
  for (int ci = 0; ci < s.c; ++ci) {
    float *plane = x + (size_t)ci * s.h * s.w;
    for (int kr = 0; kr < s.r; ++kr)
      for (int ks = 0; ks < s.s; ++ks)
        for (int oy = 0; oy < oh; ++oy, col += ow) {
          int iy = oy * s.strideH - s.padH + kr;
          if (iy < 0 || iy >= s.h)
            continue;
          for (int ox = 0; ox < ow; ++ox) {
            int ix = ox * s.strideW - s.padW + ks;
            if (ix >= 0 && ix < s.w)
              plane[(size_t)iy * s.w + ix] += col[ox];
          }
        }
  }
}

void convBackwardDataIm2col(const ConvShape &s, const float *dy, const float *w, float *dx,
                            float *scratch) {
  const int crs = s.c * s.r * s.s, ohw = s.oh() * s.ow();
  const size_t xStride = (size_t)s.c * s.h * s.w, yStride = (size_t)s.k * ohw;
  std::fill(dx, dx + s.n * xStride, 0.0f);
  for (int i = 0; i < s.n; ++i) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, crs, ohw, s.k, 1.0f, w, crs,
                dy + i * yStride, ohw, 0.0f, scratch, ohw);
    col2imAccumulate(s, scratch, dx + i * xStride);
  }
}
} // namespace

} // namespace dlc::cpu
