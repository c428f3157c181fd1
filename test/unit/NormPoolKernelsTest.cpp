// Unit tests for the batch-norm and average-pooling kernels: forward results against naive
// double-precision references, the running-statistics update against hand-computed values,
// and every backward kernel against central finite differences of the forward kernel.
#include "runtime/cpu/NormPoolKernels.h"

#include "BlockedLayout.h"
#include "GradientCheck.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace dlc::cpu;

namespace {

using namespace dlc::testing;

/// Batch norm's x gradient is sensitive to the step: a looser default than the other kernels.
void checkGradient(Vec &in, const Vec &analytic, const Vec &r, const std::function<Vec()> &fwd,
                   float eps = 1e-2f, double relTol = 2e-2) {
  dlc::testing::checkGradient(in, analytic, r, fwd, eps, relTol);
}

// ---------------------------------------------------------------- batch norm

struct BnRef {
  std::vector<double> mean, var;  // biased variance
  Vec y;
};

/// Textbook batch norm in double: two loops over each channel, no shared helpers with the kernel.
BnRef naiveBatchNorm(int n, int c, int hw, float eps, const Vec &x, const Vec &gamma, const Vec &beta) {
  BnRef r{std::vector<double>(c), std::vector<double>(c), Vec(x.size())};
  const double count = (double)n * hw;
  for (int ch = 0; ch < c; ++ch) {
    double s = 0.0;
    for (int b = 0; b < n; ++b)
      for (int i = 0; i < hw; ++i)
        s += x[((size_t)b * c + ch) * hw + i];
    r.mean[ch] = s / count;
    double v = 0.0;
    for (int b = 0; b < n; ++b)
      for (int i = 0; i < hw; ++i) {
        double d = x[((size_t)b * c + ch) * hw + i] - r.mean[ch];
        v += d * d;
      }
    r.var[ch] = v / count;
    for (int b = 0; b < n; ++b)
      for (int i = 0; i < hw; ++i) {
        size_t k = ((size_t)b * c + ch) * hw + i;
        r.y[k] = (float)(gamma[ch] * (x[k] - r.mean[ch]) / std::sqrt(r.var[ch] + eps) + beta[ch]);
      }
  }
  return r;
}

/// Inputs and outputs of one batchNormTrain call; outputs start as garbage.
struct BnData {
  int n, c, hw;
  float eps = 1e-5f, momentum = 0.1f;
  Vec x, gamma, beta, runMean, runVar;
  BnData(int n_, int c_, int hw_, std::mt19937 &rng)
      : n(n_), c(c_), hw(hw_), x(randomVec(rng, (size_t)n_ * c_ * hw_, -2.0f, 3.0f)),
        gamma(randomVec(rng, c_, 0.5f, 1.5f)), beta(randomVec(rng, c_)), runMean(randomVec(rng, c_)),
        runVar(randomVec(rng, c_, 0.5f, 2.0f)) {}
  size_t size() const { return x.size(); }
  /// Runs the kernel on copies of the running stats so repeated calls (finite differences)
  /// see identical inputs.
  Vec forward(Vec *mean = nullptr, Vec *invStd = nullptr, Vec *rm = nullptr, Vec *rv = nullptr) const {
    Vec y(size(), kGarbage), sm(c, kGarbage), si(c, kGarbage), m = runMean, v = runVar;
    batchNormTrain(n, c, hw, eps, momentum, x.data(), gamma.data(), beta.data(), m.data(), v.data(), y.data(),
                   sm.data(), si.data());
    if (mean) *mean = sm;
    if (invStd) *invStd = si;
    if (rm) *rm = m;
    if (rv) *rv = v;
    return y;
  }
};

struct BnShape { int n, c, hw; };
const BnShape kBnShapes[] = {
    {3, 4, 5},   // moderate: the x gradient check is sensitive to size
    {2, 3, 37},  // odd hw exercises the non-multiple-of-4 and vector tails
    {1, 2, 1},   // hw 1 (the per-channel vector after global pooling), batch 1
    {8, 2, 1},   // hw 1 with a real batch
};

TEST(NormPoolKernelsTest, BatchNormTrainMatchesNaive) {
  std::mt19937 rng(11);
  for (const BnShape &sh : kBnShapes) {
    if (sh.n * sh.hw < 2)
      continue;  // no unbiased variance; BatchNormTrainSingleElement covers it
    SCOPED_TRACE("n=" + std::to_string(sh.n) + " c=" + std::to_string(sh.c) + " hw=" + std::to_string(sh.hw));
    BnData d(sh.n, sh.c, sh.hw, rng);
    Vec mean, invStd, rm, rv;
    Vec y = d.forward(&mean, &invStd, &rm, &rv);
    BnRef ref = naiveBatchNorm(d.n, d.c, d.hw, d.eps, d.x, d.gamma, d.beta);
    expectAllNear(y, ref.y);
    const double count = (double)d.n * d.hw;
    for (int ch = 0; ch < d.c; ++ch) {
      EXPECT_NEAR(mean[ch], ref.mean[ch], 1e-5) << "channel " << ch;
      EXPECT_NEAR(invStd[ch], 1.0 / std::sqrt(ref.var[ch] + d.eps), 1e-4 * invStd[ch]) << "channel " << ch;
      double unbiased = ref.var[ch] * count / (count - 1.0);
      EXPECT_NEAR(rm[ch], 0.9 * d.runMean[ch] + 0.1 * ref.mean[ch], 1e-5) << "channel " << ch;
      EXPECT_NEAR(rv[ch], 0.9 * d.runVar[ch] + 0.1 * unbiased, 1e-5) << "channel " << ch;
    }
  }
}

TEST(NormPoolKernelsTest, BatchNormTrainByHand) {
  // One channel, n=2, hw=2, x = {1,2,3,4}: mean 2.5, biased var 1.25, unbiased var 5/3.
  const Vec x = {1, 2, 3, 4}, gamma = {2.0f}, beta = {0.5f};
  Vec runMean = {0.5f}, runVar = {2.0f}, y(4, kGarbage), sm(1, kGarbage), si(1, kGarbage);
  batchNormTrain(2, 1, 2, 0.0f, 0.25f, x.data(), gamma.data(), beta.data(), runMean.data(), runVar.data(),
                 y.data(), sm.data(), si.data());
  const double invStd = 1.0 / std::sqrt(1.25);
  EXPECT_FLOAT_EQ(sm[0], 2.5f);
  EXPECT_FLOAT_EQ(si[0], (float)invStd);
  EXPECT_FLOAT_EQ(runMean[0], 0.75f * 0.5f + 0.25f * 2.5f);                 // 1.0
  EXPECT_FLOAT_EQ(runVar[0], (float)(0.75 * 2.0 + 0.25 * (5.0 / 3.0)));     // 1.916667
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(y[i], 2.0 * (x[i] - 2.5) * invStd + 0.5, 1e-6) << "index " << i;
}

TEST(NormPoolKernelsTest, BatchNormTrainLargeOffset) {
  // Values near 1000 with unit spread: a one-pass E[x^2] - E[x]^2 in float loses the variance
  // entirely here, so this pins down the two-pass double reduction.
  std::mt19937 rng(12);
  BnData d(4, 3, 50, rng);
  for (float &v : d.x)
    v += 1000.0f;
  Vec mean, invStd;
  Vec y = d.forward(&mean, &invStd);
  BnRef ref = naiveBatchNorm(d.n, d.c, d.hw, d.eps, d.x, d.gamma, d.beta);
  expectAllNear(y, ref.y, 1e-3f);
  for (int ch = 0; ch < d.c; ++ch)
    EXPECT_NEAR(invStd[ch], 1.0 / std::sqrt(ref.var[ch] + d.eps), 1e-4 * invStd[ch]) << "channel " << ch;
}

TEST(NormPoolKernelsTest, BatchNormTrainSingleElement) {
  // n*hw == 1: y is beta, and the running variance must stay finite (no division by n*hw-1).
  const Vec x = {3.0f, -1.0f}, gamma = {2.0f, 3.0f}, beta = {0.25f, -0.5f};
  Vec runMean = {0.0f, 1.0f}, runVar = {1.0f, 1.0f}, y(2, kGarbage), sm(2, kGarbage), si(2, kGarbage);
  batchNormTrain(1, 2, 1, 1e-5f, 0.1f, x.data(), gamma.data(), beta.data(), runMean.data(), runVar.data(),
                 y.data(), sm.data(), si.data());
  EXPECT_FLOAT_EQ(y[0], 0.25f);
  EXPECT_FLOAT_EQ(y[1], -0.5f);
  EXPECT_FLOAT_EQ(runMean[0], 0.3f);
  EXPECT_FLOAT_EQ(runMean[1], 0.8f);
  EXPECT_TRUE(std::isfinite(runVar[0]) && std::isfinite(runVar[1]));
}

TEST(NormPoolKernelsTest, BatchNormEvalMatchesNaive) {
  std::mt19937 rng(13);
  for (const BnShape &sh : kBnShapes) {
    SCOPED_TRACE("n=" + std::to_string(sh.n) + " c=" + std::to_string(sh.c) + " hw=" + std::to_string(sh.hw));
    BnData d(sh.n, sh.c, sh.hw, rng);
    d.eps = 0.25f;  // large enough that dropping eps from the denominator shows
    Vec y(d.size(), kGarbage);
    batchNormEval(d.n, d.c, d.hw, d.eps, d.x.data(), d.gamma.data(), d.beta.data(), d.runMean.data(),
                  d.runVar.data(), y.data());
    Vec ref(d.size());
    for (int b = 0; b < d.n; ++b)
      for (int ch = 0; ch < d.c; ++ch)
        for (int i = 0; i < d.hw; ++i) {
          size_t k = ((size_t)b * d.c + ch) * d.hw + i;
          ref[k] = (float)(d.gamma[ch] * (d.x[k] - (double)d.runMean[ch]) / std::sqrt((double)d.runVar[ch] + d.eps) +
                           d.beta[ch]);
        }
    expectAllNear(y, ref);
  }
}

/// Runs batchNormBackward for dy = r at d's current inputs (outputs prefilled with garbage).
void bnBackward(const BnData &d, const Vec &r, Vec &dx, Vec &dgamma, Vec &dbeta) {
  Vec mean, invStd;
  d.forward(&mean, &invStd);
  dx.assign(d.size(), kGarbage);
  dgamma.assign(d.c, kGarbage);
  dbeta.assign(d.c, kGarbage);
  batchNormBackward(d.n, d.c, d.hw, d.x.data(), r.data(), d.gamma.data(), mean.data(), invStd.data(), dx.data(),
                    dgamma.data(), dbeta.data());
}

TEST(NormPoolKernelsTest, BatchNormBackwardMatchesFiniteDifferences) {
  std::mt19937 rng(14);
  for (const BnShape &sh : kBnShapes) {
    if (sh.n * sh.hw < 2)
      continue;
    SCOPED_TRACE("n=" + std::to_string(sh.n) + " c=" + std::to_string(sh.c) + " hw=" + std::to_string(sh.hw));
    BnData d(sh.n, sh.c, sh.hw, rng);
    // The data's spread (about 1.4) dwarfs the 1e-2 step, so the curvature of invStd in x stays
    // within the central-difference error budget.
    const Vec r = randomVec(rng, d.size());
    Vec dx, dgamma, dbeta;
    bnBackward(d, r, dx, dgamma, dbeta);
    auto fwd = [&] { return d.forward(); };
    {
      SCOPED_TRACE("dx");
      checkGradient(d.x, dx, r, fwd);
    }
    {
      SCOPED_TRACE("dgamma");
      checkGradient(d.gamma, dgamma, r, fwd);
    }
    {
      SCOPED_TRACE("dbeta");
      checkGradient(d.beta, dbeta, r, fwd);
    }
  }
}

TEST(NormPoolKernelsTest, BatchNormBackwardInvariants) {
  // Batch statistics make y invariant to shifting a channel, so dx sums to 0 per channel; and
  // dy = const gives dx = 0. Both are easy to break with a wrong mean term.
  std::mt19937 rng(15);
  BnData d(3, 4, 5, rng);
  const Vec r = randomVec(rng, d.size());
  Vec dx, dgamma, dbeta;
  bnBackward(d, r, dx, dgamma, dbeta);
  for (int ch = 0; ch < d.c; ++ch) {
    double s = 0.0, dyS = 0.0;
    for (int b = 0; b < d.n; ++b)
      for (int i = 0; i < d.hw; ++i) {
        s += dx[((size_t)b * d.c + ch) * d.hw + i];
        dyS += r[((size_t)b * d.c + ch) * d.hw + i];
      }
    EXPECT_NEAR(s, 0.0, 1e-4) << "channel " << ch;
    EXPECT_NEAR(dbeta[ch], dyS, 1e-5) << "channel " << ch;
  }
  bnBackward(d, Vec(d.size(), 0.75f), dx, dgamma, dbeta);
  for (size_t i = 0; i < dx.size(); ++i)
    EXPECT_NEAR(dx[i], 0.0f, 1e-5) << "index " << i;
}

// ---------------------------------------------------------------- average pooling

/// Direct definition: every window position, padding read as 0, divided by kh*kw.
Vec naiveAvgPool(const PoolShape &s, const Vec &x) {
  const int oh = s.oh(), ow = s.ow();
  Vec y((size_t)s.n * s.c * oh * ow);
  for (int p = 0; p < s.n * s.c; ++p)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        double acc = 0.0;
        for (int ky = 0; ky < s.kh; ++ky)
          for (int kx = 0; kx < s.kw; ++kx) {
            int iy = oy * s.strideH - s.padH + ky, ix = ox * s.strideW - s.padW + kx;
            if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w)
              acc += x[((size_t)p * s.h + iy) * s.w + ix];
          }
        y[((size_t)p * oh + oy) * ow + ox] = (float)(acc / (s.kh * s.kw));
      }
  return y;
}

