// Helpers shared by the kernel unit tests: random data, tolerant comparison, and the central
// finite-difference gradient check every differentiable kernel is held to.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace dlc::testing {

using Vec = std::vector<float>;
/// Prefilled into outputs so a kernel that accumulates instead of overwriting gets caught.
constexpr float kGarbage = 7.25f;

inline Vec randomVec(std::mt19937 &rng, size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  Vec v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

inline void expectAllNear(const Vec &actual, const Vec &expected, float tol = 1e-4f) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], tol * std::max(1.0f, std::fabs(expected[i])))
        << "index " << i;
}

/// Checks `analytic` = dL/d`in` for L = sum(r * fwd()), where fwd recomputes the op output from
/// the current contents of `in`. Central differences with L accumulated in double.
inline void checkGradient(Vec &in, const Vec &analytic, const Vec &r,
                          const std::function<Vec()> &fwd, float eps = 1e-2f,
                          double relTol = 1e-2) {
  ASSERT_EQ(in.size(), analytic.size());
  auto loss = [&] {
    Vec y = fwd();
    EXPECT_EQ(y.size(), r.size());
    double l = 0.0;
    for (size_t i = 0; i < y.size(); ++i)
      l += (double)r[i] * y[i];
    return l;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    const float saved = in[i];
    in[i] = saved + eps;
    double plus = loss();
    in[i] = saved - eps;
    double minus = loss();
    in[i] = saved;
    // Divide by the step actually taken: saved +- eps is rounded to float.
    double numeric = (plus - minus) / ((double)(saved + eps) - (double)(saved - eps));
    double tol = relTol * std::max(std::fabs(numeric), std::fabs((double)analytic[i])) + 1e-3;
    EXPECT_NEAR(analytic[i], numeric, tol) << "element " << i;
  }
}

} // namespace dlc::testing
