//===- Recompute.h - activation checkpointing per block ---------*- C++ -*-===//
//
// `dlc compile/mem --recompute`: the training step keeps only each block's input through the
// backward pass and runs the block's forward kernels again just before the block's gradient
// kernels, which then read the recomputed values. A block is the layers whose names share
// everything up to their last dot (GPT-2's h.3.attn and h.3.mlp are block h.3; ResNet's
// layer2.1.conv1 is block layer2.1). Works on the kernel-level IR, before the arena layout,
// so the memory plan counts exactly what the rewritten step keeps; dlrun runs it unchanged.
//
#pragma once

#include "runtime/plan/Plan.h"

#include <string>
#include <vector>

namespace dlc {

struct RecomputeReport {
  int64_t blocks = 0;              // blocks whose forward runs twice
  double extraFlops = 0;           // of the recomputed kernels, per step
  std::vector<std::string> skipped; // "BLOCK: why" for blocks left as they were
};

/// Rewrites the "train" program of a lowered plan (buffers' liveness recomputed; offsets are
/// the arena layout's business afterwards). A block is left as it is, with a reason, when
/// one of its forward kernels writes persistent state (batch norm's running statistics):
/// running it twice would update that state twice. (Dropout's forward only reads its step
/// counter; the increment comes after the block's backward, so the masks repeat exactly.)
RecomputeReport recomputeBlocks(plan::Plan &plan);

/// One line (more when blocks were skipped) for dlc's output: how many blocks, the extra
/// FLOPs per step and their share of the rewritten step's, what was left and why.
std::string describeRecompute(const RecomputeReport &report, const plan::Plan &plan);

} // namespace dlc
