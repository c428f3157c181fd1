// CPU kernels of embedding: a gather of rows and its scatter-add gradient.
#include "runtime/cpu/EmbeddingKernels.h"

#include "runtime/cpu/Parallel.h"

#include <cmath>
#include <cstring>

namespace dlc::cpu {

void embeddingForward(int64_t rows, int64_t vocab, int64_t dim, const int32_t *idx,
                      const float *w, float *y) {
  parallelFor(rows, 64, [&](int64_t lo, int64_t hi, int) {
    for (int64_t r = lo; r < hi; ++r) {
      float *out = y + r * dim;
      const int32_t v = idx[r];
      if (v >= 0 && v < vocab)
        std::memcpy(out, w + int64_t(v) * dim, size_t(dim) * sizeof(float));
      else
        for (int64_t j = 0; j < dim; ++j)
          out[j] = NAN;
    }
  });
}

void embeddingBackward(int64_t rows, int64_t vocab, int64_t dim, const int32_t *idx,
                       const float *dy, float *dw) {
  // Threads own column ranges, so each weight entry is summed by one thread in row order.
  parallelFor(dim, 16, [&](int64_t lo, int64_t hi, int) {
    for (int64_t v = 0; v < vocab; ++v)
      std::memset(dw + v * dim + lo, 0, size_t(hi - lo) * sizeof(float));
    for (int64_t r = 0; r < rows; ++r) {
      const int32_t v = idx[r];
      if (v < 0 || v >= vocab)
        continue;
      float *out = dw + int64_t(v) * dim;
      const float *in = dy + r * dim;
      for (int64_t j = lo; j < hi; ++j)
        out[j] += in[j];
    }
  });
}

} // namespace dlc::cpu
