//===- Trainer.cpp - the training / evaluation loop of dlrun -----*- C++ -*-===//
//
// The loop only moves data: each step copies one batch into the plan's input buffers, runs
// the train program, and reads the loss and correct-count scalars back. Partial batches are
// dropped, since the plan is compiled for one batch size.
//
// Under mpirun (runtime/dist/DataParallel.h) the plan's batch is each rank's: a step consumes a
// global batch of ranks x batch examples, rank r taking examples [r*batch, (r+1)*batch) of
// it, so N ranks see the examples, in the order, that one process with batch N*batch would.
// Evaluation is sharded the same way and its sums added over the ranks. Rank 0 alone
// prints (dlrun points the others' stdout at /dev/null) and writes files.
//
#include "runtime/train/Trainer.h"

#include "runtime/cpu/CpuDevice.h"
#include "runtime/cuda/CudaDeviceRunner.h"
#include "runtime/train/Checkpoint.h"
#include "runtime/dist/DataParallel.h"
#include "runtime/device/Device.h"
#include "runtime/train/Init.h"
#include "runtime/train/Validate.h"
#include "runtime/cpu/Executor.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/data/Datasets.h"
#include "runtime/plan/Plan.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <numeric>
#include <random>
#include <thread>
#include <unistd.h>

using namespace dlc;

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct AlignedArena {
  uint8_t *data = nullptr;
  explicit AlignedArena(uint64_t bytes) {
    data = static_cast<uint8_t *>(std::aligned_alloc(64, std::max<uint64_t>(64, (bytes + 63) / 64 * 64)));
    if (data)
      std::memset(data, 0, bytes);
  }
  ~AlignedArena() { std::free(data); }
};

bool loadData(const plan::Plan &p, bool train, int64_t limit, data::Dataset &d,
              std::string &error) {
  const plan::DataConfig &c = p.data;
  const auto &files = train ? c.trainFiles : c.testFiles;
  bool ok = true;
  if (c.format == "mnist") {
    ok = data::loadMnist(files.at(0), files.at(1), d, error, limit);
  } else if (c.format == "cifar10") {
    ok = data::loadCifar10(files, d, error, limit);
  } else if (c.format == "synthetic") {
    int64_t n = train ? c.syntheticTrain : c.syntheticTest;
    if (limit > 0)
      n = std::min(n, limit);
    try {
      d = data::synthetic(n, p.inputShape[0], p.inputShape[1], p.inputShape[2], p.classes,
                          p.train.seed + (train ? 1 : 2));
    } catch (const std::exception &e) { // bad_alloc, length_error: a plan not made by this dlc
      error = "data: cannot make " + std::to_string(n) + " synthetic examples of " +
              std::to_string(p.inputShape[0]) + "x" + std::to_string(p.inputShape[1]) + "x" +
              std::to_string(p.inputShape[2]) + ": " + e.what();
      return false;
    }
  } else {
    error = "the plan has no data section; add one to the model file (see docs/model-format.md)";
    return false;
  }
  if (!ok)
    return false;
  // With a crop the model sees cropH x cropW windows of larger images (the compiler made
  // the input shape the crop).
  const bool cropped = c.cropH > 0;
  if (d.channels != p.inputShape[0] ||
      (cropped ? d.height < c.cropH || d.width < c.cropW
               : d.height != p.inputShape[1] || d.width != p.inputShape[2])) {
    error = (files.empty() ? std::string("data") : files[0]) + ": images are " +
            std::to_string(d.channels) + "x" + std::to_string(d.height) + "x" +
            std::to_string(d.width) + " but the model expects " + std::to_string(p.inputShape[0]) +
            "x" + std::to_string(p.inputShape[1]) + "x" + std::to_string(p.inputShape[2]) +
            (cropped ? " crops of them" : "");
    return false;
  }
  if (c.normalize)
    data::normalize(d, c.mean, c.stddev);
  return true;
}

/// Uniform in [0, n) from 32 random bits (multiply-shift: no modulo bias); mt19937_64's
/// output is fixed by the standard, so augmentation repeats on every platform.
int64_t below(std::mt19937_64 &rng, int64_t n) {
  return int64_t(((rng() >> 32) * uint64_t(n)) >> 32);
}

