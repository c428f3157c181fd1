//===- Trainer.cpp - the training / evaluation loop of dlrun -----*- C++ -*-===//
//
// runPlan in four steps a reader can hold one at a time: setUp (plan, arena, device, data),
// then one of Runner::validate, evaluateOnly and train, then finish (summary, checks,
// checkpoint). Batches go through Runner (runtime/train/Runner.h), data sets come from
// runtime/data/PlanData.h, and dlrun has checked the flags against each other.
//
// Divergence: after every training step the loss must be finite (training.on_nonfinite:
// stop, the default; warn says so once and goes on) and, with training.max_loss, below that
// bound. A non-finite loss reruns the step kernel by kernel (runtime/train/Nonfinite.h) to
// name the kernel that made it. Rank 0 alone prints (dlrun points the others' stdout at
// /dev/null) and writes files.
//
#include "runtime/train/Trainer.h"

#include "runtime/cpu/CpuDevice.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Peak.h"
#include "runtime/cuda/CudaDeviceRunner.h"
#include "runtime/cuda/CudaPipeline.h"
#include "runtime/data/PlanData.h"
#include "runtime/dist/DataParallel.h"
#include "runtime/dist/NcclCommunicator.h"
#include "runtime/plan/Plan.h"
#include "runtime/train/Arena.h"
#include "runtime/train/Checkpoint.h"
#include "runtime/train/Init.h"
#include "runtime/train/Runner.h"
#include "runtime/train/TensorData.h"

#include <algorithm>
#include <cstdarg>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <thread>
#include <unistd.h>

using namespace dlc;

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Whether this thread's run prints: every device of a multi-device run (dlrun --device
/// cpu:0,cpu:1) runs runPlan on its own thread, and only the first one reports.
thread_local bool tlsSilent = false;

__attribute__((format(printf, 1, 2))) void say(const char *format, ...) {
  if (tlsSilent)
    return;
  va_list args;
  va_start(args, format);
  std::vprintf(format, args);
  va_end(args);
}

/// Snapshots of the persistent state (for rerunning a step whose loss is not finite) are
/// kept on the CPU up to this size: a copy per step is then a small share of the step.
constexpr uint64_t kSnapshotBytes = 64ull << 20;


/// Everything setUp makes and the loops use.
struct Session {
  plan::Plan p;
  std::unique_ptr<AlignedArena> arena;
  std::unique_ptr<Device> device;
  DataParallelDevice *parallel = nullptr; // the device, when training under mpirun
  Communicator *comm = nullptr;
  int64_t ranks = 1, rank = 0;
  uint64_t stateHash = 0; // of the persistent state, agreed by all ranks
  data::Dataset trainSet, testSet;
  std::unique_ptr<Runner> runner;
  device::Trace *trace = nullptr; // ownTrace, or the caller's (RunOptions::traceInto)
  std::unique_ptr<device::Trace> ownTrace;
  std::unique_ptr<Communicator> nccl; // comm, when GPU replicas average through NCCL; closed
                                      // before the device
};

/// Whether this thread is one device of several in this process (dlrun --device cpu:0,...).
thread_local bool tlsOneOfDevices = false;

int fail(const std::string &error) {
  // The devices of one process often fail alike (a plan for another count, no GPU): the
  // same error once for all of them.
  static std::mutex mutex;
  static std::set<std::string> said;
  if (tlsOneOfDevices) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!said.insert(error).second)
      return 1;
  }
  std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
  return 1;
}

/// %g, but "nan" for every NaN (printf may write "-nan").
std::string number(double x) {
  if (std::isnan(x))
    return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

/// A plan reports accuracy when it classifies; one with a regression loss (mse,
/// bce_with_logits) has no labels, no `correct` output, and reports its loss alone.
bool classifies(const plan::Plan &p) { return p.classes > 0; }

/// "  acc 97.12%" (with `format`'s precision) for a classifier, "" otherwise.
std::string accuracyText(const plan::Plan &p, const char *format, double accuracy) {
  if (!classifies(p))
    return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, 100 * accuracy);
  return buf;
}

