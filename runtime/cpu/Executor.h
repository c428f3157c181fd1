//===- Executor.h - runs a plan's kernel program on the CPU ------*- C++ -*-===//
#pragma once

#include "runtime/plan/Plan.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace dlc::cpu {

/// Time spent in each kernel of a program, accumulated over calls when profiling.
struct Profile {
  std::vector<double> seconds;
  int64_t runs = 0;
};

/// One kernel call on a timeline, for Chrome-trace output.
struct TraceEvent {
  const plan::Kernel *kernel;
  int64_t run;         // which recorded program run (step) it belongs to
  double start, dur;   // microseconds since the trace began
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

/// Runs one kernel call on `args`, the addresses of its buffers (k.args) in order. Kernels
/// are pure functions of their buffers; runProgram is this in a loop.
void runKernel(const plan::Kernel &k, float *const *args);

/// runKernel for kernel number `n` of a program, timed into `profile` and `trace` when
/// given (neither: exactly runKernel). runProgram and the data-parallel runner share it.
void runKernelTimed(size_t n, const plan::Kernel &k, float *const *args, Profile *profile,
                    Trace *trace);

/// Executes `prog`'s kernels in order on buffers at their planned offsets in `arena`
/// (plan.arenaBytes long). With `profile`, times each kernel; with `trace` (until it is
/// full), records each call's start and duration.
void runProgram(const plan::Plan &plan, const plan::Program &prog, uint8_t *arena,
                Profile *profile = nullptr, Trace *trace = nullptr);

} // namespace dlc::cpu
