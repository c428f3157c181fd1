// CPU reference kernels for the runtime: float32 NCHW convolution (im2col + OpenBLAS GEMM),
// max pooling, elementwise ops, softmax cross-entropy and the SGD update. Single-threaded on
// purpose: the runtime schedules the graph, and these kernels must stay deterministic.
#include "runtime/cpu/Kernels.h"

#include <algorithm>
#include <cblas.h>
#include <cmath>
#include <cstring>
#include <limits>

namespace dlc::cpu {
namespace {

/// Output positions [lo, hi) along one axis whose input coordinate o*stride - pad + k lies in
/// [0, size). Precomputing the range keeps bounds checks out of the im2col inner loops.
void validRange(int size, int stride, int pad, int k, int outSize, int &lo, int &hi) {
  int off = pad - k;  // input coordinate is o * stride - off
  lo = off > 0 ? (off + stride - 1) / stride : 0;
  // o * stride - off < size  <=>  o < ceil((size + off) / stride); guard the negative case
  // because C++ division truncates toward zero.
  hi = size + off > 0 ? (size + off + stride - 1) / stride : 0;
  hi = std::min(hi, outSize);
  lo = std::min(lo, hi);
}

/// col[(ci*r + kr)*s + ks][oy*ow + ox] = x[ci][oy*strideH - padH + kr][ox*strideW - padW + ks],
/// with zeros where the window hangs over the padding.
void im2col(const ConvShape &s, const float *x, float *col) {
  const int oh = s.oh(), ow = s.ow();
  for (int ci = 0; ci < s.c; ++ci) {
    const float *plane = x + (size_t)ci * s.h * s.w;
    for (int kr = 0; kr < s.r; ++kr)
      for (int ks = 0; ks < s.s; ++ks) {
        int lo, hi;
        validRange(s.w, s.strideW, s.padW, ks, ow, lo, hi);
        for (int oy = 0; oy < oh; ++oy, col += ow) {
          int iy = oy * s.strideH - s.padH + kr;
          if (iy < 0 || iy >= s.h) {
            std::fill(col, col + ow, 0.0f);
            continue;
          }
          const float *row = plane + (size_t)iy * s.w + ks - s.padW;
          std::fill(col, col + lo, 0.0f);
          for (int ox = lo; ox < hi; ++ox)
            col[ox] = row[ox * s.strideW];
          std::fill(col + hi, col + ow, 0.0f);
        }
      }
  }
}

/// Adjoint of im2col: scatters col back onto the image, accumulating where windows overlap.
void col2imAccumulate(const ConvShape &s, const float *col, float *x) {
  const int oh = s.oh(), ow = s.ow();
  for (int ci = 0; ci < s.c; ++ci) {
    float *plane = x + (size_t)ci * s.h * s.w;
    for (int kr = 0; kr < s.r; ++kr)
      for (int ks = 0; ks < s.s; ++ks) {
        int lo, hi;
        validRange(s.w, s.strideW, s.padW, ks, ow, lo, hi);
        for (int oy = 0; oy < oh; ++oy, col += ow) {
          int iy = oy * s.strideH - s.padH + kr;
          if (iy < 0 || iy >= s.h)
            continue;
          float *row = plane + (size_t)iy * s.w + ks - s.padW;
          for (int ox = lo; ox < hi; ++ox)
            row[ox * s.strideW] += col[ox];
        }
      }
  }
}

/// Row-major SGEMM wrapper: C = alpha * op(A) * op(B) + beta * C with dense leading dimensions.
/// Empty products are handled here because reference BLAS rejects leading dimensions < 1.
void gemm(bool transA, bool transB, int M, int N, int K, const float *A, const float *B,
          float beta, float *C) {
  if (M <= 0 || N <= 0)
    return;
  if (K <= 0) {
    if (beta == 0.0f)
      std::fill(C, C + (size_t)M * N, 0.0f);
    else
      std::for_each(C, C + (size_t)M * N, [beta](float &v) { v *= beta; });
    return;
  }
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              M, N, K, 1.0f, A, transA ? M : K, B, transB ? K : N, beta, C, N);
}

/// Index of the first maximum of a window, or -1 if the window lies entirely in padding.
/// Shared by forward and backward so both agree on tie-breaking.
long poolArgmax(const PoolShape &s, const float *plane, int oy, int ox) {
  int y0 = oy * s.strideH - s.padH, x0 = ox * s.strideW - s.padW;
  int yBeg = std::max(y0, 0), yEnd = std::min(y0 + s.kh, s.h);
  int xBeg = std::max(x0, 0), xEnd = std::min(x0 + s.kw, s.w);
  long best = -1;
  float bestVal = -std::numeric_limits<float>::infinity();
  for (int iy = yBeg; iy < yEnd; ++iy)
    for (int ix = xBeg; ix < xEnd; ++ix) {
      long idx = (long)iy * s.w + ix;
      // `best < 0` admits -inf and NaN inputs so a non-empty window always has an argmax.
      if (best < 0 || plane[idx] > bestVal) {
        best = idx;
        bestVal = plane[idx];
      }
    }
  return best;
}

}  // namespace

size_t convScratchFloats(const ConvShape &s) {
  return (size_t)s.c * s.r * s.s * s.oh() * s.ow();
}

void conv2dForward(const ConvShape &s, const float *x, const float *w, float *y, float *scratch) {
  const int crs = s.c * s.r * s.s, ohw = s.oh() * s.ow();
  const size_t xStride = (size_t)s.c * s.h * s.w, yStride = (size_t)s.k * ohw;
  for (int i = 0; i < s.n; ++i) {
    im2col(s, x + i * xStride, scratch);
    gemm(false, false, s.k, ohw, crs, w, scratch, 0.0f, y + i * yStride);
  }
}