void progressBar(const plan::Plan &p, int64_t done, int64_t total, double loss, double acc,
                 double exPerSec) {
  const int width = 30;
  int filled = total ? int(width * done / total) : width;
  say("\r  [%.*s%*s] %lld/%lld  loss %.4f%s  %8.0f ex/s", filled,
              "==============================", width - filled, "", (long long)done,
              (long long)total, loss, accuracyText(p, "  acc %5.1f%%", acc).c_str(), exPerSec);
  std::fflush(stdout);
}

void printProfile(const plan::Program &prog, const device::Profile &prof, bool cpuPeak) {
  double total = std::accumulate(prof.seconds.begin(), prof.seconds.end(), 0.0);
  std::vector<size_t> idx(prof.seconds.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return prof.seconds[a] > prof.seconds[b]; });
  // Measured only for the CPU, whose kernels the profile times here.
  const double peak = cpuPeak ? cpu::measureFmaPeakGflops() : 0;
  say("\nprofile of program '%s' (%lld runs, %.3f s in kernels)\n", prog.name.c_str(),
              (long long)prof.runs, total);
  if (peak > 0)
    say("  FMA peak of this CPU, measured on %d thread%s: %.1f GFLOP/s\n", cpu::threads(),
                cpu::threads() == 1 ? "" : "s", peak);
  say("  %-34s %-18s %8s %10s %7s %9s %7s\n", "kernel", "kind", "calls", "total ms", "share",
              "GFLOP/s", "of peak");
  if (!prog.kernelStage.empty()) { // a pipeline: each device's share of the step
    std::vector<double> perDevice;
    for (size_t i = 0; i < prof.seconds.size() && i < prog.kernelStage.size(); ++i) {
      perDevice.resize(std::max(perDevice.size(), size_t(prog.kernelStage[i]) + 1));
      perDevice[size_t(prog.kernelStage[i])] += prof.seconds[i];
    }
    for (size_t d = 0; d < perDevice.size(); ++d)
      say("  cpu:%zu: %.1f ms per run (%.1f%%)\n", d,
          prof.runs ? 1e3 * perDevice[d] / prof.runs : 0.0,
          total > 0 ? 100 * perDevice[d] / total : 0.0);
  }
  for (size_t i : idx) {
    const plan::Kernel &k = prog.kernels[i];
    double s = prof.seconds[i];
    const double gflops = s > 0 ? k.flops * prof.runs / s / 1e9 : 0;
    say("  %-34s %-18s %8lld %10.1f %6.1f%% %9.2f", k.name.c_str(), plan::kernelKindName(k.kind),
                (long long)prof.runs, s * 1e3, total > 0 ? 100 * s / total : 0, gflops);
    if (peak > 0)
      say(" %6.1f%%", 100 * gflops / peak);
    say("\n");
  }
}

