// CPU kernels for the runtime other than convolution (ConvKernels.cpp): GEMM through
// OpenBLAS with a fused bias/ReLU epilogue, max pooling, elementwise ops, softmax
// cross-entropy and the SGD update. Large loops are split over the thread pool in
// contiguous chunks and written so GCC vectorises them (DLC_VECTORIZED: AVX2 where the CPU
// has it).
#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/DnnlGemm.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Simd.h"

#include <algorithm>
#include <cblas.h>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace dlc::cpu {
namespace {

/// Elementwise kernels split into chunks of at least this many floats: below it, handing
/// work to another thread costs more than it saves.
constexpr int64_t kElementGrain = 16384;

/// W-lane float vectors (W = 4 or 8) for the 2x2 pooling rows below.
template <int W> struct VecOf {
  typedef float V __attribute__((vector_size(W * 4)));
  typedef int M __attribute__((vector_size(W * 4)));
};
template <int W> struct Lanes {
  using V = typename VecOf<W>::V;
  using M = typename VecOf<W>::M;
  static DLC_INLINE V load(const float *p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static DLC_INLINE void store(float *p, V v) { std::memcpy(p, &v, sizeof v); }
  static DLC_INLINE V max(V a, V b) { return a < b ? b : a; } // std::max, lane by lane
  static DLC_INLINE V select(M m, V v) { return (V)(m & (M)v); }
};
/// even = p[0], p[2], ..., odd = p[1], p[3], ... of 2W floats.
template <int W>
DLC_INLINE void deinterleave(const float *p, typename VecOf<W>::V &even,
                             typename VecOf<W>::V &odd) {
  const auto lo = Lanes<W>::load(p), hi = Lanes<W>::load(p + W);
  if constexpr (W == 8) {
    even = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14);
    odd = __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15);
  } else {
    even = __builtin_shufflevector(lo, hi, 0, 2, 4, 6);
    odd = __builtin_shufflevector(lo, hi, 1, 3, 5, 7);
  }
}
/// The inverse of deinterleave.
template <int W>
DLC_INLINE void interleave(float *p, typename VecOf<W>::V even, typename VecOf<W>::V odd) {
  if constexpr (W == 8) {
    Lanes<W>::store(p, __builtin_shufflevector(even, odd, 0, 8, 1, 9, 2, 10, 3, 11));
    Lanes<W>::store(p + W, __builtin_shufflevector(even, odd, 4, 12, 5, 13, 6, 14, 7, 15));
  } else {
    Lanes<W>::store(p, __builtin_shufflevector(even, odd, 0, 4, 1, 5));
    Lanes<W>::store(p + W, __builtin_shufflevector(even, odd, 2, 6, 3, 7));
  }
}

/// One output row of 2x2/2 max pooling from input rows r0, r1, W windows per vector; the
/// last vector ends at the row's end, overlapping the previous one (same results). ow >= W.
template <int W>
DLC_INLINE void pool2x2RowForward(const float *r0, const float *r1, float *out, int ow) {
  using L = Lanes<W>;
  for (int ox = 0;; ox += W) {
    ox = std::min(ox, ow - W);
    typename L::V a, b, c, d;
    deinterleave<W>(r0 + 2 * ox, a, b);
    deinterleave<W>(r1 + 2 * ox, c, d);
    L::store(out + ox, L::max(L::max(a, b), L::max(c, d)));
    if (ox == ow - W)
      break;
  }
}

