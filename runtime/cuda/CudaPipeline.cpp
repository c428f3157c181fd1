//===- CudaPipeline.cpp - a pipeline plan's stages on several GPUs ------------===//
//
// Not yet run on a GPU in this project's CI (none has one); the staged step it drives
// (device::runStagedStep, with each device's memory its stage's regions alone) is tested on
// emulated GPUs by test/unit/CudaPipelineTest.cpp.
//
#include "runtime/cuda/CudaPipeline.h"

#if DLC_HAVE_CUDA_RUNTIME
#include "runtime/cpu/PipelineRunner.h"
#include "runtime/cuda/CudaExecutor.h"
#include "runtime/device/StagedStep.h"

#include <algorithm>
#include <map>
#include <tuple>
#endif

using namespace dlc;

#if DLC_HAVE_CUDA_RUNTIME
namespace {

class CudaPipelineDevice final : public Device, private device::StagedDevices {
public:
  CudaPipelineDevice(const plan::Plan &plan, uint8_t *arena)
      : plan(plan), arena(arena), devs(plan.stages.size()), memories(plan.stages.size()),
        programs(plan.stages.size()) {}
  ~CudaPipelineDevice() override {
    for (auto &[key, event] : events) {
      current(std::get<1>(key));
      devs[size_t(std::get<1>(key))].sym->cuEventDestroy(event);
    }
    for (size_t d = 0; d < devs.size(); ++d) {
      if (!devs[d].isOpen())
        continue;
      current(int32_t(d));
      programs[d].clear();
      memories[d].release();
    }
  }

  bool open(const std::vector<int> &ordinals, std::string &error) {
    if (plan.target != "cuda") {
      error = "the plan was compiled for '" + plan.target +
              "'; compile it with `dlc compile --target cuda` to run on a GPU";
      return false;
    }
    if (ordinals.size() != plan.stages.size()) {
      error = "the pipeline has " + std::to_string(plan.stages.size()) + " stages; --device "
              "names " + std::to_string(ordinals.size()) + " GPUs";
      return false;
    }
    if (plan.train.precision != plan::Precision::Fp32) {
      // Dynamic loss scaling's skip reads a flag back in the middle of the step, which the
      // queued pipeline does not.
      error = "a pipeline on GPUs runs fp32 plans only so far (this one is " +
              std::string(plan::precisionName(plan.train.precision)) + ")";
      return false;
    }
    std::vector<std::vector<cuda::CudaLaunch>> launches(plan.programs.size());
    for (size_t p = 0; p < plan.programs.size(); ++p)
      if (!cuda::decodeLaunches(plan.programs[p].cudaLaunches, launches[p], error) ||
          !cuda::checkLaunches(plan, plan.programs[p], launches[p], error))
        return false;
    for (size_t d = 0; d < devs.size(); ++d) {
      cuda::CudaDevice &dev = devs[d];
      const plan::StageRegion &r = plan.stages[d];
      cuda::CudaArena &mem = memories[d];
      if (!cuda::openCudaDevice(ordinals[d], dev, error))
        return false;
      mem.device = &dev;
      mem.bytes = device::stageBytes(r);
      if (!dev.check(dev.sym->cuMemAlloc(&mem.base, std::max<uint64_t>(mem.bytes, 1)),
                     "cuMemAlloc", error)) {
        error = "cannot allocate stage " + std::to_string(d) + "'s " + std::to_string(mem.bytes) +
                " bytes on " + describeOne(d) + ": " + error;
        return false;
      }
      // The stage's share of the host arena: its parameters and state, its step region.
      if (!dev.upload(mem.base, arena + r.persistentOffset, r.persistentBytes, error) ||
          !dev.upload(mem.base + r.persistentBytes, arena + r.offset, r.bytes, error))
        return false;
      for (size_t p = 0; p < plan.programs.size(); ++p) {
        const plan::Program &prog = plan.programs[p];
        std::vector<uint8_t> image;
        if (plan.arch == dev.arch()) {
          image.assign(prog.cudaCubin.begin(), prog.cudaCubin.end());
        } else {
          image.assign(prog.cudaPtx.begin(), prog.cudaPtx.end());
          image.push_back(0);
        }
        cuda::CudaProgram &loaded = programs[d][&prog];
        if (!cuda::loadProgramCuda(dev, plan, prog, launches[p], image, loaded, error))
          return false;
        // This device's calls address its own allocation: plan offset - region start.
        for (size_t k = 0; k < loaded.calls.size() && k < prog.kernelStage.size(); ++k) {
          if (prog.kernelStage[k] != int32_t(d))
            continue;
          for (size_t a = 0; a < loaded.calls[k].offsets.size(); ++a) {
            const plan::Buffer &b = plan.buffers[size_t(prog.kernels[k].args[a])];
            uint64_t local = 0;
            // A copy's remote source is no argument of a launch: it becomes a peer copy.
            if (device::stageOffset(plan, int32_t(d), b.offset, b.bytes, local))
              loaded.calls[k].offsets[a] = local;
          }
        }
      }
    }
    // Direct copies between the GPUs where they can; elsewhere the driver stages them.
    for (size_t d = 0; d < devs.size(); ++d)
      for (size_t e = 0; e < devs.size(); ++e) {
        int can = 0;
        if (d == e || devs[d].sym->cuDeviceCanAccessPeer(&can, devs[d].device,
                                                         devs[e].device) != CUDA_SUCCESS || !can)
          continue;
        current(int32_t(d));
        CUresult r = devs[d].sym->cuCtxEnablePeerAccess(devs[e].context, 0);
        if (r != CUDA_SUCCESS && r != CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED &&
            !devs[d].check(r, "cuCtxEnablePeerAccess", error))
          return false;
      }
    for (const plan::Program &prog : plan.programs)
      if (!prog.kernelStage.empty())
        waits[&prog] = cpu::PipelineRunner::stageWaits(plan, prog);
    return true;
  }

