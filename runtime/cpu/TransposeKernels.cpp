// CPU kernel of dl.transpose (TransposeKernels.h). The permutation is first reduced: axes of
// size 1 are dropped and output axes that are also adjacent, in order, in the input are
// merged, so [B, T, H, D] -> [B, H, T, D] becomes [B, T, H, D'] with D' contiguous. Then:
// - when the output's last axis is contiguous in the input (the transformer case), the copy
//   is one memcpy of a whole row per output row;
// - otherwise the output's last axis and the input's last axis (some other output axis)
//   form a 2-D transpose, copied in 32x32 tiles so that both sides stay in cache.
// The outer rows are split over the thread pool.
#include "runtime/cpu/TransposeKernels.h"

#include "runtime/cpu/Parallel.h"

#include <algorithm>
#include <cstring>

namespace dlc::cpu {
namespace {
constexpr int kMaxAxes = 6;
constexpr int64_t kTile = 32;
constexpr int64_t kGrain = 16384; // floats per task

/// Output axes after reduction: size, input stride and output stride of each.
struct Axes {
  int n = 0;
  int64_t size[kMaxAxes], in[kMaxAxes], out[kMaxAxes];
};

Axes reduce(const int64_t *dims, const int64_t *perm) {
  int64_t inStride[kMaxAxes];
  int64_t s = 1;
  for (int k = kMaxAxes - 1; k >= 0; --k) {
    inStride[k] = s;
    s *= dims[k];
  }
  Axes a;
  for (int j = 0; j < kMaxAxes; ++j) {
    int64_t size = dims[perm[j]], stride = inStride[perm[j]];
    if (size == 1)
      continue;
    // Mergeable with the previous output axis when it steps over exactly this axis' span.
    if (a.n && a.in[a.n - 1] == stride * size) {
      a.size[a.n - 1] *= size;
      a.in[a.n - 1] = stride;
      continue;
    }
    a.size[a.n] = size;
    a.in[a.n] = stride;
    ++a.n;
  }
  if (a.n == 0) { // a single element
    a.size[0] = a.in[0] = 1;
    a.n = 1;
  }
  for (int j = a.n - 1; j >= 0; --j)
    a.out[j] = j == a.n - 1 ? 1 : a.out[j + 1] * a.size[j + 1];
  return a;
}

/// Calls fn(xOffset, yOffset) for outer indices [begin, end) over the axes in `outer`
/// (positions into `a`), last one fastest.
template <class Fn>
void forOuter(const Axes &a, const int *outer, int nOuter, int64_t begin, int64_t end, Fn fn) {
  int64_t idx[kMaxAxes] = {}, rest = begin, xo = 0, yo = 0;
  for (int k = nOuter - 1; k >= 0; --k) {
    int ax = outer[k];
    idx[k] = rest % a.size[ax];
    rest /= a.size[ax];
    xo += idx[k] * a.in[ax];
    yo += idx[k] * a.out[ax];
  }
  for (int64_t o = begin; o < end; ++o) {
    fn(xo, yo);
    for (int k = nOuter - 1; k >= 0; --k) {
      int ax = outer[k];
      xo += a.in[ax];
      yo += a.out[ax];
      if (++idx[k] < a.size[ax])
        break;
      xo -= idx[k] * a.in[ax];
      yo -= idx[k] * a.out[ax];
      idx[k] = 0;
    }
  }
}
} // namespace

void transpose(const int64_t *dims, const int64_t *perm, const float *x, float *y) {
  const Axes a = reduce(dims, perm);
  const int last = a.n - 1;
  int outer[kMaxAxes], nOuter = 0;
  int64_t count = 1;
  if (a.in[last] == 1) {
    // Whole rows: the output's last axis is contiguous in the input.
    for (int j = 0; j < last; ++j) {
      outer[nOuter++] = j;
      count *= a.size[j];
    }
    const int64_t row = a.size[last];
    parallelFor(count, std::max<int64_t>(1, kGrain / row), [&](int64_t b, int64_t e, int) {
      forOuter(a, outer, nOuter, b, e, [&](int64_t xo, int64_t yo) {
        std::memcpy(y + yo, x + xo, size_t(row) * sizeof(float));
      });
    });
    return;
  }
  // A 2-D transpose between output axis q (the input's contiguous one) and the last.
  int q = 0;
  while (a.in[q] != 1)
    ++q;
  for (int j = 0; j < last; ++j)
    if (j != q) {
      outer[nOuter++] = j;
      count *= a.size[j];
    }
  const int64_t rowsQ = a.size[q], cols = a.size[last], xs = a.in[last], ys = a.out[q];
  const int64_t plane = rowsQ * cols;
  parallelFor(count, std::max<int64_t>(1, kGrain / plane), [&](int64_t b, int64_t e, int) {
    forOuter(a, outer, nOuter, b, e, [&](int64_t xo, int64_t yo) {
      for (int64_t i0 = 0; i0 < rowsQ; i0 += kTile)
        for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
          const int64_t i1 = std::min(rowsQ, i0 + kTile), j1 = std::min(cols, j0 + kTile);
          for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = j0; j < j1; ++j)
              y[yo + i * ys + j] = x[xo + i + j * xs];
        }
    });
  });
}

} // namespace dlc::cpu