/// The gradient of one output row: dy goes to the first maximum of each window (row-major
/// order, as poolArgmax), branch-free; with `relu`, only where that maximum is > 0.
template <int W>
DLC_INLINE void pool2x2RowBackward(const float *r0, const float *r1, const float *g, float *d0,
                                   float *d1, int ow, bool relu) {
  using L = Lanes<W>;
  const typename L::V zero = {};
  for (int ox = 0;; ox += W) {
    ox = std::min(ox, ow - W);
    typename L::V a, b, c, d;
    deinterleave<W>(r0 + 2 * ox, a, b);
    deinterleave<W>(r1 + 2 * ox, c, d);
    const typename L::V m = L::max(L::max(a, b), L::max(c, d));
    typename L::V gv = L::load(g + ox);
    if (relu)
      gv = L::select(m > zero, gv);
    const typename L::M ta = a == m, tb = ~ta & (b == m), tc = ~(ta | tb) & (c == m);
    const typename L::M td = ~(ta | tb | tc);
    interleave<W>(d0 + 2 * ox, L::select(ta, gv), L::select(tb, gv));
    interleave<W>(d1 + 2 * ox, L::select(tc, gv), L::select(td, gv));
    if (ox == ow - W)
      break;
  }
}

/// 2x2 windows with stride 2 and no padding (the common case), one plane row at a time:
/// 8 windows per vector on rows of 8 or more, 4 on rows of 4 to 7, scalar below. The
/// comparisons keep poolArgmax's order: first maximum in row-major window order.
DLC_VECTORIZED
void maxPool2x2Forward(const PoolShape &s, const float *x, float *y, int64_t p0, int64_t p1) {
  const int oh = s.oh(), ow = s.ow();
  for (int64_t p = p0; p < p1; ++p) {
    const float *plane = x + p * s.h * s.w;
    float *out = y + p * oh * ow;
    for (int oy = 0; oy < oh; ++oy, out += ow) {
      const float *r0 = plane + (size_t)2 * oy * s.w, *r1 = r0 + s.w;
      if (ow >= 8) {
        pool2x2RowForward<8>(r0, r1, out, ow);
      } else if (ow >= 4) {
        pool2x2RowForward<4>(r0, r1, out, ow);
      } else {
        for (int ox = 0; ox < ow; ++ox) {
          float a = std::max(r0[2 * ox], r0[2 * ox + 1]), b = std::max(r1[2 * ox], r1[2 * ox + 1]);
          out[ox] = std::max(a, b);
        }
      }
    }
  }
}

/// dx of 2x2 windows from their four inputs and dy; with `relu`, dy passes only where the
/// maximum is positive (the gradient of a ReLU whose output is x).
DLC_VECTORIZED
void maxPool2x2Backward(const PoolShape &s, const float *x, const float *dy, float *dx,
                        int64_t p0, int64_t p1, bool relu) {
  const int oh = s.oh(), ow = s.ow();
  const size_t plane = (size_t)s.h * s.w;
  if (s.h % 2 || s.w % 2) // the windows do not reach an odd last row or column
    std::fill(dx + p0 * plane, dx + p1 * plane, 0.0f);
  for (int64_t p = p0; p < p1; ++p) {
    const float *xp = x + p * plane, *g = dy + p * oh * ow;
    float *dp = dx + p * plane;
    for (int oy = 0; oy < oh; ++oy, g += ow) {
      const float *r0 = xp + (size_t)2 * oy * s.w, *r1 = r0 + s.w;
      float *d0 = dp + (size_t)2 * oy * s.w, *d1 = d0 + s.w;
      if (ow >= 8) {
        pool2x2RowBackward<8>(r0, r1, g, d0, d1, ow, relu);
        continue;
      }
      if (ow >= 4) {
        pool2x2RowBackward<4>(r0, r1, g, d0, d1, ow, relu);
        continue;
      }
      for (int ox = 0; ox < ow; ++ox) {
        const int i = 2 * ox;
        const float a = r0[i], b = r0[i + 1], c = r1[i], d = r1[i + 1];
        const float m = std::max(std::max(a, b), std::max(c, d));
        const float gv = relu && !(m > 0.0f) ? 0.0f : g[ox];
        // Bitwise, not &&: short-circuit evaluation would bring the branches back.
        const bool ta = a == m, tb = !ta & (b == m), tc = !(ta | tb) & (c == m);
        const bool td = !(ta | tb | tc);
        d0[i] = ta ? gv : 0.0f;
        d0[i + 1] = tb ? gv : 0.0f;
        d1[i] = tc ? gv : 0.0f;
        d1[i + 1] = td ? gv : 0.0f;
      }
    }
  }
}

