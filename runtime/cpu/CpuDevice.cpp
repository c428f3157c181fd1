//===- CpuDevice.cpp - programs run in the host arena ------------*- C++ -*-===//
#include "runtime/cpu/CpuDevice.h"

#include "runtime/cpu/Executor.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/PipelineRunner.h"

#include <cstring>

using namespace dlc;

namespace {
class CpuDevice final : public Device {
public:
  CpuDevice(const plan::Plan &plan, uint8_t *arena) : plan(plan), arena(arena) {
    cpu::prepareKernels(plan);
    // GPipe micro-batches: each device of the pipeline on its own thread. One micro-batch
    // leaves nothing to overlap: the stages run in turn on this thread.
    if (!plan.stages.empty() && plan.train.microbatches > 1)
      pipeline = std::make_unique<cpu::PipelineRunner>(plan, arena);
  }
  std::string describe() const override { return "cpu"; }
  bool run(const plan::Program &prog, device::Profile *profile, device::Trace *trace,
           std::string &) override {
    // The devices' threads call kernels at once, which a pool of several threads (serving one
    // caller at a time) cannot take: with one, the plan's order on this thread, the same
    // arithmetic.
    if (pipeline && !prog.kernelStage.empty() && cpu::threads() == 1)
      pipeline->run(prog, profile, trace);
    else
      cpu::runProgram(plan, prog, arena, profile, trace);
    return true;
  }
  std::vector<double> busySeconds() const override {
    return pipeline ? pipeline->busySeconds() : std::vector<double>{};
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
  std::unique_ptr<cpu::PipelineRunner> pipeline;
};
} // namespace

std::unique_ptr<Device> dlc::makeCpuDevice(const plan::Plan &plan, uint8_t *arena) {
  return std::make_unique<CpuDevice>(plan, arena);
}
