// Embedding kernels: the gather against a direct reading of the table, the scatter-add
// gradient against finite differences (the weight is the only differentiable input),
// repeated indices summed, and indices outside [0, vocab) kept from reading or writing.
#include "runtime/cpu/EmbeddingKernels.h"

#include "GradientCheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using namespace dlc::cpu;
using namespace dlc::testing;

namespace {
constexpr int64_t kVocab = 5, kDim = 3;
}

TEST(EmbeddingKernels, ForwardPicksRows) {
  std::mt19937 rng(1);
  Vec w = randomVec(rng, kVocab * kDim);
  const std::vector<int32_t> idx = {4, 0, 4, 2};
  Vec y(idx.size() * kDim, kGarbage);
  embeddingForward(int64_t(idx.size()), kVocab, kDim, idx.data(), w.data(), y.data());
  for (size_t r = 0; r < idx.size(); ++r)
    for (int64_t j = 0; j < kDim; ++j)
      EXPECT_EQ(y[r * kDim + j], w[idx[r] * kDim + j]) << r << "," << j;
}

TEST(EmbeddingKernels, WeightGradientMatchesFiniteDifferences) {
  std::mt19937 rng(2);
  Vec w = randomVec(rng, kVocab * kDim);
  // Repeated indices (their rows add up) and one never used (its gradient stays 0).
  const std::vector<int32_t> idx = {1, 3, 1, 0, 3, 3};
  const int64_t rows = int64_t(idx.size());
  Vec r = randomVec(rng, rows * kDim);
  Vec dw(w.size(), kGarbage); // the kernel zeroes dw itself
  embeddingBackward(rows, kVocab, kDim, idx.data(), r.data(), dw.data());
  for (int64_t j = 0; j < kDim; ++j)
    EXPECT_EQ(dw[2 * kDim + j], 0.f);
  checkGradient(w, dw, r, [&] {
    Vec y(rows * kDim);
    embeddingForward(rows, kVocab, kDim, idx.data(), w.data(), y.data());
    return y;
  });
}

TEST(EmbeddingKernels, OutOfRangeIndicesNeitherReadNorWrite) {
  // Guard rows around the table and the gradient: an index of -1 or vocab must touch neither.
  std::mt19937 rng(3);
  Vec w(kVocab * kDim + 2 * kDim, 99.f), dw(w.size(), 99.f);
  Vec table = randomVec(rng, kVocab * kDim);
  std::copy(table.begin(), table.end(), w.begin() + kDim);
  const std::vector<int32_t> idx = {-1, 2, kVocab, INT32_MIN, INT32_MAX};
  const int64_t rows = int64_t(idx.size());
  Vec y(rows * kDim, kGarbage), dy(rows * kDim, 1.f);
  embeddingForward(rows, kVocab, kDim, idx.data(), w.data() + kDim, y.data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < kDim; ++j) {
      if (r == 1)
        EXPECT_EQ(y[r * kDim + j], table[2 * kDim + j]);
      else
        EXPECT_TRUE(std::isnan(y[r * kDim + j])) << "row " << r;
    }
  embeddingBackward(rows, kVocab, kDim, idx.data(), dy.data(), dw.data() + kDim);
  for (int64_t j = 0; j < kDim; ++j) {
    EXPECT_EQ(dw[j], 99.f); // the guard rows
    EXPECT_EQ(dw[(kVocab + 1) * kDim + j], 99.f);
    for (int64_t v = 0; v < kVocab; ++v)
      EXPECT_EQ(dw[(v + 1) * kDim + j], v == 2 ? 1.f : 0.f) << v;
  }
}

TEST(EmbeddingKernels, GradientIsDeterministicAcrossThreads) {
  // Many rows into few entries: the sum's order must not depend on how work is split.
  std::mt19937 rng(4);
  const int64_t rows = 4096, dim = 64, vocab = 3;
  std::vector<int32_t> idx(rows);
  for (int32_t &v : idx)
    v = int32_t(rng() % vocab);
  Vec dy = randomVec(rng, rows * dim), a(vocab * dim), b(vocab * dim);
  embeddingBackward(rows, vocab, dim, idx.data(), dy.data(), a.data());
  embeddingBackward(rows, vocab, dim, idx.data(), dy.data(), b.data());
  EXPECT_EQ(a, b);
  // And it is the plain sum in row order.
  for (int64_t j = 0; j < dim; j += 13) {
    float sum = 0.f;
    for (int64_t r = 0; r < rows; ++r)
      if (idx[r] == 1)
        sum += dy[r * dim + j];
    EXPECT_EQ(a[1 * dim + j], sum);
  }
}

// Position embeddings: batch 3 of 4 steps of 5 features against a table of 6 positions.
namespace {
constexpr int64_t kBatch = 3, kSteps = 4, kFeatures = 5, kPositions = 6;
}

TEST(PositionEmbedding, ForwardAddsTheFirstRowsToEverySequence) {
  std::mt19937 rng(5);
  Vec x = randomVec(rng, kBatch * kSteps * kFeatures), t = randomVec(rng, kPositions * kFeatures);
  Vec y(x.size(), kGarbage);
  positionAddForward(kBatch, kSteps, kFeatures, x.data(), t.data(), y.data());
  for (int64_t n = 0; n < kBatch; ++n)
    for (int64_t s = 0; s < kSteps; ++s)
      for (int64_t j = 0; j < kFeatures; ++j) {
        const int64_t e = (n * kSteps + s) * kFeatures + j;
        EXPECT_EQ(y[e], x[e] + t[s * kFeatures + j]) << n << "," << s << "," << j;
      }
}

TEST(PositionEmbedding, TableGradientMatchesFiniteDifferences) {
  std::mt19937 rng(6);
  Vec x = randomVec(rng, kBatch * kSteps * kFeatures), t = randomVec(rng, kPositions * kFeatures);
  Vec r = randomVec(rng, x.size());
  Vec dt(t.size(), kGarbage); // the kernel writes every entry, the unused rows' zeros too
  positionAddBackward(kBatch, kSteps, kFeatures, kPositions, r.data(), dt.data());
  for (int64_t e = kSteps * kFeatures; e < kPositions * kFeatures; ++e)
    EXPECT_EQ(dt[e], 0.f) << e;
  auto fwd = [&] {
    Vec y(x.size());
    positionAddForward(kBatch, kSteps, kFeatures, x.data(), t.data(), y.data());
    return y;
  };
  checkGradient(t, dt, r, fwd);
  // The input's gradient is the incoming one: d(sum r*y)/dx = r.
  checkGradient(x, r, r, fwd);
}

TEST(PositionEmbedding, GradientIsDeterministicAcrossThreads) {
  // Entries split across threads, each summing its batch in order: bit-identical runs.
  std::mt19937 rng(7);
  const int64_t batch = 37, steps = 50, dim = 48, positions = 64;
  Vec dy = randomVec(rng, batch * steps * dim);
  Vec a(positions * dim), b(positions * dim);
  positionAddBackward(batch, steps, dim, positions, dy.data(), a.data());
  positionAddBackward(batch, steps, dim, positions, dy.data(), b.data());
  EXPECT_EQ(a, b);
  float want = 0.f;
  for (int64_t n = 0; n < batch; ++n)
    want += dy[n * steps * dim + 17];
  EXPECT_EQ(a[17], want);
}
