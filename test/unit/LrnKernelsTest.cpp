// Unit tests for the local response normalisation kernels: the forward pass against a naive
// double-precision reference of TensorFlow's formula (every beta path, window clipping at the
// first and last channels, threads), a value worked by hand, and the backward pass against
// central finite differences of the forward kernel.
#include "runtime/cpu/LrnKernels.h"
#include "runtime/cpu/Parallel.h"

#include "GradientCheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace dlc::cpu;
using namespace dlc::testing;

namespace {

/// tf.nn.lrn in double, straight from its definition.
Vec naiveLrn(const LrnShape &s, const Vec &x) {
  Vec y(x.size());
  for (int b = 0; b < s.n; ++b)
    for (int c = 0; c < s.c; ++c)
      for (int p = 0; p < s.hw; ++p) {
        double sq = 0.0;
        for (int cc = std::max(0, c - s.radius); cc <= std::min(s.c - 1, c + s.radius); ++cc) {
          double v = x[((size_t)b * s.c + cc) * s.hw + p];
          sq += v * v;
        }
        size_t k = ((size_t)b * s.c + c) * s.hw + p;
        y[k] = (float)(x[k] / std::pow(s.bias + s.alpha * sq, (double)s.beta));
      }
  return y;
}

Vec forward(const LrnShape &s, const Vec &x) {
  Vec y(x.size(), kGarbage);
  lrnForward(s, x.data(), y.data());
  return y;
}

class LrnKernelsTest : public ::testing::TestWithParam<float> {};

TEST_P(LrnKernelsTest, ForwardMatchesNaive) {
  std::mt19937 rng(3);
  // 7 channels with radius 2: windows clipped at both ends and whole ones in the middle; an
  // hw of 13 leaves vector remainders.
  LrnShape s{3, 7, 13, 2, 1.5f, 0.3f, GetParam()};
  Vec x = randomVec(rng, (size_t)s.n * s.c * s.hw, -2.0f, 2.0f);
  expectAllNear(forward(s, x), naiveLrn(s, x), 1e-5f);
}

TEST_P(LrnKernelsTest, BackwardMatchesFiniteDifferences) {
  std::mt19937 rng(5);
  LrnShape s{2, 6, 5, 2, 1.0f, 0.4f, GetParam()};
  const size_t n = (size_t)s.n * s.c * s.hw;
  Vec x = randomVec(rng, n), r = randomVec(rng, n);
  Vec y = forward(s, x), dx(n, kGarbage);
  lrnBackward(s, x.data(), y.data(), r.data(), dx.data());
  checkGradient(x, dx, r, [&] { return forward(s, x); }, 1e-2f, 1e-2);
}

// 0.75 (the tutorial's), 0.5 and 1 have their own code; 0.6 goes through powf; 0 is identity.
INSTANTIATE_TEST_SUITE_P(Betas, LrnKernelsTest, ::testing::Values(0.75f, 0.5f, 1.0f, 0.6f, 0.0f));

TEST(LrnKernels, WorkedByHand) {
  // One pixel, 3 channels, radius 1: channel 0 sees x0, x1; channel 1 all three; channel 2 x1, x2.
  LrnShape s{1, 3, 1, 1, 1.0f, 0.5f, 1.0f};
  Vec x{1.0f, 2.0f, 3.0f};
  Vec y = forward(s, x);
  EXPECT_FLOAT_EQ(y[0], 1.0f / (1.0f + 0.5f * 5.0f));
  EXPECT_FLOAT_EQ(y[1], 2.0f / (1.0f + 0.5f * 14.0f));
  EXPECT_FLOAT_EQ(y[2], 3.0f / (1.0f + 0.5f * 13.0f));
}

TEST(LrnKernels, RadiusZeroIsPerChannel) {
  LrnShape s{1, 2, 2, 0, 2.0f, 1.0f, 0.5f};
  Vec x{1.0f, -1.0f, 3.0f, 0.0f};
  Vec y = forward(s, x);
  EXPECT_FLOAT_EQ(y[0], 1.0f / std::sqrt(3.0f));
  EXPECT_FLOAT_EQ(y[1], -1.0f / std::sqrt(3.0f));
  EXPECT_FLOAT_EQ(y[2], 3.0f / std::sqrt(11.0f));
  EXPECT_FLOAT_EQ(y[3], 0.0f);
}

TEST(LrnKernels, TutorialShapeSameOnTwoThreads) {
  // The CIFAR-10 model's norm1 at batch 4: images split over the pool give the same bits.
  std::mt19937 rng(9);
  LrnShape s{4, 64, 144, 4, 1.0f, 0.001f / 9, 0.75f};
  const size_t n = (size_t)s.n * s.c * s.hw;
  Vec x = randomVec(rng, n, -3.0f, 3.0f), dy = randomVec(rng, n);
  setThreads(1);
  Vec y1 = forward(s, x), dx1(n, kGarbage);
  lrnBackward(s, x.data(), y1.data(), dy.data(), dx1.data());
  setThreads(2);
  Vec y2 = forward(s, x), dx2(n, kGarbage);
  lrnBackward(s, x.data(), y2.data(), dy.data(), dx2.data());
  setThreads(1);
  EXPECT_EQ(y1, y2);
  EXPECT_EQ(dx1, dx2);
  expectAllNear(y1, naiveLrn(s, x), 1e-5f);
}

} // namespace
