//===- dlrun.cpp - runs a plan: train or evaluate ----------------*- C++ -*-===//
//
// Thin and MLIR-free so it starts in milliseconds: parses flags, checks them against each
// other, joins the other ranks under mpirun and calls dlc::runPlan.
//
#include "runtime/cpu/Parallel.h"
#include "runtime/cuda/CudaDeviceRunner.h"
#include "runtime/device/Profile.h"
#include "runtime/dist/Buckets.h"
#include "runtime/dist/Communicator.h"
#include "runtime/dist/ThreadGroup.h"
#include "runtime/plan/Plan.h"
#include "runtime/train/Infer.h"
#include "runtime/train/Trainer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

static const char *kUsage =
    "usage: dlrun PLAN [options]\n"
    "\n"
    "Runs a plan written by `dlc compile`: trains the model on the data its model file names,\n"
    "evaluating on the test set after each epoch, or evaluates a checkpoint with --eval.\n"
    "\n"
    "options:\n"
    "  --epochs N       train N epochs (default: the model's training.epochs)\n"
    "  --steps N        stop after N training steps (0, with --save: write the initial\n"
    "                   weights without training)\n"
    "  --log-every N    print a progress line every N steps (default: training.log_every)\n"
    "  --loss-digits N  decimals of the loss in the progress lines (default 4; at most 9)\n"
    "  --limit N        use at most N training and N test examples\n"
    "  --save FILE      write a checkpoint of parameters and optimizer state after training;\n"
    "                   FILE.safetensors: PyTorch's names and layouts, optimizer state under\n"
    "                   optim. (safetensors.torch.load_file reads it); else dlc's own format\n"
    "  --load FILE      start from a checkpoint\n"
    "  --eval           evaluate on the test set only (use with --load; with --save,\n"
    "                   writes the weights evaluated, e.g. the initial ones)\n"
    "  --profile        print time per kernel of the training step (of the eval program\n                   with --eval)\n"
    "  --trace FILE     write a Chrome trace (Perfetto, chrome://tracing) of every kernel call\n"
    "                   of the first 50 steps\n"
    "  --device D       cpu (default), cuda or cuda:N (a plan from dlc compile --target cuda),\n"
    "                   or cpu:0,cpu:1,... or cuda:0,cuda:1,... (cuda:all: every GPU) for a\n"
    "                   plan placed on that many devices (dlc compile --devices K): one\n"
    "                   thread, arena and share of each batch per device; GPUs average their\n"
    "                   gradients with NCCL when it is installed\n"
    "  --bucket-mib N   data placement: average gradients in buckets of about N MiB (default\n"
    "                   25, the first 1 MiB; 0: one pack), each bucket's allreduce overlapping\n"
    "                   the rest of the backward (plans without clip_grad_norm)\n"
    "  --validate       with --device cuda[:N]: run one step (the last of --steps N, or an\n"
    "                   eval batch with --eval) kernel by kernel on the GPU and on the CPU\n"
    "                   from the same inputs, print each kernel's error, exit 1 on a mismatch\n"
    "  --threads N      kernel threads (default: 2, or fewer cores if the machine has fewer)\n"
    "  --infer IN.safetensors -o OUT.safetensors\n"
    "                   run the inference program once: the model's inputs from IN's tensors\n"
    "                   of their names, its named outputs written to OUT (with --load,\n"
    "                   --device cpu|cuda[:N] and --threads only)\n"
    "  --quiet          no live progress bar\n"
    "  -h, --help       this text\n"
    "\n"
    "Started by mpirun (mpirun -np N dlrun PLAN ...), the N processes train data-parallel:\n"
    "each takes its share of every global batch of N x the plan's batch, gradients are\n"
    "averaged across them every step; rank 0 prints and saves. With --device cuda each rank\n"
    "takes the GPU of its local rank on its node and the ranks average through NCCL.\n";

/// "cpu:0,cpu:1,...": the CPU devices of a multi-device run, each named once, in order
/// (0, 1, ... K-1), so that device r is rank r. Returns K, or 0 if `d` is not such a list.
static int64_t parseCpuDevices(const std::string &d) {
  int64_t k = 0;
  for (size_t at = 0; at <= d.size(); ++k) {
    size_t end = d.find(',', at);
    if (end == std::string::npos)
      end = d.size();
    if (d.compare(at, end - at, "cpu:" + std::to_string(k)) != 0)
      return 0;
    at = end + 1;
  }
  return k;
}

