//===- PipelineRunner.cpp - a pipeline plan's devices on threads of their own -*- C++ -*-===//
#include "runtime/cpu/PipelineRunner.h"

#include "runtime/cpu/Executor.h"
#include "runtime/plan/KernelCheck.h"

#include <algorithm>
#include <limits>

using namespace dlc;
using namespace dlc::cpu;

namespace {
using Clock = std::chrono::steady_clock;
constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
constexpr int kSpins = 200;

struct Range {
  uint64_t begin, end;
  bool overlaps(const Range &o) const { return begin < o.end && o.begin < end; }
};

Range rangeOf(const plan::Plan &plan, int32_t id) {
  const plan::Buffer &b = plan.buffers[size_t(id)];
  return {b.offset, b.offset + b.bytes};
}

/// The device whose memory holds `r` (the loader checked that every kernel's buffers lie in
/// its own device's regions, a copy's source in some device's).
int32_t deviceOf(const plan::Plan &plan, const Range &r) {
  for (size_t d = 0; d < plan.stages.size(); ++d) {
    const plan::StageRegion &s = plan.stages[d];
    if ((r.begin >= s.persistentOffset && r.end <= s.persistentOffset + s.persistentBytes) ||
        (r.begin >= s.offset && r.end <= s.offset + s.bytes))
      return int32_t(d);
  }
  return -1;
}
} // namespace

std::vector<std::vector<PipelineRunner::Wait>>
PipelineRunner::waits(const plan::Plan &plan, const plan::Program &prog) {
  const size_t n = prog.kernels.size();
  std::vector<std::vector<Range>> writes(n);
  for (size_t k = 0; k < n; ++k)
    for (size_t a = 0; a < prog.kernels[k].args.size(); ++a)
      if (plan::kernelWritesArg(prog.kernels[k].kind, a))
        writes[k].push_back(rangeOf(plan, prog.kernels[k].args[a]));
  // The copies that read another device's memory: (kernel, source device, source range).
  struct Remote {
    size_t kernel;
    int32_t source;
    Range range;
  };
  std::vector<Remote> remote;
  for (size_t k = 0; k < n; ++k)
    if (prog.kernels[k].kind == plan::KernelKind::Copy) {
      Range r = rangeOf(plan, prog.kernels[k].args[0]);
      int32_t source = deviceOf(plan, r);
      if (source >= 0 && source != prog.kernelStage[k])
        remote.push_back({k, source, r});
    }
  std::vector<std::vector<Wait>> out(n);
  // Read after write: the copy waits for the last writer of its source on that device.
  for (const Remote &c : remote)
    for (size_t j = c.kernel; j-- > 0;)
      if (prog.kernelStage[j] == c.source &&
          std::any_of(writes[j].begin(), writes[j].end(),
                      [&](const Range &w) { return w.overlaps(c.range); })) {
        out[c.kernel].push_back({c.source, int64_t(j)});
        break;
      }
  // Write after read: a kernel overwriting memory that an earlier copy on another device
  // reads waits for that copy (the latest such per device covers the others).
  for (size_t j = 0; j < n; ++j) {
    std::vector<int64_t> latest(plan.stages.size(), -1);
    for (const Remote &c : remote) {
      if (c.kernel >= j)
        break;
      if (c.source == prog.kernelStage[j] &&
          std::any_of(writes[j].begin(), writes[j].end(),
                      [&](const Range &w) { return w.overlaps(c.range); }))
        latest[size_t(prog.kernelStage[c.kernel])] = int64_t(c.kernel);
    }
    for (size_t d = 0; d < latest.size(); ++d)
      if (latest[d] >= 0)
        out[j].push_back({int32_t(d), latest[d]});
  }
  return out;
}

device::StageWaits PipelineRunner::stageWaits(const plan::Plan &plan,
                                              const plan::Program &prog) {
  device::StageWaits out;
  for (const std::vector<Wait> &mine : waits(plan, prog)) {
    out.emplace_back();
    for (const Wait &w : mine)
      out.back().emplace_back(w.device, w.index);
  }
  return out;
}

PipelineRunner::PipelineRunner(const plan::Plan &plan, uint8_t *arena)
    : plan(plan), arena(arena), devices(int32_t(plan.stages.size())),
      busy(plan.stages.size(), 0.0), events(plan.stages.size()),
      finished(plan.stages.size(), 0.0),
      done(new std::atomic<int64_t>[plan.stages.size()]) {
  for (int32_t d = 1; d < devices; ++d)
    threads.emplace_back([this, d] { worker(d); });
}

PipelineRunner::~PipelineRunner() {
  {
    std::lock_guard<std::mutex> lock(jobMutex);
    stop = true;
  }
  jobStart.notify_all();
  for (std::thread &t : threads)
    t.join();
}

