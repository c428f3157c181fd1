// Unit tests for the dropout kernels (DropoutKernels.h): the share of elements dropped, the
// scale of the kept ones, the mask's dependence on seed and step only (so a run repeats and
// the backward kernel sees the forward's mask), the backward kernel against finite
// differences, and the counter.
#include "runtime/cpu/DropoutKernels.h"

#include "GradientCheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace dlc::cpu;
using namespace dlc::testing;

namespace {

constexpr int64_t threshold(double rate) { return int64_t(rate * (1 << 24) + 0.5); }

Vec forward(const Vec &x, int64_t seed, double rate, float step) {
  Vec y(x.size(), kGarbage);
  dropoutForward(x.size(), seed, threshold(rate), float(1.0 / (1.0 - rate)), x.data(), &step,
                 y.data());
  return y;
}

TEST(DropoutKernels, DropsTheRateAndScalesTheRest) {
  const size_t n = 200000;
  Vec x(n, 1.0f);
  for (double rate : {0.1, 0.5, 0.9}) {
    Vec y = forward(x, 7, rate, 3.0f);
    size_t dropped = 0;
    for (float v : y) {
      if (v == 0.0f)
        ++dropped;
      else
        EXPECT_EQ(v, float(1.0 / (1.0 - rate)));
    }
    // Binomial: sd = sqrt(n p (1 - p)) <= 224; 6 sd.
    EXPECT_NEAR(double(dropped), rate * n, 1350.0) << rate;
  }
  // rate 0: the identity.
  std::mt19937 rng(1);
  Vec r = randomVec(rng, 1000);
  EXPECT_EQ(forward(r, 7, 0.0, 0.0f), r);
}

TEST(DropoutKernels, MaskDependsOnSeedAndStepOnly) {
  std::mt19937 rng(2);
  Vec x = randomVec(rng, 4096, 0.5f, 1.0f); // never 0: a 0 output means dropped
  auto mask = [&](int64_t seed, float step) {
    Vec y = forward(x, seed, 0.5, step);
    std::vector<bool> m;
    for (float v : y)
      m.push_back(v != 0.0f);
    return m;
  };
  EXPECT_EQ(mask(11, 5.0f), mask(11, 5.0f)); // repeats
  EXPECT_NE(mask(11, 5.0f), mask(11, 6.0f)); // a new mask each step
  EXPECT_NE(mask(11, 5.0f), mask(12, 5.0f)); // and for each layer
  // Counter values that are not small non-negative integers count as 0, without UB.
  EXPECT_EQ(mask(11, -3.0f), mask(11, 0.0f));
  EXPECT_EQ(mask(11, NAN), mask(11, 0.0f));
  EXPECT_EQ(mask(11, 1e30f), mask(11, 0.0f));
  // In place.
  Vec z = x;
  float step = 5.0f;
  dropoutForward(z.size(), 11, threshold(0.5), 2.0f, z.data(), &step, z.data());
  EXPECT_EQ(z, forward(x, 11, 0.5, 5.0f));
}

TEST(DropoutKernels, BackwardGradient) {
  std::mt19937 rng(3);
  Vec x = randomVec(rng, 256), r = randomVec(rng, 256), dx(256, kGarbage);
  const double rate = 0.3;
  const float scale = float(1.0 / (1.0 - rate)), step = 9.0f;
  dropoutBackward(x.size(), 5, threshold(rate), scale, r.data(), &step, dx.data());
  checkGradient(x, dx, r, [&] { return forward(x, 5, rate, step); });
  // The backward kernel applies the forward's mask: dx is 0 exactly where y is.
  Vec y = forward(x, 5, rate, step);
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_EQ(dx[i] == 0.0f, y[i] == 0.0f) << i;
}

TEST(DropoutKernels, IncrementCountsSteps) {
  Vec c = {0.0f, 41.0f};
  increment(2, c.data());
  increment(2, c.data());
  EXPECT_EQ(c, (Vec{2.0f, 43.0f}));
}

} // namespace