/// "cpu" -> -1, "cuda" -> 0, "cuda:N" -> N; false for anything else.
static bool parseDevice(const std::string &d, int &ordinal) {
  if (d == "cpu" || d == "cuda") {
    ordinal = d == "cpu" ? -1 : 0;
    return true;
  }
  if (d.rfind("cuda:", 0) != 0 || d.size() == 5 || d.size() > 9 ||
      d.find_first_not_of("0123456789", 5) != std::string::npos)
    return false;
  ordinal = std::atoi(d.c_str() + 5);
  return true;
}

/// "cuda:N,cuda:M,...": the GPUs of a multi-device run, device r the r-th named, each once.
/// Returns their ordinals, or none if `d` is not such a list of two or more.
static std::vector<int> parseCudaDevices(const std::string &d) {
  std::vector<int> ordinals;
  for (size_t at = 0; at <= d.size();) {
    size_t end = d.find(',', at);
    if (end == std::string::npos)
      end = d.size();
    const std::string one = d.substr(at, end - at);
    int ordinal = -1;
    if (one.rfind("cuda:", 0) != 0 || !parseDevice(one, ordinal) ||
        std::find(ordinals.begin(), ordinals.end(), ordinal) != ordinals.end())
      return {};
    ordinals.push_back(ordinal);
    at = end + 1;
  }
  return ordinals.size() > 1 ? ordinals : std::vector<int>();
}

/// This process's rank on its node under mpirun (the variable Open MPI, MPICH or Slurm sets),
/// which picks its GPU; -1 when none is set.
static int localRank() {
  for (const char *var : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MPI_LOCAL_RANK",
                          "SLURM_LOCALID"})
    if (const char *v = std::getenv(var))
      return std::atoi(v);
  return -1;
}

/// The flags that exclude each other; the plan is not needed to know. One line and false on
/// a conflict.
static bool checkOptions(const dlc::RunOptions &opts, bool underMpi) {
  const char *error = nullptr;
  char buf[160];
  if (opts.steps == 0 && opts.save.empty()) {
    error = "--steps 0 trains nothing; give --save FILE to write the initial weights";
  } else if (opts.steps == 0 && (opts.eval || opts.validate)) {
    error = opts.eval ? "--steps 0 and --eval exclude each other (--eval --save also writes the "
                        "initial weights)"
                      : "--validate runs one step; it does not take --steps 0";
  } else if (underMpi && opts.validate) {
    error = "--validate runs on one process; run it without mpirun";
  } else if (opts.validate && opts.cudaOrdinal < 0) {
    error = "--validate compares a GPU's kernels with the CPU's; give --device cuda[:N] (with "
            "--device cpu there is nothing to compare)";
  } else if (opts.validate) {
    const char *conflict = !opts.save.empty()  ? "--save"
                           : opts.profile        ? "--profile"
                           : !opts.trace.empty() ? "--trace"
                           : opts.epochs > 0     ? "--epochs"
                                                 : nullptr;
    if (conflict) {
      std::snprintf(buf, sizeof buf, "--validate runs one step and compares kernels; it does not "
                    "take %s", conflict);
      error = buf;
    }
  }
  if (error)
    std::fprintf(stderr, "dlrun: error: %s\n", error);
  return !error;
}

/// dlrun --infer: runs once on named tensors; the training flags do not apply.
static int runInference(const dlc::RunOptions &opts, const std::string &input,
                        const std::string &output, bool underMpi) {
  const char *conflict = opts.eval               ? "--eval"
                         : opts.steps >= 0        ? "--steps"
                         : opts.epochs > 0        ? "--epochs"
                         : !opts.save.empty()     ? "--save"
                         : opts.validate          ? "--validate"
                         : opts.profile           ? "--profile"
                         : !opts.trace.empty()    ? "--trace"
                         : opts.devices > 1       ? "several --device entries"
                         : underMpi               ? "mpirun"
                                                  : nullptr;
  if (conflict) {
    std::fprintf(stderr, "dlrun: error: --infer runs the model once; it does not take %s\n",
                 conflict);
    return 1;
  }
  if (output.empty()) {
    std::fprintf(stderr, "dlrun: error: --infer needs -o OUT.safetensors for the outputs\n");
    return 1;
  }
  dlc::InferOptions io;
  io.planPath = opts.planPath;
  io.input = input;
  io.output = output;
  io.load = opts.load;
  io.cudaOrdinal = opts.cudaOrdinal;
  io.threads = opts.threads;
  return dlc::inferPlan(io);
}

/// A positive integer, or with `zero` also 0.
static bool parseInt(const char *s, int64_t &out, bool zero = false) {
  char *end;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno == ERANGE || v < (zero ? 0 : 1))
    return false;
  out = v;
  return true;
}

