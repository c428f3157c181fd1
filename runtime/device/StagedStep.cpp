//===- StagedStep.cpp - a pipeline plan's step over devices with separate memories -===//
#include "runtime/device/StagedStep.h"

#include <set>

using namespace dlc;

int32_t device::stageHolding(const plan::Plan &plan, uint64_t offset, uint64_t bytes) {
  uint64_t local = 0;
  for (size_t d = 0; d < plan.stages.size(); ++d)
    if (stageOffset(plan, int32_t(d), offset, bytes, local))
      return int32_t(d);
  return -1;
}

bool device::stageOffset(const plan::Plan &plan, int32_t d, uint64_t offset, uint64_t bytes,
                         uint64_t &local) {
  if (d < 0 || size_t(d) >= plan.stages.size())
    return false;
  const plan::StageRegion &r = plan.stages[size_t(d)];
  auto inside = [&](uint64_t begin, uint64_t size) {
    return offset >= begin && offset - begin <= size && bytes <= size - (offset - begin);
  };
  if (inside(r.persistentOffset, r.persistentBytes)) {
    local = offset - r.persistentOffset;
    return true;
  }
  if (inside(r.offset, r.bytes)) {
    local = r.persistentBytes + (offset - r.offset);
    return true;
  }
  return false;
}

bool device::runStagedStep(const plan::Plan &plan, const plan::Program &prog,
                           const StageWaits &waits, StagedDevices &devices, std::string &error) {
  const size_t n = prog.kernels.size();
  if (prog.kernelStage.size() != n || waits.size() != n) {
    error = "program '" + prog.name + "' has no stage for every kernel";
    return false;
  }
  std::set<std::pair<int32_t, int64_t>> signalled;
  for (const auto &w : waits)
    signalled.insert(w.begin(), w.end());
  for (size_t k = 0; k < n; ++k) {
    const int32_t d = prog.kernelStage[k];
    for (const auto &[on, index] : waits[k])
      if (!devices.await(d, on, size_t(index), error))
        return false;
    const plan::Kernel &kernel = prog.kernels[k];
    int32_t source = -1;
    uint64_t src = 0, dst = 0, bytes = 0;
    if (kernel.kind == plan::KernelKind::Copy && kernel.args.size() == 2) {
      const plan::Buffer &x = plan.buffers[size_t(kernel.args[0])],
                         &y = plan.buffers[size_t(kernel.args[1])];
      bytes = y.bytes;
      source = stageHolding(plan, x.offset, bytes);
      if (source < 0 || !stageOffset(plan, source, x.offset, bytes, src) ||
          !stageOffset(plan, d, y.offset, bytes, dst)) {
        error = "copy '" + kernel.name + "' of program '" + prog.name +
                "' reads or writes outside the devices' regions";
        return false;
      }
    }
    if (source >= 0 && source != d) {
      if (!devices.copy(d, dst, source, src, bytes, error))
        return false;
    } else {
      for (int32_t id : kernel.args) {
        uint64_t local = 0;
        const plan::Buffer &b = plan.buffers[size_t(id)];
        if (!stageOffset(plan, d, b.offset, b.bytes, local)) {
          error = "kernel '" + kernel.name + "' of program '" + prog.name + "' on device " +
                  std::to_string(d) + " reads or writes '" + b.name +
                  "', which is not in that device's memory";
          return false;
        }
      }
      if (!devices.launch(d, prog, k, error))
        return false;
    }
    if (signalled.count({d, int64_t(k)}) && !devices.signal(d, k, error))
      return false;
  }
  return true;
}
