//===- CpuDevice.cpp - programs run in the host arena ------------*- C++ -*-===//
#include "runtime/cpu/CpuDevice.h"

#include "runtime/cpu/BatchSplit.h"
#include "runtime/cpu/DnnlConv.h"
#include "runtime/cpu/Executor.h"
#include "runtime/cpu/Layout.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/PipelineRunner.h"

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <vector>

using namespace dlc;

namespace {
/// The data-parallel step on the CPU: the pack is host memory the kernels read directly, so
/// an optimizer kernel takes its averaged gradient from the pack without a copy back.
class CpuPackedStep final : public PackedStep {
public:
  CpuPackedStep(const plan::Plan &plan, uint8_t *arena, size_t floats,
                std::function<const plan::Program &(const plan::Program &)> laidOut,
                std::function<void()> ensureFilters)
      : plan(plan), arena(arena), pack(floats, 0.f), laidOut(std::move(laidOut)),
        ensureFilters(std::move(ensureFilters)) {}

  bool runKernels(const plan::Program &prog, size_t first, size_t last, device::Profile *profile,
                  device::Trace *trace, std::string &) override {
    ensureFilters();
    for (size_t n = first; n < last; ++n)
      run(prog, n, profile, trace, size_t(-1), nullptr);
    return true;
  }
  bool gather(uint64_t offset, size_t at, size_t count, std::string &) override {
    std::memcpy(&pack[at], arena + offset, count * 4);
    return true;
  }
  bool scatter(size_t at, uint64_t offset, size_t count, std::string &) override {
    std::memcpy(arena + offset, &pack[at], count * 4);
    return true;
  }
  bool runOnPack(const plan::Program &prog, size_t index, size_t arg, size_t at,
                 device::Profile *profile, device::Trace *trace, std::string &) override {
    ensureFilters();
    run(prog, index, profile, trace, arg, &pack[at]);
    return true;
  }
  bool download(size_t at, size_t count, float *dst, std::string &) override {
    std::memcpy(dst, &pack[at], count * 4);
    return true;
  }
  bool upload(size_t at, size_t count, const float *src, std::string &) override {
    std::memcpy(&pack[at], src, count * 4);
    return true;
  }
  float *host() override { return pack.data(); }

private:
  /// Kernel `n` on its buffers, argument `arg` (if any) replaced by `replacement`; timed as
  /// cpu::runProgram times it.
  void run(const plan::Program &prog, size_t n, device::Profile *profile, device::Trace *trace,
           size_t arg, float *replacement) {
    const plan::Kernel &k = laidOut(prog).kernels[n];
    for (size_t j = 0; j < k.args.size() && j < 8; ++j)
      args[j] = reinterpret_cast<float *>(arena + plan.buffers[k.args[j]].offset);
    if (arg < 8)
      args[arg] = replacement;
    cpu::runKernelTimed(n, k, args, profile, trace);
  }

  const plan::Plan &plan;
  uint8_t *arena;
  std::vector<float> pack;
  /// The device's copy of a program, with its layouts (runtime/cpu/Layout.h).
  std::function<const plan::Program &(const plan::Program &)> laidOut;
  std::function<void()> ensureFilters;
  float *args[8] = {};
};

class CpuDevice final : public Device {
public:
  CpuDevice(const plan::Plan &plan, uint8_t *arena, bool blockedLayouts)
      : plan(plan), arena(arena) {
    // Activations kept in oneDNN's blocked layout where every kernel touching them takes it
    // (runtime/cpu/Layout.h): each program runs as a copy whose kernels say so. Not for
    // pipelines, whose stages copy buffers between devices byte for byte.
    std::vector<const plan::Program *> programs;
    const bool layouts = blockedLayouts && plan.stages.empty() && cpu::blockedLayoutsEnabled();
    if (layouts)
      filters = cpu::assignFilterLayouts(plan);
    int filterCalls = 0;
    for (size_t p = 0; p < plan.programs.size(); ++p) {
      const plan::Program &prog = plan.programs[p];
      if (layouts) {
        auto copy = std::make_unique<plan::Program>(prog);
        const cpu::LayoutStats stats = cpu::assignLayouts(plan, p, *copy, filters);
        if (stats.blocked > 0 || stats.filterCalls > 0) {
          if (!note.empty())
            note += "; ";
          note += prog.name + " " + std::to_string(stats.blocked) + " of " +
                  std::to_string(stats.buffers) + " buffers, " +
                  std::to_string(stats.convCalls) + " convolution calls";
          filterCalls += stats.filterCalls;
          block = stats.block;
          programs.push_back(copy.get());
          laidOut[&prog] = std::move(copy);
          continue;
        }
      }
      programs.push_back(&prog);
    }
    if (!note.empty())
      note = "layouts: activations kept in oneDNN's nChw" + std::to_string(block) +
             "c between the kernels that take it (" + note + ")";
    // The persistent filters (and their optimizer state) converted once, here, and back in
    // syncToHost; the host's writes (initialisation, checkpoints) came before the device.
    size_t persistent = 0;
    for (const cpu::BlockedFilter &f : filters)
      persistent += plan.buffers[size_t(f.buffer)].program < 0;
    if (!filters.empty()) {
      note += "; filters: " + std::to_string(filters.size()) + " buffers (" +
              std::to_string(persistent) + " persistent) in OIhw" + std::to_string(block) + "i" +
              std::to_string(block) + "o across steps, " + std::to_string(filterCalls) +
              " convolution calls";
      convertFilters(true);
    }
    cpu::prepareKernels(programs);
    for (const plan::Program &prog : plan.programs)
      if (auto split = cpu::BatchSplit::make(plan, program(prog), arena))
        splits[&prog] = std::move(split);
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
    if (pipeline && !prog.kernelStage.empty() && cpu::threads() == 1) {
      pipeline->run(prog, profile, trace);
      return true;
    }
    // Profiles and traces time each kernel on the whole batch.
    convertFilters(true);
    auto split = splits.find(&prog);
    if (!profile && !trace && split != splits.end() && split->second->run())
      return true;
    cpu::runProgram(plan, program(prog), arena, profile, trace);
    return true;
  }
  std::string layoutNote() const override { return note; }
  std::vector<double> busySeconds() const override {
    return pipeline ? pipeline->busySeconds() : std::vector<double>{};
  }
  /// The host's view of the arena: filters held blocked go back to OIHW until the next run.
  bool syncToHost(std::string &) override {
    convertFilters(false);
    return true;
  }