/// The plan and its arena, initial (or checkpointed) state, the device and the data: all
/// a run needs before its first step. Returns false after printing the one-line error.
bool setUp(const RunOptions &opts, Session &s) {
  auto t0 = Clock::now();
  std::string error;
  plan::Plan &p = s.p;
  if (!plan::readPlan(opts.planPath, p, error))
    return fail(error), false;
  const plan::Program *train = p.program("train"), *eval = p.program("eval");
  if (!eval || (!opts.eval && !train))
    return fail(opts.planPath + ": plan has no " + (eval ? "train" : "eval") + " program"), false;
  // The plan format allows a program without a loss buffer (-1); dlrun reads the loss of
  // the ones it runs.
  for (const plan::Program *prog : {train, eval})
    if (prog && prog->loss < 0)
      return fail(opts.planPath + ": program '" + prog->name + "' has no loss buffer"), false;
  // A plan placed on K devices (dlc compile --devices K) runs on exactly K: with data
  // placement its batch is one device's share, with pipeline placement each device holds one
  // stage, and with both, each of the plan's data-parallel replicas is a pipeline (device
  // r * S + s runs replica r's stage s; dlrun runs a replica per thread, each one this
  // function). Under mpirun a one-device plan's processes are the replicas.
  const bool pipeline = !p.stages.empty();
  const int64_t stageCount = pipeline ? int64_t(p.stages.size()) : 1;
  const int64_t planDevices = stageCount * p.train.devices;
  const bool replicated = pipeline && p.train.devices > 1;
  const int64_t devices = opts.comm && !opts.inProcessDevices ? planDevices : opts.devices;
  if (planDevices != devices)
    return fail(opts.planPath + ": the plan was compiled for " + std::to_string(planDevices) +
                " device" + (planDevices == 1 ? "" : "s") + " (dlc compile --devices " +
                std::to_string(planDevices) + (pipeline ? " --placement pipeline" : "") +
                (replicated ? " --stages " + std::to_string(stageCount) : "") +
                "); --device names " + std::to_string(devices)),
           false;
  if (replicated && opts.cudaOrdinal >= 0)
    return fail(opts.planPath + ": replicas of a pipeline run on CPU devices only so far "
                                "(--device cpu:0,...,cpu:" + std::to_string(planDevices - 1) + ")"),
           false;
  if (pipeline && opts.comm && !(replicated && opts.inProcessDevices))
    return fail(opts.planPath + ": a pipeline plan runs in one process (--device cpu:0,...,cpu:" +
                std::to_string(planDevices - 1) + " or cuda:0,...,cuda:" +
                std::to_string(planDevices - 1) + "), not under mpirun"),
           false;
  // The CPU executor computes on float buffers: a CPU plan of a mixed precision has only
  // those (dlc compile keeps them fp32) and runs in fp32; a CUDA plan's 2-byte ones need a GPU.
  if (opts.cudaOrdinal < 0) {
    for (const plan::Buffer &b : p.buffers)
      if (plan::dtypeBytes(b.dtype) != 4)
        return fail(opts.planPath + ": buffer '" + b.name + "' is stored as " +
                    plan::dtypeName(b.dtype) + " (a " + plan::precisionName(p.train.precision) +
                    " CUDA plan); the CPU computes on float buffers: compile the model with "
                    "--target cpu to run it here"),
               false;
    if (p.train.precision != plan::Precision::Fp32)
      say("dlrun: precision %s: the CPU runs this plan in fp32 (every buffer float)\n",
          plan::precisionName(p.train.precision));
  }
  s.arena = std::make_unique<AlignedArena>(p.arenaBytes);
  if (!s.arena->data) {
    char what[96];
    if (p.arenaBytes > AlignedArena::physicalBytes())
      std::snprintf(what, sizeof what, "the %.1f MiB arena is more than this machine's %.1f MiB of memory",
                    p.arenaBytes / 1048576.0, AlignedArena::physicalBytes() / 1048576.0);
    else
      std::snprintf(what, sizeof what, "cannot allocate the %.1f MiB arena", p.arenaBytes / 1048576.0);
    return fail(opts.planPath + ": " + what), false;
  }
  uint8_t *arena = s.arena->data;
  initParameters(p, arena);
  if (!opts.load.empty() && !loadCheckpoint(p, arena, opts.load, error))
    return fail(error), false;
  s.comm = opts.comm;
  s.ranks = s.comm ? s.comm->size() : 1;
  s.rank = s.comm ? s.comm->rank() : 0;
  int64_t threads = opts.threads;
  if (threads <= 0) // ranks on one machine share its cores
    threads = std::min<int64_t>(kDefaultThreads,
                                std::max<int64_t>(1, std::thread::hardware_concurrency() /
                                                         (s.comm ? s.comm->localSize() : 1)));
  // GPipe micro-batches: the pipeline's devices run on threads of their own at once, each
  // running its kernels itself (the kernels' pool serves one caller at a time).
  const bool threadedPipeline = pipeline && p.train.microbatches > 1;
  if (threadedPipeline && opts.threads > 1)
    return fail(opts.planPath + ": a pipeline of " + std::to_string(p.train.microbatches) +
                " micro-batches runs each device on one thread of its own; drop --threads"),
           false;
  if (threadedPipeline)
    threads = 1;
  if (opts.inProcessDevices)
    threads = 1; // each device is one thread; dlrun sized the shared pool (cpu/Parallel.h)
  else
    cpu::setThreads(int(threads)); // before the device: it makes oneDNN's primitives for it
  if (s.comm && train) {
    // A replica on any device; GPU replicas average their packs with NCCL when every rank
    // has it, else through host memory.
    std::unique_ptr<Device> replica = opts.cudaOrdinal < 0
                                          ? makeCpuDevice(p, arena)
                                          : makeCudaDevice(p, arena, opts.cudaOrdinal, error);
    if (replica && opts.cudaOrdinal >= 0) {
      std::string note;
      s.nccl = connectNccl(*s.comm, opts.cudaOrdinal, note, error);
      if (s.nccl)
        s.comm = s.nccl.get();
      else if (!error.empty())
        replica = nullptr;
      else
        say("dlrun: %s: gradients are averaged through host memory\n", note.c_str());
    }
    auto dp = replica ? makeDataParallelDevice(p, arena, std::move(replica), *s.comm, error,
                                               opts.bucketMiB)
                      : nullptr;
    s.parallel = dp.get();
    s.device = std::move(dp);
  } else {
    // Kernel programs are target-independent: a CUDA plan also runs on the CPU.
    s.device = opts.cudaOrdinal < 0 ? makeCpuDevice(p, arena)
               : pipeline ? makeCudaPipelineDevice(p, arena, opts.cudaOrdinals, error)
                          : makeCudaDevice(p, arena, opts.cudaOrdinal, error);
  }
  if (!s.device)
    return fail(error), false;
  say("dlrun: %s (%s, batch %lld, %zu parameters tensors, arena %llu bytes = %.2f MiB, "
              "%lld threads) loaded in %.0f ms\n",
              p.model.c_str(), s.device->describe().c_str(), (long long)p.train.batch,
              p.params.size(), (unsigned long long)p.arenaBytes, p.arenaBytes / 1048576.0,
              (long long)threads, since(t0) * 1e3);
  if (!s.device->layoutNote().empty())
    say("%s\n", s.device->layoutNote().c_str());
  const bool gpuPipeline = pipeline && opts.cudaOrdinal >= 0;
  if (gpuPipeline)
    say("pipeline: %zu GPUs, one stage each, each holding only its stage's memory; %lld "
        "micro-batch%s of %lld, every GPU's kernels queued in plan order on its own stream, the "
        "copies between stages peer copies, the waits between GPUs CUDA events\n",
        p.stages.size(), (long long)p.train.microbatches,
        p.train.microbatches == 1 ? "" : "es",
        (long long)(p.train.batch / p.train.microbatches));
  if (replicated)
    say("pipeline x data: %lld replicas of the pipeline below, replica r on cpu:r*%zu .. "
        "cpu:r*%zu+%zu; each runs its stages in plan order on one thread (micro-batches "
        "too), then each stage's gradients are averaged over the replicas\n",
        (long long)p.train.devices, p.stages.size(), p.stages.size(), p.stages.size() - 1);
  if (pipeline && !threadedPipeline && !gpuPipeline)
    say("pipeline: %zu devices, one stage each; one micro-batch, so the stages run in turn on "
        "one thread, each in its own region of the arena (copies between them are kernels)\n",
        p.stages.size());
  if (threadedPipeline && !gpuPipeline)
    say("pipeline: %zu devices, one stage each; %lld micro-batches of %lld (GPipe), each device "
        "on a thread of its own in its own region of the arena, waiting only for the copies it "
        "needs from another\n",
        p.stages.size(), (long long)p.train.microbatches,
        (long long)(p.train.batch / p.train.microbatches));
  if (pipeline) {
    for (size_t d = 0; d < p.stages.size(); ++d) {
      const plan::StageRegion &r = p.stages[d];
      const std::string name = gpuPipeline ? "cuda:" + std::to_string(opts.cudaOrdinals[d])
                                           : "cpu:" + std::to_string(d);
      say("  %s: %s .. %s, %.2f MiB (%.2f MiB parameters and state)\n", name.c_str(), r.first.c_str(),
          r.last.c_str(), (r.persistentBytes + r.bytes) / 1048576.0,
          r.persistentBytes / 1048576.0);
    }
  }
  if (s.comm) {
    if (!checkRanksAgree(p, arena, *s.comm, s.stateHash, error))
      return fail(error), false;
    const size_t buckets = s.parallel ? s.parallel->allreduceBuckets() : 1;
    const std::string how =
        buckets == 1 ? std::string("one ") + s.comm->allreduceName()
                     : std::to_string(buckets) + " " + s.comm->allreduceName() + "s (buckets" +
                           (s.parallel->allreduceOverlaps() ? ", overlapping the backward)"
                                                            : ", one after another)");
    say("%s: %lld %s x batch %lld = global batch %lld; rank r trains on examples "
                "[r*%lld, (r+1)*%lld) of each; %zu floats (gradients, loss, correct) averaged "
                "by %s per step\n", s.comm->kind(),
                (long long)s.ranks, replicated ? "replicas" : s.comm->members(),
                (long long)p.train.batch,
                (long long)(s.ranks * p.train.batch),
                (long long)p.train.batch, (long long)p.train.batch,
                s.parallel ? s.parallel->allreduceFloats() : size_t(0), how.c_str());
  }

  auto td = Clock::now();
  // Named tensors come through the checkpoints' safetensors reader (runtime/train).
  auto load = p.data.format == "safetensors" ? loadTensorData : data::loadPlanData;
  if ((!opts.eval && !load(p, true, opts.limit, s.trainSet, error)) ||
      !load(p, false, opts.limit, s.testSet, error))
    return fail(error), false;
  const bool snapshots = opts.cudaOrdinal < 0 && p.persistentBytes <= kSnapshotBytes &&
                         p.train.onNonfinite == plan::OnNonfinite::Stop;
  s.runner = std::make_unique<Runner>(p, arena, *s.device, s.comm, snapshots);
  // What dlrun holds beyond the plan's arena, so that the two add up (bench/memory_rss.py).
  if (snapshots && train && !opts.eval)
    say("memory: the arena and a %.2f MiB snapshot of the parameters and state before each "
        "step (to rerun a step whose loss is not finite; training.on_nonfinite: stop)\n",
        p.persistentBytes / 1048576.0);

  // Every program's inputs must be fed by this data (dlc checks it too; a plan may be edited).
  for (const data::Dataset *d : {&s.trainSet, &s.testSet})
    if ((d == &s.testSet || !opts.eval) && !s.runner->checkInputs(*d, error))
      return fail(opts.planPath + ": " + error), false;
  say("data: %s, %lld train / %lld test examples%s (%.2f s)\n", p.data.format.c_str(),
              (long long)s.trainSet.count, (long long)s.testSet.count,
              data::describeAugmentation(p.data).c_str(), since(td));
  // Evaluation runs whole batches only: a test set smaller than one evaluates nothing, and
  // a "test loss 0.0000" would look like a result.
  if (s.testSet.count < p.train.batch * s.ranks)
    std::fprintf(stderr, "dlrun: warning: the test set has %lld examples, fewer than one batch "
                         "(%lld): nothing is evaluated (lower training.batch or give more test "
                         "data)\n", (long long)s.testSet.count,
                 (long long)(p.train.batch * s.ranks));
  if (opts.deviceTraces && s.comm) {
    s.trace = (*opts.deviceTraces)[size_t(s.rank)].get();
  } else if (!opts.trace.empty() && s.rank == 0) {
    s.ownTrace = std::make_unique<device::Trace>(kTraceSteps);
    s.trace = s.ownTrace.get();
  }
  return true;
}