/// Max pooling of any window (ResNet's 3x3 stride 2): per output row, the maximum over the
/// window's input rows column by column (vectorised, into `vm`, w floats), then over each
/// window's columns of that. A maximum does not depend on the order it is taken in, so the
/// values are poolArgmax's; an empty window (all padding) gives 0.
DLC_VECTORIZED
void maxPoolGeneralForward(const PoolShape &s, const float *x, float *y, int64_t p0, int64_t p1,
                           float *vm) {
  const int oh = s.oh(), ow = s.ow();
  for (int64_t p = p0; p < p1; ++p) {
    const float *plane = x + p * s.h * s.w;
    float *out = y + p * oh * ow;
    for (int oy = 0; oy < oh; ++oy, out += ow) {
      const int y0 = oy * s.strideH - s.padH;
      const int yBeg = std::max(y0, 0), yEnd = std::min(y0 + s.kh, s.h);
      if (yEnd <= yBeg) {
        std::fill(out, out + ow, 0.0f);
        continue;
      }
      std::copy(plane + (size_t)yBeg * s.w, plane + (size_t)(yBeg + 1) * s.w, vm);
      for (int iy = yBeg + 1; iy < yEnd; ++iy) {
        const float *row = plane + (size_t)iy * s.w;
        for (int ix = 0; ix < s.w; ++ix)
          vm[ix] = vm[ix] < row[ix] ? row[ix] : vm[ix];
      }
      for (int ox = 0; ox < ow; ++ox) {
        const int x0 = ox * s.strideW - s.padW;
        const int xBeg = std::max(x0, 0), xEnd = std::min(x0 + s.kw, s.w);
        if (xEnd <= xBeg) {
          out[ox] = 0.0f;
          continue;
        }
        float m = vm[xBeg];
        for (int ix = xBeg + 1; ix < xEnd; ++ix)
          m = m < vm[ix] ? vm[ix] : m;
        out[ox] = m;
      }
    }
  }
}

/// Index in the plane of the first maximum of a window in row-major order (-1 if the window is
/// all padding); the comparisons are conditional moves, not unpredictable branches.
inline long poolArgmax(const PoolShape &s, const float *plane, int oy, int ox) {
  const int y0 = oy * s.strideH - s.padH, x0 = ox * s.strideW - s.padW;
  const int yBeg = std::max(y0, 0), yEnd = std::min(y0 + s.kh, s.h);
  const int xBeg = std::max(x0, 0), xEnd = std::min(x0 + s.kw, s.w);
  if (yEnd <= yBeg || xEnd <= xBeg)
    return -1;
  long best = (long)yBeg * s.w + xBeg;
  float bestVal = plane[best];
  for (int iy = yBeg; iy < yEnd; ++iy) {
    const float *row = plane + (long)iy * s.w;
    for (int ix = xBeg; ix < xEnd; ++ix) {
      const float v = row[ix];
      const bool gt = v > bestVal;
      best = gt ? (long)iy * s.w + ix : best;
      bestVal = gt ? v : bestVal;
    }
  }
  return best;
}

