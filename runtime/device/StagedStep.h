//===- StagedStep.h - a pipeline plan's step over devices with separate memories -*- C++ -*-===//
//
// The CPU runs a pipeline plan (Plan::stages) in one arena, each device in its own region of
// it. Devices with memories of their own (GPUs) hold only their stage's regions: device d
// allocates persistentBytes + bytes of its StageRegion, the persistent region at 0 and the
// step region after it, so a buffer at plan offset `o` lies at o - region start (+
// persistentBytes for a step buffer) of its device's allocation. A copy kernel whose source
// lies on another device is then no kernel but a device-to-device copy between two
// allocations; every other kernel runs on its own device's memory alone.
//
// runStagedStep drives one program of such a plan through the StagedDevices interface: the
// kernels in plan order (a valid order for every micro-batch schedule: the plan's), each on
// its stage's device, with the pipeline's cross-device dependencies (cpu::PipelineRunner's
// waits: a remote copy after its source's last writer, a kernel overwriting a copied range
// after the copy) as signals and waits. A GPU queues everything on one stream per device and
// turns the waits into events, so the host thread never blocks and the stages overlap as the
// dependencies allow; a device that runs each call at once (the emulated GPU of the tests)
// ignores them.
//
#pragma once

#include "runtime/plan/Plan.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dlc::device {

/// The bytes device `d` of a pipeline plan allocates: its persistent and step regions.
inline uint64_t stageBytes(const plan::StageRegion &r) { return r.persistentBytes + r.bytes; }

/// The device whose regions hold plan bytes [offset, offset + bytes), or -1.
int32_t stageHolding(const plan::Plan &plan, uint64_t offset, uint64_t bytes);

/// Plan bytes [offset, offset + bytes) as an offset into device `d`'s allocation; false when
/// they do not lie in one of its regions.
bool stageOffset(const plan::Plan &plan, int32_t d, uint64_t offset, uint64_t bytes,
                 uint64_t &local);

/// What runStagedStep asks of the devices of a pipeline.
class StagedDevices {
public:
  virtual ~StagedDevices() = default;
  /// Runs (or queues) kernel `index` of `prog` on device `d`, its buffers at their offsets in
  /// d's allocation (stageOffset).
  virtual bool launch(int32_t d, const plan::Program &prog, size_t index, std::string &error) = 0;
  /// Copies `bytes` from `srcOffset` of device `src`'s allocation to `dstOffset` of `dst`'s,
  /// queued on `dst` (the copy kernel's device) after its earlier work.
  virtual bool copy(int32_t dst, uint64_t dstOffset, int32_t src, uint64_t srcOffset,
                    uint64_t bytes, std::string &error) = 0;
  /// Marks the point after kernel `index` (just queued on device `d`) that another device
  /// waits for.
  virtual bool signal(int32_t d, size_t index, std::string &error) = 0;
  /// Device `d`'s next work waits until `on`'s kernel `index` (signalled) is done.
  virtual bool await(int32_t d, int32_t on, size_t index, std::string &error) = 0;
};

/// Per kernel of a program: the (device, kernel index) pairs it waits for, as
/// cpu::PipelineRunner::waits computes them.
using StageWaits = std::vector<std::vector<std::pair<int32_t, int64_t>>>;

/// Runs `prog` (a program of a pipeline plan, with kernelStage) once through `devices`.
/// False with a one-line `error` (a kernel's buffer outside its device's regions, or the
/// devices' own errors).
bool runStagedStep(const plan::Plan &plan, const plan::Program &prog, const StageWaits &waits,
                   StagedDevices &devices, std::string &error);

} // namespace dlc::device
