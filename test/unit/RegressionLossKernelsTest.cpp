// Unit tests of the regression-loss kernels (mse, bce_with_logits): forward values against
// hand-computed ones and PyTorch's definitions, numerical stability at large logits, and each
// backward kernel against central finite differences of its forward.
#include "runtime/cpu/RegressionLossKernels.h"

#include "GradientCheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace dlc::cpu;
using namespace dlc::testing;

namespace {

float mse(const Vec &x, const Vec &t) {
  float loss = kGarbage;
  mseForward(x.size(), x.data(), t.data(), &loss);
  return loss;
}

float bce(const Vec &x, const Vec &t) {
  float loss = kGarbage;
  bceWithLogitsForward(x.size(), x.data(), t.data(), &loss);
  return loss;
}

TEST(RegressionLossKernelsTest, MseForwardIsTheMeanOfSquares) {
  // (1-0)^2 + (2-0)^2 + (-1-1)^2 + (0.5-0.5)^2 = 9, over 4 elements.
  EXPECT_FLOAT_EQ(mse({1.0f, 2.0f, -1.0f, 0.5f}, {0.0f, 0.0f, 1.0f, 0.5f}), 2.25f);
  EXPECT_EQ(mse({3.0f}, {3.0f}), 0.0f);
}

TEST(RegressionLossKernelsTest, BceWithLogitsMatchesTheDefinition) {
  std::mt19937 rng(3);
  Vec x = randomVec(rng, 50, -6.0f, 6.0f), t = randomVec(rng, 50, 0.0f, 1.0f);
  double expected = 0;
  for (size_t j = 0; j < x.size(); ++j) {
    double s = 1.0 / (1.0 + std::exp(-double(x[j])));
    expected -= t[j] * std::log(s) + (1 - t[j]) * std::log(1 - s);
  }
  EXPECT_NEAR(bce(x, t), expected / x.size(), 1e-6);
  // log 2 at x = 0, whatever the target.
  EXPECT_NEAR(bce({0.0f, 0.0f}, {0.0f, 1.0f}), std::log(2.0), 1e-7);
}

TEST(RegressionLossKernelsTest, BceWithLogitsIsStableAtLargeLogits) {
  // The naive form takes log(0) here; the stable one gives |x| for a wrong sign, ~0 otherwise.
  EXPECT_NEAR(bce({100.0f}, {0.0f}), 100.0f, 1e-4);
  EXPECT_NEAR(bce({-100.0f}, {1.0f}), 100.0f, 1e-4);
  EXPECT_NEAR(bce({100.0f}, {1.0f}), 0.0f, 1e-6);
  EXPECT_NEAR(bce({-1e30f}, {0.0f}), 0.0f, 1e-6);
  EXPECT_TRUE(std::isfinite(bce({1e30f, -1e30f}, {0.0f, 1.0f})));
}

/// dL/dx of a scalar loss against central differences of its forward (r = {1}).
void checkLossGradient(const Vec &dx, Vec &x, const Vec &t,
                       void (*forward)(size_t, const float *, const float *, float *)) {
  auto fwd = [&] {
    Vec loss(1);
    forward(x.size(), x.data(), t.data(), loss.data());
    return loss;
  };
  // The loss is a mean: each element's derivative is ~1/n, so a tight absolute floor.
  checkGradient(x, dx, Vec{1.0f}, fwd, 1e-2f, 1e-2);
  for (size_t j = 0; j < x.size(); ++j)
    EXPECT_NE(dx[j], kGarbage);
}

TEST(RegressionLossKernelsTest, MseBackwardGradient) {
  std::mt19937 rng(4);
  Vec x = randomVec(rng, 24, -2.0f, 2.0f), t = randomVec(rng, 24), dx(24, kGarbage);
  mseBackward(x.size(), x.data(), t.data(), dx.data());
  // Exact: 2 (x - t) / n.
  for (size_t j = 0; j < x.size(); ++j)
    EXPECT_FLOAT_EQ(dx[j], 2.0f * (x[j] - t[j]) / 24.0f);
  checkLossGradient(dx, x, t, mseForward);
}

TEST(RegressionLossKernelsTest, BceWithLogitsBackwardGradient) {
  std::mt19937 rng(5);
  Vec x = randomVec(rng, 24, -4.0f, 4.0f), t = randomVec(rng, 24, 0.0f, 1.0f), dx(24, kGarbage);
  bceWithLogitsBackward(x.size(), x.data(), t.data(), dx.data());
  checkLossGradient(dx, x, t, bceWithLogitsForward);
}

TEST(RegressionLossKernelsTest, BackwardInPlace) {
  Vec x = {1.0f, -3.0f}, t = {0.0f, 1.0f}, dx(2);
  mseBackward(2, x.data(), t.data(), dx.data());
  mseBackward(2, x.data(), t.data(), x.data());
  EXPECT_EQ(x, dx);
}

} // namespace
