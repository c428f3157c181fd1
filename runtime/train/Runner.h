//===- Runner.h - batches into a plan's programs, one step at a time -*- C++ -*-===//
//
// The loop only moves data: each step copies one batch into the plan's input buffers, runs
// a program, and reads the loss and correct-count scalars back. Partial batches are
// dropped, since the plan is compiled for one batch size.
//
// Under mpirun (runtime/dist/DataParallel.h) the plan's batch is each rank's: a step consumes a
// global batch of ranks x batch examples, rank r taking examples [r*batch, (r+1)*batch) of
// it, so N ranks see the examples, in the order, that one process with batch N*batch would.
// Evaluation is sharded the same way and its sums added over the ranks.
//
#pragma once

#include "runtime/data/Datasets.h"
#include "runtime/data/PlanData.h"
#include "runtime/device/Device.h"
#include "runtime/dist/Communicator.h"
#include "runtime/plan/Plan.h"

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace dlc {

/// Mean loss and accuracy over a data set's whole global batches.
struct Evaluation {
  double loss = 0, accuracy = 0;
  int64_t examples = 0;
  bool nonfinite = false; // some batch's loss was NaN or infinite (on_nonfinite: warn)
  /// Each batch's program run alone, without copying its data in: the median is the
  /// steady-state latency that benchmarks compare (bench/peers.py).
  std::vector<double> runSeconds;
};

class Runner {
public:
  /// `snapshots`: keep a copy of the persistent state from before each training step, so a
  /// step whose loss is non-finite can be rerun from the state it started from.
  Runner(const plan::Plan &p, uint8_t *arena, Device &device, Communicator *comm, bool snapshots);

  /// Copies examples order[first .. first+batch) into the program's inputs in the host arena
  /// (data::bindInputs says which part of an example each input gets): images
  /// cropped, flipped and standardized as the data section says: training batches
  /// (`train`) at random places and flips, others centre crops, unflipped.
  /// False with a one-line `error` when the data cannot feed the program's inputs.
  bool load(const plan::Program &prog, const data::Dataset &d, const std::vector<int64_t> &order,
            int64_t first, bool train, std::string &error);

  /// Checks that the data set `d` can feed every program's inputs (data::bindInputs) with
  /// windows of the inputs' length; a one-line `error` otherwise.
  bool checkInputs(const data::Dataset &d, std::string &error);

  /// The positions a class input scores per example (1 for labels, T for per-position targets):
  /// accuracy is the correct count over examples * positions.
  int64_t positions() const;

  /// Copies examples order[first .. first+batch) into the program's inputs and runs it.
  /// `runSeconds`, when given, receives the program run's time (the data copy excluded).
  bool step(const plan::Program &prog, const data::Dataset &d, const std::vector<int64_t> &order,
            int64_t first, float &loss, float &correct, device::Profile *profile,
            device::Trace *trace, std::string &error, double *runSeconds = nullptr);

  /// Advances the augmentation generator past `examples` training examples' draws, as
  /// load() would make them: a rank skips the other ranks' shards of each global batch, so
  /// its crops and flips are the ones a single process would draw for its examples.
  void skipAugmentation(int64_t examples);

  /// The whole global batches of `d` through the eval program (this rank's shard of each,
  /// summed over the ranks). A batch whose loss is not finite stops it under
  /// on_nonfinite: stop, with an `error` naming the kernel that made it (explainNonfinite).
  bool evaluate(const data::Dataset &d, device::Profile *profile, device::Trace *trace,
                Evaluation &result, std::string &error);

  /// After a training step of `prog` whose loss was not finite: puts back the state from
  /// before the step when a snapshot was kept, reruns the step kernel by kernel and returns
  /// one clause naming the first kernel with a non-finite output (or saying why it cannot).
  std::string explainNonfinite(const plan::Program &prog);

  /// dlrun --validate: `steps` - 1 ordinary steps of `prog` on consecutive batches of `d`,
  /// then the next batch's step kernel by kernel against the CPU. Returns the exit code.
  int validate(const plan::Program &prog, const data::Dataset &d, int64_t steps);

private:
  /// The images of a batch into `x`, cropped, flipped and standardized as the data says.
  void loadImages(float *x, const data::Dataset &d, const std::vector<int64_t> &order,
                  int64_t first, bool train);

  const plan::Plan &p;
  std::map<const plan::Program *, std::vector<data::Feed>> bindings;
  uint8_t *arena;
  Device &device;
  Communicator *comm; // null: a single process
  const int64_t ranks, rank;
  std::mt19937_64 augmentRng; // crop places and flips of training batches
  bool snapshots;
  std::vector<uint8_t> before; // the persistent state before the last training step
};

} // namespace dlc
