//===- ConvRowKernels512.cpp - the row forward convolution in AVX-512 -*- C++ -*-===//
//
// ConvRowKernels.cpp's forward convolution (a vector holds consecutive output pixels of a
// row; a register tile of KT channels x XV vectors over the filter taps) with 16-pixel
// AVX-512 vectors, used when the CPU has them (wideVectors()). On a core with a 512-bit
// FMA datapath each FMA does twice the work of the 8-lane form, and a 28-pixel row (LeNet's
// first layer) is 2 vectors instead of 4, so one tile holds all 6 of its channels. Row tails
// are masked stores, and the padded image is written with masked loads and stores, so
// nothing here is scalar per pixel.
//
// The file is compiled for x86-64-v4 by a target pragma placed after every #include: only
// its own functions get AVX-512 code, never an inline function from a header that another
// file's (baseline) code might link against.
//
#include "runtime/cpu/ConvVariants.h"
#include "runtime/cpu/Isa.h"

#include <algorithm>
#include <cstddef>

#if DLC_AVX512_KERNELS
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")

namespace dlc::cpu {
namespace {

constexpr int kLanes = 16;

/// The first n lanes (0 <= n <= 16).
__mmask16 firstLanes(int n) { return n >= kLanes ? __mmask16(0xffff) : __mmask16((1u << n) - 1); }

/// One image into a zero-padded [c][hp][width] buffer (`xp` has room for a vector more).
inline __attribute__((always_inline)) void padRows16(const ConvShape &s, const float *x,
                                                     int width, float *xp) {
  const int hp = s.h + 2 * s.padH;
  const size_t all = (size_t)s.c * hp * width;
  for (size_t i = 0; i < all; i += kLanes)
    _mm512_storeu_ps(xp + i, _mm512_setzero_ps());
  for (int c = 0; c < s.c; ++c)
    for (int y = 0; y < s.h; ++y, x += s.w) {
      float *row = xp + ((size_t)c * hp + y + s.padH) * width + s.padW;
      for (int i = 0; i < s.w; i += kLanes) {
        const __mmask16 m = firstLanes(s.w - i);
        _mm512_mask_storeu_ps(row + i, m, _mm512_maskz_loadu_ps(m, x + i));
      }
    }
}

/// y[k][p] for KT channels and XV*16 pixels from `xb` (row start of the first tap) over
/// `taps` taps; `valid` pixels are stored (channel stride `kStride`), with the epilogue.
template <int KT, int XV>
inline __attribute__((always_inline)) void rowTile16(const float *xb, const int *offsets,
                                                     int taps, const float *wp, int kCount,
                                                     float *y, size_t kStride, int valid,
                                                     const float *bias, bool relu) {
  __m512 acc[KT][XV];
  for (int k = 0; k < KT; ++k)
    for (int v = 0; v < XV; ++v)
      acc[k][v] = _mm512_setzero_ps();
  for (int i = 0; i < taps; ++i, wp += KT) {
    const float *b = xb + offsets[i];
    __m512 xv[XV];
    for (int v = 0; v < XV; ++v)
      xv[v] = _mm512_loadu_ps(b + kLanes * v);
    for (int k = 0; k < KT; ++k) {
      const __m512 wv = _mm512_set1_ps(wp[k]);
      for (int v = 0; v < XV; ++v)
        acc[k][v] = _mm512_fmadd_ps(wv, xv[v], acc[k][v]);
    }
  }
  for (int k = 0; k < KT; ++k, y += kStride) {
    if (k >= kCount)
      break;
    const __m512 b = _mm512_set1_ps(bias ? bias[k] : 0.0f);
    for (int v = 0; v < XV; ++v) {
      __m512 out = _mm512_add_ps(acc[k][v], b);
      if (relu) // v > 0 ? v : 0, as in the 8-lane form (NaN and -0 become 0)
        out = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(out, _mm512_setzero_ps(), _CMP_GT_OQ), out);
      const int n = valid - kLanes * v;
      if (n >= kLanes)
        _mm512_storeu_ps(y + kLanes * v, out);
      else if (n > 0)
        _mm512_mask_storeu_ps(y + kLanes * v, firstLanes(n), out);
    }
  }
}

template <int XV>
inline __attribute__((always_inline)) void rowTileXV16(const float *xb, const int *offsets,
                                                       int taps, const float *wp, int kCount,
                                                       float *y, size_t kStride, int valid,
                                                       const float *bias, bool relu) {
  rowTile16<12 / XV, XV>(xb, offsets, taps, wp, kCount, y, kStride, valid, bias, relu);
}

} // namespace

void rowForwardImages16(const ConvShape &s, const RowCut &cut, const float *x, const float *wp,
                        const int *offsets, float *padded, int n0, int n1, float *y,
                        const float *bias, bool relu) {
  const int oh = s.oh(), ow = s.ow(), taps = s.c * s.r * s.s;
  const size_t ohw = (size_t)oh * ow;
  const int kBlocks = (s.k + cut.kt - 1) / cut.kt;
  for (int n = n0; n < n1; ++n) {
    padRows16(s, x + (size_t)n * s.c * s.h * s.w, cut.width, padded);
    float *yi = y + (size_t)n * s.k * ohw;
    for (int oy = 0; oy < oh; ++oy) {
      const float *row = padded + (size_t)oy * s.strideH * cut.width;
      // Filter rows that read only padding are skipped (their taps are contiguous).
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
          case 1: rowTileXV16<1>(row + ox, offsets + t0, tn, w, kCount, yb, ohw, ow - ox, bb, relu); break;
          case 2: rowTileXV16<2>(row + ox, offsets + t0, tn, w, kCount, yb, ohw, ow - ox, bb, relu); break;
          case 3: rowTileXV16<3>(row + ox, offsets + t0, tn, w, kCount, yb, ohw, ow - ox, bb, relu); break;
          default: rowTileXV16<4>(row + ox, offsets + t0, tn, w, kCount, yb, ohw, ow - ox, bb, relu); break;
          }
        }
      }
    }
  }
}

} // namespace dlc::cpu

#pragma GCC pop_options

#else

namespace dlc::cpu {
// Never called: wideVectors() is false where the AVX-512 forms are not compiled.
void rowForwardImages16(const ConvShape &, const RowCut &, const float *, const float *,
                        const int *, float *, int, int, float *, const float *, bool) {}
} // namespace dlc::cpu

#endif