struct NamedPool { const char *name; PoolShape s; };
const NamedPool kPoolShapes[] = {
    {"2x2 stride 2", {2, 3, 4, 6, 2, 2, 2, 2, 0, 0}},
    {"2x2 stride 2, odd size drops last row/col", {1, 2, 5, 7, 2, 2, 2, 2, 0, 0}},
    {"3x3 stride 2 pad 1", {2, 2, 7, 7, 3, 3, 2, 2, 1, 1}},
    {"3x3 stride 1 pad 1 (overlapping)", {1, 2, 5, 4, 3, 3, 1, 1, 1, 1}},
    {"global", {2, 3, 5, 3, 5, 3, 1, 1, 0, 0}},
    {"global 7x7", {2, 4, 7, 7, 7, 7, 1, 1, 0, 0}},
    // padding: same (stride 1, odd kernel: (k-1)/2 on each side; the output keeps the input's size)
    {"same 5x3", {2, 2, 6, 5, 5, 3, 1, 1, 2, 1}},
};

size_t inSize(const PoolShape &s) { return (size_t)s.n * s.c * s.h * s.w; }
size_t outSize(const PoolShape &s) { return (size_t)s.n * s.c * s.oh() * s.ow(); }

TEST(NormPoolKernelsTest, AvgPoolForwardMatchesNaive) {
  std::mt19937 rng(21);
  for (const NamedPool &np : kPoolShapes) {
    SCOPED_TRACE(np.name);
    const Vec x = randomVec(rng, inSize(np.s));
    Vec y(outSize(np.s), kGarbage);
    avgPool2dForward(np.s, x.data(), y.data());
    expectAllNear(y, naiveAvgPool(np.s, x), 1e-5f);
  }
}