/// --device cpu:0,...,cpu:K-1: runs the plan once per device, each on its own thread, joined
/// by a ThreadGroup; device 0 reports. The exit code is the first failing device's.
/// --device cuda:0,cuda:1,... likewise, device r on GPU `gpus[r]` (its own context and stream).
/// `replicas`: the threads (a plan of pipeline replicas runs one per replica, each driving its
/// pipeline's devices).
static int runOnDevices(dlc::RunOptions opts, const std::vector<int> &gpus, bool underMpi,
                        int64_t replicas) {
  const char *conflict = underMpi ? "mpirun (one device per process)"
                         : opts.threads > 1 && gpus.empty() ? "--threads (each CPU device is one thread)"
                         : opts.validate                    ? "--validate"
                                                            : nullptr;
  if (conflict) {
    std::fprintf(stderr, "dlrun: error: several --device entries do not combine with %s\n",
                 conflict);
    return 1;
  }
  // Every GPU named must exist: one line before any device starts.
  std::string error;
  int count = 0;
  if (!gpus.empty() && !dlc::checkCudaDevices(gpus, count, error)) {
    std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
    return 1;
  }
  dlc::cpu::setThreads(1);
  auto group = dlc::makeThreadGroup(int(replicas));
  std::vector<int> codes(group.size(), 0);
  std::vector<std::thread> threads;
  opts.inProcessDevices = true;
  // --trace: every device records its own; device 0 writes them as one.
  std::vector<std::unique_ptr<dlc::device::Trace>> traces;
  for (size_t r = 0; !opts.trace.empty() && r < group.size(); ++r)
    traces.push_back(std::make_unique<dlc::device::Trace>(dlc::kTraceSteps));
  for (size_t r = 0; r < group.size(); ++r)
    threads.emplace_back([&, r] {
      dlc::RunOptions mine = opts;
      mine.comm = group[r].get();
      mine.deviceTraces = traces.empty() ? nullptr : &traces;
      if (!gpus.empty())
        mine.cudaOrdinal = gpus[r];
      mine.silent = r != 0;
      codes[r] = dlc::runPlan(mine);
      group[r]->finish(codes[r]);
    });
  for (std::thread &t : threads)
    t.join();
  for (int c : codes)
    if (c != 0)
      return c;
  return 0;
}

