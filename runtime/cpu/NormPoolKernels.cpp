// CPU kernels for batch normalisation and average pooling (float32, NCHW).
//
// Batch-norm statistics are reduced in double: a channel spans batch * H * W elements, and a
// float running sum over that many terms loses digits the variance needs. The reductions run
// in eight double lanes (vectorised; the lanes are added in a fixed order, so the result
// does not depend on the ISA's clone or the thread count), the per-element passes in float
// with loop-invariant per-channel coefficients. Channels are split over the thread pool:
// each channel is reduced and written by one thread, so results are the same at any count.
#include "runtime/cpu/NormPoolKernels.h"

#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Simd.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace dlc::cpu {
namespace {

typedef double d8 __attribute__((vector_size(64)));

/// Channels per chunk of the pool: enough that a chunk covers ~64K elements.
int64_t channelGrain(int n, int hw) {
  return std::max<int64_t>(1, (int64_t)65536 / std::max<int64_t>(1, (int64_t)n * hw));
}

DLC_INLINE d8 widen(const float *p) { return __builtin_convertvector(simd::load(p), d8); }

DLC_INLINE double lanesSum(d8 a) {
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/// Sum of (x - k) and of (x - k)^2 over channel ch, in double. Shifting by k, one of the
/// channel's own values, keeps the one-pass variance exact enough in double even when
/// |mean| >> stddev (no catastrophic cancellation of E[x^2] - E[x]^2), with one read of x.
DLC_VECTORIZED
void shiftedMoments(int n, int c, int hw, int ch, const float *x, double k, double &s1,
                    double &s2) {
  d8 a1 = {}, a2 = {};
  const d8 kv = d8{} + k;
  double t1 = 0.0, t2 = 0.0;
  for (int b = 0; b < n; ++b) {
    const float *p = x + ((size_t)b * c + ch) * hw;
    int i = 0;
    for (; i + 8 <= hw; i += 8) {
      const d8 d = widen(p + i) - kv;
      a1 += d;
      a2 += d * d;
    }
    for (; i < hw; ++i) {
      const double d = p[i] - k;
      t1 += d;
      t2 += d * d;
    }
  }
  s1 = lanesSum(a1) + t1;
  s2 = lanesSum(a2) + t2;
}

/// Sum of dy and of dy * (x - mean) over channel ch, in double.
DLC_VECTORIZED
void gradMoments(int n, int c, int hw, int ch, const float *x, const float *dy, double mean,
                 double &sumDy, double &sumDyXc) {
  d8 a1 = {}, a2 = {};
  const d8 mv = d8{} + mean;
  double t1 = 0.0, t2 = 0.0;
  for (int b = 0; b < n; ++b) {
    const size_t off = ((size_t)b * c + ch) * hw;
    const float *xp = x + off, *gp = dy + off;
    int i = 0;
    for (; i + 8 <= hw; i += 8) {
      const d8 g = widen(gp + i);
      a1 += g;
      a2 += g * (widen(xp + i) - mv);
    }
    for (; i < hw; ++i) {
      t1 += gp[i];
      t2 += (double)gp[i] * (xp[i] - mean);
    }
  }
  sumDy = lanesSum(a1) + t1;
  sumDyXc = lanesSum(a2) + t2;
}

/// y = (x - mean) * scale + beta over every row of channel ch. Subtracting the mean before
/// scaling (rather than folding it into one offset) keeps precision when |mean| >> stddev.
DLC_VECTORIZED
void normalizeChannel(int n, int c, int hw, int ch, float mean, float scale, float beta, const float *x,
                      float *y, bool relu) {
  for (int b = 0; b < n; ++b) {
    const size_t off = ((size_t)b * c + ch) * hw;
    const float *xp = x + off;
    float *yp = y + off;
    if (relu) {
      for (int i = 0; i < hw; ++i) {
        const float v = (xp[i] - mean) * scale + beta;
        yp[i] = v > 0.0f ? v : 0.0f;
      }
    } else {
      for (int i = 0; i < hw; ++i)
        yp[i] = (xp[i] - mean) * scale + beta;
    }
  }
}

/// dx = k * (dy - meanDy - (x - mean) * coefXc) over every row of channel ch.
DLC_VECTORIZED
void backwardChannel(int n, int c, int hw, int ch, float k, float meanDy, float mean,
                     float coefXc, const float *x, const float *dy, float *dx) {
  for (int b = 0; b < n; ++b) {
    const size_t off = ((size_t)b * c + ch) * hw;
    const float *xp = x + off, *dyp = dy + off;
    float *dxp = dx + off;
    for (int i = 0; i < hw; ++i)
      dxp[i] = k * (dyp[i] - meanDy - (xp[i] - mean) * coefXc);
  }
}

/// Sum of p[0..len) in double. Four independent accumulators break the dependency chain of
/// the adds (a strict double reduction cannot be vectorised without -ffast-math).
double sumRow(const float *p, size_t len) {
  double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
  size_t i = 0;
  for (; i + 4 <= len; i += 4) {
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
  }
  for (; i < len; ++i)
    a0 += p[i];
  return (a0 + a1) + (a2 + a3);
}

/// Clips a pooling window starting at `start` with extent k to [0, size).
inline void clipWindow(int start, int k, int size, int &beg, int &end) {
  beg = std::max(start, 0);
  end = std::min(start + k, size);
}

// --- The channel-blocked layout [n][c / B][hw][B] (oneDNN's nChw16c / nChw8c, B = 16 or
// 8; runtime/cpu/Layout.h): B channels side by side, one vector of lanes per position. Each
// kernel below handles the B channels of one block; lanes keep their own double sums.

// The moments keep their lanes in double vectors of 8 (d8), B / 8 of them per position, and
// two sets of accumulators (even and odd positions) so that consecutive adds do not wait on
// each other: written as scalar loops over j, GCC 12 kept the sums in memory (a store and a
// reload per lane and position) and batch norm's backward ran at a quarter of its forward's
// speed.
template <int B>
DLC_INLINE void blockedMomentsBody(int n, int cb, int blocks, int hw, const float *x,
                                   double *s1, double *s2) {
  constexpr int G = B / 8;
  d8 k[G], a1[G] = {}, a2[G] = {}, b1[G] = {}, b2[G] = {};
  const float *first = x + (size_t)cb * hw * B;
  for (int g = 0; g < G; ++g)
    k[g] = widen(first + 8 * g);
  for (int b = 0; b < n; ++b) {
    const float *p = x + ((size_t)b * blocks + cb) * hw * B;
    int i = 0;
    for (; i + 2 <= hw; i += 2, p += 2 * B)
      for (int g = 0; g < G; ++g) {
        const d8 d = widen(p + 8 * g) - k[g], e = widen(p + B + 8 * g) - k[g];
        a1[g] += d;
        a2[g] += d * d;
        b1[g] += e;
        b2[g] += e * e;
      }
    for (; i < hw; ++i, p += B)
      for (int g = 0; g < G; ++g) {
        const d8 d = widen(p + 8 * g) - k[g];
        a1[g] += d;
        a2[g] += d * d;
      }
  }
  for (int g = 0; g < G; ++g) {
    const d8 t1 = a1[g] + b1[g], t2 = a2[g] + b2[g];
    for (int j = 0; j < 8; ++j)
      s1[8 * g + j] = t1[j], s2[8 * g + j] = t2[j];
  }
}

template <int B>
DLC_INLINE void blockedGradMomentsBody(int n, int cb, int blocks, int hw, const float *x,
                                       const float *dy, const double *mean, double *sumDy,
                                       double *sumDyXc) {
  constexpr int G = B / 8;
  d8 m[G], a1[G] = {}, a2[G] = {}, b1[G] = {}, b2[G] = {};
  for (int g = 0; g < G; ++g)
    for (int j = 0; j < 8; ++j)
      m[g][j] = mean[8 * g + j];
  for (int b = 0; b < n; ++b) {
    const size_t off = ((size_t)b * blocks + cb) * hw * B;
    const float *xp = x + off, *gp = dy + off;
    int i = 0;
    for (; i + 2 <= hw; i += 2, xp += 2 * B, gp += 2 * B)
      for (int g = 0; g < G; ++g) {
        const d8 d = widen(gp + 8 * g), e = widen(gp + B + 8 * g);
        a1[g] += d;
        a2[g] += d * (widen(xp + 8 * g) - m[g]);
        b1[g] += e;
        b2[g] += e * (widen(xp + B + 8 * g) - m[g]);
      }
    for (; i < hw; ++i, xp += B, gp += B)
      for (int g = 0; g < G; ++g) {
        const d8 d = widen(gp + 8 * g);
        a1[g] += d;
        a2[g] += d * (widen(xp + 8 * g) - m[g]);
      }
  }
  for (int g = 0; g < G; ++g) {
    const d8 t1 = a1[g] + b1[g], t2 = a2[g] + b2[g];
    for (int j = 0; j < 8; ++j)
      sumDy[8 * g + j] = t1[j], sumDyXc[8 * g + j] = t2[j];
  }
}

/// y = (x - mean) * scale + beta, or with dy given, y = scale * (dy - shift - (x - mean) *
/// coef): the per-element passes of the forward and the backward over one block.
template <int B>
DLC_INLINE void blockedApplyBody(int n, int cb, int blocks, int hw, const float *mean,
                                 const float *scale, const float *shift, const float *coef,
                                 const float *x, const float *dy, float *y, bool relu) {
  float m[B], sc[B], sh[B], co[B];
  for (int j = 0; j < B; ++j)
    m[j] = mean[j], sc[j] = scale[j], sh[j] = shift[j], co[j] = coef ? coef[j] : 0.0f;
  for (int b = 0; b < n; ++b) {
    const size_t off = ((size_t)b * blocks + cb) * hw * B;
    const float *xp = x + off;
    float *yp = y + off;
    if (dy) {
      const float *gp = dy + off;
      for (int i = 0; i < hw; ++i, xp += B, gp += B, yp += B)
        for (int j = 0; j < B; ++j)
          yp[j] = sc[j] * (gp[j] - sh[j] - (xp[j] - m[j]) * co[j]);
    } else if (relu) {
      for (int i = 0; i < hw; ++i, xp += B, yp += B)
        for (int j = 0; j < B; ++j) {
          const float v = (xp[j] - m[j]) * sc[j] + sh[j];
          yp[j] = v > 0.0f ? v : 0.0f;
        }
    } else {
      for (int i = 0; i < hw; ++i, xp += B, yp += B)
        for (int j = 0; j < B; ++j)
          yp[j] = (xp[j] - m[j]) * sc[j] + sh[j];
    }
  }
}

DLC_VECTORIZED
void blockedMoments(int block, int n, int cb, int blocks, int hw, const float *x, double *s1,
                    double *s2) {
  if (block == 16)
    return blockedMomentsBody<16>(n, cb, blocks, hw, x, s1, s2);
  blockedMomentsBody<8>(n, cb, blocks, hw, x, s1, s2);
}

DLC_VECTORIZED
void blockedGradMoments(int block, int n, int cb, int blocks, int hw, const float *x,
                        const float *dy, const double *mean, double *sumDy, double *sumDyXc) {
  if (block == 16)
    return blockedGradMomentsBody<16>(n, cb, blocks, hw, x, dy, mean, sumDy, sumDyXc);
  blockedGradMomentsBody<8>(n, cb, blocks, hw, x, dy, mean, sumDy, sumDyXc);
}

DLC_VECTORIZED
void blockedApply(int block, int n, int cb, int blocks, int hw, const float *mean,
                  const float *scale, const float *shift, const float *coef, const float *x,
                  const float *dy, float *y, bool relu = false) {
  if (block == 16)
    return blockedApplyBody<16>(n, cb, blocks, hw, mean, scale, shift, coef, x, dy, y, relu);
  blockedApplyBody<8>(n, cb, blocks, hw, mean, scale, shift, coef, x, dy, y, relu);
}

/// Blocks of the pool's chunks: enough that a chunk covers ~64K elements.
int64_t blockGrain(int n, int hw, int block) {
  return std::max<int64_t>(1, (int64_t)65536 / std::max<int64_t>(1, (int64_t)n * hw * block));
}

void batchNormTrainBlocked(int block, int n, int c, int hw, float eps, float momentum,
                           const float *x, const float *gamma, const float *beta, float *runMean,
                           float *runVar, float *y, float *saveMean, float *saveInvStd,
                           bool relu) {
  const int blocks = c / block;
  const double count = (double)n * hw;
  parallelFor(blocks, blockGrain(n, hw, block), [&](int64_t b0, int64_t b1, int) {
    double s1[16], s2[16];
    float mean[16], scale[16], shift[16];
    for (int64_t cb = b0; cb < b1; ++cb) {
      blockedMoments(block, n, (int)cb, blocks, hw, x, s1, s2);
      for (int j = 0; j < block; ++j) {
        const int ch = (int)cb * block + j;
        const double k = x[(size_t)cb * hw * block + j];
        const double m = k + s1[j] / count;
        const double sq = std::max(0.0, s2[j] - s1[j] * (s1[j] / count));
        const double var = sq / count, invStd = 1.0 / std::sqrt(var + (double)eps);
        saveMean[ch] = (float)m;
        saveInvStd[ch] = (float)invStd;
        const double unbiased = count > 1.0 ? sq / (count - 1.0) : var;
        runMean[ch] = (float)((1.0 - momentum) * runMean[ch] + momentum * m);
        runVar[ch] = (float)((1.0 - momentum) * runVar[ch] + momentum * unbiased);
        mean[j] = (float)m, scale[j] = (float)(gamma[ch] * invStd), shift[j] = beta[ch];
      }
      blockedApply(block, n, (int)cb, blocks, hw, mean, scale, shift, nullptr, x, nullptr, y,
                   relu);
    }
  });
}

}  // namespace

void batchNormTrain(int n, int c, int hw, float eps, float momentum, const float *x, const float *gamma,
                    const float *beta, float *runMean, float *runVar, float *y, float *saveMean,
                    float *saveInvStd, int block, bool relu) {
  const double count = (double)n * hw;
  if (n <= 0 || hw <= 0)
    return;
  if (block)
    return batchNormTrainBlocked(block, n, c, hw, eps, momentum, x, gamma, beta, runMean, runVar,
                                 y, saveMean, saveInvStd, relu);
  parallelFor(c, channelGrain(n, hw), [&](int64_t c0, int64_t c1, int) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const double k = x[(size_t)ch * hw];
      double s1, s2;
      shiftedMoments(n, c, hw, (int)ch, x, k, s1, s2);
      const double mean = k + s1 / count;
      // Sum of squared deviations from the mean; rounding can leave it a hair below 0.
      const double sq = std::max(0.0, s2 - s1 * (s1 / count));
      const double var = sq / count;
      const double invStd = 1.0 / std::sqrt(var + (double)eps);

      saveMean[ch] = (float)mean;
      saveInvStd[ch] = (float)invStd;
      // PyTorch feeds the unbiased variance into the running estimate; with a single element
      // there is no unbiased estimate, so fall back to the biased one rather than divide by 0.
      const double unbiased = count > 1.0 ? sq / (count - 1.0) : var;
      runMean[ch] = (float)((1.0 - momentum) * runMean[ch] + momentum * mean);
      runVar[ch] = (float)((1.0 - momentum) * runVar[ch] + momentum * unbiased);

      normalizeChannel(n, c, hw, (int)ch, (float)mean, (float)(gamma[ch] * invStd), beta[ch],
                       x, y, relu);
    }
  });
}