TEST(NormPoolKernelsTest, AvgPoolCountsPaddingInDivisor) {
  // A corner window of a 3x3 pad-1 pool sees 4 ones and 5 padded zeros: 4/9, not 1.
  const PoolShape s{1, 1, 3, 3, 3, 3, 2, 2, 1, 1};
  const Vec x(9, 1.0f);
  Vec y(outSize(s), kGarbage);
  ASSERT_EQ(y.size(), 4u);
  avgPool2dForward(s, x.data(), y.data());
  for (float v : y)
    EXPECT_FLOAT_EQ(v, 4.0f / 9.0f);
}

TEST(NormPoolKernelsTest, AvgPoolBackwardMatchesFiniteDifferences) {
  std::mt19937 rng(22);
  for (const NamedPool &np : kPoolShapes) {
    SCOPED_TRACE(np.name);
    Vec x = randomVec(rng, inSize(np.s));
    const Vec r = randomVec(rng, outSize(np.s));
    Vec dx(x.size(), kGarbage);
    avgPool2dBackward(np.s, r.data(), dx.data());
    checkGradient(x, dx, r, [&] {
      Vec y(outSize(np.s), kGarbage);
      avgPool2dForward(np.s, x.data(), y.data());
      return y;
    });
  }
}

}  // namespace

