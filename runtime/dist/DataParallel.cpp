//===- DataParallel.cpp - gradients averaged across ranks once per step -===//
#include "runtime/dist/DataParallel.h"

#include "runtime/cpu/CpuDevice.h"
#include "runtime/cpu/Executor.h"
#include "runtime/plan/KernelCheck.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

using namespace dlc;

namespace {
using Clock = std::chrono::steady_clock;

/// The kernels that run after the allreduce, on the averaged gradients: the optimizer
/// updates and the global-norm clipping that precedes them. Returns the index of the
/// gradient argument, -1 for one that reads none (clip_scale), -2 for other kernels.
int deferredGradientArg(plan::KernelKind kind) {
  using K = plan::KernelKind;
  if (kind == K::SgdMomentum || kind == K::SgdStep || kind == K::AdamStep)
    return 1;
  if (kind == K::GradSumSq)
    return 0;
  return kind == K::ClipScale ? -1 : -2;
}

uint64_t fnv1a(const void *data, size_t n, uint64_t h = 1469598103934665603ull) {
  const uint8_t *p = static_cast<const uint8_t *>(data);
  for (size_t i = 0; i < n; ++i)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

class DataParallelCpu final : public DataParallelDevice {
public:
  DataParallelCpu(const plan::Plan &plan, uint8_t *arena, Communicator &comm)
      : plan(plan), arena(arena), comm(comm), cpu(makeCpuDevice(plan, arena)) {}

  /// Lays out the pack: each optimizer kernel's gradient, then the model state, then the
  /// loss and the correct count.
  bool prepare(std::string &error) {
    train = plan.program("train");
    if (!train) {
      error = "the plan has no train program";
      return false;
    }
    size_t floats = 0;
    std::vector<std::pair<int32_t, size_t>> packed; // gradient buffer -> its first float
    for (size_t n = 0; n < train->kernels.size(); ++n) {
      const plan::Kernel &k = train->kernels[n];
      const int grad = deferredGradientArg(k.kind);
      if (grad == -2)
        continue;
      // Deferring the kernel to the end of the step is exact only if no later kernel
      // touches a buffer it writes (its parameter, its states).
      for (size_t later = n + 1; later < train->kernels.size(); ++later) {
        const plan::Kernel &l = train->kernels[later];
        if (deferredGradientArg(l.kind) != -2)
          continue;
        for (size_t j = 0; j < k.args.size(); ++j)
          if (plan::kernelWritesArg(k.kind, j))
            for (int32_t a : l.args)
              if (a == k.args[j]) {
                error = "cannot average gradients across ranks: kernel '" + l.name +
                        "' uses the buffer that optimizer kernel '" + k.name +
                        "' updates before it";
                return false;
              }
      }
      size_t at = 0;
      if (grad >= 0) {
        // A gradient read twice (its norm, then its update) travels once.
        int32_t id = k.args[size_t(grad)];
        auto seen = std::find_if(packed.begin(), packed.end(),
                                 [&](const auto &p) { return p.first == id; });
        if (seen != packed.end()) {
          at = seen->second;
        } else {
          at = floats;
          packed.push_back({id, at});
          floats += plan.buffers[id].bytes / sizeof(float);
        }
      }
      updates.push_back({n, at});
    }
    for (size_t b = 0; b < plan.buffers.size(); ++b)
      if (plan.buffers[b].kind == plan::BufferKind::ModelState) {
        state.push_back({b, floats});
        floats += plan.buffers[b].bytes / sizeof(float);
      }
    lossAt = floats++;
    correctAt = floats++;
    pack.assign(floats, 0.f);
    return true;
  }

  std::string describe() const override {
    return "cpu, rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.size());
  }

  bool run(const plan::Program &prog, device::Profile *profile, device::Trace *trace,
           std::string &error) override {
    if (&prog != train)
      return cpu->run(prog, profile, trace, error);
    if (trace && trace->runs >= trace->maxRuns)
      trace = nullptr;
    if (profile && profile->seconds.size() != prog.kernels.size())
      profile->seconds.assign(prog.kernels.size(), 0.0);
    size_t next = 0; // the next optimizer kernel, in program order
    for (size_t n = 0; n < prog.kernels.size(); ++n) {
      const plan::Kernel &k = prog.kernels[n];
      if (next < updates.size() && updates[next].index == n) {
        const int grad = deferredGradientArg(k.kind);
        if (grad >= 0) {
          const plan::Buffer &g = plan.buffers[k.args[size_t(grad)]];
          std::memcpy(&pack[updates[next].at], arena + g.offset, g.bytes);
        }
        ++next;
        continue;
      }
      for (size_t j = 0; j < k.args.size() && j < 8; ++j)
        args[j] = reinterpret_cast<float *>(arena + plan.buffers[k.args[j]].offset);
      timed(n, k, profile, trace);
    }
    for (const Slot &s : state)
      std::memcpy(&pack[s.at], arena + plan.buffers[s.index].offset, plan.buffers[s.index].bytes);
    float *loss = reinterpret_cast<float *>(arena + plan.buffers[prog.loss].offset);
    float *correct = prog.correct >= 0
                         ? reinterpret_cast<float *>(arena + plan.buffers[prog.correct].offset)
                         : nullptr;
    pack[lossAt] = *loss;
    pack[correctAt] = correct ? *correct : 0.f;

    auto t0 = Clock::now();
    if (!comm.allreduceSum(pack.data(), pack.size(), error))
      return false;
    commSeconds += std::chrono::duration<double>(Clock::now() - t0).count();
    // The mean over ranks of per-rank means over equal shards is the global batch's mean.
    // The correct count stays a sum: the trainer divides it by the global batch.
    const float scale = 1.0f / float(comm.size());
    for (size_t i = 0; i < correctAt; ++i)
      pack[i] *= scale;

    for (const Slot &s : state)
      std::memcpy(arena + plan.buffers[s.index].offset, &pack[s.at], plan.buffers[s.index].bytes);
    *loss = pack[lossAt];
    if (correct)
      *correct = pack[correctAt];
    for (const Slot &u : updates) {
      const plan::Kernel &k = prog.kernels[u.index];
      for (size_t j = 0; j < k.args.size() && j < 8; ++j)
        args[j] = reinterpret_cast<float *>(arena + plan.buffers[k.args[j]].offset);
      if (int grad = deferredGradientArg(k.kind); grad >= 0)
        args[size_t(grad)] = &pack[u.at];
      timed(u.index, k, profile, trace);
    }
    if (profile)
      ++profile->runs;
    if (trace)
      ++trace->runs;
    return true;
  }

  bool syncToHost(std::string &error) override { return cpu->syncToHost(error); }
  bool runKernel(const plan::Program &prog, size_t index, std::string &error) override {
    return cpu->runKernel(prog, index, error);
  }
  bool read(uint64_t offset, void *dst, uint64_t bytes, std::string &error) override {
    return cpu->read(offset, dst, bytes, error);
  }
  bool write(uint64_t offset, const void *src, uint64_t bytes, std::string &error) override {
    return cpu->write(offset, src, bytes, error);
  }
  double allreduceSeconds() const override { return commSeconds; }
  size_t allreduceFloats() const override { return pack.size(); }

private:
  /// Runs kernel `n` on `args`, timed when profiling or tracing (as cpu::runProgram does).
  void timed(size_t n, const plan::Kernel &k, device::Profile *profile, device::Trace *trace) {
    dlc::cpu::runKernelTimed(n, k, args, profile, trace);
  }

  struct Slot {
    size_t index; // a kernel (updates) or a buffer (state)
    size_t at;    // its first float in the pack
  };
  const plan::Plan &plan;
  uint8_t *arena;
  Communicator &comm;
  std::unique_ptr<Device> cpu;
  const plan::Program *train = nullptr;
  std::vector<Slot> updates, state;
  size_t lossAt = 0, correctAt = 0;
  std::vector<float> pack;
  float *args[8] = {};
  double commSeconds = 0;
};
} // namespace

std::unique_ptr<DataParallelDevice> dlc::makeDataParallelCpuDevice(const plan::Plan &plan,
                                                                   uint8_t *arena,
                                                                   Communicator &comm,
                                                                   std::string &error) {
  auto device = std::make_unique<DataParallelCpu>(plan, arena, comm);
  if (!device->prepare(error))
    return nullptr;
  return device;
}

bool dlc::checkRanksAgree(const plan::Plan &plan, const uint8_t *arena, Communicator &comm,
                          uint64_t &hash, std::string &error) {
  struct Key {
    uint64_t plan, state;
  };
  const plan::Program *train = plan.program("train");
  uint64_t facts[] = {uint64_t(plan.train.batch), plan.arenaBytes, plan.persistentBytes,
                      uint64_t(train ? train->kernels.size() : 0), plan.train.seed};
  Key mine{fnv1a(plan.model.data(), plan.model.size(), fnv1a(facts, sizeof facts)),
           fnv1a(arena, plan.persistentBytes)};
  hash = mine.state;
  std::vector<Key> all(size_t(comm.size()));
  if (!comm.allgather(&mine, sizeof mine, all.data(), error))
    return false;
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r].plan != all[0].plan) {
      error = "rank " + std::to_string(r) + " runs a different plan than rank 0 (model, batch "
              "or memory layout differ); every rank must load the same plan";
      return false;
    }
    if (all[r].state != all[0].state) {
      char text[160];
      std::snprintf(text, sizeof text,
                    "rank %zu's parameters and optimizer state differ from rank 0's "
                    "(FNV-1a %016llx vs %016llx)",
                    r, (unsigned long long)all[r].state, (unsigned long long)all[0].state);
      error = text;
      return false;
    }
  }
  return true;
}
