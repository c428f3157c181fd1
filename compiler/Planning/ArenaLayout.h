//===- ArenaLayout.h - place every buffer of a plan in one arena -*- C++ -*-===//
#pragma once

#include "runtime/plan/Plan.h"

namespace dlc {
/// Lays out the arena: persistent buffers (parameters, optimizer state) first, packed; then
/// each program's buffers placed by the liveness-based planner in one shared region (programs
/// never run at the same time). Fills offsets, Program::peakBytes, persistentBytes and
/// arenaBytes.
void layoutArena(plan::Plan &plan);
} // namespace dlc