// ---------------------------------------------------------------- channel-blocked layout

namespace {

Vec randomVec(size_t size, unsigned seed, float lo = -2.0f, float hi = 3.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Vec v(size);
  for (float &e : v)
    e = dist(gen);
  return v;
}

/// Largest |a - b| / (1 + |b|).
double worst(const Vec &a, const Vec &b) {
  double w = 0.0;
  for (size_t i = 0; i < a.size(); ++i)
    w = std::max(w, std::fabs((double)a[i] - b[i]) / (1.0 + std::fabs((double)b[i])));
  return w;
}
} // namespace

// The blocked kernels compute what the NCHW ones do, on the same tensors reordered: forward
// outputs, saved and running statistics, all three gradients, for both block sizes, with
// channel-dependent offsets so that mixing up channels cannot pass.
TEST(NormPoolKernelsTest, BatchNormBlockedMatchesNchw) {
  for (int block : {8, 16}) {
    const int n = 3, c = 2 * block, hw = 37;
    const size_t size = (size_t)n * c * hw;
    Vec x = randomVec(size, 11 + block), dy = randomVec(size, 12 + block);
    for (int b = 0; b < n; ++b)
      for (int ch = 0; ch < c; ++ch)
        for (int i = 0; i < hw; ++i)
          x[((size_t)b * c + ch) * hw + i] += 5.0f * ch;
    const Vec gamma = randomVec(c, 13, 0.5f, 1.5f), beta = randomVec(c, 14);
    Vec rm(c, 0.1f), rv(c, 0.9f), rmB = rm, rvB = rv;
    Vec y(size), yB(size), mean(c), inv(c), meanB(c), invB(c);
    batchNormTrain(n, c, hw, 1e-5f, 0.1f, x.data(), gamma.data(), beta.data(), rm.data(),
                   rv.data(), y.data(), mean.data(), inv.data());
    const Vec xB = toBlocked(x, n, c, hw, block), dyB = toBlocked(dy, n, c, hw, block);
    batchNormTrain(n, c, hw, 1e-5f, 0.1f, xB.data(), gamma.data(), beta.data(), rmB.data(),
                   rvB.data(), yB.data(), meanB.data(), invB.data(), block);
    EXPECT_LT(worst(yB, toBlocked(y, n, c, hw, block)), 1e-6) << "block " << block;
    EXPECT_LT(worst(meanB, mean), 1e-6);
    EXPECT_LT(worst(invB, inv), 1e-6);
    EXPECT_LT(worst(rmB, rm), 1e-6);
    EXPECT_LT(worst(rvB, rv), 1e-6);

    Vec e(size), eB(size);
    batchNormEval(n, c, hw, 1e-5f, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                  e.data());
    batchNormEval(n, c, hw, 1e-5f, xB.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                  eB.data(), block);
    EXPECT_LT(worst(eB, toBlocked(e, n, c, hw, block)), 1e-6);

    Vec dx(size), dxB(size), dg(c), db(c), dgB(c), dbB(c);
    batchNormBackward(n, c, hw, x.data(), dy.data(), gamma.data(), mean.data(), inv.data(),
                      dx.data(), dg.data(), db.data());
    batchNormBackward(n, c, hw, xB.data(), dyB.data(), gamma.data(), mean.data(), inv.data(),
                      dxB.data(), dgB.data(), dbB.data(), block);
    EXPECT_LT(worst(dxB, toBlocked(dx, n, c, hw, block)), 1e-5);
    EXPECT_LT(worst(dgB, dg), 1e-5);
    EXPECT_LT(worst(dbB, db), 1e-5);
  }
}

