// Unit tests for the static memory planner: hand-worked placements (sharing, best fit, tie
// order), and the plan invariants (alignment, no overlap in space between buffers live at
// the same step, lower bound <= peak <= naive) over many random lifetime sets.
#include "compiler/Planning/MemoryPlanner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace dlc::planning;

namespace {

uint64_t alignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/// Checks every property a plan must have, whatever the algorithm: these are what the
/// runtime relies on, whereas exact offsets are only pinned in the hand-worked tests.
void checkPlan(const std::vector<Interval> &intervals, const MemoryPlan &plan, uint64_t alignment) {
  ASSERT_EQ(plan.offsets.size(), intervals.size());
  uint64_t naive = 0, top = 0;
  for (size_t i = 0; i < intervals.size(); ++i) {
    uint64_t size = alignUp(intervals[i].bytes, alignment);
    naive += size;
    EXPECT_EQ(plan.offsets[i] % alignment, 0u) << "interval " << i;
    if (size == 0)
      EXPECT_EQ(plan.offsets[i], 0u) << "zero-byte interval " << i;
    else
      top = std::max(top, plan.offsets[i] + size);
  }
  EXPECT_EQ(plan.naive, naive);
  EXPECT_EQ(plan.peak, top);
  EXPECT_EQ(plan.peak % alignment, 0u);
  EXPECT_LE(plan.peak, plan.naive);
  EXPECT_GE(plan.peak, liveLowerBound(intervals, alignment));

  for (size_t i = 0; i < intervals.size(); ++i) {
    const Interval &a = intervals[i];
    uint64_t sizeA = alignUp(a.bytes, alignment);
    if (sizeA == 0)
      continue;
    for (size_t j = i + 1; j < intervals.size(); ++j) {
      const Interval &b = intervals[j];
      uint64_t sizeB = alignUp(b.bytes, alignment);
      if (sizeB == 0 || a.last < b.first || b.last < a.first)
        continue;
      bool disjoint = plan.offsets[i] + sizeA <= plan.offsets[j] || plan.offsets[j] + sizeB <= plan.offsets[i];
      ASSERT_TRUE(disjoint) << "intervals " << i << " [" << a.first << "," << a.last << "] and " << j << " ["
                            << b.first << "," << b.last << "] are live together but share memory at offsets "
                            << plan.offsets[i] << "+" << sizeA << " and " << plan.offsets[j] << "+" << sizeB;
    }
  }
}

std::vector<Interval> randomIntervals(std::mt19937 &rng, size_t n, int32_t steps) {
  std::vector<Interval> out(n);
  for (Interval &iv : out) {
    // Sizes spread over several orders of magnitude, as in a real network, plus some zeros
    // (empty buffers) and some exact duplicates (to exercise the tie order).
    switch (rng() % 8) {
    case 0:
      iv.bytes = 0;
      break;
    case 1:
      iv.bytes = 4096;
      break;
    default:
      iv.bytes = 1 + (rng() % (1u << (4 + rng() % 20)));
    }
    iv.first = static_cast<int32_t>(rng() % steps);
    int32_t span = rng() % 4 == 0 ? static_cast<int32_t>(rng() % steps) : static_cast<int32_t>(rng() % 6);
    iv.last = std::min(steps - 1, iv.first + span);
  }
  return out;
}

} // namespace

TEST(MemoryPlanner, Empty) {
  MemoryPlan plan = planMemory({});
  EXPECT_TRUE(plan.offsets.empty());
  EXPECT_EQ(plan.peak, 0u);
  EXPECT_EQ(plan.naive, 0u);
  EXPECT_EQ(liveLowerBound({}), 0u);
}