void batchNormEval(int n, int c, int hw, float eps, const float *x, const float *gamma, const float *beta,
                   const float *runMean, const float *runVar, float *y, int block, bool relu) {
  if (block) {
    const int blocks = c / block;
    parallelFor(blocks, blockGrain(n, hw, block), [&](int64_t b0, int64_t b1, int) {
      float mean[16], scale[16], shift[16];
      for (int64_t cb = b0; cb < b1; ++cb) {
        for (int j = 0; j < block; ++j) {
          const int ch = (int)cb * block + j;
          mean[j] = runMean[ch], shift[j] = beta[ch];
          scale[j] = (float)(gamma[ch] * (1.0 / std::sqrt((double)runVar[ch] + eps)));
        }
        blockedApply(block, n, (int)cb, blocks, hw, mean, scale, shift, nullptr, x, nullptr, y,
                     relu);
      }
    });
    return;
  }
  parallelFor(c, channelGrain(n, hw), [&](int64_t c0, int64_t c1, int) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const double invStd = 1.0 / std::sqrt((double)runVar[ch] + eps);
      normalizeChannel(n, c, hw, (int)ch, runMean[ch], (float)(gamma[ch] * invStd), beta[ch],
                       x, y, relu);
    }
  });
}

void batchNormBackward(int n, int c, int hw, const float *x, const float *dy, const float *gamma,
                       const float *saveMean, const float *saveInvStd, float *dx, float *dgamma, float *dbeta,
                       int block) {
  const double count = (double)n * hw;
  if (block) {
    const int blocks = c / block;
    parallelFor(blocks, blockGrain(n, hw, block), [&](int64_t b0, int64_t b1, int) {
      double meanD[16], sumDy[16], sumDyXc[16];
      float mean[16], scale[16], shift[16], coef[16];
      for (int64_t cb = b0; cb < b1; ++cb) {
        for (int j = 0; j < block; ++j)
          meanD[j] = saveMean[cb * block + j];
        blockedGradMoments(block, n, (int)cb, blocks, hw, x, dy, meanD, sumDy, sumDyXc);
        for (int j = 0; j < block; ++j) {
          const int ch = (int)cb * block + j;
          const double invStd = saveInvStd[ch];
          dbeta[ch] = (float)sumDy[j];
          dgamma[ch] = (float)(sumDyXc[j] * invStd);
          mean[j] = saveMean[ch];
          scale[j] = (float)(gamma[ch] * invStd);
          shift[j] = count > 0.0 ? (float)(sumDy[j] / count) : 0.0f;
          coef[j] = count > 0.0 ? (float)(sumDyXc[j] / count * invStd * invStd) : 0.0f;
        }
        if (count > 0.0)
          blockedApply(block, n, (int)cb, blocks, hw, mean, scale, shift, coef, x, dy, dx);
      }
    });
    return;
  }
  parallelFor(c, channelGrain(n, hw), [&](int64_t c0, int64_t c1, int) {
    for (int64_t ch = c0; ch < c1; ++ch) {
      const double mean = saveMean[ch], invStd = saveInvStd[ch];
      double sumDy, sumDyXc;  // sum(dy), sum(dy * (x - mean))
      gradMoments(n, c, hw, (int)ch, x, dy, mean, sumDy, sumDyXc);
      dbeta[ch] = (float)sumDy;
      dgamma[ch] = (float)(sumDyXc * invStd);

      // dx = gamma*invStd * (dy - mean(dy) - xhat * mean(dy*xhat)), with
      // xhat = (x-mean)*invStd; the xhat factor is folded into one coefficient on (x - mean).
      if (count > 0.0)
        backwardChannel(n, c, hw, (int)ch, (float)(gamma[ch] * invStd), (float)(sumDy / count),
                        (float)mean, (float)(sumDyXc / count * invStd * invStd), x, dy, dx);
    }
  });
}