class Runner {
public:
  Runner(const plan::Plan &p, uint8_t *arena, Device &device, Communicator *comm)
      : p(p), arena(arena), device(device), comm(comm),
        ranks(comm ? comm->size() : 1), rank(comm ? comm->rank() : 0),
        augmentRng(p.train.seed ^ 0xC1FA510ull) {}

  /// Copies examples order[first .. first+batch) into the program's inputs in the host arena,
  /// cropped, flipped and standardized as the data section says: training batches
  /// (`train`) at random places and flips, others centre crops, unflipped.
  void load(const plan::Program &prog, const data::Dataset &d, const std::vector<int64_t> &order,
            int64_t first, bool train) {
    int64_t batch = p.train.batch;
    const plan::DataConfig &c = p.data;
    size_t per = size_t(d.channels) * d.height * d.width;
    const int ch = d.channels;
    const int64_t oh = c.cropH > 0 ? c.cropH : d.height, ow = c.cropH > 0 ? c.cropW : d.width;
    const size_t out = size_t(ch) * oh * ow;
    float *x = reinterpret_cast<float *>(arena + p.buffers[prog.images].offset);
    int32_t *y = reinterpret_cast<int32_t *>(arena + p.buffers[prog.labels].offset);
    for (int64_t i = 0; i < batch; ++i) {
      int64_t e = order[first + i];
      const float *src = d.images.data() + e * per;
      float *dst = x + i * out;
      y[i] = d.labels[e];
      if (c.cropH <= 0 && !(train && c.flip)) {
        std::memcpy(dst, src, per * sizeof(float));
      } else {
        int64_t top = (d.height - oh) / 2, left = (d.width - ow) / 2;
        bool flip = false;
        if (train) {
          top = below(augmentRng, d.height - oh + 1);
          left = below(augmentRng, d.width - ow + 1);
          flip = c.flip && (augmentRng() >> 63);
        }
        data::cropImage(src, ch, d.height, d.width, int(top), int(left), int(oh), int(ow), flip,
                        dst);
      }
      if (c.standardize)
        data::standardizeImage(dst, out);
    }
  }

  /// Copies examples order[first .. first+batch) into the program's inputs and runs it.
  bool step(const plan::Program &prog, const data::Dataset &d, const std::vector<int64_t> &order,
            int64_t first, float &loss, float &correct, device::Profile *profile,
            device::Trace *trace, std::string &error) {
    load(prog, d, order, first, &prog == p.program("train"));
    if (!device.run(prog, profile, trace, error))
      return false;
    loss = *reinterpret_cast<float *>(arena + p.buffers[prog.loss].offset);
    correct = prog.correct >= 0 ? *reinterpret_cast<float *>(arena + p.buffers[prog.correct].offset) : 0;
    return true;
  }

  /// Advances the augmentation generator past `examples` training examples' draws, as
  /// load() would make them: a rank skips the other ranks' shards of each global batch, so
  /// its crops and flips are the ones a single process would draw for its examples.
  void skipAugmentation(int64_t examples) {
    const plan::DataConfig &c = p.data;
    if (c.cropH > 0 || c.flip)
      augmentRng.discard(uint64_t(examples) * (c.flip ? 3 : 2)); // top, left[, flip]
  }

  /// Mean loss and accuracy over every whole global batch of `d` (this rank's shard of
  /// each, summed over the ranks).
  std::pair<double, double> evaluate(const data::Dataset &d, int64_t &examples,
                                     device::Trace *trace, std::string &error) {
    const plan::Program *ev = p.program("eval");
    std::vector<int64_t> order(d.count);
    std::iota(order.begin(), order.end(), 0);
    double sums[2] = {0, 0}; // loss over batches, correct examples
    const int64_t batch = p.train.batch, batches = d.count / (batch * ranks);
    for (int64_t b = 0; b < batches; ++b) {
      float l, c;
      if (!step(*ev, d, order, (b * ranks + rank) * batch, l, c, nullptr, trace, error)) {
        examples = -1;
        return {0, 0};
      }
      sums[0] += l;
      sums[1] += c;
    }
    if (comm && !comm->allreduceSum(sums, 2, error)) {
      examples = -1;
      return {0, 0};
    }
    examples = batches * ranks * batch;
    return {batches ? sums[0] / double(batches * ranks) : 0, examples ? sums[1] / examples : 0};
  }

