// Unit tests for the recurrent kernels: the inline exp behind sigmoid and tanh against libm
// over the whole float range that matters, the LSTM cell's forward pass against a naive
// double-precision reference, its backward pass against central finite differences of the
// forward kernel (both results, both inputs), zeros and time_step against their meaning, and
// the whole-layer kernels (lstm_seq_fwd/bwd): the last h against a double-precision unrolled
// reference, the weight gradients against finite differences of the forward kernel.
#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/RecurrentKernels.h"
#include "runtime/plan/KernelCheck.h"

#include "GradientCheck.h"

#include <gtest/gtest.h>

#include <array>
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

struct Seq {
  int n, steps, inputs, units;
  float fb;
};

/// The last h of an LSTM layer over x [n][steps][inputs] from zero state, in double.
Vec naiveSequence(const Seq &s, const Vec &x, const Vec &wih, const Vec &whh, const Vec &bias) {
  const int H = s.units;
  std::vector<double> h(size_t(s.n) * H, 0.0), c(h.size(), 0.0), g(4 * size_t(H));
  for (int t = 0; t < s.steps; ++t) {
    std::vector<double> hn(h.size()), cn(c.size());
    for (int r = 0; r < s.n; ++r) {
      for (int q = 0; q < 4 * H; ++q) {
        double acc = bias[q];
        for (int k = 0; k < s.inputs; ++k)
          acc += double(x[(size_t(r) * s.steps + t) * s.inputs + k]) * wih[size_t(q) * s.inputs + k];
        for (int k = 0; k < H; ++k)
          acc += h[size_t(r) * H + k] * whh[size_t(q) * H + k];
        g[q] = acc;
      }
      for (int j = 0; j < H; ++j) {
        double i = sig(g[j]), f = sig(g[H + j] + s.fb), gg = std::tanh(g[2 * H + j]),
               o = sig(g[3 * H + j]);
        cn[size_t(r) * H + j] = f * c[size_t(r) * H + j] + i * gg;
        hn[size_t(r) * H + j] = o * std::tanh(cn[size_t(r) * H + j]);
      }
    }
    h.swap(hn);
    c.swap(cn);
  }
  return Vec(h.begin(), h.end());
}

Vec sequenceForward(const Seq &s, const Vec &x, const Vec &wih, const Vec &whh, const Vec &bias,
                    Vec *reserve = nullptr) {
  Vec h(size_t(s.n) * s.units, kGarbage);
  Vec local;
  Vec &res = reserve ? *reserve : local;
  res.assign(lstmReserve(s.n, s.steps, s.units).floats, kGarbage);
  lstmSequenceForward(s.n, s.steps, s.inputs, s.units, s.fb, x.data(), wih.data(), whh.data(),
                      bias.data(), h.data(), res.data());
  return h;
}

/// A random sequence and layer: x, weight_ih, weight_hh, bias.
std::array<Vec, 4> randomLayer(std::mt19937 &rng, const Seq &s) {
  const size_t H = s.units;
  return {randomVec(rng, size_t(s.n) * s.steps * s.inputs),
          randomVec(rng, 4 * H * s.inputs, -0.5f, 0.5f), randomVec(rng, 4 * H * H, -0.5f, 0.5f),
          randomVec(rng, 4 * H, -0.5f, 0.5f)};
}

// 7 units leave every vector remainder; 64 units and 48 examples of 9 steps take oneDNN's (or
// OpenBLAS's) GEMM for the steps' products and split them over the threads.
TEST_P(RecurrentKernelsTest, SequenceForwardMatchesNaive) {
  std::mt19937 rng(11);
  for (Seq s : {Seq{3, 4, 5, 7, 1.0f}, Seq{48, 9, 20, 64, 0.0f}}) {
    auto [x, wih, whh, bias] = randomLayer(rng, s);
    expectAllNear(sequenceForward(s, x, wih, whh, bias), naiveSequence(s, x, wih, whh, bias),
                  2e-5f);
  }
}

TEST_P(RecurrentKernelsTest, SequenceBackwardMatchesFiniteDifferences) {
  std::mt19937 rng(13);
  for (Seq s : {Seq{3, 4, 5, 7, 1.0f}, Seq{4, 6, 3, 17, 0.5f}}) {
    auto [x, wih, whh, bias] = randomLayer(rng, s);
    Vec r = randomVec(rng, size_t(s.n) * s.units); // dL/dh of the last step
    Vec reserve;
    sequenceForward(s, x, wih, whh, bias, &reserve);
    Vec dwih(wih.size(), kGarbage), dwhh(whh.size(), kGarbage), db(bias.size(), kGarbage);
    Vec work(dlc::plan::lstmSequenceWorkspaceFloats(s.n, s.units), kGarbage);
    lstmSequenceBackward(s.n, s.steps, s.inputs, s.units, s.fb, x.data(), whh.data(),
                         reserve.data(), r.data(), dwih.data(), dwhh.data(), db.data(),
                         work.data());
    auto fwd = [&] { return sequenceForward(s, x, wih, whh, bias); };
    checkGradient(wih, dwih, r, fwd, 1e-2f, 1e-2);
    checkGradient(whh, dwhh, r, fwd, 1e-2f, 1e-2);
    checkGradient(bias, db, r, fwd, 1e-2f, 1e-2);
  }
}

// The plan loader checks the reserve and workspace against KernelCheck.h's sizes; the
// kernels address them by RecurrentKernels.h's layout: the two must agree, or a plan that
// passes the check would let the kernels write past their buffers.
TEST(RecurrentKernels, ReserveLayoutMatchesTheLoadersSizes) {
  for (Seq s : {Seq{1, 1, 1, 1, 0.0f}, Seq{3, 4, 5, 7, 1.0f}, Seq{128, 28, 28, 128, 1.0f}}) {
    const LstmReserve r = lstmReserve(s.n, s.steps, s.units);
    EXPECT_EQ(r.floats, size_t(s.n) * dlc::plan::lstmReserveWidth(s.steps, s.units));
    EXPECT_EQ(r.hPrev, size_t(s.n) * s.steps * 4 * s.units); // after every step's gates
    EXPECT_EQ(r.cPrev - r.hPrev, size_t(s.n) * s.steps * s.units);
    EXPECT_EQ(dlc::plan::lstmSequenceWorkspaceFloats(s.n, s.units), size_t(4) * s.n * s.units);
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