TEST(MemoryPlanner, ChainSharesMemory) {
  // a -> b -> c: a is dead once b is computed, so c can take a's place.
  std::vector<Interval> chain = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}};
  MemoryPlan plan = planMemory(chain);
  checkPlan(chain, plan, 64);
  EXPECT_EQ(plan.offsets[0], plan.offsets[2]);
  EXPECT_EQ(plan.naive, 3 * 1024u);
  EXPECT_EQ(plan.peak, 2 * 1024u);
  EXPECT_LT(plan.peak, plan.naive);
  EXPECT_EQ(liveLowerBound(chain), 2 * 1024u);
}

TEST(MemoryPlanner, DisjointLifetimesReuseOffsetZero) {
  std::vector<Interval> intervals = {{100, 0, 0}, {5000, 1, 1}, {64, 2, 2}, {7, 3, 9}};
  MemoryPlan plan = planMemory(intervals);
  checkPlan(intervals, plan, 64);
  for (uint64_t offset : plan.offsets)
    EXPECT_EQ(offset, 0u);
  EXPECT_EQ(plan.peak, alignUp(5000, 64));
  EXPECT_EQ(liveLowerBound(intervals), alignUp(5000, 64));
}

TEST(MemoryPlanner, ZeroByteIntervalsTakeNoSpace) {
  std::vector<Interval> intervals = {{0, 0, 5}, {128, 0, 5}, {0, 2, 3}, {64, 1, 1}};
  MemoryPlan plan = planMemory(intervals);
  checkPlan(intervals, plan, 64);
  EXPECT_EQ(plan.offsets[0], 0u);
  EXPECT_EQ(plan.offsets[2], 0u);
  EXPECT_EQ(plan.naive, 192u);
  EXPECT_EQ(plan.peak, 192u);
}

TEST(MemoryPlanner, AlignsSizesAndOffsets) {
  std::vector<Interval> intervals = {{1, 0, 2}, {65, 0, 2}, {3, 1, 1}};
  MemoryPlan plan = planMemory(intervals, 256);
  checkPlan(intervals, plan, 256);
  EXPECT_EQ(plan.naive, 3 * 256u);
  EXPECT_EQ(plan.peak, 3 * 256u);
  // Alignment 0 would divide by zero; it means "no alignment".
  MemoryPlan unaligned = planMemory(intervals, 0);
  checkPlan(intervals, unaligned, 1);
  EXPECT_EQ(unaligned.peak, 69u);
}

TEST(MemoryPlanner, LargestFirstAndTiesByStart) {
  // Equal sizes overlapping in time: the earlier-starting one goes first, i.e. at offset 0,
  // even though it comes second in the input.
  std::vector<Interval> ties = {{64, 3, 6}, {64, 1, 4}};
  MemoryPlan plan = planMemory(ties);
  checkPlan(ties, plan, 64);
  EXPECT_EQ(plan.offsets, (std::vector<uint64_t>{64, 0}));

  // The largest goes first even when it comes last and starts last.
  std::vector<Interval> sizes = {{64, 0, 9}, {128, 0, 9}, {512, 5, 9}};
  plan = planMemory(sizes);
  checkPlan(sizes, plan, 64);
  EXPECT_EQ(plan.offsets, (std::vector<uint64_t>{640, 512, 0}));
}

TEST(MemoryPlanner, PicksBestFitGapNotFirstFit) {
  // Alignment 1 to keep the arithmetic readable. After the five K buffers, steps 1..5 have
  // holes [600,1100) (500 bytes) and [1500,1800) (300 bytes); T (250 bytes) fits both and
  // best fit takes the tighter, higher one, keeping the big hole whole.
  std::vector<Interval> intervals = {
      {600, 0, 5}, // K1 -> 0
      {500, 0, 0}, // K2 -> 600
      {400, 0, 5}, // K3 -> 1100
      {300, 0, 0}, // K4 -> 1500
      {260, 0, 5}, // K5 -> 1800
      {250, 1, 5}, // T  -> 1500
  };
  MemoryPlan plan = planMemory(intervals, 1);
  checkPlan(intervals, plan, 1);
  EXPECT_EQ(plan.offsets, (std::vector<uint64_t>{0, 600, 1100, 1500, 1800, 1500}));
  EXPECT_EQ(plan.peak, 2060u);
}

