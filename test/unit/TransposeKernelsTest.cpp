// Unit tests for the transpose kernel (TransposeKernels.h): every permutation of a 4-D
// tensor (padded to 6 axes, as the lowering passes it) against an index-by-index reference,
// which covers the whole-row path, the tiled path and merged axes; the transformer case
// [B, T, H, D] -> [B, H, T, D] on two threads; and the gradient (the inverse permutation)
// against finite differences.
#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/TransposeKernels.h"

#include "GradientCheck.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>
#include <vector>

using namespace dlc::cpu;
using namespace dlc::testing;

namespace {

using Perm = std::array<int64_t, 6>;

/// y = x permuted, one index at a time.
Vec reference(const Perm &dims, const Perm &perm, const Vec &x) {
  Perm ydims, xstride;
  int64_t s = 1;
  for (int a = 5; a >= 0; --a) {
    xstride[a] = s;
    s *= dims[a];
  }
  for (int j = 0; j < 6; ++j)
    ydims[j] = dims[perm[j]];
  Vec y(x.size());
  for (int64_t idx = 0; idx < int64_t(y.size()); ++idx) {
    int64_t rest = idx, src = 0;
    for (int j = 5; j >= 0; --j) {
      src += (rest % ydims[j]) * xstride[perm[j]];
      rest /= ydims[j];
    }
    y[idx] = x[src];
  }
  return y;
}

/// dims [1, 1, a, b, c, d] and a permutation p of the last 4 axes.
Perm padded(const std::array<int64_t, 4> &p) { return {0, 1, p[0] + 2, p[1] + 2, p[2] + 2, p[3] + 2}; }

TEST(TransposeKernels, EveryPermutationOfFourAxes) {
  const Perm dims{1, 1, 2, 3, 37, 5};
  std::mt19937 rng(1);
  Vec x = randomVec(rng, 2 * 3 * 37 * 5);
  std::array<int64_t, 4> p{0, 1, 2, 3};
  int count = 0;
  do {
    Perm perm = padded(p);
    Vec y(x.size(), kGarbage);
    transpose(dims.data(), perm.data(), x.data(), y.data());
    EXPECT_EQ(y, reference(dims, perm, x)) << p[0] << p[1] << p[2] << p[3];
    ++count;
  } while (std::next_permutation(p.begin(), p.end()));
  EXPECT_EQ(count, 24);
}

TEST(TransposeKernels, SizeOneAxesAndSixAxes) {
  std::mt19937 rng(2);
  const Perm dims{2, 1, 3, 1, 4, 5}, perm{0, 4, 2, 5, 1, 3};
  Vec x = randomVec(rng, 2 * 3 * 4 * 5), y(x.size(), kGarbage);
  transpose(dims.data(), perm.data(), x.data(), y.data());
  EXPECT_EQ(y, reference(dims, perm, x));
  const Perm one{1, 1, 1, 1, 1, 1};
  Vec a{3.5f}, b{kGarbage};
  transpose(one.data(), perm.data(), a.data(), b.data());
  EXPECT_EQ(b, a);
}

TEST(TransposeKernels, AttentionHeadsOnTwoThreads) {
  // [B, T, H, D] -> [B, H, T, D] and [B, T, D] -> [B, D, T] at sizes that split into chunks.
  std::mt19937 rng(3);
  setThreads(2);
  const Perm heads{1, 1, 4, 33, 6, 64}, headsPerm{0, 1, 2, 4, 3, 5};
  Vec x = randomVec(rng, 4 * 33 * 6 * 64), y(x.size(), kGarbage);
  transpose(heads.data(), headsPerm.data(), x.data(), y.data());
  EXPECT_EQ(y, reference(heads, headsPerm, x));
  const Perm seq{1, 1, 1, 3, 70, 45}, seqPerm{0, 1, 2, 3, 5, 4};
  Vec s = randomVec(rng, 3 * 70 * 45), t(s.size(), kGarbage);
  transpose(seq.data(), seqPerm.data(), s.data(), t.data());
  EXPECT_EQ(t, reference(seq, seqPerm, s));
  setThreads(1);
}

TEST(TransposeKernels, GradientIsTheInversePermutation) {
  const Perm dims{1, 1, 2, 3, 4, 5};
  const Perm perm = padded({2, 0, 3, 1});
  Perm inverse, ydims;
  for (int j = 0; j < 6; ++j) {
    inverse[perm[j]] = j;
    ydims[j] = dims[perm[j]];
  }
  std::mt19937 rng(4);
  Vec x = randomVec(rng, 120), r = randomVec(rng, 120), dx(120, kGarbage);
  transpose(ydims.data(), inverse.data(), r.data(), dx.data());
  checkGradient(x, dx, r, [&] {
    Vec y(120);
    transpose(dims.data(), perm.data(), x.data(), y.data());
    return y;
  });
}

} // namespace
