//===- PipelineRunner.h - a pipeline plan's devices on threads of their own -*- C++ -*-===//
//
// A pipeline plan (Plan::stages) with GPipe micro-batches (TrainConfig::microbatches > 1)
// states the whole schedule: each kernel's device (Program::kernelStage) and, per device, the
// order (the plan's). Here every CPU device runs its own kernels on its own thread, in plan
// order, and waits only where it must:
//   - a copy kernel (the one kind that reads another device's memory) waits until the last
//     kernel before it on the source's device that writes that memory has run (read after
//     write);
//   - a kernel that writes memory which an earlier copy on another device reads waits until
//     that copy has run (write after read: the liveness planner reuses a device's memory).
// Every wait is for an earlier kernel in plan order, so the threads cannot deadlock; and each
// device's arithmetic is its kernels in a fixed order, so the results are the plan's whatever
// the timing (the same as running the kernels in plan order on one thread).
//
#pragma once

#include "runtime/device/Profile.h"
#include "runtime/device/StagedStep.h"
#include "runtime/plan/Plan.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace dlc::cpu {

class PipelineRunner {
public:
  /// Starts one thread per device but the first (the caller runs device 0's kernels).
  PipelineRunner(const plan::Plan &plan, uint8_t *arena);
  ~PipelineRunner();
  PipelineRunner(const PipelineRunner &) = delete;
  PipelineRunner &operator=(const PipelineRunner &) = delete;

  /// Runs `prog` (a program of the plan, with kernel stages) once; returns when every device
  /// is done. `profile` and `trace` as cpu::runProgram takes them; the trace also gets each
  /// device's waits (events with no kernel: the pipeline's bubbles).
  void run(const plan::Program &prog, device::Profile *profile, device::Trace *trace);

  /// Seconds each device spent running the training step's kernels, over every run so far.
  const std::vector<double> &busySeconds() const { return busy; }

  /// Per kernel of `prog`, what it waits for: (device, index) pairs, each meaning "until that
  /// device's kernels before plan index `index` + 1 have run". Exposed for tests.
  struct Wait {
    int32_t device;
    int64_t index;
  };
  static std::vector<std::vector<Wait>> waits(const plan::Plan &plan, const plan::Program &prog);
  /// waits() as device::runStagedStep takes them (devices with memories of their own).
  static device::StageWaits stageWaits(const plan::Plan &plan, const plan::Program &prog);

private:
  struct Schedule {
    std::vector<std::vector<size_t>> kernels; // per device, its kernels' plan indices
    std::vector<std::vector<Wait>> waits;     // per kernel
    std::vector<int64_t> next;                // per kernel: its device's next kernel, or max
  };
  const Schedule &schedule(const plan::Program &prog);
  void worker(int32_t device);
  void runDevice(int32_t device);

  const plan::Plan &plan;
  uint8_t *arena;
  const int32_t devices;
  std::map<const plan::Program *, Schedule> schedules;
  std::vector<double> busy;

  // The current run: what the workers run, and their progress.
  const plan::Program *prog = nullptr;
  const Schedule *sched = nullptr;
  device::Profile *profile = nullptr;
  device::Trace *trace = nullptr;
  std::vector<std::vector<device::TraceEvent>> events; // per device, merged after the run
  std::vector<double> finished;                        // per device: when it ended (trace us)
  /// done[d]: every kernel of device d before this plan index has run.
  std::unique_ptr<std::atomic<int64_t>[]> done;
  std::mutex progressMutex;
  std::condition_variable progress;

  std::mutex jobMutex;
  std::condition_variable jobStart, jobDone;
  uint64_t generation = 0;
  int32_t pending = 0;
  bool stop = false;
  std::vector<std::thread> threads;
};

} // namespace dlc::cpu
