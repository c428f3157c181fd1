//===- Executor.h - runs a plan's kernel program on the CPU ------*- C++ -*-===//
#pragma once

#include "runtime/plan/Plan.h"

#include <cstdint>
#include <vector>

namespace dlc::cpu {

/// Time spent in each kernel of a program, accumulated over calls when profiling.
struct Profile {
  std::vector<double> seconds;
  int64_t runs = 0;
};

/// Executes `prog`'s kernels in order on buffers at their planned offsets in `arena`
/// (plan.arenaBytes long). With `profile`, times each kernel.
void runProgram(const plan::Plan &plan, const plan::Program &prog, uint8_t *arena,
                Profile *profile = nullptr);

} // namespace dlc::cpu
