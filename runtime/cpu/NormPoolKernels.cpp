// CPU kernels for batch normalisation and average pooling (float32, NCHW).
//
// Batch-norm statistics are reduced in double: a channel spans batch * H * W elements, and a
// float running sum over that many terms loses digits the variance needs. The per-element
// passes stay in float with loop-invariant per-channel coefficients so the compiler can
// vectorise them. Single-threaded and deterministic, like the rest of the kernel library.
#include "runtime/cpu/NormPoolKernels.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace dlc::cpu {
namespace {

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

/// Sum of (p[i] - mean)^2 in double. Used as the second pass of the variance: the one-pass
/// E[x^2] - E[x]^2 cancels catastrophically when |mean| is large relative to the spread.
double sumSqDev(const float *p, size_t len, double mean) {
  double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
  size_t i = 0;
  for (; i + 4 <= len; i += 4) {
    double d0 = p[i] - mean, d1 = p[i + 1] - mean, d2 = p[i + 2] - mean, d3 = p[i + 3] - mean;
    a0 += d0 * d0;
    a1 += d1 * d1;
    a2 += d2 * d2;
    a3 += d3 * d3;
  }
  for (; i < len; ++i) {
    double d = p[i] - mean;
    a0 += d * d;
  }
  return (a0 + a1) + (a2 + a3);
}

/// Sum of dy[i] * (x[i] - mean) in double (the unscaled dgamma contribution of one row).
double sumDyCentered(const float *dy, const float *x, size_t len, double mean) {
  double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
  size_t i = 0;
  for (; i + 4 <= len; i += 4) {
    a0 += (double)dy[i] * (x[i] - mean);
    a1 += (double)dy[i + 1] * (x[i + 1] - mean);
    a2 += (double)dy[i + 2] * (x[i + 2] - mean);
    a3 += (double)dy[i + 3] * (x[i + 3] - mean);
  }
  for (; i < len; ++i)
    a0 += (double)dy[i] * (x[i] - mean);
  return (a0 + a1) + (a2 + a3);
}

/// y = (x - mean) * scale + beta over every row of channel ch. Subtracting the mean before
/// scaling (rather than folding it into one offset) keeps precision when |mean| >> stddev.
void normalizeChannel(int n, int c, int hw, int ch, float mean, float scale, float beta, const float *x,
                      float *y) {
  for (int b = 0; b < n; ++b) {
    const size_t off = ((size_t)b * c + ch) * hw;
    const float *xp = x + off;
    float *yp = y + off;
    for (int i = 0; i < hw; ++i)
      yp[i] = (xp[i] - mean) * scale + beta;
  }
}

/// Clips a pooling window starting at `start` with extent k to [0, size).
inline void clipWindow(int start, int k, int size, int &beg, int &end) {
  beg = std::max(start, 0);
  end = std::min(start + k, size);
}

}  // namespace

void batchNormTrain(int n, int c, int hw, float eps, float momentum, const float *x, const float *gamma,
                    const float *beta, float *runMean, float *runVar, float *y, float *saveMean,
                    float *saveInvStd) {
  const double count = (double)n * hw;
  for (int ch = 0; ch < c; ++ch) {
    double sum = 0.0;
    for (int b = 0; b < n; ++b)
      sum += sumRow(x + ((size_t)b * c + ch) * hw, hw);
    const double mean = sum / count;
    double sq = 0.0;
    for (int b = 0; b < n; ++b)
      sq += sumSqDev(x + ((size_t)b * c + ch) * hw, hw, mean);
    const double var = sq / count;
    const double invStd = 1.0 / std::sqrt(var + (double)eps);

    saveMean[ch] = (float)mean;
    saveInvStd[ch] = (float)invStd;
    // PyTorch feeds the unbiased variance into the running estimate; with a single element
    // there is no unbiased estimate, so fall back to the biased one rather than divide by 0.
    const double unbiased = count > 1.0 ? sq / (count - 1.0) : var;
    runMean[ch] = (float)((1.0 - momentum) * runMean[ch] + momentum * mean);
    runVar[ch] = (float)((1.0 - momentum) * runVar[ch] + momentum * unbiased);

    normalizeChannel(n, c, hw, ch, (float)mean, (float)(gamma[ch] * invStd), beta[ch], x, y);
  }
}

void batchNormEval(int n, int c, int hw, float eps, const float *x, const float *gamma, const float *beta,
                   const float *runMean, const float *runVar, float *y) {
  for (int ch = 0; ch < c; ++ch) {
    const double invStd = 1.0 / std::sqrt((double)runVar[ch] + eps);
    normalizeChannel(n, c, hw, ch, runMean[ch], (float)(gamma[ch] * invStd), beta[ch], x, y);
  }
}

void batchNormBackward(int n, int c, int hw, const float *x, const float *dy, const float *gamma,
                       const float *saveMean, const float *saveInvStd, float *dx, float *dgamma, float *dbeta) {
  const double count = (double)n * hw;
  for (int ch = 0; ch < c; ++ch) {
    const double mean = saveMean[ch], invStd = saveInvStd[ch];
    double sumDy = 0.0, sumDyXc = 0.0;  // sum(dy), sum(dy * (x - mean))
    for (int b = 0; b < n; ++b) {
      const size_t off = ((size_t)b * c + ch) * hw;
      sumDy += sumRow(dy + off, hw);
      sumDyXc += sumDyCentered(dy + off, x + off, hw, mean);
    }
    dbeta[ch] = (float)sumDy;
    dgamma[ch] = (float)(sumDyXc * invStd);

    // dx = gamma*invStd * (dy - mean(dy) - xhat * mean(dy*xhat)), with xhat = (x-mean)*invStd;
    // the xhat factor is folded into one coefficient on (x - mean).
    const float k = (float)(gamma[ch] * invStd);
    const float meanDy = (float)(sumDy / count);
    const float coefXc = (float)(sumDyXc / count * invStd * invStd);
    const float meanF = (float)mean;
    for (int b = 0; b < n; ++b) {
      const size_t off = ((size_t)b * c + ch) * hw;
      const float *xp = x + off, *dyp = dy + off;
      float *dxp = dx + off;
      for (int i = 0; i < hw; ++i)
        dxp[i] = k * (dyp[i] - meanDy - (xp[i] - meanF) * coefXc);
    }
  }
}

void avgPool2dForward(const PoolShape &s, const float *x, float *y) {
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

void avgPool2dBackward(const PoolShape &s, const float *dy, float *dx) {
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
