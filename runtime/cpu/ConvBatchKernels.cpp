//===- ConvBatchKernels.cpp - data gradient across 8 images -------*- C++ -*-===//
//
// dx[c][iy][ix] = sum over k, r, s of w[k][c][r][s] * dy[k][iy + pad - r][ix + pad - s],
// computed for 8 images at once: dy is re-laid out per group of 8 images as
// dyP[k][row][col][8 images] with R-1-pad rows and S-1-pad columns of zeros around it, so
// the sum becomes a correlation of dyP with the flipped filter. A register tile holds 6
// input channels x 2 neighbouring pixels (12 vectors of 8 images) and runs over exactly the
// filter rows and columns whose dy position exists for that pixel pair, so almost no work
// multiplies padding (the channel-vectorised kernel computes half its FMAs on zeros for
// LeNet's conv2 and leaves 2 of 8 lanes idle with 6 channels).
//
#include "runtime/cpu/ConvVariants.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Simd.h"

#include <algorithm>

namespace dlc::cpu {
using namespace simd;
namespace {

constexpr int kLanes = 8;        // images per vector
constexpr int kChannelTile = 6;  // input channels per register tile (x 2 pixels)

/// Sizes of one group's buffers.
struct Layout {
  int oh, ow, ph, pw, hp, wp, iwEven;
  explicit Layout(const ConvShape &s)
      : oh(s.oh()), ow(s.ow()), ph(s.r - 1 - s.padH), pw(s.s - 1 - s.padW),
        hp(oh + 2 * ph), wp(ow + 2 * pw + 1), iwEven((s.w + 1) & ~1) {}
  // One column past the padding: the odd extra pixel of an odd-width row reads it.
  size_t dyFloats(const ConvShape &s) const { return (size_t)s.k * hp * wp * kLanes; }
  size_t dxFloats(const ConvShape &s) const { return (size_t)s.c * s.h * iwEven * kLanes; }
};

/// acc[c][p] += sum over k, r in [r0, r1), s in [s0, s1) of wq[k][r][s][c] * dyP[k][r][p+s]
/// for CT channels and pixels p = 0, 1, then stored to dxT (channel stride `cStride`).
template <int CT>
DLC_INLINE void dataTile(const float *dyP, int k, size_t kStride, size_t rowStride,
                         const float *wq, int rs, int sCount, int c, int r0, int r1, int s0,
                         int s1, float *dxT, size_t cStride) {
  v8 acc[CT][2] = {};
  for (int kk = 0; kk < k; ++kk, dyP += kStride, wq += (size_t)rs * c) {
    for (int r = r0; r < r1; ++r) {
      const float *row = dyP + (size_t)r * rowStride;
      const float *wr = wq + (size_t)r * sCount * c;
      for (int s = s0; s < s1; ++s) {
        const v8 d0 = load(row + s * kLanes), d1 = load(row + (s + 1) * kLanes);
        const float *ws = wr + (size_t)s * c;
        for (int i = 0; i < CT; ++i) {
          const v8 wv = splat(ws[i]);
          acc[i][0] += wv * d0;
          acc[i][1] += wv * d1;
        }
      }
    }
  }
  for (int i = 0; i < CT; ++i) {
    store(dxT + i * cStride, acc[i][0]);
    store(dxT + i * cStride + kLanes, acc[i][1]);
  }
}

/// Calls dataTile for a run-time channel count ct <= CT, inlined (see convTileN).
template <int CT = kChannelTile>
DLC_INLINE void dataTileN(int ct, const float *dyP, int k, size_t kStride, size_t rowStride,
                          const float *wq, int rs, int sCount, int c, int r0, int r1, int s0,
                          int s1, float *dxT, size_t cStride) {
  if constexpr (CT >= 1) {
    if (ct == CT)
      return dataTile<CT>(dyP, k, kStride, rowStride, wq, rs, sCount, c, r0, r1, s0, s1, dxT,
                          cStride);
    dataTileN<CT - 1>(ct, dyP, k, kStride, rowStride, wq, rs, sCount, c, r0, r1, s0, s1, dxT,
                      cStride);
  }
}

/// dy of images [n0, n0 + count) -> dyP (count <= 8; missing images' lanes are zero).
void gatherGroup(const ConvShape &s, const Layout &l, const float *dy, int n0, int count,
                 float *dyP) {
  const size_t image = (size_t)s.k * l.oh * l.ow;
  const float *src[kLanes];
  for (int i = 0; i < kLanes; ++i)
    src[i] = dy + (size_t)(n0 + std::min(i, count - 1)) * image;
  const size_t row = (size_t)l.wp * kLanes;
  for (int k = 0; k < s.k; ++k)
    for (int y = 0; y < l.hp; ++y) {
      float *out = dyP + ((size_t)k * l.hp + y) * row;
      const int oy = y - l.ph;
      if (oy < 0 || oy >= l.oh) {
        std::fill(out, out + row, 0.0f);
        continue;
      }
      std::fill(out, out + (size_t)l.pw * kLanes, 0.0f);
      std::fill(out + (size_t)(l.pw + l.ow) * kLanes, out + row, 0.0f);
      out += (size_t)l.pw * kLanes;
      const size_t at = ((size_t)k * l.oh + oy) * l.ow;
      for (int ox = 0; ox < l.ow; ++ox, out += kLanes)
        for (int i = 0; i < kLanes; ++i)
          out[i] = i < count ? src[i][at + ox] : 0.0f;
    }
}

/// dxT -> dx of images [n0, n0 + count).
void scatterGroup(const ConvShape &s, const Layout &l, const float *dxT, int n0, int count,
                  float *dx) {
  const size_t image = (size_t)s.c * s.h * s.w;
  for (int i = 0; i < count; ++i) {
    float *out = dx + (size_t)(n0 + i) * image;
    for (int c = 0; c < s.c; ++c)
      for (int y = 0; y < s.h; ++y) {
        const float *in = dxT + (((size_t)c * s.h + y) * l.iwEven) * kLanes + i;
        for (int x = 0; x < s.w; ++x)
          *out++ = in[(size_t)x * kLanes];
      }
  }
}

/// dxT for one group from its dyP.
DLC_VECTORIZED
void groupGradient(const ConvShape &s, const Layout &l, const float *dyP, const float *wq,
                   float *dxT) {
  const size_t rowStride = (size_t)l.wp * kLanes, kStride = (size_t)l.hp * rowStride;
  const size_t cStride = (size_t)s.h * l.iwEven * kLanes;
  const int rs = s.r * s.s;
  for (int iy = 0; iy < s.h; ++iy) {
    // Filter rows r (flipped) whose dyP row iy + r holds dy rather than padding.
    const int r0 = std::max(0, l.ph - iy), r1 = std::min(s.r, l.ph + l.oh - iy);
    for (int ix = 0; ix < l.iwEven; ix += 2) {
      float *out = dxT + ((size_t)iy * l.iwEven + ix) * kLanes;
      // Columns s where pixel ix or ix + 1 reads dy.
      const int s0 = std::max(0, l.pw - ix - 1), s1 = std::min(s.s, l.pw + l.ow - ix);
      if (r1 <= r0 || s1 <= s0) {
        for (int c = 0; c < s.c; ++c)
          std::fill(out + c * cStride, out + c * cStride + 2 * kLanes, 0.0f);
        continue;
      }
      const float *in = dyP + ((size_t)iy * l.wp + ix) * kLanes;
      for (int c0 = 0; c0 < s.c; c0 += kChannelTile)
        dataTileN(std::min(kChannelTile, s.c - c0), in, s.k, kStride, rowStride, wq + c0, rs,
                  s.s, s.c, r0, r1, s0, s1, out + c0 * cStride, cStride);
    }
  }
}

} // namespace

bool useBatchedData(const ConvShape &s) {
  return s.strideH == 1 && s.strideW == 1 && s.padH <= s.r - 1 && s.padW <= s.s - 1 &&
         s.c % 8 != 0 && s.n >= kLanes;
}

void convBackwardDataBatched(const ConvShape &s, const float *dy, const float *w, float *dx) {
  const Layout l(s);
  // wq[k][r][s][c] = w[k][c][R-1-r][S-1-s]: the flipped filter, channels innermost.
  const int rs = s.r * s.s;
  float *wq = sharedScratch((size_t)s.k * rs * s.c);
  for (int k = 0; k < s.k; ++k)
    for (int t = 0; t < rs; ++t)
      for (int c = 0; c < s.c; ++c)
        wq[((size_t)k * rs + t) * s.c + c] = w[((size_t)k * s.c + c) * rs + (rs - 1 - t)];
  const int groups = (s.n + kLanes - 1) / kLanes;
  const size_t dyFloats = (l.dyFloats(s) + 15) / 16 * 16;
  parallelChunks(groups, [&](int g, int thread) {
    float *dyP = threadScratch(thread, dyFloats + l.dxFloats(s)), *dxT = dyP + dyFloats;
    const int n0 = g * kLanes, count = std::min(kLanes, s.n - n0);
    gatherGroup(s, l, dy, n0, count, dyP);
    groupGradient(s, l, dyP, wq, dxT);
    scatterGroup(s, l, dxT, n0, count, dx);
  });
}

} // namespace dlc::cpu
