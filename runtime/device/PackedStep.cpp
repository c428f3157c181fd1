//===- PackedStep.cpp - the staged data-parallel step of any device ------------===//
#include "runtime/device/PackedStep.h"

#include "runtime/device/Device.h"

#include <cstring>
#include <vector>

using namespace dlc;

namespace {
class StagedStep final : public PackedStep {
public:
  StagedStep(const plan::Plan &plan, Device &device, size_t floats)
      : plan(plan), device(device), pack(floats, 0.f) {}

  bool runKernels(const plan::Program &prog, size_t first, size_t last, device::Profile *,
                  device::Trace *, std::string &error) override {
    for (size_t n = first; n < last; ++n)
      if (!device.runKernel(prog, n, error))
        return false;
    return true;
  }
  bool gather(uint64_t offset, size_t at, size_t count, std::string &error) override {
    return inPack(at, count, error) && device.read(offset, &pack[at], count * 4, error);
  }
  bool scatter(size_t at, uint64_t offset, size_t count, std::string &error) override {
    return inPack(at, count, error) && device.write(offset, &pack[at], count * 4, error);
  }
  bool runOnPack(const plan::Program &prog, size_t index, size_t arg, size_t at,
                 device::Profile *, device::Trace *, std::string &error) override {
    // The gradient goes back into its own buffer, which DataParallel.cpp checked no other
    // deferred kernel still needs.
    const plan::Buffer &b = plan.buffers[prog.kernels[index].args[arg]];
    return scatter(at, b.offset, b.bytes / 4, error) && device.runKernel(prog, index, error);
  }
  bool download(size_t at, size_t count, float *dst, std::string &error) override {
    if (!inPack(at, count, error))
      return false;
    std::memcpy(dst, &pack[at], count * 4);
    return true;
  }
  bool upload(size_t at, size_t count, const float *src, std::string &error) override {
    if (!inPack(at, count, error))
      return false;
    std::memcpy(&pack[at], src, count * 4);
    return true;
  }
  float *host() override { return pack.data(); }

private:
  bool inPack(size_t at, size_t count, std::string &error) const {
    if (at <= pack.size() && count <= pack.size() - at)
      return true;
    error = "floats [" + std::to_string(at) + ", " + std::to_string(at + count) +
            ") are outside the gradient pack of " + std::to_string(pack.size());
    return false;
  }

  const plan::Plan &plan;
  Device &device;
  std::vector<float> pack;
};
} // namespace

std::unique_ptr<PackedStep> dlc::makeStagedPackedStep(const plan::Plan &plan, Device &device,
                                                      size_t floats) {
  return std::make_unique<StagedStep>(plan, device, floats);
}