  std::string describe() const override {
    std::string out;
    for (size_t d = 0; d < devs.size(); ++d)
      out += (d ? ", " : "") + describeOne(d);
    return out;
  }

  bool run(const plan::Program &prog, device::Profile *, device::Trace *,
           std::string &error) override {
    auto w = waits.find(&prog);
    if (w == waits.end()) {
      error = "program '" + prog.name + "' has no kernel stages";
      return false;
    }
    // The previous step is done (synchronised below): the inputs can be overwritten.
    for (const plan::ProgramInput &in : prog.inputs) {
      const plan::Buffer &b = plan.buffers[size_t(in.buffer)];
      if (!write(b.offset, arena + b.offset, b.bytes, error))
        return false;
    }
    running = &prog;
    if (!device::runStagedStep(plan, prog, w->second, *this, error))
      return false;
    for (size_t d = 0; d < devs.size(); ++d) {
      current(int32_t(d));
      // A kernel's fault surfaces here, at the step's one wait per device.
      if (!devs[d].check(devs[d].sym->cuStreamSynchronize(devs[d].stream), "cuStreamSynchronize",
                         error))
        return false;
    }
    for (int32_t id : {prog.loss, prog.correct}) {
      if (id < 0)
        continue;
      const plan::Buffer &b = plan.buffers[size_t(id)];
      if (!read(b.offset, arena + b.offset, b.bytes, error))
        return false;
    }
    return true;
  }

  bool syncToHost(std::string &error) override {
    for (size_t d = 0; d < devs.size(); ++d) {
      const plan::StageRegion &r = plan.stages[d];
      current(int32_t(d));
      if (!devs[d].download(arena + r.persistentOffset, memories[d].base, r.persistentBytes,
                            error))
        return false;
    }
    return true;
  }