TEST(MemoryPlanner, ReversedIntervalIsNotIgnored) {
  // first > last is a caller bug, but it must not let the buffer share memory with
  // everything; it is treated as the range between the two steps.
  std::vector<Interval> intervals = {{64, 0, 5}, {64, 4, 1}};
  MemoryPlan plan = planMemory(intervals);
  EXPECT_NE(plan.offsets[0], plan.offsets[1]);
  EXPECT_EQ(liveLowerBound(intervals), 128u);
}

TEST(MemoryPlanner, LowerBoundCountsEndsBeforeStarts) {
  // Inclusive ranges: [0,1] and [1,2] overlap at step 1, [0,1] and [2,3] never do.
  EXPECT_EQ(liveLowerBound({{100, 0, 1}, {100, 1, 2}}, 1), 200u);
  EXPECT_EQ(liveLowerBound({{100, 0, 1}, {100, 2, 3}}, 1), 100u);
  EXPECT_EQ(liveLowerBound({{1, 0, 0}, {1, 0, 0}}, 64), 128u);
  EXPECT_EQ(liveLowerBound({{100, INT32_MAX, INT32_MAX}, {100, 0, INT32_MAX}}, 1), 200u);
}

TEST(MemoryPlanner, RandomLifetimesSatisfyInvariants) {
  std::mt19937 rng(20240611);
  const uint64_t alignments[] = {1, 16, 64, 256};
  for (int set = 0; set < 200; ++set) {
    SCOPED_TRACE("set " + std::to_string(set));
    size_t n = 1 + rng() % 300;
    std::vector<Interval> intervals = randomIntervals(rng, n, 1 + static_cast<int32_t>(rng() % 200));
    uint64_t alignment = alignments[set % 4];
    MemoryPlan plan = planMemory(intervals, alignment);
    checkPlan(intervals, plan, alignment);
    if (HasFatalFailure())
      return;
  }
}

TEST(MemoryPlanner, ResNetSizedProblem) {
  // ~5000 buffers, the scale of a ResNet-152 training step: forward activations that live
  // until their backward use, plus short-lived gradients and workspaces.
  std::mt19937 rng(152);
  const int32_t steps = 4000;
  std::vector<Interval> intervals;
  for (int32_t s = 0; s < steps / 2 && intervals.size() < 5000; ++s) {
    uint64_t act = uint64_t(1) << (18 + rng() % 8);
    intervals.push_back({act, s, steps - 1 - s});            // activation kept for backward
    intervals.push_back({act, steps - 1 - s, steps - s});     // its gradient
    if (s % 3 == 0)
      intervals.push_back({act * 2, s, s});                   // forward workspace
    if (s % 3 == 1)
      intervals.push_back({act / 2, steps - 1 - s, steps - 1 - s}); // backward workspace
  }
  intervals.resize(std::min<size_t>(intervals.size(), 5000));
  auto start = std::chrono::steady_clock::now();
  MemoryPlan plan = planMemory(intervals);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  checkPlan(intervals, plan, 64);
  std::printf("[          ] %zu intervals planned in %.3f s: peak %.1f MiB, lower bound %.1f MiB, naive %.1f MiB\n",
              intervals.size(), seconds, plan.peak / 1048576.0, liveLowerBound(intervals) / 1048576.0,
              plan.naive / 1048576.0);
  EXPECT_EQ(intervals.size(), 5000u);

  // Worst case for the placement scan: everything live at once, so every placement looks at
  // every buffer already placed.
  std::vector<Interval> allLive = randomIntervals(rng, 5000, 1);
  start = std::chrono::steady_clock::now();
  plan = planMemory(allLive);
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  checkPlan(allLive, plan, 64);
  EXPECT_EQ(plan.peak, plan.naive) << "nothing can share when everything is live together";
  std::printf("[          ] %zu intervals all live at once planned in %.3f s\n", allLive.size(), seconds);
}
