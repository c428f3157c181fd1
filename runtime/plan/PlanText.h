//===- PlanText.h - human-readable listings of a plan ------------*- C++ -*-===//
#pragma once

#include "runtime/plan/Plan.h"

#include <string>

namespace dlc::plan {
/// One line per kernel: index, kind, name, buffers (name@offset), integer attributes, FLOPs.
std::string describeProgram(const Plan &plan, const Program &prog);
/// The memory plan: bytes per buffer kind, each program's peak against the unshared total,
/// and every buffer with its offset, size and live range.
std::string describeMemory(const Plan &plan);
} // namespace dlc::plan