  bool runKernel(const plan::Program &, size_t, std::string &error) override {
    error = "--validate runs one device; a pipeline plan spans " +
            std::to_string(devs.size());
    return false;
  }
  bool read(uint64_t offset, void *dst, uint64_t bytes, std::string &error) override {
    uint64_t local = 0;
    const int32_t d = locate(offset, bytes, local, error);
    return d >= 0 && (current(d), devs[size_t(d)].download(dst, memories[size_t(d)].base + local,
                                                          bytes, error));
  }
  bool write(uint64_t offset, const void *src, uint64_t bytes, std::string &error) override {
    uint64_t local = 0;
    const int32_t d = locate(offset, bytes, local, error);
    return d >= 0 && (current(d), devs[size_t(d)].upload(memories[size_t(d)].base + local, src,
                                                        bytes, error));
  }

private:
  // device::StagedDevices: everything queued, nothing waited for on the host.
  bool launch(int32_t d, const plan::Program &prog, size_t index, std::string &error) override {
    current(d);
    return cuda::enqueueCallsCuda(programs[size_t(d)].at(&prog), index, index + 1,
                                  memories[size_t(d)], error);
  }
  bool copy(int32_t dst, uint64_t dstOffset, int32_t src, uint64_t srcOffset, uint64_t bytes,
            std::string &error) override {
    current(dst);
    const cuda::CudaDevice &to = devs[size_t(dst)], &from = devs[size_t(src)];
    return to.check(to.sym->cuMemcpyPeerAsync(memories[size_t(dst)].base + dstOffset, to.context,
                                              memories[size_t(src)].base + srcOffset,
                                              from.context, bytes, to.stream),
                    "cuMemcpyPeerAsync", error);
  }
  bool signal(int32_t d, size_t index, std::string &error) override {
    const cuda::CudaDevice &dev = devs[size_t(d)];
    current(d);
    CUevent &event = events[{running, d, index}];
    return (event || dev.check(dev.sym->cuEventCreate(&event, CU_EVENT_DISABLE_TIMING),
                               "cuEventCreate", error)) &&
           dev.check(dev.sym->cuEventRecord(event, dev.stream), "cuEventRecord", error);
  }
  bool await(int32_t d, int32_t on, size_t index, std::string &error) override {
    const cuda::CudaDevice &dev = devs[size_t(d)];
    auto it = events.find({running, on, index});
    if (it == events.end()) {
      error = "a pipeline wait for a kernel not yet queued";
      return false;
    }
    current(d);
    return dev.check(dev.sym->cuStreamWaitEvent(dev.stream, it->second, 0), "cuStreamWaitEvent",
                     error);
  }

  /// Makes device d's context current on this thread (each GPU's calls need their own).
  void current(int32_t d) const { devs[size_t(d)].sym->cuCtxSetCurrent(devs[size_t(d)].context); }

  int32_t locate(uint64_t offset, uint64_t bytes, uint64_t &local, std::string &error) const {
    const int32_t d = device::stageHolding(plan, offset, bytes);
    if (d >= 0 && device::stageOffset(plan, d, offset, bytes, local))
      return d;
    error = "bytes [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) +
            ") lie in no stage's memory";
    return -1;
  }

  std::string describeOne(size_t d) const {
    const cuda::CudaDevice &dev = devs[d];
    return "cuda:" + std::to_string(dev.ordinal) + " (" + dev.name + ", " + dev.arch() + ")";
  }

  const plan::Plan &plan;
  uint8_t *arena;
  std::vector<cuda::CudaDevice> devs;
  std::vector<cuda::CudaArena> memories; // per device: its stage's regions
  std::vector<std::map<const plan::Program *, cuda::CudaProgram>> programs;
  std::map<const plan::Program *, device::StageWaits> waits;
  /// The program being queued, and the events its waits use: (program, device, kernel).
  const plan::Program *running = nullptr;
  std::map<std::tuple<const plan::Program *, int32_t, size_t>, CUevent> events;
};

} // namespace
#endif

std::unique_ptr<Device> dlc::makeCudaPipelineDevice(const plan::Plan &plan, uint8_t *arena,
                                                    const std::vector<int> &ordinals,
                                                    std::string &error) {
#if DLC_HAVE_CUDA_RUNTIME
  auto device = std::make_unique<CudaPipelineDevice>(plan, arena);
  if (!device->open(ordinals, error))
    return nullptr;
  return device;
#else
  (void)plan, (void)arena, (void)ordinals;
  error = "this dlrun was built without the CUDA runtime (no CUDA toolkit at build time); use "
          "--device cpu:0,cpu:1,...";
  return nullptr;
#endif
}
