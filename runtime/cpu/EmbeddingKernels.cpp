// CPU kernels of embedding: a gather of rows and its scatter-add gradient; position
// embeddings: a table added to every sequence and its sum over the batch.
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

void positionAddForward(int64_t batch, int64_t steps, int64_t dim, const float *x,
                        const float *table, float *y) {
  parallelFor(batch * steps, 64, [&](int64_t lo, int64_t hi, int) {
    for (int64_t r = lo; r < hi; ++r) {
      const float *in = x + r * dim, *pos = table + (r % steps) * dim;
      float *out = y + r * dim;
      for (int64_t j = 0; j < dim; ++j)
        out[j] = in[j] + pos[j];
    }
  });
}

void positionAddBackward(int64_t batch, int64_t steps, int64_t dim, int64_t positions,
                         const float *dy, float *dtable) {
  const int64_t row = steps * dim;
  // Threads own ranges of table entries; each entry adds the batch in order.
  parallelFor(row, 256, [&](int64_t lo, int64_t hi, int) {
    std::memset(dtable + lo, 0, size_t(hi - lo) * sizeof(float));
    for (int64_t n = 0; n < batch; ++n) {
      const float *in = dy + n * row;
      for (int64_t e = lo; e < hi; ++e)
        dtable[e] += in[e];
    }
  });
  std::memset(dtable + row, 0, size_t((positions - steps) * dim) * sizeof(float));
}

} // namespace dlc::cpu
