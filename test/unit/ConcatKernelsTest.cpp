// Unit tests for the concat kernels (ConcatKernels.h): the joined rows against an index-by-
// index reference for a 4-D NCHW concatenation along channels, and the backward kernel (the
// split) against finite differences of the forward kernel for both operands.
#include "runtime/cpu/ConcatKernels.h"

#include "GradientCheck.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

using namespace dlc::cpu;
using namespace dlc::testing;

namespace {

TEST(ConcatKernels, JoinsAlongChannels) {
  // a [2][3][2][2] and b [2][1][2][2] along axis 1: outer 2, inner 12 and 4.
  const int n = 2, ca = 3, cb = 1, hw = 4;
  std::mt19937 rng(1);
  Vec a = randomVec(rng, n * ca * hw), b = randomVec(rng, n * cb * hw);
  Vec y(n * (ca + cb) * hw, kGarbage);
  concat(n, ca * hw, cb * hw, a.data(), b.data(), y.data());
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < ca + cb; ++c)
      for (int p = 0; p < hw; ++p) {
        float want = c < ca ? a[(i * ca + c) * hw + p] : b[(i * cb + c - ca) * hw + p];
        EXPECT_EQ(y[(i * (ca + cb) + c) * hw + p], want) << i << " " << c << " " << p;
      }
  // And back.
  Vec da(a.size(), kGarbage), db(b.size(), kGarbage);
  concatBackward(n, ca * hw, cb * hw, y.data(), da.data(), db.data());
  EXPECT_EQ(da, a);
  EXPECT_EQ(db, b);
}

TEST(ConcatKernels, BackwardGradient) {
  const int64_t outer = 3, ai = 5, bi = 2;
  std::mt19937 rng(2);
  Vec a = randomVec(rng, outer * ai), b = randomVec(rng, outer * bi);
  Vec r = randomVec(rng, outer * (ai + bi)), da(a.size(), kGarbage), db(b.size(), kGarbage);
  concatBackward(outer, ai, bi, r.data(), da.data(), db.data());
  auto fwd = [&] {
    Vec y(outer * (ai + bi));
    concat(outer, ai, bi, a.data(), b.data(), y.data());
    return y;
  };
  checkGradient(a, da, r, fwd);
  checkGradient(b, db, r, fwd);
}

} // namespace
