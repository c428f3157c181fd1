//===- MemoryPlanner.cpp - static arena placement of buffers --------------===//
//
// Greedy-by-size placement with best-fit gaps, the approach used by TFLite's arena planner
// and described in "Efficient Memory Management for Deep Neural Net Inference" (Pisarchyk
// and Lee, 2020). Placing the largest buffers first matters because they dominate the peak:
// small buffers fit into the holes the large ones leave, whereas the reverse order tends to
// fragment the arena so that a large buffer finds no hole and goes on top.
//
//===----------------------------------------------------------------------===//

#include "compiler/Planning/MemoryPlanner.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace dlc::planning {

namespace {

uint64_t alignUp(uint64_t bytes, uint64_t alignment) {
  uint64_t rem = bytes % alignment;
  return rem == 0 ? bytes : bytes + (alignment - rem);
}

/// An interval with its bounds ordered, so that a reversed one cannot slip past the overlap
/// test and share memory with everything.
std::pair<int32_t, int32_t> liveRange(const Interval &iv) {
  return {std::min(iv.first, iv.last), std::max(iv.first, iv.last)};
}

/// An already placed interval: where it sits and when it is live.
struct Placed {
  uint64_t offset, end;
  int32_t first, last;
};

} // namespace

MemoryPlan planMemory(const std::vector<Interval> &intervals, uint64_t alignment) {
  if (alignment == 0)
    alignment = 1;
  const size_t n = intervals.size();
  MemoryPlan plan;
  plan.offsets.assign(n, 0);

  std::vector<uint64_t> sizes(n);
  std::vector<size_t> order;
  order.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    sizes[i] = alignUp(intervals[i].bytes, alignment);
    plan.naive += sizes[i];
    // Zero-byte buffers occupy no memory, so they can collide with nothing.
    if (sizes[i] != 0)
      order.push_back(i);
  }
  // Ties broken by start step, then index, so that the plan is deterministic across
  // standard libraries (std::sort is not stable).
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (sizes[a] != sizes[b])
      return sizes[a] > sizes[b];
    int32_t firstA = liveRange(intervals[a]).first, firstB = liveRange(intervals[b]).first;
    if (firstA != firstB)
      return firstA < firstB;
    return a < b;
  });

  // Kept sorted by offset, so the gaps between the time-overlapping ones can be found in a
  // single scan without sorting them per placement; that keeps the whole plan O(n^2).
  std::vector<Placed> placed;
  placed.reserve(order.size());
  for (size_t i : order) {
    const uint64_t size = sizes[i];
    const auto [first, last] = liveRange(intervals[i]);

    // Best fit (the smallest gap that holds the buffer, the lowest on ties) rather than first
    // fit: it leaves larger holes intact for the later buffers, which are smaller but may need
    // to sit side by side in one hole.
    uint64_t cursor = 0; // end of the occupied memory seen so far in the scan
    uint64_t bestOffset = 0, bestGap = std::numeric_limits<uint64_t>::max();
    bool found = false;
    for (const Placed &p : placed) {
      if (p.last < first || p.first > last)
        continue; // never live at the same time: free to share memory
      if (p.offset > cursor) {
        uint64_t gap = p.offset - cursor;
        if (gap >= size && gap < bestGap) {
          bestGap = gap;
          bestOffset = cursor;
          found = true;
        }
      }
      cursor = std::max(cursor, p.end);
    }
    // No hole fits: go on top of everything live at the same time.
    uint64_t offset = found ? bestOffset : cursor;

    plan.offsets[i] = offset;
    plan.peak = std::max(plan.peak, offset + size);
    Placed entry{offset, offset + size, first, last};
    auto pos = std::upper_bound(placed.begin(), placed.end(), entry,
                                [](const Placed &a, const Placed &b) { return a.offset < b.offset; });
    placed.insert(pos, entry);
  }
  return plan;
}

uint64_t liveLowerBound(const std::vector<Interval> &intervals, uint64_t alignment) {
  if (alignment == 0)
    alignment = 1;
  // Sweep over steps: +size where an interval starts, -size one step after it ends. 64-bit
  // steps because last + 1 overflows int32 for an interval ending at INT32_MAX.
  struct Event {
    int64_t step;
    bool start;
    uint64_t bytes;
  };
  std::vector<Event> events;
  events.reserve(2 * intervals.size());
  for (const Interval &iv : intervals) {
    uint64_t size = alignUp(iv.bytes, alignment);
    if (size == 0)
      continue;
    auto [first, last] = liveRange(iv);
    events.push_back({first, true, size});
    events.push_back({static_cast<int64_t>(last) + 1, false, size});
  }
  // Ends before starts at the same step: an interval ending at step s-1 is not live at s.
  std::sort(events.begin(), events.end(), [](const Event &a, const Event &b) {
    if (a.step != b.step)
      return a.step < b.step;
    return !a.start && b.start;
  });
  uint64_t live = 0, best = 0;
  for (const Event &e : events) {
    if (e.start) {
      live += e.bytes;
      best = std::max(best, live);
    } else {
      live -= e.bytes;
    }
  }
  return best;
}

} // namespace dlc::planning