/// --save FILE: the parameters and optimizer state as they are now (rank 0 writes).
int saveIfAsked(const RunOptions &opts, Session &s) {
  std::string error;
  if (!opts.save.empty() && s.rank == 0) {
    if (!s.device->syncToHost(error) || !saveCheckpoint(s.p, s.arena->data, opts.save, error))
      return fail(error);
    say("saved checkpoint %s\n", opts.save.c_str());
  }
  return 0;
}

/// dlrun --eval: the test set once; with --profile, the eval program's kernels.
int evaluateOnly(const RunOptions &opts, Session &s) {
  const int64_t batch = s.p.train.batch * s.ranks;
  auto te = Clock::now();
  Evaluation ev;
  device::Profile profile;
  std::string error;
  if (!s.runner->evaluate(s.testSet, opts.profile ? &profile : nullptr, s.trace, ev, error))
    return fail(error);
  if (ev.nonfinite)
    std::fprintf(stderr, "dlrun: warning: the test loss is not finite (training.on_nonfinite: "
                         "warn)\n");
  double t = since(te);
  if (ev.examples == 0) {
    say("test: no test batch\n"); // warned at load: fewer examples than one batch
    return 0;
  }
  // The whole loop's mean includes copying each batch in and the first, cold batch; the
  // median program run is the steady-state latency of the model itself.
  std::vector<double> runs = ev.runSeconds;
  std::nth_element(runs.begin(), runs.begin() + runs.size() / 2, runs.end());
  say("test: loss %.4f%s  (%lld examples, %.0f ex/s, %.3f ms/batch; median run %.4f ms)\n",
      ev.loss, accuracyText(s.p, "  accuracy %.2f%%", ev.accuracy).c_str(),
      (long long)ev.examples, t > 0 ? ev.examples / t : 0,
      ev.examples ? 1e3 * t * batch / ev.examples : 0.0, 1e3 * runs[runs.size() / 2]);
  if (opts.profile)
    printProfile(*s.p.program("eval"), profile, s.device->describe() == "cpu");
  return 0;
}

