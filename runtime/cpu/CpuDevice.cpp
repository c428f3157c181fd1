//===- CpuDevice.cpp - programs run in the host arena ------------*- C++ -*-===//
#include "runtime/cpu/CpuDevice.h"

#include "runtime/cpu/BatchSplit.h"
#include "runtime/cpu/Executor.h"

#include <cstring>
#include <map>
#include <memory>

using namespace dlc;

namespace {
class CpuDevice final : public Device {
public:
  CpuDevice(const plan::Plan &plan, uint8_t *arena) : plan(plan), arena(arena) {
    cpu::prepareKernels(plan);
    for (const plan::Program &prog : plan.programs)
      if (auto split = cpu::BatchSplit::make(plan, prog, arena))
        splits[&prog] = std::move(split);
  }
  std::string describe() const override { return "cpu"; }
  bool run(const plan::Program &prog, device::Profile *profile, device::Trace *trace,
           std::string &) override {
    // Profiles and traces time each kernel on the whole batch.
    auto split = splits.find(&prog);
    if (!profile && !trace && split != splits.end() && split->second->run())
      return true;
    cpu::runProgram(plan, prog, arena, profile, trace);
    return true;
  }
  bool syncToHost(std::string &) override { return true; }

  bool runKernel(const plan::Program &prog, size_t index, std::string &error) override {
    if (index >= prog.kernels.size()) {
      error = "program '" + prog.name + "' has no kernel " + std::to_string(index);
      return false;
    }
    // The executor runs programs; a program of this one call runs it alone.
    one.name = prog.name;
    one.kernels.assign(1, prog.kernels[index]);
    cpu::runProgram(plan, one, arena);
    return true;
  }
  bool read(uint64_t offset, void *dst, uint64_t bytes, std::string &error) override {
    if (!inArena(plan, offset, bytes, error))
      return false;
    std::memmove(dst, arena + offset, bytes);
    return true;
  }
  bool write(uint64_t offset, const void *src, uint64_t bytes, std::string &error) override {
    if (!inArena(plan, offset, bytes, error))
      return false;
    std::memmove(arena + offset, src, bytes);
    return true;
  }

private:
  const plan::Plan &plan;
  uint8_t *arena;
  plan::Program one;
  /// Inference programs run as batch slices, one a thread (runtime/cpu/BatchSplit.h).
  std::map<const plan::Program *, std::unique_ptr<cpu::BatchSplit>> splits;
};
} // namespace

std::unique_ptr<Device> dlc::makeCpuDevice(const plan::Plan &plan, uint8_t *arena) {
  return std::make_unique<CpuDevice>(plan, arena);
}
