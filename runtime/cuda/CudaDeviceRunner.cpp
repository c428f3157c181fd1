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

#if !DLC_HAVE_CUDA_RUNTIME
static const char *const kNoCudaRuntime =
    "this dlrun was built without the CUDA runtime (no CUDA toolkit at build time); use "
    "--device cpu";
#endif

#if DLC_HAVE_CUDA_RUNTIME
namespace {
/// The data-parallel step on a GPU: the pack is one buffer of device memory, filled and
/// emptied by device-side copies queued on the device's stream between the kernels, so the
/// step moves nothing through the host but its two scalars, unless a host communicator
/// stages the pack (one copy each way).
class CudaPackedStep final : public PackedStep {
public:
  CudaPackedStep(const cuda::CudaDevice &dev, const cuda::CudaArena &arena,
                 const std::map<const plan::Program *, cuda::CudaProgram> &programs)
      : dev(dev), arena(arena), programs(programs) {}
  ~CudaPackedStep() override {
    if (pack)
      dev.sym->cuMemFree(pack);
  }

  bool allocate(size_t n, std::string &error) {
    floats = n;
    if (dev.check(dev.sym->cuMemAlloc(&pack, n * 4), "cuMemAlloc", error))
      return true;
    error = "cannot allocate the gradient pack (" + std::to_string(n * 4) + " bytes) on " +
            dev.name + ": " + error;
    return false;
  }

  bool runKernels(const plan::Program &prog, size_t first, size_t last, device::Profile *,
                  device::Trace *, std::string &error) override {
    const cuda::CudaProgram *p = loaded(prog, error);
    return p && cuda::enqueueCallsCuda(*p, first, last, arena, error);
  }
  bool gather(uint64_t offset, size_t at, size_t count, std::string &error) override {
    return inPack(at, count, error) &&
           dev.check(dev.sym->cuMemcpyDtoDAsync(pack + at * 4, arena.base + offset, count * 4,
                                                dev.stream),
                     "cuMemcpyDtoDAsync", error);
  }
  bool scatter(size_t at, uint64_t offset, size_t count, std::string &error) override {
    return inPack(at, count, error) &&
           dev.check(dev.sym->cuMemcpyDtoDAsync(arena.base + offset, pack + at * 4, count * 4,
                                                dev.stream),
                     "cuMemcpyDtoDAsync", error);
  }
  bool runOnPack(const plan::Program &prog, size_t index, size_t arg, size_t at,
                 device::Profile *, device::Trace *, std::string &error) override {
    const cuda::CudaProgram *p = loaded(prog, error);
    return p && inPack(at, 0, error) &&
           cuda::enqueueCallOnCuda(*p, index, arena, arg, pack + at * 4, error);
  }
  bool download(size_t at, size_t count, float *dst, std::string &error) override {
    // A kernel's fault surfaces here, at the step's one wait.
    return inPack(at, count, error) &&
           dev.check(dev.sym->cuStreamSynchronize(dev.stream), "cuStreamSynchronize", error) &&
           dev.download(dst, pack + at * 4, count * 4, error);
  }
  bool upload(size_t at, size_t count, const float *src, std::string &error) override {
    return inPack(at, count, error) &&
           dev.check(dev.sym->cuStreamSynchronize(dev.stream), "cuStreamSynchronize", error) &&
           dev.upload(pack + at * 4, src, count * 4, error);
  }
  float *host() override { return nullptr; }
  uint64_t deviceAddress() const override { return uint64_t(pack); }
  void *stream() const override { return dev.stream; }

private:
  const cuda::CudaProgram *loaded(const plan::Program &prog, std::string &error) const {
    auto it = programs.find(&prog);
    if (it != programs.end())
      return &it->second;
    error = "program '" + prog.name + "' is not loaded on cuda:" + std::to_string(dev.ordinal);
    return nullptr;
  }
  bool inPack(size_t at, size_t count, std::string &error) const {
    if (at <= floats && count <= floats - at)
      return true;
    error = "floats [" + std::to_string(at) + ", " + std::to_string(at + count) +
            ") are outside the gradient pack of " + std::to_string(floats);
    return false;
  }

  const cuda::CudaDevice &dev;
  const cuda::CudaArena &arena;
  const std::map<const plan::Program *, cuda::CudaProgram> &programs;
  CUdeviceptr pack = 0;
  size_t floats = 0;
};

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
  std::unique_ptr<PackedStep> makePackedStep(size_t floats, std::string &error) override {
    auto step = std::make_unique<CudaPackedStep>(dev, devArena, programs);
    if (!step->allocate(floats, error))
      return nullptr;
    return step;
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

bool dlc::checkCudaDevices(const std::vector<int> &ordinals, int &count, std::string &error) {
#if DLC_HAVE_CUDA_RUNTIME
  if (!cuda::countCudaDevices(count, error))
    return false;
  for (int ordinal : ordinals)
    if (ordinal < 0 || ordinal >= count) {
      error = cuda::noSuchCudaDevice(ordinal, count);
      return false;
    }
  return true;
#else
  (void)ordinals;
  count = 0;
  error = kNoCudaRuntime;
  return false;
#endif
}

std::unique_ptr<Device> dlc::makeCudaDevice(const plan::Plan &plan, uint8_t *arena, int ordinal,
                                            std::string &error) {
#if DLC_HAVE_CUDA_RUNTIME
  auto device = std::make_unique<CudaDeviceRunner>(plan, arena);
  if (!device->open(ordinal, error))
    return nullptr;
  return device;
#else
  (void)plan, (void)arena, (void)ordinal;
  error = kNoCudaRuntime;
  return nullptr;
#endif
}