void avgPool2dForward(const PoolShape &s, const float *x, float *y, int block) {
  if (block) {
    // Global pooling only (Layout.cpp blocks no other): y[n][c], the same bytes in either
    // layout, from the blocked x.
    const int blocks = s.c / block, hw = s.h * s.w;
    const double inv = 1.0 / ((double)s.kh * s.kw);
    parallelFor((int64_t)s.n * blocks, blockGrain(1, hw, block), [&](int64_t p0, int64_t p1, int) {
      for (int64_t p = p0; p < p1; ++p) {
        double acc[16] = {};
        const float *xp = x + (size_t)p * hw * block;
        for (int i = 0; i < hw; ++i, xp += block)
          for (int j = 0; j < block; ++j)
            acc[j] += xp[j];
        for (int j = 0; j < block; ++j)
          y[p * block + j] = (float)(acc[j] * inv);
      }
    });
    return;
  }
  const int oh = s.oh(), ow = s.ow();
  // count_include_pad semantics: the divisor ignores how much of the window is clipped.
  const double inv = 1.0 / ((double)s.kh * s.kw);
  const size_t planeSize = (size_t)s.h * s.w;
  for (size_t p = 0; p < (size_t)s.n * s.c; ++p) {
    const float *plane = x + p * planeSize;
    for (int oy = 0; oy < oh; ++oy) {
      int yBeg, yEnd;
      clipWindow(oy * s.strideH - s.padH, s.kh, s.h, yBeg, yEnd);
      for (int ox = 0; ox < ow; ++ox, ++y) {
        int xBeg, xEnd;
        clipWindow(ox * s.strideW - s.padW, s.kw, s.w, xBeg, xEnd);
        // Double matters for global pooling, where one window covers a whole plane.
        double acc = 0.0;
        for (int iy = yBeg; iy < yEnd; ++iy)
          if (xEnd > xBeg)
            acc += sumRow(plane + (size_t)iy * s.w + xBeg, (size_t)(xEnd - xBeg));
        *y = (float)(acc * inv);
      }
    }
  }
}

