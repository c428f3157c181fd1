// CPU kernels of layer normalisation (LayerNormKernels.h): 8-wide vectors along a row, rows
// split over the thread pool. The weight and bias gradients are sums over rows; they run as
// a second pass split by columns, so no thread's partial sums need combining and the result
// does not depend on the thread count.
#include "runtime/cpu/LayerNormKernels.h"

#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Simd.h"

#include <algorithm>
#include <cmath>

namespace dlc::cpu {
namespace {
using simd::v8;
constexpr int64_t kGrain = 16384; // floats per task
constexpr int64_t kColumnBlock = 64;

DLC_INLINE float hsum(const v8 &v) {
  float l[8];
  simd::store(l, v);
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/// The mean and 1/sqrt(biased variance + eps) of one row; the variance from the deviations
/// (two passes over a row that is in cache), which keeps it exact for rows far from zero.
DLC_INLINE void rowStats(const float *x, int64_t d, float eps, float &mean, float &rstd) {
  v8 s = {};
  float tail = 0;
  int64_t j = 0;
  for (; j + 8 <= d; j += 8)
    s += simd::load(x + j);
  for (; j < d; ++j)
    tail += x[j];
  mean = (hsum(s) + tail) / float(d);
  const v8 m = simd::splat(mean);
  v8 q = {};
  tail = 0;
  for (j = 0; j + 8 <= d; j += 8) {
    v8 c = simd::load(x + j) - m;
    q += c * c;
  }
  for (; j < d; ++j)
    tail += (x[j] - mean) * (x[j] - mean);
  rstd = 1.0f / std::sqrt((hsum(q) + tail) / float(d) + eps);
}

DLC_VECTORIZED void forwardRows(int64_t r0, int64_t r1, int64_t d, float eps, const float *x,
                                const float *w, const float *b, float *y, float *means,
                                float *rstds) {
  for (int64_t r = r0; r < r1; ++r) {
    const float *xr = x + r * d;
    float *yr = y + r * d;
    float mean, rstd;
    rowStats(xr, d, eps, mean, rstd);
    means[r] = mean;
    rstds[r] = rstd;
    const v8 m = simd::splat(mean), s = simd::splat(rstd);
    int64_t j = 0;
    for (; j + 8 <= d; j += 8)
      simd::store(yr + j, (simd::load(xr + j) - m) * s * simd::load(w + j) + simd::load(b + j));
    for (; j < d; ++j)
      yr[j] = (xr[j] - mean) * rstd * w[j] + b[j];
  }
}

/// dx for rows [r0, r1).
DLC_VECTORIZED void backwardRows(int64_t r0, int64_t r1, int64_t d, const float *x,
                                 const float *dy, const float *w, const float *means,
                                 const float *rstds, float *dx) {
  const float invD = 1.0f / float(d);
  for (int64_t r = r0; r < r1; ++r) {
    const float *xr = x + r * d, *dyr = dy + r * d;
    float *dxr = dx + r * d;
    const float mean = means[r], rstd = rstds[r];
    const v8 m = simd::splat(mean), s = simd::splat(rstd);
    v8 sg = {}, sgx = {};
    float tg = 0, tgx = 0;
    int64_t j = 0;
    for (; j + 8 <= d; j += 8) {
      v8 g = simd::load(dyr + j) * simd::load(w + j);
      sg += g;
      sgx += g * ((simd::load(xr + j) - m) * s);
    }
    for (; j < d; ++j) {
      float g = dyr[j] * w[j];
      tg += g;
      tgx += g * ((xr[j] - mean) * rstd);
    }
    const float meanG = (hsum(sg) + tg) * invD, meanGx = (hsum(sgx) + tgx) * invD;
    const v8 mg = simd::splat(meanG), mgx = simd::splat(meanGx);
    for (j = 0; j + 8 <= d; j += 8) {
      v8 xhat = (simd::load(xr + j) - m) * s;
      v8 g = simd::load(dyr + j) * simd::load(w + j);
      simd::store(dxr + j, s * (g - mg - xhat * mgx));
    }
    for (; j < d; ++j) {
      float xhat = (xr[j] - mean) * rstd;
      dxr[j] = rstd * (dyr[j] * w[j] - meanG - xhat * meanGx);
    }
  }
}

/// dw and db for columns [c0, c1), summed over every row in double.
DLC_VECTORIZED void paramGrads(int64_t rows, int64_t d, int64_t c0, int64_t c1, const float *x,
                               const float *dy, const float *means, const float *rstds,
                               float *dw, float *db) {
  double sw[kColumnBlock] = {}, sb[kColumnBlock] = {};
  const int64_t n = c1 - c0;
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * d + c0, *dyr = dy + r * d + c0;
    const float mean = means[r], rstd = rstds[r];
    for (int64_t j = 0; j < n; ++j) {
      sw[j] += double(dyr[j] * ((xr[j] - mean) * rstd));
      sb[j] += double(dyr[j]);
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    dw[c0 + j] = float(sw[j]);
    db[c0 + j] = float(sb[j]);
  }
}
} // namespace

void layerNormForward(int64_t rows, int64_t d, float eps, const float *x, const float *w,
                      const float *b, float *y, float *mean, float *rstd) {
  parallelFor(rows, std::max<int64_t>(1, kGrain / d), [&](int64_t r0, int64_t r1, int) {
    forwardRows(r0, r1, d, eps, x, w, b, y, mean, rstd);
  });
}

void layerNormBackward(int64_t rows, int64_t d, const float *x, const float *dy,
                       const float *w, const float *mean, const float *rstd, float *dx,
                       float *dw, float *db) {
  parallelFor(rows, std::max<int64_t>(1, kGrain / d), [&](int64_t r0, int64_t r1, int) {
    backwardRows(r0, r1, d, x, dy, w, mean, rstd, dx);
  });
  const int64_t blocks = (d + kColumnBlock - 1) / kColumnBlock;
  parallelFor(blocks, 1, [&](int64_t b0, int64_t b1, int) {
    for (int64_t blk = b0; blk < b1; ++blk)
      paramGrads(rows, d, blk * kColumnBlock, std::min(d, (blk + 1) * kColumnBlock), x, dy,
                 mean, rstd, dw, db);
  });
}

} // namespace dlc::cpu
