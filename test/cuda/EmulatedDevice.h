//===- EmulatedDevice.h - generated CUDA C run on the host, as a dlc::Device -*- C++ -*-===//
//
// The "GPU" of the tests that have none: a plan's generated kernels, compiled as host C++
// through CudaEmulation.h (a table made by dlc-cuda-emulation-gen), launched
// with the compiler's own launch records on an arena of host memory. Library calls run as
// the generated reference kernels. dlrun --validate's logic (runtime/train/Validate.h) takes it
// where dlrun passes the CUDA device.
//
// Include after CudaEmulation.h.
//
#pragma once

#include "EmulationSource.h"
#include "compiler/Target/Cuda/CudaCodegen.h"
#include "runtime/device/Device.h"

#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace dlc::cudatest {

class EmulatedDevice final : public Device {
public:
  using Launch = void (*)(dim3 grid, dim3 block, void *const *pointers);
  /// Replaces one kernel call (fault injection): gets the arena and the call's buffer
  /// pointers (runGenerated runs the real kernel); false with `error` set fails the call.
  using Override =
      std::function<bool(uint8_t *arena, void *const *pointers, std::string &error)>;

  /// `tag`: the plan's symbols' prefix (dlc-cuda-emulation-gen --tag TAG makes "TAG_").
  EmulatedDevice(const plan::Plan &plan, const cuda::emu::Kernel *table, size_t count,
                 std::string tag = "")
      : arena(plan.arenaBytes), plan(plan), tag(std::move(tag)) {
    for (size_t i = 0; i < count; ++i)
      kernels[table[i].name] = table[i].launch;
  }

  /// The arena, laid out as the plan says.
  std::vector<uint8_t> arena;
  /// Kernel calls to replace, by program name and index.
  std::map<std::pair<std::string, size_t>, Override> overrides;

  /// The launch records of `prog` as dlc-cuda-emulation-gen made its source.
  const std::vector<cuda::CudaLaunch> &launchesOf(const plan::Program &prog, std::string &error) {
    auto it = launches.find(prog.name);
    if (it != launches.end())
      return it->second;
    std::vector<cuda::CudaLaunch> &out = launches[prog.name];
    if (emulationSource(plan, prog, out, error, tag).empty())
      out.clear();
    return out;
  }

  std::string describe() const override { return "emulated cuda (host)"; }

  bool run(const plan::Program &prog, device::Profile *, device::Trace *, std::string &error) override {
    for (size_t i = 0; i < prog.kernels.size(); ++i)
      if (!runKernel(prog, i, error))
        return false;
    return true;
  }
  bool syncToHost(std::string &) override { return true; }

  bool runKernel(const plan::Program &prog, size_t index, std::string &error) override {
    auto o = overrides.find({prog.name, index});
    if (o == overrides.end())
      return runGenerated(prog, index, error);
    std::vector<void *> pointers;
    for (int32_t id : prog.kernels.at(index).args)
      pointers.push_back(arena.data() + plan.buffers[id].offset);
    return o->second(arena.data(), pointers.data(), error);
  }

  /// Kernel call `index` of `prog` as generated, whatever `overrides` says.
  bool runGenerated(const plan::Program &prog, size_t index, std::string &error) {
    const std::vector<cuda::CudaLaunch> &all = launchesOf(prog, error);
    if (index >= all.size()) {
      error = all.empty() ? error : "no kernel " + std::to_string(index);
      return false;
    }
    std::vector<void *> pointers;
    for (int32_t id : prog.kernels[index].args)
      pointers.push_back(arena.data() + plan.buffers[id].offset);
    return launchOn(prog, index, pointers.data(), error);
  }

  /// Kernel call `index` of `prog` as generated, on the buffers at `pointers` (a pipeline's
  /// device, whose memory is not this arena).
  bool launchOn(const plan::Program &prog, size_t index, void *const *pointers,
                std::string &error) {
    const std::vector<cuda::CudaLaunch> &all = launchesOf(prog, error);
    if (index >= all.size()) {
      error = all.empty() ? error : "no kernel " + std::to_string(index);
      return false;
    }
    const cuda::CudaLaunch &l = all[index];
    auto k = kernels.find(l.function);
    if (k == kernels.end()) {
      error = "no emulated kernel '" + l.function + "'";
      return false;
    }
    k->second(dim3(l.grid.x, l.grid.y, l.grid.z), dim3(l.block.x, l.block.y, l.block.z),
              pointers);
    return true;
  }

  bool read(uint64_t offset, void *dst, uint64_t bytes, std::string &error) override {
    if (!inArena(offset, bytes, error))
      return false;
    std::memcpy(dst, arena.data() + offset, bytes);
    return true;
  }
  bool write(uint64_t offset, const void *src, uint64_t bytes, std::string &error) override {
    if (!inArena(offset, bytes, error))
      return false;
    std::memcpy(arena.data() + offset, src, bytes);
    return true;
  }

private:
  bool inArena(uint64_t offset, uint64_t bytes, std::string &error) const {
    if (offset <= arena.size() && bytes <= arena.size() - offset)
      return true;
    error = "bytes outside the arena";
    return false;
  }

  const plan::Plan &plan;
  const std::string tag;
  std::map<std::string, Launch> kernels;
  std::map<std::string, std::vector<cuda::CudaLaunch>> launches;
};

} // namespace dlc::cudatest