void avgPool2dBackward(const PoolShape &s, const float *dy, float *dx, int block) {
  if (block) {
    // Global pooling: each position of a block gets its channels' dy / (h * w).
    const int blocks = s.c / block, hw = s.h * s.w;
    const float inv = (float)(1.0 / ((double)s.kh * s.kw));
    parallelFor((int64_t)s.n * blocks, blockGrain(1, hw, block), [&](int64_t p0, int64_t p1, int) {
      for (int64_t p = p0; p < p1; ++p) {
        float g[16];
        for (int j = 0; j < block; ++j)
          g[j] = dy[p * block + j] * inv;
        float *dp = dx + (size_t)p * hw * block;
        for (int i = 0; i < hw; ++i, dp += block)
          for (int j = 0; j < block; ++j)
            dp[j] = g[j];
      }
    });
    return;
  }
  const int oh = s.oh(), ow = s.ow();
  const float inv = (float)(1.0 / ((double)s.kh * s.kw));
  const size_t planeSize = (size_t)s.h * s.w;
  std::fill(dx, dx + (size_t)s.n * s.c * planeSize, 0.0f);
  for (size_t p = 0; p < (size_t)s.n * s.c; ++p) {
    float *plane = dx + p * planeSize;
    for (int oy = 0; oy < oh; ++oy) {
      int yBeg, yEnd;
      clipWindow(oy * s.strideH - s.padH, s.kh, s.h, yBeg, yEnd);
      for (int ox = 0; ox < ow; ++ox, ++dy) {
        int xBeg, xEnd;
        clipWindow(ox * s.strideW - s.padW, s.kw, s.w, xBeg, xEnd);
        const float g = *dy * inv;
        // Accumulate: overlapping windows (stride < kernel) share input positions.
        for (int iy = yBeg; iy < yEnd; ++iy) {
          float *row = plane + (size_t)iy * s.w;
          for (int ix = xBeg; ix < xEnd; ++ix)
            row[ix] += g;
        }
      }
    }
  }
}

}  // namespace dlc::cpu
