//===- Init.cpp - seeded parameter initialisation ----------------*- C++ -*-===//
#include "runtime/train/Init.h"

#include <cmath>
#include <cstring>
#include <random>

using namespace dlc;

namespace {
uint64_t fnv1a(const std::string &s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s)
    h = (h ^ c) * 1099511628211ull;
  return h;
}
/// Uniform in [0, 1) from the top 24 bits: identical on every platform, unlike
/// std::uniform_real_distribution.
float uniform01(std::mt19937_64 &rng) { return (rng() >> 40) * (1.0f / 16777216.0f); }
} // namespace

void dlc::initParameters(const plan::Plan &plan, uint8_t *arena) {
  for (const plan::Parameter &p : plan.params) {
    const plan::Buffer &buf = plan.buffers[p.buffer];
    float *w = reinterpret_cast<float *>(arena + buf.offset);
    size_t n = buf.bytes / 4;
    std::mt19937_64 rng(fnv1a(p.name, plan.train.seed * 0x9E3779B97F4A7C15ull + 1));
    if (!p.values.empty()) { // an imported model's own weights (validatePlan: sizes agree)
      std::memcpy(w, p.values.data(), std::min(n, p.values.size()) * 4);
    } else if (p.init == "zeros" || p.init == "ones") {
      std::fill(w, w + n, p.init == "ones" ? 1.f : 0.f);
    } else if (p.init == "glorot_uniform") {
      float limit = std::sqrt(6.f / float(std::max<int64_t>(1, p.fanIn + p.fanOut)));
      for (size_t i = 0; i < n; ++i)
        w[i] = (2.f * uniform01(rng) - 1.f) * limit;
    } else { // he_normal (spread sqrt(2 / fan_in)) or normal (spread 1), by Box-Muller
      float sd = p.init == "normal" ? 1.f : std::sqrt(2.f / float(std::max<int64_t>(1, p.fanIn)));
      for (size_t i = 0; i < n; i += 2) {
        float u1 = std::max(uniform01(rng), 1e-7f), u2 = uniform01(rng);
        float r = std::sqrt(-2.f * std::log(u1)), t = 6.2831853f * u2;
        w[i] = sd * r * std::cos(t);
        if (i + 1 < n)
          w[i + 1] = sd * r * std::sin(t);
      }
    }
  }
}