/// What train measured, for finish.
struct TrainResult {
  int64_t steps = 0;
  double seconds = 0, testAccuracy = 0, testLoss = 0;
  int64_t testExamples = 0; // 0: the test set has no whole batch
  device::Profile profile;
};

/// Checks a training step's loss against training.on_nonfinite and training.max_loss.
/// Returns false after printing the one-line error that ends the run.
bool lossAcceptable(Session &s, float loss, int64_t step, bool &warned) {
  const plan::TrainConfig &t = s.p.train;
  if (!std::isfinite(loss)) {
    if (t.onNonfinite == plan::OnNonfinite::Warn) {
      if (!warned)
        std::fprintf(stderr, "dlrun: warning: the loss became %s at step %lld; training goes on "
                             "(training.on_nonfinite: warn)\n",
                     number(loss).c_str(), (long long)step);
      warned = true;
      return true;
    }
    say("\n");
    fail("the loss became " + number(loss) + " at step " + std::to_string(step) + "; " +
         s.runner->explainNonfinite(*s.p.program("train")) +
         "; lower the learning rate (training.optimizer.lr)");
    return false;
  }
  if (t.maxLoss > 0 && loss > t.maxLoss) {
    say("\n");
    fail("the loss " + number(loss) + " at step " + std::to_string(step) +
         " exceeds training.max_loss " + number(t.maxLoss) +
         ": the run diverges; lower the learning rate (training.optimizer.lr)");
    return false;
  }
  return true;
}

