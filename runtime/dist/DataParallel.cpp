//===- DataParallel.cpp - gradients averaged across ranks once per step -===//
#include "runtime/dist/DataParallel.h"

#include "runtime/cpu/CpuDevice.h"
#include "runtime/dist/Buckets.h"
#include "runtime/plan/KernelCheck.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
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

/// Whether byte ranges [a, a + an) and [b, b + bn) overlap.
bool overlap(uint64_t a, uint64_t an, uint64_t b, uint64_t bn) { return a < b + bn && b < a + an; }

class DataParallel final : public DataParallelDevice {
public:
  DataParallel(const plan::Plan &plan, uint8_t *arena, std::unique_ptr<Device> device,
               Communicator &comm, double bucketMiB)
      : plan(plan), arena(arena), device(std::move(device)), comm(comm), bucketMiB(bucketMiB) {}

  ~DataParallel() override {
    if (worker.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        quit = true;
      }
      wake.notify_all();
      worker.join();
    }
  }

  /// Lays out the pack: each optimizer kernel's gradient, then the model state, then the
  /// loss and the correct count; then gets the device's side of the step.
  bool prepare(std::string &error) {
    train = plan.program("train");
    if (!train) {
      error = "the plan has no train program";
      return false;
    }
    size_t floats = 0;
    std::vector<std::pair<int32_t, size_t>> packed; // gradient buffer -> its first float
    bool clipping = false;
    for (size_t n = 0; n < train->kernels.size(); ++n) {
      const plan::Kernel &k = train->kernels[n];
      // Dynamic loss scaling skips the updates on one replica's non-finite gradients: the
      // replicas would have to agree first.
      if (k.kind == plan::KernelKind::SkipIfNonfinite) {
        error = "cannot average gradients across ranks: the train program skips its updates "
                "on non-finite gradients (dynamic loss scaling, mixed-fp16); use fp32 or "
                "mixed-bf16";
        return false;
      }
      const int grad = deferredGradientArg(k.kind);
      if (grad == -2)
        continue;
      clipping = clipping || k.kind == plan::KernelKind::ClipScale;
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
        int32_t id = k.args[size_t(grad)];
        if (plan.buffers[id].dtype != plan::DType::F32) {
          error = "cannot average gradients across ranks: gradient '" + plan.buffers[id].name +
                  "' is stored as " + plan::dtypeName(plan.buffers[id].dtype) +
                  " (the pack holds floats)";
          return false;
        }
        // A gradient read twice (its norm, then its update) travels once.
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
    packFloats = floats;
    // Clipping scales every update by the norm of all the averaged gradients: its updates
    // wait for the whole pack, which then travels in one allreduce.
    std::vector<size_t> sizes;
    for (const auto &[id, at] : packed)
      sizes.push_back(plan.buffers[id].bytes / sizeof(float));
    const size_t gradientFloats = packed.empty() ? 0 : packed.back().second + sizes.back();
    buckets = assignBuckets(sizes, floats - gradientFloats,
                            clipping ? 0 : size_t(bucketMiB * 1048576.0));
    // Which update's gather completes which bucket (the last is sent after the program).
    completes.assign(updates.size(), -1);
    for (size_t b = 0; b + 1 < buckets.size(); ++b) {
      const size_t lastAt = packed[buckets[b].endGradient - 1].second;
      for (size_t i = 0; i < updates.size(); ++i)
        if (updates[i].at == lastAt &&
            deferredGradientArg(train->kernels[updates[i].index].kind) >= 0) {
          completes[i] = int(b);
          break;
        }
    }
    step = device->makePackedStep(floats, error);
    if (!step && !error.empty())
      return false;
    if (!step) {
      if (!checkStaging(error))
        return false;
      step = makeStagedPackedStep(plan, *device, floats);
    }
    // A pack in host memory is averaged on a communication thread while the backward goes
    // on; a GPU's pack is averaged on its stream, queued behind the kernels that fill it.
    threaded = buckets.size() > 1 && step->host() && comm.threadedCollectives();
    if (threaded)
      worker = std::thread([this] { communicate(); });
    return true;
  }

  std::string layoutNote() const override { return device->layoutNote(); }
  std::string describe() const override {
    return device->describe() + ", rank " + std::to_string(comm.rank()) + " of " +
           std::to_string(comm.size());
  }

  bool run(const plan::Program &prog, device::Profile *profile, device::Trace *trace,
           std::string &error) override {
    if (&prog != train)
      return device->run(prog, profile, trace, error);
    if (trace && trace->runs >= trace->maxRuns)
      trace = nullptr;
    if (profile && profile->seconds.size() != prog.kernels.size())
      profile->seconds.assign(prog.kernels.size(), 0.0);
    // The batch, from the host arena to the device's (the CPU's is the host arena itself).
    for (const plan::ProgramInput &in : prog.inputs) {
      const plan::Buffer &b = plan.buffers[in.buffer];
      if (!device->write(b.offset, arena + b.offset, b.bytes, error))
        return false;
    }
    // Every kernel but the deferred ones, each gradient copied into the pack where its
    // optimizer kernel would have run (its buffer may be reused after that point); a bucket's
    // allreduce starts once its last gradient is in.
    issued = 0;
    {
      std::lock_guard<std::mutex> lock(mutex);
      completed = 0;
    }
    size_t first = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < updates.size(); ++i) {
      const Slot &u = updates[i];
      const plan::Kernel &k = prog.kernels[u.index];
      ok = step->runKernels(prog, first, u.index, profile, trace, error);
      first = u.index + 1;
      if (int grad = deferredGradientArg(k.kind); ok && grad >= 0) {
        const plan::Buffer &g = plan.buffers[k.args[size_t(grad)]];
        ok = step->gather(g.offset, u.at, g.bytes / 4, error);
      }
      if (ok && completes[i] >= 0)
        ok = start(size_t(completes[i]), error);
    }
    ok = ok && step->runKernels(prog, first, prog.kernels.size(), profile, trace, error);
    for (const Slot &s : state)
      ok = ok && step->gather(plan.buffers[s.index].offset, s.at, plan.buffers[s.index].bytes / 4,
                              error);
    ok = ok && step->gather(plan.buffers[prog.loss].offset, lossAt, 1, error) &&
         (prog.correct < 0 || step->gather(plan.buffers[prog.correct].offset, correctAt, 1, error));
    // The mean over ranks of per-rank means over equal shards is the global batch's mean.
    ok = ok && start(buckets.size() - 1, error);

    // Each bucket's optimizer kernels once its allreduce is done, in pack order: they overlap
    // the later buckets' allreduces. Whatever happens, nothing returns while the
    // communication thread may still write the pack.
    size_t next = 0;
    for (size_t b = 0; b < buckets.size(); ++b) {
      std::string later; // a failure after the step's first keeps the first's message
      if (!finish(b, ok ? error : later) || !ok) {
        ok = false;
        continue;
      }
      const PackBucket &bucket = buckets[b];
      if (b + 1 == buckets.size())
        for (const Slot &s : state)
          ok = ok && step->scatter(s.at, plan.buffers[s.index].offset,
                                   plan.buffers[s.index].bytes / 4, error);
      for (; ok && next < updates.size(); ++next) {
        const Slot &u = updates[next];
        const plan::Kernel &k = prog.kernels[u.index];
        const int grad = deferredGradientArg(k.kind);
        if (b + 1 < buckets.size() && (grad < 0 || u.at >= bucket.at + bucket.floats))
          break;
        ok = grad >= 0 ? step->runOnPack(prog, u.index, size_t(grad), u.at, profile, trace, error)
                       : step->runKernels(prog, u.index, u.index + 1, profile, trace, error);
      }
    }
    {
      // The communication thread's timings join the trace here, on the thread that owns it.
      std::lock_guard<std::mutex> lock(mutex);
      if (trace)
        for (const Sent &sent : sentLog)
          trace->events.push_back({nullptr, trace->runs, toTrace(*trace, sent.start),
                                   1e6 * sent.seconds, 0, int32_t(sent.bucket)});
      sentLog.clear();
    }
    if (!ok)
      return false;
    // The loss and correct count to the host arena, which also waits for the updates. The
    // count stays a sum: the trainer divides it by the global batch.
    float scalars[2];
    if (!step->download(lossAt, 2, scalars, error))
      return false;
    std::memcpy(arena + plan.buffers[prog.loss].offset, &scalars[0], 4);
    if (prog.correct >= 0) {
      const float correct = std::round(scalars[1] * float(comm.size()));
      std::memcpy(arena + plan.buffers[prog.correct].offset, &correct, 4);
    }
    if (profile)
      ++profile->runs;
    if (trace)
      ++trace->runs;
    return true;
  }

  bool syncToHost(std::string &error) override { return device->syncToHost(error); }
  bool runKernel(const plan::Program &prog, size_t index, std::string &error) override {
    return device->runKernel(prog, index, error);
  }
  bool read(uint64_t offset, void *dst, uint64_t bytes, std::string &error) override {
    return device->read(offset, dst, bytes, error);
  }
  bool write(uint64_t offset, const void *src, uint64_t bytes, std::string &error) override {
    return device->write(offset, src, bytes, error);
  }
  double allreduceSeconds() const override { return commSeconds; }
  double allreduceWaitSeconds() const override { return waitSeconds; }
  size_t allreduceFloats() const override { return packFloats; }
  size_t allreduceBuckets() const override { return buckets.size(); }
  bool allreduceOverlaps() const override { return threaded; }