/// Max pooling in the channel-blocked layout: each position holds B channels, one lane each,
/// so a window's maximum (and, backward, each lane's first arg-max in row-major order, as
/// poolArgmax) is taken lane by lane over whole vectors. Planes [p0, p1) of [h][w][B].
template <int B>
DLC_INLINE void maxPoolBlockedBody(const PoolShape &s, const float *x, const float *dy,
                                   float *out, int64_t p0, int64_t p1, bool backward, bool relu) {
  const int oh = s.oh(), ow = s.ow();
  const size_t in = (size_t)s.h * s.w * B, pooled = (size_t)oh * ow * B;
  for (int64_t p = p0; p < p1; ++p) {
    const float *plane = x + p * in;
    if (backward)
      std::fill(out + p * in, out + (p + 1) * in, 0.0f);
    for (int oy = 0; oy < oh; ++oy) {
      const int y0 = oy * s.strideH - s.padH;
      const int yBeg = std::max(y0, 0), yEnd = std::min(y0 + s.kh, s.h);
      for (int ox = 0; ox < ow; ++ox) {
        const int x0 = ox * s.strideW - s.padW;
        const int xBeg = std::max(x0, 0), xEnd = std::min(x0 + s.kw, s.w);
        const size_t o = ((size_t)oy * ow + ox) * B;
        if (yEnd <= yBeg || xEnd <= xBeg) {
          if (!backward)
            std::fill(out + p * pooled + o, out + p * pooled + o + B, 0.0f);
          continue;
        }
        // The window's maximum and its first position per lane, in vectors of 8 lanes (as
        // scalar arrays GCC kept them in memory, a store and a reload per lane and tap).
        constexpr int G = B / 8;
        simd::v8 best[G];
        simd::i8 at[G];
        const int first = yBeg * s.w + xBeg;
        for (int g = 0; g < G; ++g)
          best[g] = simd::load(plane + (size_t)first * B + 8 * g), at[g] = simd::i8{} + first;
        for (int iy = yBeg; iy < yEnd; ++iy)
          for (int ix = xBeg; ix < xEnd; ++ix) {
            const int pos = iy * s.w + ix;
            const float *v = plane + (size_t)pos * B;
            for (int g = 0; g < G; ++g) {
              const simd::v8 vv = simd::load(v + 8 * g);
              const simd::i8 gt = vv > best[g];
              best[g] = gt ? vv : best[g];
              at[g] = gt ? simd::i8{} + pos : at[g];
            }
          }
        if (!backward) {
          for (int g = 0; g < G; ++g)
            simd::store(out + p * pooled + o + 8 * g, best[g]);
          continue;
        }
        const float *gr = dy + p * pooled + o;
        float *d = out + p * in;
        for (int g = 0; g < G; ++g)
          for (int j = 0; j < 8; ++j)
            if (!relu || best[g][j] > 0.0f)
              d[(size_t)at[g][j] * B + 8 * g + j] += gr[8 * g + j];
      }
    }
  }
}

DLC_VECTORIZED
void maxPoolBlocked(int block, const PoolShape &s, const float *x, const float *dy, float *out,
                    int64_t p0, int64_t p1, bool backward, bool relu) {
  if (block == 16)
    return maxPoolBlockedBody<16>(s, x, dy, out, p0, p1, backward, relu);
  maxPoolBlockedBody<8>(s, x, dy, out, p0, p1, backward, relu);
}

/// maxPoolBlocked over every [h][w][B] plane, split over the pool.
void maxPoolBlockedPlanes(int block, const PoolShape &s, const float *x, const float *dy,
                          float *out, bool backward, bool relu) {
  parallelFor((int64_t)s.n * (s.c / block), kElementGrain / ((int64_t)s.h * s.w * block) + 1,
              [&](int64_t p0, int64_t p1, int) {
                maxPoolBlocked(block, s, x, dy, out, p0, p1, backward, relu);
              });
}

bool isPool2x2(const PoolShape &s) {
  return s.kh == 2 && s.kw == 2 && s.strideH == 2 && s.strideW == 2 && s.padH == 0 &&
         s.padW == 0;
}