/// The epochs: shuffled global batches, progress lines, a test evaluation after each epoch.
bool train(const RunOptions &opts, Session &s, TrainResult &r) {
  const plan::Plan &p = s.p;
  const plan::Program &prog = *p.program("train");
  Runner &runner = *s.runner;
  // A step trains on a global batch; rank 0 reports for all of it.
  const int64_t batch = p.train.batch * s.ranks;
  const int64_t perEpoch = s.trainSet.count / batch;
  if (perEpoch == 0)
    return fail(std::to_string(s.trainSet.count) + " training examples do not fill one batch of " +
                std::to_string(batch)),
           false;
  int64_t epochs = opts.epochs > 0 ? opts.epochs : p.train.epochs;
  const int64_t totalSteps = opts.steps > 0 ? opts.steps : epochs * perEpoch;
  epochs = (totalSteps + perEpoch - 1) / perEpoch;
  const int64_t logEvery = opts.logEvery > 0 ? opts.logEvery : p.train.logEvery;
  // mpirun gives ranks a pseudo-terminal even when its own output goes to a file.
  const bool tty = !opts.quiet && !s.comm && isatty(fileno(stdout));
  std::mt19937_64 shuffle(p.train.seed ^ 0x5DEECE66Dull);
  std::vector<int64_t> order(s.trainSet.count);
  std::iota(order.begin(), order.end(), 0);
  std::string error;
  bool warned = false;
  if (p.train.optimizer == "sgd")
    say("training: %lld epochs x %lld steps, lr %g, momentum %g\n", (long long)epochs,
                (long long)perEpoch, p.train.lr, p.train.momentum);
  else
    say("training: %lld epochs x %lld steps, %s, lr %g, weight decay %g\n",
                (long long)epochs, (long long)perEpoch, p.train.optimizer.c_str(), p.train.lr,
                p.train.weightDecay);
  for (int64_t epoch = 1; epoch <= epochs && r.steps < totalSteps; ++epoch) {
    if (p.train.shuffle) // else file order, every epoch (training.shuffle: false)
      std::shuffle(order.begin(), order.end(), shuffle);
    double sumLoss = 0, sumCorrect = 0, winLoss = 0, winCorrect = 0;
    // Accuracy is per scored position (one per example, or T of a sequence's targets).
    const double positions = double(runner.positions());
    int64_t epochSteps = 0, winSteps = 0;
    auto te = Clock::now(), tw = Clock::now();
    for (int64_t i = 0; i < perEpoch && r.steps < totalSteps; ++i) {
      float loss, correct;
      runner.skipAugmentation(s.rank * p.train.batch);
      if (!runner.step(prog, s.trainSet, order, i * batch + s.rank * p.train.batch, loss, correct,
                       opts.profile ? &r.profile : nullptr, s.trace, error))
        return fail(error), false;
      runner.skipAugmentation((s.ranks - 1 - s.rank) * p.train.batch);
      ++r.steps, ++epochSteps, ++winSteps;
      if (!lossAcceptable(s, loss, r.steps, warned))
        return false;
      sumLoss += loss, sumCorrect += correct, winLoss += loss, winCorrect += correct;
      if (tty)
        progressBar(p, i + 1, perEpoch, sumLoss / epochSteps,
                    sumCorrect / (epochSteps * batch * positions),
                    epochSteps * batch / since(te));
      if (r.steps % logEvery == 0) {
        double w = since(tw);
        if (tty)
          say("\r\033[K");
        say("epoch %lld step %lld  loss %.*f%s  %.0f ex/s  %.2f ms/batch\n",
                    (long long)epoch, (long long)r.steps, int(opts.lossDigits), winLoss / winSteps,
                    accuracyText(p, "  train acc %5.2f%%",
                                 winCorrect / (winSteps * batch * positions)).c_str(),
                    winSteps * batch / w,
                    1e3 * w / winSteps);
        winLoss = winCorrect = 0;
        winSteps = 0;
        tw = Clock::now();
      }
    }
    double es = since(te);
    r.seconds += es;
    if (tty)
      say("\r\033[K");
    Evaluation ev;
    if (!runner.evaluate(s.testSet, nullptr, s.trace, ev, error))
      return fail(error), false;
    if (ev.nonfinite && !warned) {
      std::fprintf(stderr, "dlrun: warning: the test loss is not finite after epoch %lld "
                           "(training.on_nonfinite: warn)\n", (long long)epoch);
      warned = true;
    }
    r.testAccuracy = ev.accuracy;
    r.testLoss = ev.loss;
    r.testExamples = ev.examples;
    char test[96] = "no test batch";
    if (ev.examples > 0)
      std::snprintf(test, sizeof test, "test loss %.4f%s", ev.loss,
                    accuracyText(p, " acc %.2f%%", ev.accuracy).c_str());
    say("epoch %lld done: train loss %.4f%s | %s | %.1f s, %.0f ex/s\n", (long long)epoch,
        sumLoss / epochSteps,
        accuracyText(p, " acc %.2f%%", sumCorrect / (epochSteps * batch * positions)).c_str(),
        test, es, epochSteps * batch / es);
    std::fflush(stdout);
  }
  return true;
}

