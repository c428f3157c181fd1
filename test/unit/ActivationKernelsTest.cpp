// Unit tests for the activation, mul/sub/neg and softmax kernels (ActivationKernels.h): each
// forward kernel against its definition in double (and a few values PyTorch prints), in place,
// and each backward kernel against central finite differences of its forward kernel.
#include "runtime/cpu/ActivationKernels.h"

#include "GradientCheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

using namespace dlc::cpu;
using namespace dlc::testing;

namespace {

using Fwd = std::function<void(size_t, const float *, float *)>;
using Bwd = std::function<void(size_t, const float *, const float *, float *)>;

/// Random inputs in [lo, hi] kept `gap` away from each kink, where finite differences
/// straddle two slopes.
Vec inputs(std::mt19937 &rng, size_t n, float lo, float hi, std::vector<float> kinks = {},
           float gap = 0.05f) {
  Vec x = randomVec(rng, n, lo, hi);
  for (float &v : x)
    for (float k : kinks)
      if (std::fabs(v - k) < gap)
        v = k + (v < k ? -gap : gap);
  return x;
}

/// y = f(x) elementwise against `ref` in double, then in place.
void checkForward(const Fwd &f, double (*ref)(double), const Vec &x, float tol = 2e-6f) {
  Vec y(x.size(), kGarbage), expected(x.size());
  f(x.size(), x.data(), y.data());
  for (size_t i = 0; i < x.size(); ++i)
    expected[i] = float(ref(x[i]));
  expectAllNear(y, expected, tol);
  Vec z = x;
  f(z.size(), z.data(), z.data());
  expectAllNear(z, y, 0.0f);
}

/// The backward kernel, given the forward input or output (`fromOutput`), against finite
/// differences; also with dx aliasing dy.
void checkBackward(const Fwd &f, const Bwd &b, Vec x, bool fromOutput, uint32_t seed) {
  std::mt19937 rng(seed);
  auto fwd = [&] {
    Vec y(x.size());
    f(x.size(), x.data(), y.data());
    return y;
  };
  Vec y = fwd(), r = randomVec(rng, x.size()), dx(x.size(), kGarbage);
  const Vec &saved = fromOutput ? y : x;
  b(x.size(), r.data(), saved.data(), dx.data());
  checkGradient(x, dx, r, fwd);
  Vec inPlace = r;
  b(x.size(), inPlace.data(), saved.data(), inPlace.data());
  expectAllNear(inPlace, dx, 0.0f);
}

double sigmoidRef(double x) { return 1.0 / (1.0 + std::exp(-x)); }

TEST(ActivationKernels, Tanh) {
  std::mt19937 rng(1);
  Vec x = inputs(rng, 100, -5.0f, 5.0f);
  x.push_back(100.0f), x.push_back(-100.0f);
  checkForward(tanhForward, [](double v) { return std::tanh(v); }, x);
  checkBackward(tanhForward, tanhBackward, inputs(rng, 64, -3.0f, 3.0f), true, 2);
}

// tanh, silu and gelu's tanh form run on VecMath.h's inline exp and tanh (8 lanes and the
// scalar tail): within a few float ulps of the definition, relative to the value, everywhere
// from tiny to saturated inputs (8 ulps: the baseline clone, without FMA, rounds more than
// the AVX2 one).
TEST(ActivationKernels, VectorisedMathIsPreciseEverywhere) {
  Vec x;
  for (float v = -30.0f; v <= 30.0f; v += 0.0037f)
    x.push_back(v);
  for (float v : {1e-30f, -1e-20f, 1e-6f, -3e-4f, 0.0f, 0.6249f, 0.6251f, -0.625f, 88.0f, -90.0f})
    x.push_back(v);
  Vec y(x.size());
  auto check = [&](const char *what, double (*ref)(double), double ulps) {
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = ref(x[i]);
      EXPECT_NEAR(y[i], want, ulps * 6e-8 * std::fabs(want) + 1e-38) << what << "(" << x[i] << ")";
    }
  };
  tanhForward(x.size(), x.data(), y.data());
  check("tanh", [](double v) { return std::tanh(v); }, 8);
  siluForward(x.size(), x.data(), y.data());
  // Below x = -87 exp's argument is clamped: silu(-90) is 5e-37 instead of 7e-38 (and -0 from
  // libm's expf, which overflows).
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i], want = v / (1.0 + std::exp(-v));
    EXPECT_NEAR(y[i], want, 8 * 6e-8 * std::fabs(want) + 1e-36) << "silu(" << v << ")";
  }
  geluTanhForward(x.size(), x.data(), y.data());
  // 1 + tanh(inner) cancels for negative x in any float evaluation (the GPU's tanhf too): an
  // error of a few ulps of 1, times x / 2.
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    const double want =
        0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    EXPECT_NEAR(y[i], want, 8 * 6e-8 * (std::fabs(want) + std::fabs(0.5 * v)))
        << "gelu_tanh(" << v << ")";
  }
}