  /// dlrun --validate: `steps` - 1 ordinary steps of `prog` on consecutive batches of `d`,
  /// then the next batch's step kernel by kernel against the CPU. Returns the exit code.
  int validate(const plan::Program &prog, const data::Dataset &d, int64_t steps) {
    std::string error;
    int64_t batch = p.train.batch;
    if (d.count < steps * batch) {
      std::fprintf(stderr, "dlrun: error: --validate needs %lld examples for %lld steps of batch %lld, "
                   "the data has %lld\n", (long long)(steps * batch), (long long)steps,
                   (long long)batch, (long long)d.count);
      return 1;
    }
    std::vector<int64_t> order(d.count);
    std::iota(order.begin(), order.end(), 0);
    for (int64_t s = 0; s + 1 < steps; ++s) {
      float loss, correct;
      if (!step(prog, d, order, s * batch, loss, correct, nullptr, nullptr, error)) {
        std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
        return 1;
      }
    }
    load(prog, d, order, (steps - 1) * batch, &prog == p.program("train"));
    // The reference is the CPU on an arena of its own, written before each call.
    AlignedArena cpuArena(p.arenaBytes);
    if (!cpuArena.data) {
      std::fprintf(stderr, "dlrun: error: cannot allocate the CPU's %.1f MiB arena to validate "
                   "against\n", p.arenaBytes / 1048576.0);
      return 1;
    }
    std::unique_ptr<Device> cpu = makeCpuDevice(p, cpuArena.data);
    int bad = -1;
    for (int32_t id : {prog.images, prog.labels})
      if (!device.write(p.buffers[id].offset, arena + p.buffers[id].offset, p.buffers[id].bytes,
                        error))
        bad = -2;
    if (bad == -1)
      bad = validateAndReport(p, prog, device, *cpu, stdout, error);
    if (bad < 0) {
      std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
      return 1;
    }
    if (bad > 0) {
      std::fprintf(stderr, "dlrun: error: %d of %zu kernel calls of program '%s' do not match "
                   "the CPU on %s\n", bad, prog.kernels.size(), prog.name.c_str(),
                   device.describe().c_str());
      return 1;
    }
    return 0;
  }

private:
  const plan::Plan &p;
  uint8_t *arena;
  Device &device;
  Communicator *comm; // null: a single process
  const int64_t ranks, rank;
  std::mt19937_64 augmentRng; // crop places and flips of training batches
};

void progressBar(int64_t done, int64_t total, double loss, double acc, double exPerSec) {
  const int width = 30;
  int filled = total ? int(width * done / total) : width;
  std::printf("\r  [%.*s%*s] %lld/%lld  loss %.4f  acc %5.1f%%  %8.0f ex/s", filled,
              "==============================", width - filled, "", (long long)done,
              (long long)total, loss, 100 * acc, exPerSec);
  std::fflush(stdout);
}

void printProfile(const plan::Plan &p, const plan::Program &prog, const device::Profile &prof) {
  double total = std::accumulate(prof.seconds.begin(), prof.seconds.end(), 0.0);
  std::vector<size_t> idx(prof.seconds.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return prof.seconds[a] > prof.seconds[b]; });
  std::printf("\nprofile of program '%s' (%lld runs, %.3f s in kernels)\n", prog.name.c_str(),
              (long long)prof.runs, total);
  std::printf("  %-34s %-18s %8s %10s %7s %9s\n", "kernel", "kind", "calls", "total ms", "share",
              "GFLOP/s");
  for (size_t i : idx) {
    const plan::Kernel &k = prog.kernels[i];
    double s = prof.seconds[i];
    std::printf("  %-34s %-18s %8lld %10.1f %6.1f%% %9.2f\n", k.name.c_str(),
                plan::kernelKindName(k.kind), (long long)prof.runs, s * 1e3,
                total > 0 ? 100 * s / total : 0, s > 0 ? k.flops * prof.runs / s / 1e9 : 0);
  }
  (void)p;
}
} // namespace