/// After training: the summary, the profile, the ranks' agreement, the trace and checkpoint.
int finish(const RunOptions &opts, Session &s, const TrainResult &r) {
  const int64_t batch = s.p.train.batch * s.ranks;
  std::string error;
  char result[64];
  if (r.testExamples == 0)
    std::snprintf(result, sizeof result, "no test batch");
  else if (classifies(s.p))
    std::snprintf(result, sizeof result, "test accuracy %.2f%%", 100 * r.testAccuracy);
  else
    std::snprintf(result, sizeof result, "test loss %.4f", r.testLoss);
  say("summary: %lld steps in %.2f s: %.1f steps/s, %.0f examples/s, %.3f ms/batch; "
              "%s\n",
              (long long)r.steps, r.seconds, r.steps / r.seconds, r.steps * batch / r.seconds,
              1e3 * r.seconds / r.steps, result);
  // A pipeline on threads: how much of the training time each device computed (the rest it
  // waited: the bubble, and the copies it needed from the others).
  const std::vector<double> busy = s.device->busySeconds();
  if (!busy.empty() && r.seconds > 0) {
    std::string shares;
    for (size_t d = 0; d < busy.size(); ++d) {
      char one[48];
      std::snprintf(one, sizeof one, "%scpu:%zu %.0f%%", d ? ", " : "", d,
                    100 * busy[d] / r.seconds);
      shares += one;
    }
    say("pipeline: busy %s of the training time\n", shares.c_str());
  }
  if (opts.profile)
    printProfile(*s.p.program("train"), r.profile, s.device->describe() == "cpu");
  if (s.parallel && r.steps > 0)
    say("%s: gradient allreduce %.3f ms/step in %zu bucket%s (%.1f%% of training time), "
        "%.3f ms/step waited for after the backward\n",
        s.comm->kind(), 1e3 * s.parallel->allreduceSeconds() / r.steps,
        s.parallel->allreduceBuckets(), s.parallel->allreduceBuckets() == 1 ? "" : "s",
        100 * s.parallel->allreduceSeconds() / r.seconds,
        1e3 * s.parallel->allreduceWaitSeconds() / r.steps);
  if (s.comm) {
    // Every rank applied the same averaged updates: their states must still agree bit for bit
    // (a GPU's copied to the host arena first).
    if (!s.device->syncToHost(error) ||
        !checkRanksAgree(s.p, s.arena->data, *s.comm, s.stateHash, error))
      return fail("after training: " + error);
    say("%s: parameters and optimizer state identical on all %lld %s (FNV-1a "
                "%016llx)\n", s.comm->kind(), (long long)s.ranks,
                s.p.stages.empty() ? s.comm->members() : "replicas",
                (unsigned long long)s.stateHash);
  }
  return saveIfAsked(opts, s);
}
} // namespace

