//===- MemoryPlanner.h - static arena placement of buffers ------*- C++ -*-===//
//
// Static memory planner: places buffers with known lifetimes in one arena (greedy by size,
// best fit). The compiler knows every buffer's size and the range of kernels that touch it,
// so it can give buffers whose lifetimes do not overlap the same memory and hand the
// runtime a single allocation. Plain C++ with no MLIR so that it can be unit tested alone.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <vector>

namespace dlc::planning {

/// A buffer to place: its size and the inclusive range of schedule steps during which it is live.
struct Interval {
  uint64_t bytes = 0;
  int32_t first = 0, last = 0;
};

struct MemoryPlan {
  std::vector<uint64_t> offsets; ///< One per interval, aligned.
  uint64_t peak = 0;             ///< Arena bytes needed (max offset+size, aligned).
  uint64_t naive = 0;            ///< Bytes if nothing were shared (sum of aligned sizes), for reporting.
};

/// Assigns offsets so that no two intervals live at the same step overlap in memory.
/// Algorithm: sort by size descending (ties: earlier first), then place each at the lowest offset
/// (best-fit gap) that does not collide with any already-placed interval overlapping in time.
///
/// Sizes are rounded up to `alignment` (0 is treated as 1). Zero-byte intervals get offset 0
/// and count towards neither `peak` nor `naive`. An interval with `last < first` is treated
/// as live over [last, first]. O(n^2) time in the number of intervals.
MemoryPlan planMemory(const std::vector<Interval> &intervals, uint64_t alignment = 64);

/// The largest sum of bytes live at any one step: a lower bound on any plan's peak.
uint64_t liveLowerBound(const std::vector<Interval> &intervals, uint64_t alignment = 64);

} // namespace dlc::planning
