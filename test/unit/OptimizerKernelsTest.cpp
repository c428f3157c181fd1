// Unit tests of the scheduled optimizers' kernels (runtime/cpu/OptimizerKernels.h): several
// steps of sgd_step and adam_step against straightforward double-precision transcriptions
// of PyTorch's documented algorithms (torch.optim.SGD, Adam, AdamW), schedule values at
// chosen steps against their closed forms, the clip factor against clip_grad_norm_'s rule,
// and each optimizer minimising a quadratic. (Bit-level agreement with PyTorch itself is
// test/parity's job.)
#include "runtime/cpu/OptimizerKernels.h"
#include "runtime/cpu/Parallel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace dlc::cpu;

namespace {

using Vec = std::vector<float>;

Vec randomVec(size_t n, std::mt19937 &rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  Vec v(n);
  for (float &x : v)
    x = d(rng);
  return v;
}

/// A state buffer at the start of step t (1-based) with learning rate lr and clip factor 1.
Vec stateFor(int t, float lr, float clip = 1.0f) { return {float(t), lr, 0.0f, clip}; }

void expectNear(const Vec &got, const std::vector<double> &want, double rel, const char *what,
                int step) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], rel * (1.0 + std::fabs(want[i])))
        << what << "[" << i << "] at step " << step;
}

// ---------------------------------------------------------------- SGD

/// torch.optim.SGD's algorithm (dampening 0) in double.
struct RefSgd {
  double lr, momentum, wd;
  bool nesterov;
  std::vector<double> w, buf;
  int t = 0;
  void step(const Vec &g, double clip) {
    ++t;
    for (size_t i = 0; i < w.size(); ++i) {
      double d = g[i] * clip + wd * w[i];
      if (momentum != 0) {
        buf[i] = t == 1 ? d : momentum * buf[i] + d;
        d = nesterov ? d + momentum * buf[i] : buf[i];
      }
      w[i] -= lr * d;
    }
  }
};

void checkSgd(bool nesterov, float momentum, float wd, float clip) {
  std::mt19937 rng(7);
  const size_t n = 37;
  Vec w = randomVec(n, rng), m(n, 0.0f);
  RefSgd ref{0.05, momentum, wd, nesterov, std::vector<double>(w.begin(), w.end()),
             std::vector<double>(n, 0.0)};
  for (int t = 1; t <= 6; ++t) {
    Vec g = randomVec(n, rng);
    Vec s = stateFor(t, 0.05f, clip);
    sgdStep(n, nesterov, momentum, wd, w.data(), g.data(), m.data(), s.data());
    ref.step(g, clip);
    expectNear(w, ref.w, 1e-5, "w", t);
  }
}

TEST(OptimizerKernelsTest, SgdPlain) { checkSgd(false, 0.0f, 0.0f, 1.0f); }
TEST(OptimizerKernelsTest, SgdMomentumWeightDecay) { checkSgd(false, 0.9f, 0.01f, 1.0f); }
TEST(OptimizerKernelsTest, SgdNesterov) { checkSgd(true, 0.9f, 0.001f, 1.0f); }
TEST(OptimizerKernelsTest, SgdClipped) { checkSgd(true, 0.8f, 0.0f, 0.25f); }

TEST(OptimizerKernelsTest, NesterovDiffersFromPlainMomentum) {
  Vec w1 = {1.0f, -2.0f}, w2 = w1, m1(2, 0.0f), m2(2, 0.0f), g = {0.5f, 0.25f};
  for (int t = 1; t <= 2; ++t) {
    Vec s = stateFor(t, 0.1f);
    sgdStep(2, false, 0.9f, 0.0f, w1.data(), g.data(), m1.data(), s.data());
    sgdStep(2, true, 0.9f, 0.0f, w2.data(), g.data(), m2.data(), s.data());
  }
  // Step 1: plain 1 - 0.1*0.5; Nesterov 1 - 0.1*(0.5 + 0.9*0.5). Step 2: buf = 0.95.
  EXPECT_FLOAT_EQ(w1[0], 1.0f - 0.05f - 0.1f * 0.95f);
  EXPECT_FLOAT_EQ(w2[0], 1.0f - 0.1f * 0.95f - 0.1f * (0.5f + 0.9f * 0.95f));
}