private:
  /// The staged step writes each averaged gradient back into its own buffer before its
  /// optimizer kernel runs: exact only if that buffer holds nothing a deferred kernel still
  /// reads (it cannot in the planner's schedules; a hand-made plan is refused).
  bool checkStaging(std::string &error) const {
    for (size_t i = 0; i < updates.size(); ++i) {
      const plan::Kernel &k = train->kernels[updates[i].index];
      const int grad = deferredGradientArg(k.kind);
      if (grad < 0)
        continue;
      const plan::Buffer &g = plan.buffers[k.args[size_t(grad)]];
      for (size_t j = i; j < updates.size(); ++j) {
        const plan::Kernel &l = train->kernels[updates[j].index];
        const int lgrad = deferredGradientArg(l.kind);
        for (size_t a = 0; a < l.args.size(); ++a) {
          const plan::Buffer &b = plan.buffers[l.args[a]];
          if (int(a) != lgrad && l.args[a] != k.args[size_t(grad)] &&
              overlap(g.offset, g.bytes, b.offset, b.bytes)) {
            error = "cannot average gradients across ranks on " + device->describe() +
                    ": gradient '" + g.name + "' shares memory with '" + b.name +
                    "', which optimizer kernel '" + l.name + "' reads";
            return false;
          }
        }
      }
    }
    return true;
  }

  /// Bucket `b`'s allreduce: handed to the communication thread, or run here.
  bool start(size_t b, std::string &error) {
    if (threaded) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        queued.push_back(b);
      }
      wake.notify_all();
      ++issued;
      return true;
    }
    ++issued;
    return allreduce(b, error);
  }

  /// Waits until bucket `b`'s allreduce is done; false if it (or one before it) failed or
  /// was never started (the step failed before it).
  bool finish(size_t b, std::string &error) {
    if (b >= issued)
      return false;
    if (!threaded)
      return true;
    const auto t0 = Clock::now();
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return completed > b || !commError.empty(); });
    waitSeconds += std::chrono::duration<double>(Clock::now() - t0).count();
    if (completed > b)
      return true;
    error = commError;
    // The thread has stopped at its failure: what it had not started never will be.
    return false;
  }

  bool allreduce(size_t b, std::string &error) {
    const auto t0 = Clock::now();
    const bool ok = comm.allreducePack(*step, buckets[b].at, buckets[b].floats, error);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    std::lock_guard<std::mutex> lock(mutex);
    commSeconds += seconds;
    if (!threaded)
      waitSeconds += seconds;
    sentLog.push_back({b, t0, seconds});
    return ok;
  }

  /// The communication thread: the buckets' allreduces in the order they were started (the
  /// same on every rank, so the collectives match).
  void communicate() {
    for (;;) {
      size_t b;
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return quit || !queued.empty(); });
        if (queued.empty())
          return;
        b = queued.front();
        queued.erase(queued.begin());
        // After a failure the group is broken: the replica's step fails on the first.
        if (!commError.empty())
          continue;
      }
      std::string error;
      const bool ok = allreduce(b, error);
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (ok && commError.empty())
          completed = b + 1;
        else if (commError.empty())
          commError = error;
      }
      done.notify_all();
    }
  }

  static double toTrace(const device::Trace &trace, Clock::time_point t) {
    return std::chrono::duration<double, std::micro>(t - trace.origin).count();
  }

  struct Slot {
    size_t index; // a kernel (updates) or a buffer (state)
    size_t at;    // its first float in the pack
  };
  struct Sent {
    size_t bucket;
    Clock::time_point start;
    double seconds;
  };
  const plan::Plan &plan;
  uint8_t *arena;
  std::unique_ptr<Device> device;
  Communicator &comm;
  std::unique_ptr<PackedStep> step;
  const plan::Program *train = nullptr;
  std::vector<Slot> updates, state;
  size_t lossAt = 0, correctAt = 0, packFloats = 0;
  const double bucketMiB;
  std::vector<PackBucket> buckets;
  std::vector<int> completes; // per update: the bucket its gather completes, or -1
  size_t issued = 0; // buckets started this step
  bool threaded = false; // allreduces on the communication thread

  // Shared with the communication thread.
  std::thread worker;
  std::mutex mutex;
  std::condition_variable wake, done;
  std::vector<size_t> queued;
  size_t completed = 0; // buckets [0, completed) of this step are averaged
  std::string commError;
  bool quit = false;
  std::vector<Sent> sentLog;
  double commSeconds = 0, waitSeconds = 0;
};
} // namespace

std::unique_ptr<DataParallelDevice> dlc::makeDataParallelDevice(const plan::Plan &plan,
                                                                uint8_t *arena,
                                                                std::unique_ptr<Device> device,
                                                                Communicator &comm,
                                                                std::string &error,
                                                                double bucketMiB) {
  auto dp = std::make_unique<DataParallel>(plan, arena, std::move(device), comm, bucketMiB);
  if (!dp->prepare(error))
    return nullptr;
  return dp;
}

std::unique_ptr<DataParallelDevice> dlc::makeDataParallelCpuDevice(const plan::Plan &plan,
                                                                   uint8_t *arena,
                                                                   Communicator &comm,
                                                                   std::string &error,
                                                                   double bucketMiB) {
  return makeDataParallelDevice(plan, arena, makeCpuDevice(plan, arena), comm, error,
                                bucketMiB);
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
