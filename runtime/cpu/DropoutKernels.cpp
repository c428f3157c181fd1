// CPU kernels of the dropout layer (DropoutKernels.h).
#include "runtime/cpu/DropoutKernels.h"

#include "runtime/cpu/Parallel.h"

namespace dlc::cpu {
namespace {

constexpr int64_t kGrain = 16384;

/// out = keep ? in * scale : 0, the one loop both directions share.
void applyMask(size_t n, int64_t seed, int64_t threshold, float scale, const float *in,
               const float *step, float *out) {
  const uint64_t mix = dropoutSeedMix(uint64_t(seed));
  const uint32_t s = dropoutStep(step[0]), t = uint32_t(threshold);
  parallelFor(int64_t(n), kGrain, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i)
      out[i] = dropoutKeep(mix, s, uint64_t(i), t) ? in[i] * scale : 0.0f;
  });
}

} // namespace

void dropoutForward(size_t n, int64_t seed, int64_t threshold, float scale, const float *x,
                    const float *step, float *y) {
  applyMask(n, seed, threshold, scale, x, step, y);
}

void dropoutBackward(size_t n, int64_t seed, int64_t threshold, float scale, const float *dy,
                     const float *step, float *dx) {
  applyMask(n, seed, threshold, scale, dy, step, dx);
}

void increment(size_t n, float *c) {
  for (size_t i = 0; i < n; ++i)
    c[i] += 1.0f;
}

} // namespace dlc::cpu