/// C[m][j] = dot(A[m], B[j]) for a few rows of A (inference at batch 1 to 4) and the columns
/// [lo, hi) of C, B being [N][K] (a linear layer's weight as stored): each weight row is read
/// once for every row of A, at full vector width along K. OpenBLAS packs B on every call,
/// which at these shapes costs more than the products.
template <int MR>
DLC_INLINE void dotRows(int N, int K, const float *A, const float *B, float *C, int lo,
                        int hi) {
  constexpr int NR = 4;
  int j = lo;
  for (; j + NR <= hi; j += NR) {
    simd::v8 acc[MR][NR] = {};
    int k = 0;
    for (; k + 8 <= K; k += 8) {
      simd::v8 bv[NR];
      for (int q = 0; q < NR; ++q)
        bv[q] = simd::load(B + (size_t)(j + q) * K + k);
      for (int m = 0; m < MR; ++m) {
        const simd::v8 av = simd::load(A + (size_t)m * K + k);
        for (int q = 0; q < NR; ++q)
          acc[m][q] += av * bv[q];
      }
    }
    for (int m = 0; m < MR; ++m)
      for (int q = 0; q < NR; ++q) {
        float sum = 0.0f;
        for (int l = 0; l < 8; ++l)
          sum += acc[m][q][l];
        for (int kk = k; kk < K; ++kk)
          sum += A[(size_t)m * K + kk] * B[(size_t)(j + q) * K + kk];
        C[(size_t)m * N + j + q] = sum;
      }
  }
  for (; j < hi; ++j)
    for (int m = 0; m < MR; ++m) {
      float sum = 0.0f;
      for (int kk = 0; kk < K; ++kk)
        sum += A[(size_t)m * K + kk] * B[(size_t)j * K + kk];
      C[(size_t)m * N + j] = sum;
    }
}

/// Operands of C = op(A) op(B) + beta C with their leading dimensions (row-major).
struct Gemm {
  int M, N, K;
  bool transA, transB;
  const float *A;
  int lda;
  const float *B;
  int ldb;
  float beta;
  float *C;
  int ldc;
};

/// The rows [lo, hi) (or, with byColumns, the columns) of the product plus the epilogue.
DLC_VECTORIZED
void gemmBlock(const Gemm &g, const float *bias, bool relu, int lo, int hi, bool byColumns) {
  const int M = g.M, N = g.N, K = g.K;
  const bool transA = g.transA, transB = g.transB;
  const int rows = byColumns ? M : hi - lo, cols = byColumns ? hi - lo : N;
  const float *a = g.A, *b = g.B;
  float *c = g.C;
  if (byColumns) {
    b += transB ? (size_t)lo * g.ldb : lo;
    c += lo;
  } else {
    a += transA ? lo : (size_t)lo * g.lda;
    c += (size_t)lo * g.ldc;
  }
  const bool dense = g.beta == 0.0f && g.lda == (transA ? M : K) && g.ldb == (transB ? K : N) &&
                     g.ldc == N;
  if (K > 0 && dense && byColumns && !transA && transB && M <= 4) {
    switch (M) { // each a compile-time row count: the accumulators stay in registers
    case 1: dotRows<1>(N, K, g.A, g.B, g.C, lo, hi); break;
    case 2: dotRows<2>(N, K, g.A, g.B, g.C, lo, hi); break;
    case 3: dotRows<3>(N, K, g.A, g.B, g.C, lo, hi); break;
    default: dotRows<4>(N, K, g.A, g.B, g.C, lo, hi); break;
    }
  } else if (K > 0 && dnnlGemm(transA, transB, rows, cols, K, a, g.lda, b, g.ldb, g.beta, c,
                               g.ldc)) {
  } else if (K > 0) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, rows, cols, K, 1.0f, a, g.lda, b, g.ldb,
                g.beta, c, g.ldc);
  } else {
    for (int i = 0; i < rows; ++i) {
      float *row = c + (size_t)i * g.ldc;
      for (int j = 0; j < cols; ++j)
        row[j] = g.beta == 0.0f ? 0.0f : g.beta * row[j];
    }
  }
  if (!bias && !relu)
    return;
  const float *bb = bias ? bias + (byColumns ? lo : 0) : nullptr;
  for (int i = 0; i < rows; ++i) {
    float *row = c + (size_t)i * g.ldc;
    if (bb)
      for (int j = 0; j < cols; ++j)
        row[j] += bb[j];
    if (relu)
      for (int j = 0; j < cols; ++j)
        row[j] = row[j] > 0.0f ? row[j] : 0.0f;
  }
}

