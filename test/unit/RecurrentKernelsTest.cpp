// Unit tests for the recurrent kernels: the inline exp behind sigmoid and tanh against libm
// over the whole float range that matters, the LSTM cell's forward pass against a naive
// double-precision reference, its backward pass against central finite differences of the
// forward kernel (both results, both inputs), and zeros and time_step against their meaning.
#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/RecurrentKernels.h"

#include "GradientCheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace dlc::cpu;
using namespace dlc::testing;

namespace {

double sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }

TEST(RecurrentKernels, SigmoidAndTanhMatchLibm) {
  for (float x = -100.0f; x <= 100.0f; x += 0.01f) {
    EXPECT_NEAR(sigmoid(x), sig(x), 4e-7 * std::max(1e-30, sig(x)) + 1e-37) << x;
    EXPECT_NEAR(tanhApprox(x), std::tanh((double)x), 5e-7) << x;
  }
  EXPECT_EQ(sigmoid(-1e30f), sigmoid(-88.0f));
  EXPECT_LT(sigmoid(-1e30f), 1e-37f);
  EXPECT_EQ(sigmoid(1e30f), 1.0f);
  EXPECT_EQ(tanhApprox(1e30f), 1.0f);
  EXPECT_EQ(tanhApprox(-1e30f), -1.0f);
}

struct Cell {
  int n, h;
  float fb;
};

/// h and c, concatenated, from the definition in double.
Vec naiveCell(const Cell &s, const Vec &gates, const Vec &cPrev) {
  Vec out(2 * s.n * s.h);
  for (int r = 0; r < s.n; ++r)
    for (int j = 0; j < s.h; ++j) {
      const float *g = gates.data() + (size_t)r * 4 * s.h;
      double i = sig(g[j]), f = sig((double)g[s.h + j] + s.fb), gg = std::tanh((double)g[2 * s.h + j]),
             o = sig(g[3 * s.h + j]);
      double c = f * cPrev[r * s.h + j] + i * gg;
      out[r * s.h + j] = (float)(o * std::tanh(c));
      out[s.n * s.h + r * s.h + j] = (float)c;
    }
  return out;
}

Vec forward(const Cell &s, const Vec &gates, const Vec &cPrev) {
  Vec out(2 * s.n * s.h, kGarbage);
  lstmCellForward(s.n, s.h, s.fb, gates.data(), cPrev.data(), out.data(),
                  out.data() + s.n * s.h);
  return out;
}

class RecurrentKernelsTest : public ::testing::TestWithParam<int> {
protected:
  void SetUp() override { setThreads(GetParam()); }
  void TearDown() override { setThreads(1); }
};

TEST_P(RecurrentKernelsTest, CellForwardMatchesNaive) {
  std::mt19937 rng(5);
  // 13 units leave vector remainders (128: 16 lanes at a time); 37 rows are split over the threads.
  for (Cell s : {Cell{37, 13, 1.0f}, Cell{3, 128, 0.0f}}) {
    Vec gates = randomVec(rng, 4 * s.n * s.h, -4.0f, 4.0f);
    Vec cPrev = randomVec(rng, s.n * s.h, -2.0f, 2.0f);
    expectAllNear(forward(s, gates, cPrev), naiveCell(s, gates, cPrev), 2e-6f);
  }
}

TEST_P(RecurrentKernelsTest, CellBackwardMatchesFiniteDifferences) {
  std::mt19937 rng(7);
  // 11 units: the scalar path only; 29: 16 lanes, then 8, then 5 single units.
  for (Cell s : {Cell{5, 11, 1.0f}, Cell{3, 29, 0.5f}}) {
    Vec gates = randomVec(rng, 4 * s.n * s.h, -2.0f, 2.0f);
    Vec cPrev = randomVec(rng, s.n * s.h, -1.5f, 1.5f);
    Vec r = randomVec(rng, 2 * s.n * s.h); // dL/dh then dL/dc
    Vec dgates(gates.size(), kGarbage), dcPrev(cPrev.size(), kGarbage);
    lstmCellBackward(s.n, s.h, s.fb, gates.data(), cPrev.data(), r.data(), r.data() + s.n * s.h,
                     dgates.data(), dcPrev.data());
    auto fwd = [&] { return forward(s, gates, cPrev); };
    checkGradient(gates, dgates, r, fwd, 1e-2f, 1e-2);
    checkGradient(cPrev, dcPrev, r, fwd, 1e-2f, 1e-2);
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, RecurrentKernelsTest, ::testing::Values(1, 2));

TEST(RecurrentKernels, TimeStepAndZeros) {
  // x[n][t][f] = 100 n + 10 t + f.
  const int n = 3, steps = 4, f = 5;
  Vec x(n * steps * f);
  for (int a = 0; a < n; ++a)
    for (int t = 0; t < steps; ++t)
      for (int k = 0; k < f; ++k)
        x[(a * steps + t) * f + k] = 100.0f * a + 10.0f * t + k;
  for (int step = 0; step < steps; ++step) {
    Vec y(n * f, kGarbage);
    timeStep(n, steps, f, step, x.data(), y.data());
    for (int a = 0; a < n; ++a)
      for (int k = 0; k < f; ++k)
        EXPECT_EQ(y[a * f + k], 100.0f * a + 10.0f * step + k);
  }
  Vec z(17, kGarbage);
  zeros(17, z.data());
  for (float v : z)
    EXPECT_EQ(v, 0.0f);
}

} // namespace
