//===- CpuDevice.cpp - programs run in the host arena ------------*- C++ -*-===//
#include "runtime/Device.h"

using namespace dlc;

namespace {
class CpuDevice final : public Device {
public:
  CpuDevice(const plan::Plan &plan, uint8_t *arena) : plan(plan), arena(arena) {}
  std::string describe() const override { return "cpu"; }
  bool run(const plan::Program &prog, cpu::Profile *profile, cpu::Trace *trace,
           std::string &) override {
    cpu::runProgram(plan, prog, arena, profile, trace);
    return true;
  }
  bool syncToHost(std::string &) override { return true; }

private:
  const plan::Plan &plan;
  uint8_t *arena;
};
} // namespace

std::unique_ptr<Device> dlc::makeCpuDevice(const plan::Plan &plan, uint8_t *arena) {
  return std::make_unique<CpuDevice>(plan, arena);
}