  bool runKernel(const plan::Program &prog, size_t index, std::string &error) override {
    if (index >= prog.kernels.size()) {
      error = "program '" + prog.name + "' has no kernel " + std::to_string(index);
      return false;
    }
    // The executor runs programs; a program of this one call runs it alone.
    convertFilters(true);
    one.name = prog.name;
    one.kernels.assign(1, program(prog).kernels[index]);
    cpu::runProgram(plan, one, arena);
    return true;
  }
  // read and write move the arena's bytes as they are: filters held blocked (Layout.h) are
  // in oneDNN's layout between syncToHost calls, as a GPU's buffers are on the GPU (the
  // nonfinite rerun restores its snapshot, taken the same way, with write).
  bool read(uint64_t offset, void *dst, uint64_t bytes, std::string &error) override {
    if (!inArena(plan, offset, bytes, error))
      return false;
    std::memmove(dst, arena + offset, bytes);
    return true;
  }
  bool write(uint64_t offset, const void *src, uint64_t bytes, std::string &error) override {
    if (!inArena(plan, offset, bytes, error))
      return false;
    if (arena + offset != src) // the host arena's own bytes (a data-parallel step's inputs)
      std::memmove(arena + offset, src, bytes);
    return true;
  }
  std::unique_ptr<PackedStep> makePackedStep(size_t floats, std::string &) override {
    return std::make_unique<CpuPackedStep>(
        plan, arena, floats,
        [this](const plan::Program &prog) -> const plan::Program & { return program(prog); },
        [this] { convertFilters(true); });
  }

private:
  /// Puts the persistent blocked filters into oneDNN's blocked filter layout (toBlocked) or
  /// back into OIHW, when they are not in it already. Transient ones (gradients) hold
  /// nothing between steps.
  void convertFilters(bool toBlocked) {
    if (filtersBlocked == toBlocked)
      return;
    std::vector<float> tmp;
    for (const cpu::BlockedFilter &f : filters) {
      const plan::Buffer &b = plan.buffers[size_t(f.buffer)];
      if (b.program >= 0)
        continue;
      float *data = reinterpret_cast<float *>(arena + b.offset);
      tmp.assign(data, data + b.bytes / 4);
      cpu::dnnlReorderFilter(f.o, f.i, f.r, f.s, tmp.data(), data, toBlocked);
    }
    filtersBlocked = toBlocked;
  }

  /// The program as this device runs it: its copy with layouts, or the plan's own.
  const plan::Program &program(const plan::Program &prog) const {
    auto it = laidOut.find(&prog);
    return it == laidOut.end() ? prog : *it->second;
  }

  const plan::Plan &plan;
  uint8_t *arena;
  plan::Program one;
  std::map<const plan::Program *, std::unique_ptr<plan::Program>> laidOut;
  std::string note; // layoutNote()
  int block = 0;
  std::vector<cpu::BlockedFilter> filters; // held blocked (Layout.h)
  bool filtersBlocked = false;             // whether the persistent ones are now
  /// Inference programs run as batch slices, one a thread (runtime/cpu/BatchSplit.h).
  std::map<const plan::Program *, std::unique_ptr<cpu::BatchSplit>> splits;
  std::unique_ptr<cpu::PipelineRunner> pipeline;
};
} // namespace

std::unique_ptr<Device> dlc::makeCpuDevice(const plan::Plan &plan, uint8_t *arena,
                                           bool blockedLayouts) {
  return std::make_unique<CpuDevice>(plan, arena, blockedLayouts);
}
