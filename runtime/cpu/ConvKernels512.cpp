//===- ConvKernels512.cpp - the channel-vectorised forward in AVX-512 -*- C++ -*-===//
//
// ConvKernels.cpp's forward convolution (a vector holds output channels; each input value
// is broadcast; a register tile of pixels stays in registers over the whole C*R*S
// reduction) with one 16-channel AVX-512 vector per pixel instead of two 8-channel ones,
// used when the CPU has AVX-512 (wideVectors()) and the output channels come in whole
// blocks of 16, whose packed filter ([taps][16] per block) is then exactly one vector a tap.
// On a core with a 512-bit FMA datapath that halves the FMAs of a tile; with 32 registers a
// tile spans up to 14 pixels (LeNet's conv2: a whole 10-pixel row). The bias and ReLU are
// applied to the vectors before the tile is written out channel by channel.
//
// Compiled for x86-64-v4 by a target pragma placed after every #include (see
// ConvRowKernels512.cpp).
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
constexpr int kMaxTile = 14; // pixels a tile: 14 accumulators of 32 registers

/// acc[pixel] over `taps` taps for PT pixels `sw` floats apart from `xb`, plus the bias
/// vector, ReLU'd, then written to y[k][pixel] (channel stride `ystride`) for 16 channels.
template <int PT, int SW>
inline __attribute__((always_inline)) void tile16(const float *xb, int sw, const int *offsets,
                                                  int taps, const float *wp, float *y,
                                                  size_t ystride, __m512 bias, bool relu) {
  if (SW)
    sw = SW;
  __m512 acc[PT];
  for (int j = 0; j < PT; ++j)
    acc[j] = _mm512_setzero_ps();
  for (int i = 0; i < taps; ++i, wp += kLanes) {
    const float *b = xb + offsets[i];
    const __m512 w = _mm512_loadu_ps(wp);
    for (int j = 0; j < PT; ++j)
      acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(b[j * sw]), w, acc[j]);
  }
  alignas(64) float out[PT][kLanes];
  for (int j = 0; j < PT; ++j) {
    __m512 v = _mm512_add_ps(acc[j], bias);
    if (relu) // v > 0 ? v : 0, as in the 8-lane form (NaN and -0 become 0)
      v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v);
    _mm512_store_ps(out[j], v);
  }
  for (int k = 0; k < kLanes; ++k, y += ystride)
    for (int j = 0; j < PT; ++j)
      y[j] = out[j][k];
}

/// tile16 for a run-time width pt <= PT (every branch inlined into the AVX-512 caller).
template <int SW, int PT = kMaxTile>
inline __attribute__((always_inline)) void tile16N(int pt, const float *xb, int sw,
                                                   const int *offsets, int taps,
                                                   const float *wp, float *y, size_t ystride,
                                                   __m512 bias, bool relu) {
  if constexpr (PT >= 1) {
    if (pt == PT)
      return tile16<PT, SW>(xb, sw, offsets, taps, wp, y, ystride, bias, relu);
    tile16N<SW, PT - 1>(pt, xb, sw, offsets, taps, wp, y, ystride, bias, relu);
  }
}

/// One image into a zero-padded [c][h + 2 padH][w + 2 padW] buffer.
void padImage16(const ConvShape &s, const float *x, float *xp) {
  const int hp = s.h + 2 * s.padH, wp = s.w + 2 * s.padW;
  std::fill(xp, xp + (size_t)s.c * hp * wp, 0.0f);
  for (int c = 0; c < s.c; ++c)
    for (int y = 0; y < s.h; ++y)
      std::copy(x + ((size_t)c * s.h + y) * s.w, x + ((size_t)c * s.h + y + 1) * s.w,
                xp + ((size_t)c * hp + y + s.padH) * wp + s.padW);
}

} // namespace

bool useForward16(const ConvShape &s) { return wideVectors() && s.k % kLanes == 0; }

void convForwardImages16(const ConvShape &s, const float *x, const float *wPacked,
                         const int *offsets, float *padded, int n0, int n1, float *y,
                         const float *bias, bool relu) {
  const int oh = s.oh(), ow = s.ow(), taps = s.c * s.r * s.s;
  const int wp = s.w + 2 * s.padW;
  const size_t ohw = (size_t)oh * ow;
  // Balanced tiles: 28 pixels become 14+14 rather than 14+14+0, 30 become 10+10+10.
  const int tiles = (ow + kMaxTile - 1) / kMaxTile, tile = (ow + tiles - 1) / tiles;
  for (int n = n0; n < n1; ++n) {
    const float *xi = x + (size_t)n * s.c * s.h * s.w;
    if (s.padH || s.padW) {
      padImage16(s, xi, padded);
      xi = padded;
    }
    float *yi = y + (size_t)n * s.k * ohw;
    for (int k0 = 0; k0 < s.k; k0 += kLanes) {
      const float *wb = wPacked + (size_t)k0 * taps;
      const __m512 b = bias ? _mm512_loadu_ps(bias + k0) : _mm512_setzero_ps();
      for (int oy = 0; oy < oh; ++oy) {
        const float *row = xi + (size_t)oy * s.strideH * wp;
        // Filter rows whose input row is padding contribute nothing (their taps are
        // contiguous); a window wholly in the padding is the epilogue of 0.
        const int r0 = std::max(0, s.padH - oy * s.strideH);
        const int r1 = std::max(r0, std::min(s.r, s.padH + s.h - oy * s.strideH));
        const int t0 = r0 * s.c * s.s, tn = (r1 - r0) * s.c * s.s;
        for (int ox = 0; ox < ow; ox += tile) {
          const int pt = std::min(tile, ow - ox);
          const float *xb = row + (size_t)ox * s.strideW;
          float *yb = yi + (size_t)k0 * ohw + (size_t)oy * ow + ox;
          if (s.strideW == 1)
            tile16N<1>(pt, xb, 1, offsets + t0, tn, wb + (size_t)t0 * kLanes, yb, ohw, b, relu);
          else
            tile16N<0>(pt, xb, s.strideW, offsets + t0, tn, wb + (size_t)t0 * kLanes, yb, ohw,
                       b, relu);
        }
      }
    }
  }
}

} // namespace dlc::cpu

#pragma GCC pop_options

#else

namespace dlc::cpu {
bool useForward16(const ConvShape &) { return false; }
// Never called: useForward16 is false where the AVX-512 forms are not compiled.
void convForwardImages16(const ConvShape &, const float *, const float *, const int *, float *,
                         int, int, float *, const float *, bool) {}
} // namespace dlc::cpu

#endif