/// The product split over the pool: the longer side of C in chunks, each one GEMM call
/// (oneDNN's or OpenBLAS's, each on one thread: see DnnlGemm.h and setThreads) of at least
/// ~64K multiply-adds, and at least 16 rows or columns.
void gemmParallel(const Gemm &g, const float *bias, bool relu) {
  if (g.M <= 0 || g.N <= 0)
    return;
  const bool byColumns = g.N > g.M;
  const int64_t side = byColumns ? g.N : g.M, across = byColumns ? g.M : g.N;
  const int64_t grain = std::max<int64_t>(16, 65536 / std::max<int64_t>(1, across * g.K));
  // Two blocks per thread, not parallelFor's four: each block is a GEMM call that packs its
  // share of the operands again, and on the LSTM's 128 x 512 x 128 steps four blocks per
  // thread cost 10-20% at 2 threads against two (docs/performance.md); two still let a
  // thread that runs free take over a descheduled one's second block.
  const int64_t chunks = threads() > 1 ? std::min<int64_t>(threads() * 2, side / grain) : 1;
  if (chunks <= 1)
    return gemmBlock(g, bias, relu, 0, int(side), byColumns);
  parallelChunks(int(chunks), [&](int c, int) {
    gemmBlock(g, bias, relu, int(side * c / chunks), int(side * (c + 1) / chunks), byColumns);
  });
}

DLC_VECTORIZED
void reluRange(const float *x, float *y, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i)
    y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

DLC_VECTORIZED
void reluBackwardRange(const float *dy, const float *y, float *dx, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i)
    dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void sigmoidRange(const float *x, float *y, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i)
    y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

DLC_VECTORIZED
void sigmoidBackwardRange(const float *dy, const float *y, float *dx, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i)
    dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

DLC_VECTORIZED
void addReluRange(const float *a, const float *b, float *y, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) {
    const float s = a[i] + b[i];
    y[i] = s > 0.0f ? s : 0.0f;
  }
}

DLC_VECTORIZED
void addReluBackwardRange(const float *a, const float *b, const float *y, float *dx, int64_t lo,
                          int64_t hi) {
  for (int64_t i = lo; i < hi; ++i)
    dx[i] = y[i] > 0.0f ? a[i] + b[i] : 0.0f;
}

DLC_VECTORIZED
void addRange(const float *a, const float *b, float *y, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i)
    y[i] = a[i] + b[i];
}

DLC_VECTORIZED
void biasAddRows(size_t channels, size_t inner, const float *x, const float *b, float *y,
                 int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float bc = b[r % channels];
    const float *xr = x + r * inner;
    float *yr = y + r * inner;
    for (size_t i = 0; i < inner; ++i)
      yr[i] = xr[i] + bc;
  }
}

/// Sum of n floats: eight float lanes, each summing only n/8 terms, then added in double.
DLC_VECTORIZED
double sumFloats(const float *p, size_t n) {
  simd::v8 acc{};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    acc += simd::load(p + i);
  double total = 0.0;
  for (int l = 0; l < 8; ++l)
    total += acc[l];
  for (; i < n; ++i)
    total += p[i];
  return total;
}

/// acc[c - c0] = the sum over rows r of x[r * ld + c], c in [c0, c1), in double, rows in order.
DLC_VECTORIZED
void sumColumns(const float *x, size_t rows, size_t ld, int64_t c0, int64_t c1, double *acc) {
  for (int64_t c = c0; c < c1; ++c)
    acc[c - c0] = 0.0;
  for (size_t r = 0; r < rows; ++r) {
    const float *row = x + r * ld;
    for (int64_t c = c0; c < c1; ++c)
      acc[c - c0] += row[c];
  }
}

DLC_VECTORIZED
void sgdRange(float lr, float momentum, float weightDecay, float *w, const float *g, float *m,
              int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) {
    m[i] = momentum * m[i] + (g[i] + weightDecay * w[i]);
    w[i] -= lr * m[i];
  }
}

}  // namespace

