// CPU kernels of the concat layer (ConcatKernels.h): row copies.
#include "runtime/cpu/ConcatKernels.h"

#include "runtime/cpu/Parallel.h"

#include <algorithm>
#include <cstring>

namespace dlc::cpu {
namespace {
constexpr int64_t kGrain = 16384; // floats per task
}

void concat(int64_t outer, int64_t aInner, int64_t bInner, const float *a, const float *b,
            float *y) {
  const int64_t row = aInner + bInner;
  parallelFor(outer, std::max<int64_t>(1, kGrain / row), [&](int64_t r0, int64_t r1, int) {
    for (int64_t o = r0; o < r1; ++o) {
      std::memcpy(y + o * row, a + o * aInner, size_t(aInner) * sizeof(float));
      std::memcpy(y + o * row + aInner, b + o * bInner, size_t(bInner) * sizeof(float));
    }
  });
}

void concatBackward(int64_t outer, int64_t aInner, int64_t bInner, const float *dy, float *da,
                    float *db) {
  const int64_t row = aInner + bInner;
  parallelFor(outer, std::max<int64_t>(1, kGrain / row), [&](int64_t r0, int64_t r1, int) {
    for (int64_t o = r0; o < r1; ++o) {
      std::memcpy(da + o * aInner, dy + o * row, size_t(aInner) * sizeof(float));
      std::memcpy(db + o * bInner, dy + o * row + aInner, size_t(bInner) * sizeof(float));
    }
  });
}

} // namespace dlc::cpu
