//===- StagePlacement.h - a plan's layers split across devices ---*- C++ -*-===//
//
// Pipeline placement (`dlc compile --devices K --placement pipeline`): given the stage of
// every kernel of the training step (the advisor's split, compiler/Advisor/PipelineSplit.h),
// every buffer gets a home device (the stage of the first kernel touching it; parameters
// with their layer), a kernel reading another device's buffer reads a copy made on its own
// device by a copy kernel placed before it (again after each change at home), and the arena is
// laid out per device: all devices' persistent regions first, then each device's step
// region, each planned by liveness over its own buffers. One micro-batch: the stages run in
// turn, so the losses are one device's exactly.
//
#pragma once

#include "runtime/plan/Plan.h"

#include <string>
#include <vector>

namespace dlc {

/// Places the lowered `plan` (kernel programs built, arena not yet laid out or laid out for
/// one device) on `names.size()` stages: `trainStage` gives the stage of each kernel of the
/// "train" program, `names` each stage's first and last layer. The "eval" program's kernels
/// take the stage of their layer in the training step (the kernel before them for those of no
/// layer). Fills Plan::stages, Program::kernelStage, offsets, persistentBytes, arenaBytes.
/// False with a one-line `error` when a kernel would write a buffer another stage holds.
bool placeStages(plan::Plan &plan, const std::vector<int32_t> &trainStage,
                 const std::vector<std::pair<std::string, std::string>> &names,
                 std::string &error);

} // namespace dlc