void maxPool2dForward(const PoolShape &s, const float *x, float *y, int block) {
  if (block)
    return maxPoolBlockedPlanes(block, s, x, nullptr, y, false, false);
  const int64_t planes = (int64_t)s.n * s.c, grain = kElementGrain / (s.h * s.w) + 1;
  parallelFor(planes, grain, [&](int64_t p0, int64_t p1, int thread) {
    if (isPool2x2(s))
      return maxPool2x2Forward(s, x, y, p0, p1);
    maxPoolGeneralForward(s, x, y, p0, p1, threadScratch(thread, (size_t)s.w));
  });
}

void maxPool2dBackward(const PoolShape &s, const float *x, const float *dy, float *dx,
                       bool relu, int block) {
  if (block)
    return maxPoolBlockedPlanes(block, s, x, dy, dx, true, relu);
  const int oh = s.oh(), ow = s.ow();
  const size_t planeSize = (size_t)s.h * s.w;
  const int64_t planes = (int64_t)s.n * s.c, grain = kElementGrain / planeSize + 1;
  parallelFor(planes, grain, [&](int64_t p0, int64_t p1, int) {
    if (isPool2x2(s))
      return maxPool2x2Backward(s, x, dy, dx, p0, p1, relu);
    std::fill(dx + p0 * planeSize, dx + p1 * planeSize, 0.0f);
    for (int64_t p = p0; p < p1; ++p) {
      const float *g = dy + p * oh * ow;
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox, ++g) {
          long idx = poolArgmax(s, x + p * planeSize, oy, ox);
          // overlapping windows may share an argmax
          if (idx >= 0 && (!relu || x[p * planeSize + idx] > 0.0f))
            dx[p * planeSize + idx] += *g;
        }
    }
  });
}

void reluForward(size_t n, const float *x, float *y) {
  parallelFor(n, kElementGrain, [&](int64_t b, int64_t e, int) { reluRange(x, y, b, e); });
}

void reluBackward(size_t n, const float *dy, const float *y, float *dx) {
  parallelFor(n, kElementGrain,
              [&](int64_t b, int64_t e, int) { reluBackwardRange(dy, y, dx, b, e); });
}

void sigmoidForward(size_t n, const float *x, float *y) {
  parallelFor(n, kElementGrain, [&](int64_t b, int64_t e, int) { sigmoidRange(x, y, b, e); });
}

void sigmoidBackward(size_t n, const float *dy, const float *y, float *dx) {
  parallelFor(n, kElementGrain,
              [&](int64_t b, int64_t e, int) { sigmoidBackwardRange(dy, y, dx, b, e); });
}

void biasAdd(size_t outer, size_t channels, size_t inner, const float *x, const float *b, float *y) {
  parallelFor(outer * channels, kElementGrain / inner + 1, [&](int64_t r0, int64_t r1, int) {
    biasAddRows(channels, inner, x, b, y, r0, r1);
  });
}

void biasAddBackward(size_t outer, size_t channels, size_t inner, const float *dy, float *db) {
  // Double accumulation across rows: a channel can sum batch * H * W terms, enough to lose
  // float precision; within a row sumFloats keeps each float lane's share short.
  if (inner == 1) {
    // A matmul's bias (the LSTM's per step): each channel is a column. Walking the rows and
    // adding each into a row of doubles sums every column in the same order as one column at
    // a time would (the same result), but vectorized and without one long dependency chain
    // per channel (which made this 30x slower than the memory it reads).
    const int64_t grain = std::max<int64_t>(16, kElementGrain / std::max<size_t>(1, outer));
    parallelFor(channels, grain, [&](int64_t c0, int64_t c1, int thread) {
      double *acc = reinterpret_cast<double *>(threadScratch(thread, 2 * size_t(c1 - c0)));
      sumColumns(dy, outer, channels, c0, c1, acc);
      for (int64_t c = c0; c < c1; ++c)
        db[c] = (float)acc[c - c0];
    });
    return;
  }
  parallelFor(channels, outer * inner >= (size_t)kElementGrain ? 1 : channels,
              [&](int64_t c0, int64_t c1, int) {
                for (int64_t c = c0; c < c1; ++c) {
                  double acc = 0.0;
                  if (inner == 1) {
                    for (size_t o = 0; o < outer; ++o)
                      acc += dy[o * channels + c];
                  } else {
                    for (size_t o = 0; o < outer; ++o)
                      acc += sumFloats(dy + (o * channels + c) * inner, inner);
                  }
                  db[c] = (float)acc;
                }
              });
}

