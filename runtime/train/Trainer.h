//===- Trainer.h - the training / evaluation loop of dlrun -------*- C++ -*-===//
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dlc {
namespace device {
struct Trace;
}

class Communicator;

struct RunOptions {
  std::string planPath;
  int64_t epochs = -1;   // -1: the plan's
  int64_t steps = -1;    // -1: whole epochs; else stop after this many training steps (0:
                         // none, only --save of the initial state; dlrun requires --save)
  int64_t logEvery = -1; // -1: the plan's
  int64_t lossDigits = 4; // decimals of the loss in the per-step progress lines; test/parity
                          // reads 9 (a float's 4 decimals cannot show a 1e-4 relative
                          // difference of a loss below 0.5)
  int64_t limit = 0;     // >0: use at most this many training and test examples
  std::string save, load;
  bool eval = false;
  bool profile = false;
  bool quiet = false; // no progress bar even on a terminal
  int cudaOrdinal = -1;  // --device cuda:N; -1: the CPU
  /// --device cuda:N,cuda:M,... with a pipeline plan: stage d runs on GPU cudaOrdinals[d]
  /// (cudaOrdinal is the first).
  std::vector<int> cudaOrdinals;
  int64_t threads = 0;   // kernel threads; 0: kDefaultThreads capped at the cores available
  std::string trace;     // write a Chrome trace of the first kTraceSteps program runs here
  bool validate = false; // run one step (the last of --steps) kernel by kernel on the device
                         // and on the CPU and compare (runtime/train/Validate.h); needs a GPU
  Communicator *comm = nullptr; // under mpirun: this process's ranks (runtime/dist/DataParallel.h)
  /// --device cpu:0,cpu:1,...: how many devices, and whether `comm` joins threads of this
  /// process (runtime/dist/ThreadGroup.h), each running runPlan; all but the first are
  /// `silent` (errors still go to stderr).
  int64_t devices = 1;
  bool inProcessDevices = false, silent = false;
  /// Data placement: the gradient bucket size in MiB (--bucket-mib; 0: one pack), each
  /// bucket's allreduce overlapping the rest of the backward (runtime/dist/Buckets.h).
  double bucketMiB = 25;
  /// --device cpu:0,... with --trace: one trace per device, device r recording into the r-th;
  /// device 0 writes them as one (device::writeTraces) once all have trained, while the
  /// others' plans, which the events point into, still live.
  std::vector<std::unique_ptr<device::Trace>> *deviceTraces = nullptr;
};

/// Threads the kernels use unless --threads says otherwise (capped at the cores present): on
/// the 2-core machine of docs/performance.md two measured fastest while the second core was
/// free (training 1.6x, inference 1.6x); on a busy machine one can be faster.
constexpr int64_t kDefaultThreads = 2;
/// Program runs (steps) a --trace file covers; enough to see the steady state while
/// keeping the file a few MiB.
constexpr int64_t kTraceSteps = 50;

/// Loads and verifies the plan, allocates its arena, loads the data and trains (or, with
/// `eval`, evaluates on the test set; with `validate`, checks one step's kernels against the
/// CPU's). Prints progress and a timing summary to stdout and one-line errors to stderr.
/// Returns the process exit code (with `validate`, 1 when any kernel mismatches; 1 when the
/// loss is not finite under training.on_nonfinite: stop or exceeds training.max_loss).
/// dlrun has checked the options against each other (tools/dlrun/dlrun.cpp).
int runPlan(const RunOptions &opts);

} // namespace dlc