const PipelineRunner::Schedule &PipelineRunner::schedule(const plan::Program &p) {
  auto it = schedules.find(&p);
  if (it != schedules.end())
    return it->second;
  Schedule s;
  s.kernels.resize(size_t(devices));
  for (size_t k = 0; k < p.kernels.size(); ++k)
    s.kernels[size_t(p.kernelStage[k])].push_back(k);
  s.next.assign(p.kernels.size(), kNone);
  for (const std::vector<size_t> &mine : s.kernels)
    for (size_t i = 0; i + 1 < mine.size(); ++i)
      s.next[mine[i]] = int64_t(mine[i + 1]);
  s.waits = waits(plan, p);
  return schedules.emplace(&p, std::move(s)).first->second;
}

void PipelineRunner::worker(int32_t device) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(jobMutex);
      jobStart.wait(lock, [&] { return stop || generation != seen; });
      if (stop)
        return;
      seen = generation;
    }
    runDevice(device);
    {
      std::lock_guard<std::mutex> lock(jobMutex);
      --pending;
    }
    jobDone.notify_one();
  }
}

void PipelineRunner::runDevice(int32_t device) {
  float *args[8];
  auto micros = [&](Clock::time_point t) {
    return std::chrono::duration<double, std::micro>(t - trace->origin).count();
  };
  double busySeconds = 0;
  for (size_t n : sched->kernels[size_t(device)]) {
    for (const Wait &w : sched->waits[n]) {
      auto arrived = [&] { return done[w.device].load(std::memory_order_acquire) > w.index; };
      if (arrived())
        continue;
      auto t0 = Clock::now();
      // Most waits are short (another device finishing a kernel): look again a few times,
      // giving the core away, before sleeping (a wake-up costs more).
      for (int spin = 0; spin < kSpins && !arrived(); ++spin)
        std::this_thread::yield();
      if (!arrived()) {
        std::unique_lock<std::mutex> lock(progressMutex);
        progress.wait(lock, arrived);
      }
      if (trace) // a bubble: this device idle, waiting for another
        events[size_t(device)].push_back(
            {nullptr, trace->runs, micros(t0),
             std::chrono::duration<double, std::micro>(Clock::now() - t0).count(), device});
    }
    const plan::Kernel &k = prog->kernels[n];
    for (size_t j = 0; j < k.args.size() && j < 8; ++j)
      args[j] = reinterpret_cast<float *>(arena + plan.buffers[size_t(k.args[j])].offset);
    auto t0 = Clock::now();
    runKernel(k, args);
    auto t1 = Clock::now();
    const double seconds = std::chrono::duration<double>(t1 - t0).count();
    busySeconds += seconds;
    if (profile)
      profile->seconds[n] += seconds;
    if (trace)
      events[size_t(device)].push_back(
          {&k, trace->runs, micros(t0), std::chrono::duration<double, std::micro>(t1 - t0).count(),
           device});
    done[device].store(sched->next[n], std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(progressMutex);
    }
    progress.notify_all();
  }
  if (prog->name == "train")
    busy[size_t(device)] += busySeconds;
  if (trace)
    finished[size_t(device)] = micros(Clock::now());
}

void PipelineRunner::run(const plan::Program &p, device::Profile *prof, device::Trace *tr) {
  sched = &schedule(p);
  prog = &p;
  profile = prof;
  trace = tr && tr->runs < tr->maxRuns ? tr : nullptr;
  if (profile && profile->seconds.size() != p.kernels.size())
    profile->seconds.assign(p.kernels.size(), 0.0);
  for (int32_t d = 0; d < devices; ++d) {
    const std::vector<size_t> &mine = sched->kernels[size_t(d)];
    done[d].store(mine.empty() ? kNone : int64_t(mine.front()), std::memory_order_relaxed);
    events[size_t(d)].clear();
  }
  {
    std::lock_guard<std::mutex> lock(jobMutex);
    ++generation;
    pending = devices - 1;
  }
  jobStart.notify_all();
  runDevice(0);
  {
    std::unique_lock<std::mutex> lock(jobMutex);
    jobDone.wait(lock, [&] { return pending == 0; });
  }
  if (trace) {
    // A device that finished early idles until the step's end: the drain's bubble.
    const double end = *std::max_element(finished.begin(), finished.end());
    for (int32_t d = 0; d < devices; ++d) {
      if (finished[size_t(d)] < end)
        events[size_t(d)].push_back({nullptr, trace->runs, finished[size_t(d)],
                                     end - finished[size_t(d)], d});
      trace->events.insert(trace->events.end(), events[size_t(d)].begin(),
                           events[size_t(d)].end());
    }
    ++trace->runs;
  }
  if (profile)
    ++profile->runs;
}