int main(int argc, char **argv) {
  // Progress lines should reach a pipe (tee, a log file) as they happen.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  dlc::RunOptions opts;
  std::string inferInput, inferOutput, device = "cpu";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char *flag) -> const char * {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "dlrun: error: %s needs a value\n", flag);
        std::exit(1);
      }
      return argv[++i];
    };
    auto intValue = [&](const char *flag, int64_t &out, bool zero = false) {
      const char *v = value(flag);
      if (!parseInt(v, out, zero)) {
        std::fprintf(stderr, "dlrun: error: %s expects a %s integer, got '%s'\n", flag,
                     zero ? "non-negative" : "positive", v);
        std::exit(1);
      }
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--epochs") {
      intValue("--epochs", opts.epochs);
    } else if (a == "--steps") {
      intValue("--steps", opts.steps, true);
    } else if (a == "--log-every") {
      intValue("--log-every", opts.logEvery);
    } else if (a == "--loss-digits") {
      intValue("--loss-digits", opts.lossDigits, true);
      if (opts.lossDigits > 9) {
        std::fprintf(stderr, "dlrun: error: --loss-digits takes 0 to 9, got %lld\n",
                     (long long)opts.lossDigits);
        return 1;
      }
    } else if (a == "--limit") {
      intValue("--limit", opts.limit);
    } else if (a == "--save") {
      opts.save = value("--save");
    } else if (a == "--load") {
      opts.load = value("--load");
    } else if (a == "--eval") {
      opts.eval = true;
    } else if (a == "--profile") {
      opts.profile = true;
    } else if (a == "--trace") {
      opts.trace = value("--trace");
    } else if (a == "--device") {
      device = value("--device");
    } else if (a == "--bucket-mib") {
      const char *v = value("--bucket-mib");
      if (!dlc::parseBucketMiB(v, opts.bucketMiB)) {
        std::fprintf(stderr, "dlrun: error: --bucket-mib expects a number of MiB >= 0 (0: one "
                             "pack), got '%s'\n", v);
        return 1;
      }
    } else if (a == "--validate") {
      opts.validate = true;
    } else if (a == "--threads") {
      intValue("--threads", opts.threads);
    } else if (a == "--quiet") {
      opts.quiet = true;
    } else if (a == "--infer") {
      inferInput = value("--infer");
    } else if (a == "-o" || a == "--output") {
      inferOutput = value("-o");
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "dlrun: error: unknown option '%s' (see dlrun --help)\n", a.c_str());
      return 1;
    } else if (opts.planPath.empty()) {
      opts.planPath = a;
    } else {
      std::fprintf(stderr, "dlrun: error: more than one plan given ('%s')\n", a.c_str());
      return 1;
    }
  }
  if (opts.planPath.empty()) {
    std::fputs(kUsage, stderr);
    return 1;
  }
  std::vector<int> gpus = parseCudaDevices(device); // a list of GPUs
  if (int64_t k = parseCpuDevices(device)) {
    opts.devices = k;
  } else if (!gpus.empty()) {
    opts.devices = int64_t(gpus.size());
    opts.cudaOrdinal = gpus[0];
  } else if (device != "cuda:all" && !parseDevice(device, opts.cudaOrdinal)) {
    std::fprintf(stderr, "dlrun: error: --device must be cpu, cuda, cuda:N, cuda:all or a list "
                 "cpu:0,cpu:1,... (in order) or cuda:N,cuda:M,... (each GPU once), got '%s'\n",
                 device.c_str());
    return 1;
  }
  // Under mpirun: join the other ranks; only rank 0 prints progress (errors go to stderr
  // from any rank).
  std::unique_ptr<dlc::Communicator> comm;
  std::string how, error;
  const bool underMpi = dlc::startedByMpi(how);
  if (underMpi && device.rfind("cuda", 0) == 0 && device != "cuda") {
    std::fprintf(stderr, "dlrun: error: under mpirun every rank takes the GPU of its local rank; "
                 "give --device cuda, not --device %s\n", device.c_str());
    return 1;
  }
  if (device == "cuda:all") { // every GPU: a device list, or one GPU
    int count = 0;
    if (!dlc::checkCudaDevices({}, count, error)) {
      std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
      return 1;
    }
    opts.cudaOrdinal = 0;
    opts.devices = count;
    for (int g = 0; count > 1 && g < count; ++g)
      gpus.push_back(g);
  }
  if (!inferInput.empty())
    return runInference(opts, inferInput, inferOutput, underMpi);
  if (!inferOutput.empty()) {
    std::fprintf(stderr, "dlrun: error: -o names --infer's output; give --infer IN.safetensors\n");
    return 1;
  }
  if (!checkOptions(opts, underMpi))
    return 1;
  if (opts.devices > 1) {
    // A pipeline plan's devices are stages of one step, driven by this one process (the
    // plan's own checks, and their errors, come with runPlan); data placement runs a replica
    // per device.
    dlc::plan::Plan placed;
    std::string ignored;
    const bool read = dlc::plan::readPlan(opts.planPath, placed, ignored);
    if (read && placed.stages.empty() && placed.train.devices != opts.devices)
      return dlc::runPlan(opts); // says in one line that the plan is for another count
    if (!read || placed.stages.empty())
      return runOnDevices(opts, gpus, underMpi, opts.devices);
    // Replicas of a pipeline: a thread each, joined by a ThreadGroup; the gradients they
    // average are every stage's at once (one arena holds a replica's stages).
    if (placed.train.devices > 1) {
      if (int64_t(placed.stages.size()) * placed.train.devices != opts.devices)
        return dlc::runPlan(opts); // the count, in one line
      return runOnDevices(opts, gpus, underMpi, placed.train.devices);
    }
    opts.cudaOrdinals = gpus; // a pipeline on GPUs: stage d on gpus[d]
  }
  if (underMpi) {
    comm = dlc::connectMpi(error);
    if (!comm) {
      std::fprintf(stderr, "dlrun: error: started by mpirun (%s) but %s\n", how.c_str(),
                   error.c_str());
      return 1;
    }
    if (comm->rank() != 0 && !std::freopen("/dev/null", "w", stdout)) {
      std::fprintf(stderr, "dlrun: error: rank %d cannot silence its output\n", comm->rank());
      comm->finish(1);
      return 1;
    }
    opts.comm = comm.get();
    if (opts.cudaOrdinal >= 0 && (opts.cudaOrdinal = localRank()) < 0) {
      std::fprintf(stderr, "dlrun: error: rank %d cannot tell its GPU: none of "
                   "OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, MPI_LOCAL_RANK, SLURM_LOCALID "
                   "is set\n", comm->rank());
      comm->finish(1);
      return 1;
    }
  }
  int rc = dlc::runPlan(opts);
  if (comm)
    comm->finish(rc);
  return rc;
}
