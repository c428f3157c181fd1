//===- Trainer.h - the training / evaluation loop of dlrun -------*- C++ -*-===//
#pragma once

#include <cstdint>
#include <string>

namespace dlc {

struct RunOptions {
  std::string planPath;
  int64_t epochs = -1;   // -1: the plan's
  int64_t steps = -1;    // -1: whole epochs; else stop after this many training steps
  int64_t logEvery = -1; // -1: the plan's
  int64_t limit = 0;     // >0: use at most this many training and test examples
  std::string save, load;
  bool eval = false;
  bool profile = false;
  bool quiet = false; // no progress bar even on a terminal
};

/// Loads and verifies the plan, allocates its arena, loads the data and trains (or, with
/// `eval`, evaluates on the test set). Prints progress and a timing summary to stdout and
/// one-line errors to stderr. Returns the process exit code.
int runPlan(const RunOptions &opts);

} // namespace dlc
