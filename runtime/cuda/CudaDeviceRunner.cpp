//===- CudaDeviceRunner.cpp - programs run on a GPU ---------------*- C++ -*-===//
//
// Built only with the CUDA runtime (DLC_HAVE_CUDA_RUNTIME); otherwise makeCudaDevice says
// that this dlrun has no CUDA support. Not yet run on a GPU in this project's CI (none has
// one): tests that need a device skip with that reason.
//
#include "runtime/cuda/CudaDeviceRunner.h"

#if DLC_HAVE_CUDA_RUNTIME
#include "runtime/cuda/CudaExecutor.h"

#include <map>
#endif

using namespace dlc;

#if DLC_HAVE_CUDA_RUNTIME
namespace {
class CudaDeviceRunner final : public Device {
public:
  CudaDeviceRunner(const plan::Plan &plan, uint8_t *arena) : plan(plan), arena(arena) {}

  bool open(int ordinal, std::string &error) {
    if (plan.target != "cuda") {
      error = "the plan was compiled for '" + plan.target +
              "'; compile it with `dlc compile --target cuda` to run on a GPU";
      return false;
    }
    if (!cuda::openCudaDevice(ordinal, dev, error) ||
        !cuda::allocateArenaCuda(dev, plan, devArena, error) ||
        !dev.upload(devArena.base, arena, plan.arenaBytes, error))
      return false;
    for (const plan::Program &prog : plan.programs) {
      std::vector<cuda::CudaLaunch> launches;
      if (!cuda::decodeLaunches(prog.cudaLaunches, launches, error) ||
          !cuda::checkLaunches(plan, prog, launches, error))
        return false;
      // The CUBIN when it was built for this GPU, else the PTX for the driver to JIT.
      std::vector<uint8_t> image;
      if (plan.arch == dev.arch()) {
        image.assign(prog.cudaCubin.begin(), prog.cudaCubin.end());
      } else {
        image.assign(prog.cudaPtx.begin(), prog.cudaPtx.end());
        image.push_back(0);
      }
      if (!cuda::loadProgramCuda(dev, plan, prog, launches, image, programs[&prog], error))
        return false;
    }
    return true;
  }

  std::string describe() const override {
    return "cuda:" + std::to_string(dev.ordinal) + " (" + dev.name + ", " + dev.arch() + ")";
  }

  bool run(const plan::Program &prog, device::Profile *profile, device::Trace *,
           std::string &error) override {
    auto copyIn = [&](int32_t id) {
      const plan::Buffer &b = plan.buffers[id];
      return dev.upload(devArena.at(plan, id), arena + b.offset, b.bytes, error);
    };
    auto copyOut = [&](int32_t id) {
      const plan::Buffer &b = plan.buffers[id];
      return dev.download(arena + b.offset, devArena.at(plan, id), b.bytes, error);
    };
    std::vector<double> seconds;
    for (const plan::ProgramInput &in : prog.inputs)
      if (!copyIn(in.buffer))
        return false;
    if (!cuda::runProgramCuda(programs.at(&prog), devArena, error, profile ? &seconds : nullptr) ||
        !copyOut(prog.loss) || (prog.correct >= 0 && !copyOut(prog.correct)))
      return false;
    if (profile) {
      profile->seconds.resize(seconds.size(), 0.0);
      for (size_t i = 0; i < seconds.size(); ++i)
        profile->seconds[i] += seconds[i];
      ++profile->runs;
    }
    return true;
  }

  bool syncToHost(std::string &error) override {
    return dev.download(arena, devArena.base, plan.persistentBytes, error);
  }

  bool runKernel(const plan::Program &prog, size_t index, std::string &error) override {
    auto it = programs.find(&prog);
    if (it == programs.end()) {
      error = "program '" + prog.name + "' is not loaded on " + describe();
      return false;
    }
    return cuda::runCallCuda(it->second, index, devArena, error);
  }
  bool read(uint64_t offset, void *dst, uint64_t bytes, std::string &error) override {
    return inArena(plan, offset, bytes, error) &&
           dev.download(dst, devArena.base + offset, bytes, error);
  }
  bool write(uint64_t offset, const void *src, uint64_t bytes, std::string &error) override {
    return inArena(plan, offset, bytes, error) &&
           dev.upload(devArena.base + offset, src, bytes, error);
  }

private:
  const plan::Plan &plan;
  uint8_t *arena;
  cuda::CudaDevice dev;
  cuda::CudaArena devArena;
  std::map<const plan::Program *, cuda::CudaProgram> programs;
};
} // namespace
#endif

std::unique_ptr<Device> dlc::makeCudaDevice(const plan::Plan &plan, uint8_t *arena, int ordinal,
                                            std::string &error) {
#if DLC_HAVE_CUDA_RUNTIME
  auto device = std::make_unique<CudaDeviceRunner>(plan, arena);
  if (!device->open(ordinal, error))
    return nullptr;
  return device;
#else
  (void)plan, (void)arena, (void)ordinal;
  error = "this dlrun was built without the CUDA runtime (no CUDA toolkit at build time); use "
          "--device cpu";
  return nullptr;
#endif
}
