// Unit tests for the layer-norm kernels (LayerNormKernels.h): the forward pass and its saved
// row statistics against a double-precision reference (rows of lengths that are and are not
// multiples of the 8-wide vectors, more than one column block, two threads), and the
// backward pass against finite differences of the forward for x, the weight and the bias.
#include "runtime/cpu/LayerNormKernels.h"
#include "runtime/cpu/Parallel.h"

#include "GradientCheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace dlc::cpu;
using namespace dlc::testing;

namespace {

void expectForwardMatchesReference(int64_t rows, int64_t d, float eps, int threads) {
  setThreads(threads);
  std::mt19937 rng{uint32_t(rows * 131 + d)};
  // An offset far from zero: the variance must come from deviations, not E[x^2] - E[x]^2.
  Vec x = randomVec(rng, rows * d, 99.0f, 101.0f), w = randomVec(rng, d), b = randomVec(rng, d);
  Vec y(x.size(), kGarbage), mean(rows, kGarbage), rstd(rows, kGarbage);
  layerNormForward(rows, d, eps, x.data(), w.data(), b.data(), y.data(), mean.data(),
                   rstd.data());
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, v = 0;
    for (int64_t j = 0; j < d; ++j)
      m += x[r * d + j];
    m /= d;
    for (int64_t j = 0; j < d; ++j)
      v += (x[r * d + j] - m) * (x[r * d + j] - m);
    v /= d;
    const double s = 1.0 / std::sqrt(v + eps);
    EXPECT_NEAR(mean[r], m, 1e-4 * std::fabs(m)) << "row " << r;
    EXPECT_NEAR(rstd[r], s, 1e-3 * s) << "row " << r;
    for (int64_t j = 0; j < d; ++j)
      EXPECT_NEAR(y[r * d + j], (x[r * d + j] - m) * s * w[j] + b[j], 2e-3)
          << "row " << r << " column " << j;
  }
  setThreads(1);
}

TEST(LayerNormKernels, ForwardMatchesReference) {
  expectForwardMatchesReference(5, 13, 1e-5f, 1); // a vector tail
  expectForwardMatchesReference(7, 24, 1e-5f, 1); // whole vectors only
  expectForwardMatchesReference(300, 200, 1e-5f, 2); // column blocks, rows split
}

TEST(LayerNormKernels, GradientsAgainstFiniteDifferences) {
  for (int64_t d : {5, 19}) {
    const int64_t rows = 4;
    const float eps = 1e-5f;
    std::mt19937 rng{uint32_t(d)};
    Vec x = randomVec(rng, rows * d), w = randomVec(rng, d, 0.5f, 1.5f), b = randomVec(rng, d);
    Vec r = randomVec(rng, rows * d);
    Vec y(x.size()), mean(rows), rstd(rows);
    layerNormForward(rows, d, eps, x.data(), w.data(), b.data(), y.data(), mean.data(),
                     rstd.data());
    Vec dx(x.size(), kGarbage), dw(d, kGarbage), db(d, kGarbage);
    layerNormBackward(rows, d, x.data(), r.data(), w.data(), mean.data(), rstd.data(),
                      dx.data(), dw.data(), db.data());
    auto fwd = [&] {
      Vec out(x.size()), m(rows), s(rows);
      layerNormForward(rows, d, eps, x.data(), w.data(), b.data(), out.data(), m.data(),
                       s.data());
      return out;
    };
    checkGradient(x, dx, r, fwd, 1e-3f);
    checkGradient(w, dw, r, fwd, 1e-3f);
    checkGradient(b, db, r, fwd, 1e-3f);
  }
}

TEST(LayerNormKernels, BackwardIndependentOfThreads) {
  const int64_t rows = 257, d = 130;
  std::mt19937 rng(3);
  Vec x = randomVec(rng, rows * d), w = randomVec(rng, d), b = randomVec(rng, d);
  Vec dy = randomVec(rng, rows * d), y(x.size()), mean(rows), rstd(rows);
  layerNormForward(rows, d, 1e-5f, x.data(), w.data(), b.data(), y.data(), mean.data(),
                   rstd.data());
  Vec dx1(x.size()), dw1(d), db1(d), dx2(x.size()), dw2(d), db2(d);
  layerNormBackward(rows, d, x.data(), dy.data(), w.data(), mean.data(), rstd.data(),
                    dx1.data(), dw1.data(), db1.data());
  setThreads(2);
  layerNormBackward(rows, d, x.data(), dy.data(), w.data(), mean.data(), rstd.data(),
                    dx2.data(), dw2.data(), db2.data());
  setThreads(1);
  EXPECT_EQ(dx1, dx2);
  EXPECT_EQ(dw1, dw2);
  EXPECT_EQ(db1, db2);
}

} // namespace
