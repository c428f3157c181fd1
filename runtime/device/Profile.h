//===- Profile.h - per-kernel timing and traces of program runs ---*- C++ -*-===//
//
// What every device can fill while it runs a program: seconds per kernel call (dlrun
// --profile) and a timeline of calls (dlrun --trace, Chrome trace JSON).
//
#pragma once

#include "runtime/plan/Plan.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace dlc::device {

/// Time spent in each kernel of a program, accumulated over calls when profiling.
struct Profile {
  std::vector<double> seconds;
  int64_t runs = 0;
};

/// One kernel call on a timeline, for Chrome-trace output.
struct TraceEvent {
  const plan::Kernel *kernel; // null: the device waited for another (a pipeline's bubble)
  int64_t run;         // which recorded program run (step) it belongs to
  double start, dur;   // microseconds since the trace began
  int32_t device = 0;  // a pipeline's stage: one trace row per device
  int32_t bucket = -1; // >= 0 (kernel null): a data-parallel gradient bucket's allreduce
};

/// Records every kernel call of the first `maxRuns` program runs it is passed to.
struct Trace {
  explicit Trace(int64_t maxRuns) : maxRuns(maxRuns) {}
  int64_t maxRuns, runs = 0;
  std::chrono::steady_clock::time_point origin = std::chrono::steady_clock::now();
  std::vector<TraceEvent> events;
  /// Writes the events as Chrome trace JSON (Perfetto and chrome://tracing open it): one
  /// complete ("X") event per kernel call, named after the kernel, with its kind as category.
  bool write(const std::string &path, std::string &error) const;
};

/// Writes the traces of a data-parallel run's devices (one each, on one clock) as one: device
/// d's kernels on row cpu:d, its allreduces on row "cpu:d allreduce".
bool writeTraces(const std::vector<const Trace *> &traces, const std::string &path,
                 std::string &error);

} // namespace dlc::device
