//===- StagePlacement.h - a plan's layers split across devices ---*- C++ -*-===//
//
// Pipeline placement (`dlc compile --devices K --placement pipeline`): given the stage of
// every kernel of the training step (the advisor's split, compiler/Advisor/PipelineSplit.h),
// every buffer gets a home device (the stage of the first kernel touching it; parameters
// with their layer), a kernel reading another device's buffer reads a copy made on its own
// device by a copy kernel placed before it (again after each change at home), and the arena is
// laid out per device: all devices' persistent regions first, then each device's step
// region, each planned by liveness over its own buffers (with GPipe micro-batches, all of them
// in flight: compiler/Planning/MicroBatch.h).
//
#pragma once

#include "runtime/plan/Plan.h"

#include <string>
#include <vector>

namespace dlc {

/// The stage of each kernel of another program (eval, infer) than the training step: its
/// layer's stage in the training step (`trainStage`), the kernel before it's for a kernel of
/// no layer (the loss after the last layer).
std::vector<int32_t> programStages(const plan::Program &train,
                                   const std::vector<int32_t> &trainStage,
                                   const plan::Program &other);
/// Every program's kernel stages, the training step's being `trainStage`.
std::vector<std::vector<int32_t>> allProgramStages(const plan::Plan &plan,
                                                   const std::vector<int32_t> &trainStage);

/// Places the lowered `plan` (kernel programs built, arena not yet laid out or laid out for
/// one device) on `names.size()` stages: `stages[p]` gives the stage of each kernel of
/// program p (allProgramStages from the advisor's split, then compiler/Planning/MicroBatch.h
/// when the step runs as micro-batches), `names` each stage's first and last layer. Fills
/// Plan::stages, Program::kernelStage, offsets, persistentBytes, arenaBytes. False with a
/// one-line `error` when a kernel would write a buffer another stage holds.
bool placeStages(plan::Plan &plan, const std::vector<std::vector<int32_t>> &stages,
                 const std::vector<std::pair<std::string, std::string>> &names,
                 std::string &error);

} // namespace dlc
