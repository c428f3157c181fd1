//===- PipelineSplitTest.cpp - the pipeline partitioner of dlc mem --gpus K -===//
//
// On synthetic cost tables the split must fit every stage and make the slowest stage as fast
// as any fitting split can: checked against every split enumerated by brute force.
//
#include "compiler/Advisor/PipelineSplit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <random>

using namespace dlc::advisor;

namespace {

/// The smallest slowest-stage time over every split of `layers` into `stages` stages that
/// fit, by enumeration; infinity if none fits.
double bruteForce(const std::vector<LayerCost> &layers, int stages, int64_t micro,
                  uint64_t capacity) {
  double best = std::numeric_limits<double>::infinity();
  std::vector<size_t> cuts;
  std::function<void(size_t, int)> go = [&](size_t start, int s) {
    if (s == stages - 1) { // the last stage takes the rest
      if (start >= layers.size())
        return;
      cuts.push_back(layers.size());
      double slowest = 0;
      bool fits = true;
      size_t first = 0;
      for (int k = 0; k < stages; ++k) {
        double t = 0;
        for (size_t l = first; l < cuts[size_t(k)]; ++l)
          t += layers[l].seconds;
        slowest = std::max(slowest, t);
        fits = fits && stageBytes(layers, first, cuts[size_t(k)], k, stages, micro) <= capacity;
        first = cuts[size_t(k)];
      }
      if (fits)
        best = std::min(best, slowest);
      cuts.pop_back();
      return;
    }
    for (size_t end = start + 1; end < layers.size(); ++end) {
      cuts.push_back(end);
      go(end, s + 1);
      cuts.pop_back();
    }
  };
  go(0, 0);
  return best;
}

TEST(PipelineSplitTest, MatchesBruteForceOnRandomTables) {
  std::mt19937 rng(3);
  int fitted = 0, refused = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const size_t n = 2 + rng() % 9;
    const int stages = 1 + int(rng() % std::min<size_t>(4, n));
    const int64_t micro = 1 + rng() % 8;
    std::vector<LayerCost> layers(n);
    for (LayerCost &l : layers) {
      l.seconds = 1 + rng() % 100;
      l.persistent = rng() % 50;
      l.saved = rng() % 40;
      l.transient = rng() % 60;
    }
    const uint64_t capacity = 60 + rng() % 400;
    SCOPED_TRACE("trial " + std::to_string(trial));
    const double expected = bruteForce(layers, stages, micro, capacity);
    auto split = splitStages(layers, stages, micro, capacity);
    if (expected == std::numeric_limits<double>::infinity()) {
      EXPECT_FALSE(split);
      ++refused;
      continue;
    }
    ASSERT_TRUE(split);
    ++fitted;
    ASSERT_EQ(split->size(), size_t(stages));
    double slowest = 0;
    size_t next = 0;
    for (int k = 0; k < stages; ++k) {
      const Stage &s = (*split)[size_t(k)];
      EXPECT_EQ(s.first, next); // contiguous, covering every layer once
      EXPECT_LT(s.first, s.end);
      EXPECT_LE(s.bytes, capacity);
      EXPECT_EQ(s.bytes, stageBytes(layers, s.first, s.end, k, stages, micro));
      EXPECT_EQ(s.inFlight, std::min<int64_t>(micro, stages - k));
      slowest = std::max(slowest, s.seconds);
      next = s.end;
    }
    EXPECT_EQ(next, n);
    EXPECT_EQ(slowest, expected);
  }
  // The random tables exercise both outcomes.
  EXPECT_GT(fitted, 50);
  EXPECT_GT(refused, 10);
}

TEST(PipelineSplitTest, EarlierStagesHoldMoreMicroBatches) {
  // 1F1B: stage s of K holds min(M, K - s) micro-batches' activations.
  std::vector<LayerCost> layers(4, LayerCost{"l", 1.0, 10, 100, 5});
  EXPECT_EQ(stageBytes(layers, 0, 1, 0, 4, 8), 10u + 4 * 100 + 5);
  EXPECT_EQ(stageBytes(layers, 3, 4, 3, 4, 8), 10u + 1 * 100 + 5);
  EXPECT_EQ(stageBytes(layers, 0, 2, 0, 4, 2), 20u + 2 * 200 + 5); // M < K - s
  EXPECT_FALSE(splitStages(layers, 5, 8, 1u << 30)); // more stages than layers
}

} // namespace
