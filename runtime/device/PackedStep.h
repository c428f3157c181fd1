//===- PackedStep.h - a device's side of a data-parallel training step -*- C++ -*-===//
//
// A replica of a data-parallel run (runtime/dist/DataParallel.h) runs the train program in
// parts around one collective: the kernels up to each optimizer kernel, the gradient that
// kernel would have read copied into a pack (one float array), then, once the pack has been
// averaged over the replicas, the optimizer kernels reading their gradients from the pack.
// This is what a device does for it. Devices that can keep the pack themselves do (the CPU
// in the host arena's address space, without copies; a GPU in one buffer of device memory,
// filled by device-side copies on its stream, so that NCCL averages it in place or a host
// communicator stages it with one copy each way); any other device gets the staged
// implementation below, which goes through Device::read, write and runKernel.
//
#pragma once

#include "runtime/device/Profile.h"
#include "runtime/plan/Plan.h"

#include <cstdint>
#include <memory>
#include <string>

namespace dlc {

class Device;

class PackedStep {
public:
  virtual ~PackedStep() = default;
  /// Runs kernel calls [first, last) of `prog` in order (a GPU queues them on its stream);
  /// `profile` and `trace` as Device::run takes them (a device may support only some).
  virtual bool runKernels(const plan::Program &prog, size_t first, size_t last,
                          device::Profile *profile, device::Trace *trace,
                          std::string &error) = 0;
  /// Copies `count` floats at byte `offset` of the device's arena into the pack at float
  /// `at`, after the kernels run so far; scatter copies them back.
  virtual bool gather(uint64_t offset, size_t at, size_t count, std::string &error) = 0;
  virtual bool scatter(size_t at, uint64_t offset, size_t count, std::string &error) = 0;
  /// Runs kernel `index` of `prog` with its argument `arg` read from the pack at float `at`
  /// instead of from its buffer (an optimizer kernel on its averaged gradient).
  virtual bool runOnPack(const plan::Program &prog, size_t index, size_t arg, size_t at,
                         device::Profile *profile, device::Trace *trace,
                         std::string &error) = 0;
  /// Waits for the work queued so far, then copies pack floats [at, at + count) to `dst`,
  /// or from `src`.
  virtual bool download(size_t at, size_t count, float *dst, std::string &error) = 0;
  virtual bool upload(size_t at, size_t count, const float *src, std::string &error) = 0;
  /// The pack when it lives in host memory, else null.
  virtual float *host() = 0;
  /// The pack in GPU memory (a CUdeviceptr) and the CUstream its work is queued on, for
  /// collectives that run on the device; 0 and null in host memory.
  virtual uint64_t deviceAddress() const { return 0; }
  virtual void *stream() const { return nullptr; }
};

/// The pack in host memory, moved with `device`'s read and write; kernels run one by one
/// through runKernel (the gradient written back into its own buffer before its optimizer
/// kernel runs). For devices without a PackedStep of their own (the tests' emulated GPU).
std::unique_ptr<PackedStep> makeStagedPackedStep(const plan::Plan &plan, Device &device,
                                                 size_t floats);

} // namespace dlc
