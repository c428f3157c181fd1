//===- BatchSplit.h - an inference program run as slices of its batch -*- C++ -*-===//
//
// Inference treats the examples of a batch independently, so with T threads its program
// can run as T slices of consecutive examples, each thread taking its slice through every
// layer in one parallel region, instead of every kernel splitting its own work over the
// threads. At LeNet's sizes a kernel lasts tens of microseconds: per-kernel splitting pays
// a hand-off and a wait for the slowest thread ten times a batch, and on a machine whose
// other core is busy a descheduled thread stalls each of them; slices meet once.
//
// Only the leading run of kernels whose kinds are per-example (convolution and pooling
// forward, matmul on the examples' rows, elementwise) is sliced; the rest (the loss and
// accuracy reductions) then runs as usual on the whole batch, so its results are the
// unsliced program's. Buffers made and used only inside the sliced run live in each
// slice's own memory (the plan's arena reuses memory on the assumption that kernels run one
// after another); those read later, or named outputs, are written in place, each slice
// into its own examples. A program that does not fit these rules runs as before.
//
#pragma once

#include "runtime/plan/Plan.h"

#include <cstdint>
#include <memory>

namespace dlc::cpu {

class BatchSplit {
public:
  /// The sliced form of `prog` over the plan's arena, or null when it has no sliceable
  /// leading kernels or its buffers do not allow it (see the header comment).
  static std::unique_ptr<BatchSplit> make(const plan::Plan &plan, const plan::Program &prog,
                                          uint8_t *arena);
  virtual ~BatchSplit() = default;

  /// Runs the whole program, sliced over the pool's threads. False, having run nothing,
  /// when there is nothing to gain (one thread, or fewer than two examples a thread).
  virtual bool run() = 0;
};

} // namespace dlc::cpu