// ---------------------------------------------------------------- Adam / AdamW

/// torch.optim.Adam / AdamW's algorithm in double.
struct RefAdam {
  double lr, b1, b2, eps, wd;
  bool decoupled;
  std::vector<double> w, m, v;
  int t = 0;
  void step(const Vec &g, double clip) {
    ++t;
    for (size_t i = 0; i < w.size(); ++i) {
      double gi = g[i] * clip;
      if (decoupled)
        w[i] *= 1 - lr * wd;
      else
        gi += wd * w[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      const double mhat = m[i] / (1 - std::pow(b1, t)), vhat = v[i] / (1 - std::pow(b2, t));
      w[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
};

void checkAdam(bool decoupled, float wd, float clip, const std::vector<float> &lrs) {
  std::mt19937 rng(11);
  const size_t n = 41;
  Vec w = randomVec(n, rng), m(n, 0.0f), v(n, 0.0f);
  std::vector<double> w0(w.begin(), w.end());
  RefAdam ref{0, 0.9, 0.999, 1e-8, wd, decoupled, w0, std::vector<double>(n, 0.0),
              std::vector<double>(n, 0.0)};
  for (int t = 1; t <= int(lrs.size()); ++t) {
    Vec g = randomVec(n, rng, 0.1f);
    Vec s = stateFor(t, lrs[t - 1], clip);
    adamStep(n, decoupled, 0.9f, 0.999f, 1e-8f, wd, w.data(), g.data(), m.data(), v.data(),
             s.data());
    ref.lr = s[kOptLr];
    ref.step(g, clip);
    expectNear(w, ref.w, 1e-5, "w", t);
  }
}

TEST(OptimizerKernelsTest, Adam) { checkAdam(false, 0.0f, 1.0f, {1e-3f, 1e-3f, 1e-3f, 1e-3f, 1e-3f}); }
TEST(OptimizerKernelsTest, AdamL2) { checkAdam(false, 0.05f, 1.0f, {1e-2f, 1e-2f, 1e-2f, 1e-2f}); }
TEST(OptimizerKernelsTest, AdamWScheduledClipped) {
  checkAdam(true, 0.1f, 0.5f, {2e-3f, 4e-3f, 6e-3f, 5e-3f, 3e-3f, 1e-3f});
}

TEST(OptimizerKernelsTest, AdamFirstStepIsLrTimesSign) {
  // Bias correction makes the first step lr * g / (|g| + eps): lr in the gradient's
  // direction, whatever its size.
  Vec w = {0.0f, 0.0f}, m(2, 0.0f), v(2, 0.0f), g = {3.0f, -0.002f}, s = stateFor(1, 0.01f);
  adamStep(2, false, 0.9f, 0.999f, 1e-8f, 0.0f, w.data(), g.data(), m.data(), v.data(), s.data());
  EXPECT_NEAR(w[0], -0.01f, 1e-7);
  EXPECT_NEAR(w[1], 0.01f, 1e-6);
}

TEST(OptimizerKernelsTest, AdamWDecaysWithoutGradient) {
  // A zero gradient leaves m = v = 0, so only the decoupled decay moves w; Adam's L2 term
  // instead enters the moments and moves w by about lr.
  Vec w = {2.0f}, m(1, 0.0f), v(1, 0.0f), g = {0.0f}, s = stateFor(1, 0.1f);
  adamStep(1, true, 0.9f, 0.999f, 1e-8f, 0.5f, w.data(), g.data(), m.data(), v.data(), s.data());
  EXPECT_FLOAT_EQ(w[0], 2.0f * (1.0f - 0.1f * 0.5f));
  Vec w2 = {2.0f}, m2(1, 0.0f), v2(1, 0.0f);
  adamStep(1, false, 0.9f, 0.999f, 1e-8f, 0.5f, w2.data(), g.data(), m2.data(), v2.data(),
           s.data());
  EXPECT_NEAR(w2[0], 2.0f - 0.1f, 1e-6);
}

TEST(OptimizerKernelsTest, AgreesAcrossThreadCounts) {
  std::mt19937 rng(3);
  const size_t n = 100003; // several of the pool's chunks
  Vec w = randomVec(n, rng), g = randomVec(n, rng), s = stateFor(3, 1e-3f, 0.7f);
  Vec w1 = w, m1(n, 0.1f), v1(n, 0.2f), w2 = w, m2 = m1, v2 = v1;
  setThreads(1);
  adamStep(n, true, 0.9f, 0.99f, 1e-6f, 0.01f, w1.data(), g.data(), m1.data(), v1.data(), s.data());
  setThreads(2);
  adamStep(n, true, 0.9f, 0.99f, 1e-6f, 0.01f, w2.data(), g.data(), m2.data(), v2.data(), s.data());
  setThreads(1);
  EXPECT_EQ(w1, w2);
  EXPECT_EQ(v1, v2);
}

/// Each optimizer drives f(w) = sum (w - c)^2 / 2 (gradient w - c) towards its minimum.
TEST(OptimizerKernelsTest, MinimiseQuadratic) {
  const Vec c = {1.0f, -3.0f, 0.5f};
  auto loss = [&](const Vec &w) {
    double f = 0;
    for (size_t i = 0; i < w.size(); ++i)
      f += 0.5 * (w[i] - c[i]) * (w[i] - c[i]);
    return f;
  };
  for (int which = 0; which < 4; ++which) {
    Vec w(3, 0.0f), m(3, 0.0f), v(3, 0.0f), g(3), s(4, 0.0f);
    const double before = loss(w);
    for (int t = 0; t < 300; ++t) {
      for (size_t i = 0; i < 3; ++i)
        g[i] = w[i] - c[i];
      lrSchedule(int64_t(Schedule::Cosine), 10, 1, 300, which < 2 ? 0.1f : 0.2f, 1.0f, 0.0f,
                 s.data());
      gradSumSq(3, g.data(), s.data());
      clipScale(1.0f, s.data());
      if (which == 0)
        sgdStep(3, false, 0.9f, 0.0f, w.data(), g.data(), m.data(), s.data());
      else if (which == 1)
        sgdStep(3, true, 0.9f, 0.0f, w.data(), g.data(), m.data(), s.data());
      else
        adamStep(3, which == 3, 0.9f, 0.999f, 1e-8f, 0.0f, w.data(), g.data(), m.data(),
                 v.data(), s.data());
    }
    EXPECT_LT(loss(w), 1e-3 * before) << "optimizer " << which;
  }
}

// ---------------------------------------------------------------- schedules

TEST(OptimizerKernelsTest, ScheduleValues) {
  const double lr = 0.1, minLr = 0.001;
  auto at = [&](Schedule s, int64_t warmup, double t) {
    return scheduledLr(s, warmup, 3, 110, lr, 0.5, minLr, t);
  };
  // Warm-up: lr * t / warmup, whatever follows.
  for (Schedule s : {Schedule::Constant, Schedule::Step, Schedule::Cosine, Schedule::Linear}) {
    EXPECT_DOUBLE_EQ(at(s, 10, 1), 0.01);
    EXPECT_DOUBLE_EQ(at(s, 10, 10), 0.1);
    EXPECT_DOUBLE_EQ(at(s, 10, 11), lr); // the first step after warm-up starts at lr
  }
  EXPECT_DOUBLE_EQ(at(Schedule::Constant, 0, 1000), lr);
  // Step: StepLR(step_size 3, gamma 0.5) counting steps after warm-up from 0.
  EXPECT_DOUBLE_EQ(at(Schedule::Step, 0, 3), lr);
  EXPECT_DOUBLE_EQ(at(Schedule::Step, 0, 4), lr * 0.5);
  EXPECT_DOUBLE_EQ(at(Schedule::Step, 0, 10), lr * 0.125);
  EXPECT_DOUBLE_EQ(at(Schedule::Step, 10, 14), lr * 0.5);
  // Cosine over total - warmup = 100 steps: halfway is the mean, then min_lr from step 111.
  EXPECT_NEAR(at(Schedule::Cosine, 10, 61), (lr + minLr) / 2, 1e-15);
  EXPECT_NEAR(at(Schedule::Cosine, 10, 36), minLr + (lr - minLr) * (1 + std::cos(M_PI / 4)) / 2,
              1e-15);
  EXPECT_DOUBLE_EQ(at(Schedule::Cosine, 10, 111), minLr);
  EXPECT_DOUBLE_EQ(at(Schedule::Cosine, 10, 5000), minLr);
  // Linear: a quarter of the way, then min_lr.
  EXPECT_NEAR(at(Schedule::Linear, 10, 36), lr + (minLr - lr) * 0.25, 1e-15);
  EXPECT_DOUBLE_EQ(at(Schedule::Linear, 10, 111), minLr);
}

TEST(OptimizerKernelsTest, LrScheduleKernelStartsAStep) {
  Vec s = {4.0f, 123.0f, 55.0f, 0.3f};
  lrSchedule(int64_t(Schedule::Linear), 0, 1, 10, 0.1f, 1.0f, 0.0f, s.data());
  EXPECT_EQ(s[kOptStep], 5.0f);
  EXPECT_FLOAT_EQ(s[kOptLr], float(scheduledLr(Schedule::Linear, 0, 1, 10, 0.1, 1.0, 0.0, 5)));
  EXPECT_FLOAT_EQ(s[kOptLr], 0.06f);
  EXPECT_EQ(s[kOptSumSq], 0.0f);
  EXPECT_EQ(s[kOptClip], 1.0f);
}

// ---------------------------------------------------------------- clipping

TEST(OptimizerKernelsTest, ClipFactorFromGlobalNorm) {
  Vec a = {3.0f, 0.0f}, b = {0.0f, 4.0f, 0.0f}, s = stateFor(1, 0.1f);
  gradSumSq(a.size(), a.data(), s.data());
  gradSumSq(b.size(), b.data(), s.data());
  EXPECT_FLOAT_EQ(s[kOptSumSq], 25.0f); // global norm 5
  Vec big = s, small = s;
  clipScale(1.0f, big.data());
  EXPECT_FLOAT_EQ(big[kOptClip], 1.0f / (5.0f + 1e-6f));
  clipScale(10.0f, small.data()); // below the limit: unchanged gradients
  EXPECT_EQ(small[kOptClip], 1.0f);
}

TEST(OptimizerKernelsTest, ClippedStepEqualsStepOnScaledGradient) {
  // An update with clip factor c is the update of gradient c * g, as clip_grad_norm_ then
  // optimizer.step() does.
  Vec g = {0.6f, -0.8f, 2.0f}, gs(3);
  const float c = 0.37f;
  for (size_t i = 0; i < 3; ++i)
    gs[i] = g[i] * c;
  Vec w1 = {1.0f, 2.0f, 3.0f}, w2 = w1, m1(3, 0.0f), m2 = m1, v1(3, 0.0f), v2 = v1;
  Vec s1 = stateFor(2, 0.01f, c), s2 = stateFor(2, 0.01f, 1.0f);
  adamStep(3, true, 0.9f, 0.999f, 1e-8f, 0.01f, w1.data(), g.data(), m1.data(), v1.data(), s1.data());
  adamStep(3, true, 0.9f, 0.999f, 1e-8f, 0.01f, w2.data(), gs.data(), m2.data(), v2.data(), s2.data());
  EXPECT_EQ(w1, w2);
}

} // namespace