TEST(ActivationKernels, Silu) {
  std::mt19937 rng(3);
  Vec x = inputs(rng, 100, -8.0f, 8.0f);
  x.push_back(100.0f), x.push_back(-100.0f), x.push_back(-1000.0f); // no NaN from exp overflow
  checkForward(siluForward, [](double v) { return v * sigmoidRef(v); }, x);
  Vec one = {1.0f}, y(1);
  siluForward(1, one.data(), y.data());
  EXPECT_NEAR(y[0], 0.7310585975646973f, 1e-7f); // torch.nn.functional.silu(1.0)
  checkBackward(siluForward, siluBackward, inputs(rng, 64, -6.0f, 6.0f), false, 4);
}

TEST(ActivationKernels, Gelu) {
  std::mt19937 rng(5);
  Vec x = inputs(rng, 100, -6.0f, 6.0f);
  x.push_back(30.0f), x.push_back(-30.0f);
  checkForward(geluForward, [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); },
               x);
  checkForward(
      geluTanhForward,
      [](double v) {
        return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
      },
      x, 4e-6f);
  // torch.nn.functional.gelu(1.0) and gelu(1.0, approximate='tanh'): the two forms differ.
  Vec one = {1.0f}, y(1), t(1);
  geluForward(1, one.data(), y.data());
  geluTanhForward(1, one.data(), t.data());
  EXPECT_NEAR(y[0], 0.841344746f, 1e-7f); // Phi(1)
  EXPECT_NEAR(t[0], 0.8411920070648193f, 1e-7f);
  checkBackward(geluForward, geluBackward, inputs(rng, 64, -4.0f, 4.0f), false, 6);
  checkBackward(geluTanhForward, geluTanhBackward, inputs(rng, 64, -4.0f, 4.0f), false, 7);
}

TEST(ActivationKernels, LeakyRelu) {
  std::mt19937 rng(8);
  for (float slope : {0.01f, 0.2f, -0.5f}) {
    Fwd f = [slope](size_t n, const float *x, float *y) { leakyReluForward(n, slope, x, y); };
    Bwd b = [slope](size_t n, const float *dy, const float *x, float *dx) {
      leakyReluBackward(n, slope, dy, x, dx);
    };
    Vec x = inputs(rng, 100, -3.0f, 3.0f);
    Vec y(x.size(), kGarbage);
    f(x.size(), x.data(), y.data());
    for (size_t i = 0; i < x.size(); ++i)
      EXPECT_EQ(y[i], x[i] > 0 ? x[i] : slope * x[i]) << i;
    checkBackward(f, b, inputs(rng, 64, -3.0f, 3.0f, {0.0f}), false, 9);
  }
}

TEST(ActivationKernels, Relu6) {
  std::mt19937 rng(10);
  Vec x = inputs(rng, 100, -3.0f, 9.0f);
  x.push_back(0.0f), x.push_back(6.0f), x.push_back(NAN);
  Vec y(x.size(), kGarbage);
  relu6Forward(x.size(), x.data(), y.data());
  for (size_t i = 0; i + 1 < x.size(); ++i)
    EXPECT_EQ(y[i], std::min(std::max(x[i], 0.0f), 6.0f)) << i;
  EXPECT_TRUE(std::isnan(y.back())); // as torch.nn.functional.relu6
  // No gradient at either corner (PyTorch's hardtanh_backward).
  Vec corners = {0.0f, 6.0f}, out(2), dy = {1.0f, 1.0f}, dx(2, kGarbage);
  relu6Forward(2, corners.data(), out.data());
  relu6Backward(2, dy.data(), out.data(), dx.data());
  EXPECT_EQ(dx[0], 0.0f);
  EXPECT_EQ(dx[1], 0.0f);
  checkBackward(relu6Forward, relu6Backward, inputs(rng, 64, -3.0f, 9.0f, {0.0f, 6.0f}), true, 11);
}