TEST(NormPoolKernelsTest, GlobalAvgPoolBlockedMatchesNchw) {
  for (int block : {8, 16}) {
    const int n = 2, c = 3 * block, h = 5, w = 7;
    const PoolShape s{n, c, h, w, h, w, 1, 1, 0, 0};
    const size_t size = (size_t)n * c * h * w;
    const Vec x = randomVec(size, 21 + block), dy = randomVec((size_t)n * c, 22 + block);
    Vec y((size_t)n * c), yB((size_t)n * c), dx(size), dxB(size);
    avgPool2dForward(s, x.data(), y.data());
    avgPool2dForward(s, toBlocked(x, n, c, h * w, block).data(), yB.data(), block);
    EXPECT_LT(worst(yB, y), 1e-6) << "block " << block;
    avgPool2dBackward(s, dy.data(), dx.data());
    avgPool2dBackward(s, dy.data(), dxB.data(), block);
    EXPECT_LT(worst(dxB, toBlocked(dx, n, c, h * w, block)), 1e-7);
  }
}

// The fused ReLU epilogue (dl.batch_norm {relu}): max(normalised, 0) for training and
// evaluation, NCHW and blocked, against the kernel without it followed by a ReLU; the
// statistics are those of the normalised value before the ReLU.
TEST(NormPoolKernelsTest, BatchNormReluEpilogue) {
  for (int block : {0, 8, 16}) {
    const int n = 2, c = 16, hw = 9;
    const size_t size = (size_t)n * c * hw;
    const Vec x = randomVec(size, 31), gamma = randomVec(c, 32, 0.5f, 1.5f),
              beta = randomVec(c, 33, -0.5f, 0.5f);
    Vec rm(c, 0.f), rv(c, 1.f), rmR = rm, rvR = rv;
    Vec y(size), yR(size), mean(c), inv(c), meanR(c), invR(c);
    batchNormTrain(n, c, hw, 1e-5f, 0.1f, x.data(), gamma.data(), beta.data(), rm.data(),
                   rv.data(), y.data(), mean.data(), inv.data(), block);
    batchNormTrain(n, c, hw, 1e-5f, 0.1f, x.data(), gamma.data(), beta.data(), rmR.data(),
                   rvR.data(), yR.data(), meanR.data(), invR.data(), block, /*relu=*/true);
    size_t zeros = 0;
    for (size_t i = 0; i < size; ++i) {
      EXPECT_EQ(yR[i], y[i] > 0.0f ? y[i] : 0.0f) << "block " << block << " element " << i;
      zeros += yR[i] == 0.0f;
    }
    EXPECT_GT(zeros, size / 4) << "the test's data must exercise the ReLU";
    EXPECT_EQ(meanR, mean);
    EXPECT_EQ(invR, inv);
    EXPECT_EQ(rmR, rm);
    EXPECT_EQ(rvR, rv);
    Vec e(size), eR(size);
    batchNormEval(n, c, hw, 1e-5f, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                  e.data(), block);
    batchNormEval(n, c, hw, 1e-5f, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                  eR.data(), block, /*relu=*/true);
    for (size_t i = 0; i < size; ++i)
      EXPECT_EQ(eR[i], e[i] > 0.0f ? e[i] : 0.0f) << "block " << block << " element " << i;
  }
}

