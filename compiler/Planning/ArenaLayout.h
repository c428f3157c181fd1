//===- ArenaLayout.h - place every buffer of a plan in one arena -*- C++ -*-===//
#pragma once

#include "runtime/plan/Plan.h"

#include <functional>

namespace dlc {
/// Lays out the arena: persistent buffers (parameters, optimizer state) first, packed; then
/// each program's buffers placed by the liveness-based planner in one shared region (programs
/// never run at the same time). Fills offsets, Program::peakBytes, persistentBytes and
/// arenaBytes.
void layoutArena(plan::Plan &plan);

/// Sets the first and last kernel of every buffer of program `program` from its kernel list,
/// as the lowering does (inputs from kernel 0, outputs to the end): for passes that rewrite
/// the kernel list (compiler/Planning/Recompute.cpp, StagePlacement.cpp).
void recomputeLiveness(plan::Plan &plan, int32_t program);

/// Places the buffers of `program` that `pick` (a buffer id) selects at `base` plus the
/// liveness planner's offsets; returns their peak bytes.
uint64_t placeProgramBuffers(plan::Plan &plan, int32_t program, uint64_t base,
                             const std::function<bool(size_t)> &pick);
} // namespace dlc
