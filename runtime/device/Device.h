//===- Device.h - where dlrun runs a plan's programs -------------*- C++ -*-===//
//
// The trainer works on a host arena (parameters initialised there, batches copied there,
// loss and accuracy read from there); a device runs programs against it. The CPU device runs
// them in place; the CUDA device mirrors the arena in GPU memory and moves only what the
// host touches: the input batch in, two scalars out, the persistent state for checkpoints.
//
#pragma once

#include "runtime/device/PackedStep.h"
#include "runtime/device/Profile.h"
#include "runtime/plan/Plan.h"

#include <memory>
#include <string>
#include <vector>

namespace dlc {

class Device {
public:
  virtual ~Device() = default;
  /// "cpu", or "cuda:0 (NVIDIA H100 80GB HBM3, sm_90)".
  virtual std::string describe() const = 0;
  /// Runs `prog`. Its inputs are in the host arena; afterwards its loss and correct-count
  /// scalars are too. `profile` and `trace` as cpu::runProgram takes them (a device may
  /// support only some).
  virtual bool run(const plan::Program &prog, device::Profile *profile, device::Trace *trace,
                   std::string &error) = 0;
  /// A pipeline run on threads (runtime/cpu/PipelineRunner.h): the seconds each of its
  /// devices spent in kernels so far, for their busy shares; empty otherwise.
  virtual std::vector<double> busySeconds() const { return {}; }
  /// One line on how the device lays out the plan's memory where it departs from the plan
  /// (the CPU's blocked activations, runtime/cpu/Layout.h), for dlrun to print; "" if not.
  virtual std::string layoutNote() const { return ""; }
  /// Copies the persistent buffers (parameters, optimizer and model state) to the host
  /// arena, for checkpoints.
  virtual bool syncToHost(std::string &error) = 0;

  // One kernel call at a time, for dlrun --validate (runtime/train/Validate.h). These work on the
  // device's own arena only: the host arena is neither read nor written.

  /// Runs kernel call `index` of `prog` alone and waits for it.
  virtual bool runKernel(const plan::Program &prog, size_t index, std::string &error) = 0;
  /// Copies `bytes` at `offset` of the device's arena to `dst`.
  virtual bool read(uint64_t offset, void *dst, uint64_t bytes, std::string &error) = 0;
  /// Copies `bytes` from `src` to `offset` of the device's arena.
  virtual bool write(uint64_t offset, const void *src, uint64_t bytes, std::string &error) = 0;

  /// This device's side of a data-parallel step with a pack of `floats` floats
  /// (runtime/device/PackedStep.h); null with an empty `error` for a device without one of its
  /// own (the caller then stages the pack through read and write), null with `error` set when
  /// it fails (no memory for the pack).
  virtual std::unique_ptr<PackedStep> makePackedStep(size_t floats, std::string &error) {
    (void)floats, (void)error;
    return nullptr;
  }
};

/// True when [offset, offset + bytes) lies inside the plan's arena; otherwise false with a
/// one-line `error`. For the devices' read and write.
inline bool inArena(const plan::Plan &plan, uint64_t offset, uint64_t bytes,
                    std::string &error) {
  if (offset <= plan.arenaBytes && bytes <= plan.arenaBytes - offset)
    return true;
  error = "bytes [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) +
          ") are outside the arena of " + std::to_string(plan.arenaBytes) + " bytes";
  return false;
}

} // namespace dlc