// Max pooling in the blocked layout against NCHW reordered: ResNet's 3x3 stride 2 padding 1
// on odd sizes (clipped windows at both edges), 2x2 stride 2, and the backward with and
// without the fused ReLU, with ties (repeated values) so that the first arg-max matters.
TEST(NormPoolKernelsTest, MaxPoolBlockedMatchesNchw) {
  for (int block : {8, 16})
    for (const PoolShape &s : {PoolShape{2, 2 * block, 9, 11, 3, 3, 2, 2, 1, 1},
                               PoolShape{3, block, 8, 6, 2, 2, 2, 2, 0, 0}}) {
      const int hw = s.h * s.w, ohw = s.oh() * s.ow();
      Vec x = randomVec((size_t)s.n * s.c * hw, 41 + block);
      for (size_t i = 0; i < x.size(); i += 3)
        x[i] = std::round(x[i]); // ties
      const Vec dy = randomVec((size_t)s.n * s.c * ohw, 42 + block);
      Vec y((size_t)s.n * s.c * ohw), yB(y.size());
      maxPool2dForward(s, x.data(), y.data());
      const Vec xB = toBlocked(x, s.n, s.c, hw, block), dyB = toBlocked(dy, s.n, s.c, ohw, block);
      maxPool2dForward(s, xB.data(), yB.data(), block);
      EXPECT_EQ(yB, toBlocked(y, s.n, s.c, ohw, block)) << "block " << block << " k " << s.kh;
      for (bool relu : {false, true}) {
        Vec dx(x.size(), 7.0f), dxB(x.size(), 7.0f);
        maxPool2dBackward(s, x.data(), dy.data(), dx.data(), relu);
        maxPool2dBackward(s, xB.data(), dyB.data(), dxB.data(), relu, block);
        EXPECT_EQ(dxB, toBlocked(dx, s.n, s.c, hw, block))
            << "block " << block << " k " << s.kh << " relu " << relu;
      }
    }
}
