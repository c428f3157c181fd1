// CPU kernels of embedding (PyTorch's nn.Embedding): rows of a [vocab, dim] weight picked by
// int32 indices, and the weight's gradient, a scatter-add of the incoming gradient's rows.
//
// An index outside [0, vocab) (data the loader did not check, a damaged plan) never reads or
// writes outside the weight: its output row is NaN, so the loss reports it, and it adds
// nothing to the gradient. The gradient adds rows in index order on one thread per column
// range: deterministic, and the CUDA kernel adds in the same order.
//
// Position embeddings (GPT-2's wpe, BERT's position_embeddings) add row t of a learned
// [positions, dim] table to position t of every sequence; the table's gradient is the sum
// over the batch, each entry summed in batch order (the CUDA kernel's order too).
#pragma once
#include <cstdint>

namespace dlc::cpu {

/// y[r, :] = w[idx[r], :] for r < rows (NaN for an index outside [0, vocab)).
void embeddingForward(int64_t rows, int64_t vocab, int64_t dim, const int32_t *idx,
                      const float *w, float *y);
/// dw = 0; dw[idx[r], :] += dy[r, :] for every r whose index is in [0, vocab).
void embeddingBackward(int64_t rows, int64_t vocab, int64_t dim, const int32_t *idx,
                       const float *dy, float *dw);

/// y[n, t, :] = x[n, t, :] + table[t, :] for n < batch, t < steps (steps <= the table's rows).
void positionAddForward(int64_t batch, int64_t steps, int64_t dim, const float *x,
                        const float *table, float *y);
/// dtable[t, :] = sum over n of dy[n, t, :] for t < steps; rows steps..positions-1 are zero.
void positionAddBackward(int64_t batch, int64_t steps, int64_t dim, int64_t positions,
                         const float *dy, float *dtable);

} // namespace dlc::cpu