void conv2dBackwardData(const ConvShape &s, const float *dy, const float *w, float *dx, float *scratch) {
  const int crs = s.c * s.r * s.s, ohw = s.oh() * s.ow();
  const size_t xStride = (size_t)s.c * s.h * s.w, yStride = (size_t)s.k * ohw;
  std::fill(dx, dx + s.n * xStride, 0.0f);
  for (int i = 0; i < s.n; ++i) {
    gemm(true, false, crs, ohw, s.k, w, dy + i * yStride, 0.0f, scratch);
    col2imAccumulate(s, scratch, dx + i * xStride);
  }
}

void conv2dBackwardFilter(const ConvShape &s, const float *dy, const float *x, float *dw, float *scratch) {
  const int crs = s.c * s.r * s.s, ohw = s.oh() * s.ow();
  const size_t xStride = (size_t)s.c * s.h * s.w, yStride = (size_t)s.k * ohw;
  std::fill(dw, dw + (size_t)s.k * crs, 0.0f);
  for (int i = 0; i < s.n; ++i) {
    im2col(s, x + i * xStride, scratch);
    gemm(false, true, s.k, crs, ohw, dy + i * yStride, scratch, 1.0f, dw);
  }
}

void maxPool2dForward(const PoolShape &s, const float *x, float *y) {
  const int oh = s.oh(), ow = s.ow();
  for (long p = 0; p < (long)s.n * s.c; ++p) {
    const float *plane = x + p * s.h * s.w;
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox, ++y) {
        long idx = poolArgmax(s, plane, oy, ox);
        *y = idx < 0 ? 0.0f : plane[idx];
      }
  }
}

void maxPool2dBackward(const PoolShape &s, const float *x, const float *dy, float *dx) {
  const int oh = s.oh(), ow = s.ow();
  const size_t planeSize = (size_t)s.h * s.w;
  std::fill(dx, dx + (size_t)s.n * s.c * planeSize, 0.0f);
  for (long p = 0; p < (long)s.n * s.c; ++p)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox, ++dy) {
        long idx = poolArgmax(s, x + p * planeSize, oy, ox);
        if (idx >= 0)
          dx[p * planeSize + idx] += *dy;  // overlapping windows may share an argmax
      }
}

void reluForward(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; ++i)
    y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void reluBackward(size_t n, const float *dy, const float *y, float *dx) {
  for (size_t i = 0; i < n; ++i)
    dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void biasAdd(size_t outer, size_t channels, size_t inner, const float *x, const float *b, float *y) {
  for (size_t o = 0; o < outer; ++o)
    for (size_t c = 0; c < channels; ++c, x += inner, y += inner) {
      const float bc = b[c];
      for (size_t i = 0; i < inner; ++i)
        y[i] = x[i] + bc;
    }
}

void biasAddBackward(size_t outer, size_t channels, size_t inner, const float *dy, float *db) {
  // Double accumulation: a channel can sum batch * H * W terms, enough to lose float precision.
  for (size_t c = 0; c < channels; ++c) {
    double acc = 0.0;
    for (size_t o = 0; o < outer; ++o) {
      const float *p = dy + (o * channels + c) * inner;
      for (size_t i = 0; i < inner; ++i)
        acc += p[i];
    }
    db[c] = (float)acc;
  }
}

void matmul(int M, int N, int K, bool transA, bool transB, const float *A, const float *B, float *C) {
  gemm(transA, transB, M, N, K, A, B, 0.0f, C);
}

void add(size_t n, const float *a, const float *b, float *y) {
  for (size_t i = 0; i < n; ++i)
    y[i] = a[i] + b[i];
}

void softmaxXentForward(int batch, int classes, const float *logits, const int32_t *labels, float *loss) {
  double total = 0.0;
  for (int b = 0; b < batch; ++b, logits += classes) {
    // Shift by the row max so exp never overflows; log-sum-exp is invariant to the shift.
    const float mx = *std::max_element(logits, logits + classes);
    double sum = 0.0;
    for (int j = 0; j < classes; ++j)
      sum += std::exp((double)logits[j] - mx);
    total += std::log(sum) + mx - logits[labels[b]];
  }
  *loss = batch > 0 ? (float)(total / batch) : 0.0f;
}

void softmaxXentBackward(int batch, int classes, const float *logits, const int32_t *labels, float *dlogits) {
  const double scale = 1.0 / batch;
  for (int b = 0; b < batch; ++b, logits += classes, dlogits += classes) {
    const float mx = *std::max_element(logits, logits + classes);
    double sum = 0.0;
    for (int j = 0; j < classes; ++j)
      sum += std::exp((double)logits[j] - mx);
    const double inv = scale / sum;
    for (int j = 0; j < classes; ++j)
      dlogits[j] = (float)(std::exp((double)logits[j] - mx) * inv);
    dlogits[labels[b]] -= (float)scale;
  }
}

void accuracy(int batch, int classes, const float *logits, const int32_t *labels, float *correct) {
  int hits = 0;
  for (int b = 0; b < batch; ++b, logits += classes)
    hits += std::max_element(logits, logits + classes) - logits == labels[b];
  *correct = (float)hits;
}

void sgdMomentum(size_t n, float lr, float momentum, float weightDecay, float *w, const float *g, float *m) {
  for (size_t i = 0; i < n; ++i) {
    m[i] = momentum * m[i] + (g[i] + weightDecay * w[i]);
    w[i] -= lr * m[i];
  }
}

}  // namespace dlc::cpu
