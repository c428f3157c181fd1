//===- MicroBatch.h - a pipeline's step as GPipe micro-batches ----*- C++ -*-===//
//
// `dlc compile --placement pipeline --microbatches M`: the plan is compiled at batch B/M and
// this pass rewrites every program to run M micro-batches through it, in GPipe's order, so
// that the plan states the whole schedule and the runtime only follows it:
//   - each program input becomes the whole batch's buffer (B examples, what dlrun feeds);
//     a copy_slice kernel gives each micro-batch its share, just before its first reader;
//   - every step buffer (activations, their gradients, workspaces) is replicated per
//     micro-batch, so the liveness planner sees all micro-batches in flight and each stage's
//     memory counts them; persistent buffers (parameters, state) are shared;
//   - the training step runs the forward of micro-batches 1..M, then their backwards M..1:
//     the first backward writes the parameter gradients, each later one adds its own to them
//     right after its last write (add), and after the last the sum is scaled by 1/M (the loss
//     is a mean, so the update is the whole batch's); the optimizer's kernels (and dropout's
//     step counters) run once, after the last backward;
//   - a program's loss is the mean of the micro-batches' losses, its correct count their sum,
//     a named output the micro-batches' outputs gathered in order.
// Batch norm normalizes over each micro-batch (and updates its running statistics once per
// micro-batch), as GPipe does; the driver says so.
//
#pragma once

#include "runtime/plan/Plan.h"

#include <string>
#include <vector>

namespace dlc {

/// Rewrites every program of `plan` (lowered at batch plan.train.batch, not yet laid out for
/// the stages) into `microbatches` > 1 micro-batches of that batch, and sets plan.train.batch
/// to the whole batch and plan.train.microbatches. `stages[p]` gives the stage of each kernel
/// of program p before, and is rewritten to the stage of each kernel after (a slice on its
/// reader's stage, an accumulation on its writer's). False with a one-line `error` when the
/// plan holds something micro-batches cannot split (dynamic loss scaling, a named output that
/// is not batch-major).
bool splitMicroBatches(plan::Plan &plan, int64_t microbatches,
                       std::vector<std::vector<int32_t>> &stages, std::string &error);

} // namespace dlc