TEST(ActivationKernels, Hardswish) {
  std::mt19937 rng(12);
  Vec x = inputs(rng, 100, -6.0f, 6.0f);
  checkForward(hardswishForward,
               [](double v) { return v * std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0; }, x);
  Vec v = {1.0f, -1.0f}, y(2);
  hardswishForward(2, v.data(), y.data());
  EXPECT_NEAR(y[0], 0.6666666865348816f, 1e-7f); // torch.nn.functional.hardswish
  EXPECT_NEAR(y[1], -0.3333333432674408f, 1e-7f);
  checkBackward(hardswishForward, hardswishBackward, inputs(rng, 64, -6.0f, 6.0f, {-3.0f, 3.0f}),
                false, 13);
}

TEST(ActivationKernels, MulSubNegAndTheirGradients) {
  std::mt19937 rng(14);
  Vec a = randomVec(rng, 50, -2.0f, 2.0f), b = randomVec(rng, 50, -2.0f, 2.0f);
  Vec m(50, kGarbage), s(50, kGarbage), n(50, kGarbage);
  mul(50, a.data(), b.data(), m.data());
  sub(50, a.data(), b.data(), s.data());
  neg(50, a.data(), n.data());
  for (size_t i = 0; i < 50; ++i) {
    EXPECT_EQ(m[i], a[i] * b[i]);
    EXPECT_EQ(s[i], a[i] - b[i]);
    EXPECT_EQ(n[i], -a[i]);
  }
  // The gradient rules (ActivationRules.cpp): mul's da = dy * b, sub's db = neg(dy).
  Vec r = randomVec(rng, 50), da(50, kGarbage), db(50, kGarbage);
  mul(50, r.data(), b.data(), da.data());
  checkGradient(a, da, r, [&] {
    Vec y(50);
    mul(50, a.data(), b.data(), y.data());
    return y;
  });
  neg(50, r.data(), db.data());
  checkGradient(b, db, r, [&] {
    Vec y(50);
    sub(50, a.data(), b.data(), y.data());
    return y;
  });
}

TEST(ActivationKernels, Softmax) {
  std::mt19937 rng(15);
  const int64_t rows = 5, cols = 7;
  Vec x = randomVec(rng, rows * cols, -4.0f, 4.0f);
  x[3] = 1000.0f; // no overflow: the row maximum is subtracted
  Vec y(x.size(), kGarbage);
  softmaxForward(rows, cols, x.data(), y.data());
  for (int64_t r = 0; r < rows; ++r) {
    double m = -INFINITY, sum = 0.0, total = 0.0;
    for (int64_t j = 0; j < cols; ++j)
      m = std::max(m, double(x[r * cols + j]));
    for (int64_t j = 0; j < cols; ++j)
      sum += std::exp(x[r * cols + j] - m);
    for (int64_t j = 0; j < cols; ++j) {
      EXPECT_NEAR(y[r * cols + j], std::exp(x[r * cols + j] - m) / sum, 1e-6) << r << "," << j;
      total += y[r * cols + j];
    }
    EXPECT_NEAR(total, 1.0, 1e-6);
  }
  EXPECT_NEAR(y[3], 1.0f, 1e-6f);
  Vec z = x;
  softmaxForward(rows, cols, z.data(), z.data());
  expectAllNear(z, y, 0.0f);

  Vec xs = randomVec(rng, rows * cols, -2.0f, 2.0f), r = randomVec(rng, xs.size());
  auto fwd = [&] {
    Vec out(xs.size());
    softmaxForward(rows, cols, xs.data(), out.data());
    return out;
  };
  Vec ys = fwd(), dx(xs.size(), kGarbage);
  softmaxBackward(rows, cols, r.data(), ys.data(), dx.data());
  checkGradient(xs, dx, r, fwd);
  Vec inPlace = r;
  softmaxBackward(rows, cols, inPlace.data(), ys.data(), inPlace.data());
  expectAllNear(inPlace, dx, 0.0f);
}

} // namespace