int dlc::runPlan(const RunOptions &opts) {
  auto t0 = Clock::now();
  plan::Plan p;
  std::string error;
  if (!plan::readPlan(opts.planPath, p, error)) {
    std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
    return 1;
  }
  // Kernel programs are target-independent: a CUDA plan also runs on the CPU.
  int ordinal = -1;
  if (opts.device.rfind("cuda", 0) == 0) {
    std::string rest = opts.device.substr(4);
    ordinal = rest.empty() ? 0 : rest[0] == ':' ? std::atoi(rest.c_str() + 1) : -1;
    if (ordinal < 0 || (rest.size() > 1 && rest.find_first_not_of("0123456789", 1) != std::string::npos)) {
      std::fprintf(stderr, "dlrun: error: --device must be cpu, cuda or cuda:N, got '%s'\n",
                   opts.device.c_str());
      return 1;
    }
  } else if (opts.device != "cpu") {
    std::fprintf(stderr, "dlrun: error: --device must be cpu, cuda or cuda:N, got '%s'\n",
                 opts.device.c_str());
    return 1;
  }
  Communicator *comm = opts.comm;
  const int64_t ranks = comm ? comm->size() : 1, rank = comm ? comm->rank() : 0;
  if (comm && (ordinal >= 0 || opts.validate)) {
    std::fprintf(stderr, "dlrun: error: multi-process training (mpirun) runs on the CPU only "
                         "for now; drop %s\n", opts.validate ? "--validate" : "--device");
    return 1;
  }
  if (opts.validate) {
    const char *conflict = !opts.save.empty()  ? "--save"
                           : opts.profile        ? "--profile"
                           : !opts.trace.empty() ? "--trace"
                           : opts.epochs > 0     ? "--epochs"
                                                 : nullptr;
    if (ordinal < 0) {
      std::fprintf(stderr, "dlrun: error: --validate compares a GPU's kernels with the CPU's; "
                           "give --device cuda[:N] (with --device cpu there is nothing to "
                           "compare)\n");
      return 1;
    }
    if (conflict) {
      std::fprintf(stderr, "dlrun: error: --validate runs one step and compares kernels; it "
                           "does not take %s\n", conflict);
      return 1;
    }
  }
  const plan::Program *train = p.program("train"), *eval = p.program("eval");
  if (!eval || (!opts.eval && !train)) {
    std::fprintf(stderr, "dlrun: error: %s: plan has no %s program\n", opts.planPath.c_str(),
                 eval ? "train" : "eval");
    return 1;
  }
  AlignedArena arena(p.arenaBytes);
  if (!arena.data) {
    std::fprintf(stderr, "dlrun: error: cannot allocate the %.1f MiB arena\n",
                 p.arenaBytes / 1048576.0);
    return 1;
  }
  initParameters(p, arena.data);
  if (!opts.load.empty() && !loadCheckpoint(p, arena.data, opts.load, error)) {
    std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
    return 1;
  }
  std::unique_ptr<Device> device;
  DataParallelDevice *parallel = nullptr;
  if (comm && train) {
    auto dp = makeDataParallelCpuDevice(p, arena.data, *comm, error);
    parallel = dp.get();
    device = std::move(dp);
  } else {
    device = ordinal < 0 ? makeCpuDevice(p, arena.data)
                         : makeCudaDevice(p, arena.data, ordinal, error);
  }
  if (!device) {
    std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
    return 1;
  }
  int64_t threads = opts.threads;
  if (threads <= 0) // ranks on one machine share its cores
    threads = std::min<int64_t>(kDefaultThreads,
                                std::max<int64_t>(1, std::thread::hardware_concurrency() /
                                                         (comm ? comm->localSize() : 1)));
  cpu::setThreads(int(threads));
  double setup = since(t0);
  std::printf("dlrun: %s (%s, batch %lld, %zu parameters tensors, arena %llu bytes = %.2f MiB, "
              "%lld threads) loaded in %.0f ms\n",
              p.model.c_str(), device->describe().c_str(), (long long)p.train.batch, p.params.size(),
              (unsigned long long)p.arenaBytes, p.arenaBytes / 1048576.0, (long long)threads,
              setup * 1e3);
  uint64_t stateHash = 0;
  if (comm) {
    if (!checkRanksAgree(p, arena.data, *comm, stateHash, error)) {
      std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
      return 1;
    }
    std::printf("mpi: %lld ranks x batch %lld = global batch %lld; rank r trains on examples "
                "[r*%lld, (r+1)*%lld) of each; %zu floats (gradients, loss, correct) averaged "
                "by one MPI_Allreduce per step\n",
                (long long)ranks, (long long)p.train.batch, (long long)(ranks * p.train.batch),
                (long long)p.train.batch, (long long)p.train.batch,
                parallel ? parallel->allreduceFloats() : size_t(0));
  }

  auto td = Clock::now();
  data::Dataset trainSet, testSet;
  if ((!opts.eval && !loadData(p, true, opts.limit, trainSet, error)) ||
      !loadData(p, false, opts.limit, testSet, error)) {
    std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
    return 1;
  }
  std::string augment;
  if (p.data.cropH > 0)
    augment += ", " + std::to_string(p.data.cropH) + "x" + std::to_string(p.data.cropW) +
               " crops (random for training, centred for testing)";
  if (p.data.flip)
    augment += ", random left-right flips";
  if (p.data.standardize)
    augment += ", per-image standardization";
  std::printf("data: %s, %lld train / %lld test examples%s (%.2f s)\n", p.data.format.c_str(),
              (long long)trainSet.count, (long long)testSet.count, augment.c_str(), since(td));

  Runner runner(p, arena.data, *device, comm);
  if (opts.validate)
    return opts.eval ? runner.validate(*eval, testSet, 1)
                     : runner.validate(*train, trainSet, opts.steps > 0 ? opts.steps : 1);
  // A step trains on a global batch; rank 0 reports for all of it.
  const int64_t batch = p.train.batch * ranks;
  std::unique_ptr<device::Trace> trace;
  if (!opts.trace.empty() && rank == 0)
    trace = std::make_unique<device::Trace>(kTraceSteps);
  auto writeTrace = [&] {
    if (trace && !trace->write(opts.trace, error)) {
      std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
      return false;
    }
    return true;
  };
  if (opts.eval) {
    auto te = Clock::now();
    int64_t n;
    auto [loss, acc] = runner.evaluate(testSet, n, trace.get(), error);
    if (n < 0) {
      std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
      return 1;
    }
    double s = since(te);
    std::printf("test: loss %.4f  accuracy %.2f%%  (%lld examples, %.0f ex/s, %.3f ms/batch)\n",
                loss, 100 * acc, (long long)n, s > 0 ? n / s : 0,
                n ? 1e3 * s * batch / n : 0.0);
    return writeTrace() ? 0 : 1;
  }

  int64_t perEpoch = trainSet.count / batch;
  if (perEpoch == 0) {
    std::fprintf(stderr, "dlrun: error: %lld training examples do not fill one batch of %lld\n",
                 (long long)trainSet.count, (long long)batch);
    return 1;
  }
  int64_t epochs = opts.epochs > 0 ? opts.epochs : p.train.epochs;
  int64_t totalSteps = opts.steps > 0 ? opts.steps : epochs * perEpoch;
  epochs = (totalSteps + perEpoch - 1) / perEpoch;
  int64_t logEvery = opts.logEvery > 0 ? opts.logEvery : p.train.logEvery;
  // mpirun gives ranks a pseudo-terminal even when its own output goes to a file.
  bool tty = !opts.quiet && !comm && isatty(fileno(stdout));
  device::Profile profile;

  std::mt19937_64 shuffle(p.train.seed ^ 0x5DEECE66Dull);
  std::vector<int64_t> order(trainSet.count);
  std::iota(order.begin(), order.end(), 0);
  int64_t stepsDone = 0;
  double trainSeconds = 0, lastTestAcc = 0;
  std::printf("training: %lld epochs x %lld steps, lr %g, momentum %g\n", (long long)epochs,
              (long long)perEpoch, p.train.lr, p.train.momentum);
  for (int64_t epoch = 1; epoch <= epochs && stepsDone < totalSteps; ++epoch) {
    std::shuffle(order.begin(), order.end(), shuffle);
    double sumLoss = 0, sumCorrect = 0, winLoss = 0, winCorrect = 0;
    int64_t epochSteps = 0, winSteps = 0;
    auto te = Clock::now(), tw = Clock::now();
    for (int64_t s = 0; s < perEpoch && stepsDone < totalSteps; ++s) {
      float loss, correct;
      runner.skipAugmentation(rank * p.train.batch);
      if (!runner.step(*train, trainSet, order, s * batch + rank * p.train.batch, loss, correct,
                       opts.profile ? &profile : nullptr, trace.get(), error)) {
        std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
        return 1;
      }
      runner.skipAugmentation((ranks - 1 - rank) * p.train.batch);
      ++stepsDone, ++epochSteps, ++winSteps;
      sumLoss += loss, sumCorrect += correct, winLoss += loss, winCorrect += correct;
      if (!std::isfinite(loss)) {
        std::printf("\n");
        std::fprintf(stderr, "dlrun: error: loss became %f at step %lld; lower the learning rate\n",
                     loss, (long long)stepsDone);
        return 1;
      }
      if (tty)
        progressBar(s + 1, perEpoch, sumLoss / epochSteps, sumCorrect / (epochSteps * batch),
                    epochSteps * batch / since(te));
      if (stepsDone % logEvery == 0) {
        double w = since(tw);
        if (tty)
          std::printf("\r\033[K");
        std::printf("epoch %lld step %lld  loss %.4f  train acc %5.2f%%  %.0f ex/s  %.2f ms/batch\n",
                    (long long)epoch, (long long)stepsDone, winLoss / winSteps,
                    100 * winCorrect / (winSteps * batch), winSteps * batch / w,
                    1e3 * w / winSteps);
        winLoss = winCorrect = 0;
        winSteps = 0;
        tw = Clock::now();
      }
    }
    double es = since(te);
    trainSeconds += es;
    if (tty)
      std::printf("\r\033[K");
    int64_t n;
    auto [testLoss, testAcc] = runner.evaluate(testSet, n, trace.get(), error);
    if (n < 0) {
      std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
      return 1;
    }
    lastTestAcc = testAcc;
    std::printf("epoch %lld done: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% | %.1f s, %.0f ex/s\n",
                (long long)epoch, sumLoss / epochSteps, 100 * sumCorrect / (epochSteps * batch),
                testLoss, 100 * testAcc, es, epochSteps * batch / es);
    std::fflush(stdout);
  }
  std::printf("summary: %lld steps in %.2f s: %.1f steps/s, %.0f examples/s, %.3f ms/batch; "
              "test accuracy %.2f%%\n",
              (long long)stepsDone, trainSeconds, stepsDone / trainSeconds,
              stepsDone * batch / trainSeconds, 1e3 * trainSeconds / stepsDone, 100 * lastTestAcc);
  if (opts.profile)
    printProfile(p, *train, profile);
  if (parallel && stepsDone > 0)
    std::printf("mpi: gradient allreduce %.3f ms/step (%.1f%% of training time)\n",
                1e3 * parallel->allreduceSeconds() / stepsDone,
                100 * parallel->allreduceSeconds() / trainSeconds);
  if (comm) {
    // Every rank applied the same averaged updates: their states must still agree bit for bit.
    if (!checkRanksAgree(p, arena.data, *comm, stateHash, error)) {
      std::fprintf(stderr, "dlrun: error: after training: %s\n", error.c_str());
      return 1;
    }
    std::printf("mpi: parameters and optimizer state identical on all %lld ranks (FNV-1a "
                "%016llx)\n", (long long)ranks, (unsigned long long)stateHash);
  }
  if (!writeTrace())
    return 1;
  if (!opts.save.empty() && rank == 0) {
    if (!device->syncToHost(error) || !saveCheckpoint(p, arena.data, opts.save, error)) {
      std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
      return 1;
    }
    std::printf("saved checkpoint %s\n", opts.save.c_str());
  }
  return 0;
}