void matmul(int M, int N, int K, bool transA, bool transB, const float *A, const float *B, float *C,
            const float *bias, bool relu) {
  gemmParallel({M, N, K, transA, transB, A, transA ? M : K, B, transB ? K : N, 0.0f, C, N}, bias,
               relu);
}

void gemm(int M, int N, int K, bool transA, bool transB, const float *A, int lda, const float *B,
          int ldb, float beta, float *C, int ldc) {
  gemmParallel({M, N, K, transA, transB, A, lda, B, ldb, beta, C, ldc}, nullptr, false);
}

void matmulWarmUp(int M, int N, int K, bool transA, bool transB) {
  if (M <= 0 || N <= 0 || K <= 0 || !dnnlGemmEnabled())
    return;
  std::vector<float> a(size_t(M) * K), b(size_t(K) * N), c(size_t(M) * N);
  matmul(M, N, K, transA, transB, a.data(), b.data(), c.data());
}

void copy(size_t n, const float *x, float *y) { std::memcpy(y, x, n * sizeof(float)); }

void add(size_t n, const float *a, const float *b, float *y) {
  parallelFor(n, kElementGrain, [&](int64_t lo, int64_t hi, int) { addRange(a, b, y, lo, hi); });
}

void addRelu(size_t n, const float *a, const float *b, float *y) {
  parallelFor(n, kElementGrain,
              [&](int64_t lo, int64_t hi, int) { addReluRange(a, b, y, lo, hi); });
}

void addReluBackward(size_t n, const float *a, const float *b, const float *y, float *dx) {
  parallelFor(n, kElementGrain,
              [&](int64_t lo, int64_t hi, int) { addReluBackwardRange(a, b, y, dx, lo, hi); });
}

void softmaxXentForward(int batch, int classes, const float *logits, const int32_t *labels, float *loss) {
  double total = 0.0;
  for (int b = 0; b < batch; ++b, logits += classes) {
    // Shift by the row max so exp never overflows; log-sum-exp is invariant to the shift.
    const float mx = *std::max_element(logits, logits + classes);
    double sum = 0.0;
    for (int j = 0; j < classes; ++j)
      sum += std::exp((double)logits[j] - mx);
    // A label outside the logits (data the loader did not check, a damaged plan) makes the
    // loss NaN, which dlrun reports, instead of reading past the row.
    const int32_t label = labels[b];
    total += label >= 0 && label < classes ? std::log(sum) + mx - logits[label] : NAN;
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
    const int32_t label = labels[b];
    if (label >= 0 && label < classes)
      dlogits[label] -= (float)scale;
    else
      std::fill(dlogits, dlogits + classes, NAN); // as the loss: never a write past the row
  }
}

void accuracy(int batch, int classes, const float *logits, const int32_t *labels, float *correct) {
  int hits = 0;
  for (int b = 0; b < batch; ++b, logits += classes)
    hits += std::max_element(logits, logits + classes) - logits == labels[b];
  *correct = (float)hits;
}

void sgdMomentum(size_t n, float lr, float momentum, float weightDecay, float *w, const float *g, float *m) {
  parallelFor(n, kElementGrain, [&](int64_t b, int64_t e, int) {
    sgdRange(lr, momentum, weightDecay, w, g, m, b, e);
  });
}

}  // namespace dlc::cpu