int dlc::runPlan(const RunOptions &opts) {
  tlsSilent = opts.silent;
  tlsOneOfDevices = opts.inProcessDevices;
  Session s;
  if (!setUp(opts, s))
    return 1;
  if (opts.validate)
    return opts.eval ? s.runner->validate(*s.p.program("eval"), s.testSet, 1)
                     : s.runner->validate(*s.p.program("train"), s.trainSet,
                                          opts.steps > 0 ? opts.steps : 1);
  int rc = 1;
  TrainResult r;
  if (opts.eval) {
    // With --save: the weights evaluated, e.g. the initial ones (test/parity exports them).
    rc = evaluateOnly(opts, s);
    if (rc == 0)
      rc = saveIfAsked(opts, s);
  }
  else if (opts.steps == 0)
    rc = saveIfAsked(opts, s); // --steps 0 --save FILE: the initial (or --load'ed) state
  else if (train(opts, s, r))
    rc = finish(opts, s, r);
  std::string error;
  if (rc == 0 && s.ownTrace && !s.ownTrace->write(opts.trace, error))
    return fail(error);
  if (opts.deviceTraces && s.comm) {
    // Every device's trace is complete once all are here; the others wait while rank 0 writes.
    std::vector<int32_t> codes(size_t(s.ranks));
    const int32_t mine = rc;
    bool ok = s.comm->allgather(&mine, sizeof mine, codes.data(), error);
    if (ok && s.rank == 0 && std::all_of(codes.begin(), codes.end(), [](int32_t c) { return c == 0; })) {
      std::vector<const device::Trace *> all;
      for (const auto &t : *opts.deviceTraces)
        all.push_back(t.get());
      if (!device::writeTraces(all, opts.trace, error)) {
        fail(error);
        rc = 1;
      }
    }
    int32_t written = rc;
    if (ok && !s.comm->allgather(&written, sizeof written, codes.data(), error))
      rc = rc ? rc : 1;
  }
  return rc;
}
