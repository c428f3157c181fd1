//===- Compile.cpp - the dlc pipeline: YAML -> plan file ---------*- C++ -*-===//
#include "compiler/Driver/Compile.h"

#include "compiler/Driver/CudaTarget.h"
#include "compiler/Driver/Mem.h"
#include "compiler/Driver/Pipeline.h"
#include "compiler/Advisor/Fit.h"
#include "compiler/Advisor/PipelineSplit.h"
#include "compiler/Hardware/Catalog.h"
#include "compiler/Planning/MicroBatch.h"
#include "compiler/Planning/StagePlacement.h"
#include "runtime/plan/PlanText.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <chrono>

using namespace mlir;
using namespace dlc;

/// Bytes of the trainable parameters: what data placement averages across devices per step.
static constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

/// With `stage`: only the parameters that pipeline stage holds (what its replicas average).
static uint64_t gradientBytes(const plan::Plan &plan, const plan::StageRegion *stage = nullptr) {
  uint64_t bytes = 0;
  for (const plan::Parameter &p : plan.params)
    if (p.trainable &&
        (!stage || (plan.buffers[p.buffer].offset >= stage->persistentOffset &&
                    plan.buffers[p.buffer].offset <
                        stage->persistentOffset + stage->persistentBytes))) {
      uint64_t n = 4;
      for (int64_t d : p.shape)
        n *= uint64_t(d);
      bytes += n;
    }
  return bytes;
}


static bool hasBatchNorm(const plan::Plan &plan) {
  for (const plan::Program &p : plan.programs)
    for (const plan::Kernel &k : p.kernels)
      if (k.kind == plan::KernelKind::BatchNormTrain)
        return true;
  return false;
}

/// The GPU that --gpu names (with --hardware's additions), or null with `error` empty when
/// none was asked for.
static const hw::Gpu *chosenGpu(const CompileOptions &opts, hw::Catalog &catalog,
                                std::string &error) {
  catalog = hw::builtinCatalog();
  if (!opts.hardware.empty() && !hw::loadCatalogFile(opts.hardware, catalog, error))
    return nullptr;
  return opts.gpu.empty() ? nullptr : hw::findGpu(catalog, opts.gpu, error);
}

/// --placement pipeline: the training step's layers split into `stageCount` stages balanced by
/// the roofline time on the --gpu (an A100 when none is named, for the balance only), each
/// stage within the --gpu's memory when one is named; then each device's memory laid out.
static LogicalResult placePipeline(plan::Plan &plan, const CompileOptions &opts, int64_t stageCount,
                                   std::vector<advisor::Stage> &splitStages, std::string &gpuName) {
  hw::Catalog catalog;
  std::string error;
  const hw::Gpu *gpu = chosenGpu(opts, catalog, error);
  if (!error.empty()) {
    llvm::errs() << "dlc: error: " << error << "\n";
    return failure();
  }
  const hw::Gpu *costs = gpu ? gpu : hw::findGpu(catalog, "a100-80gb", error);
  if (!costs) {
    llvm::errs() << "dlc: error: " << error << "\n";
    return failure();
  }
  uint64_t capacity = gpu ? advisor::usableBytes(*gpu) : UINT64_MAX;
  auto split = advisor::assignStages(plan, *costs, int(stageCount), capacity);
  if (!split) {
    llvm::errs() << llvm::formatv("dlc: error: no split of {0}'s layers into {1} stages {2}\n",
                                  plan.model, stageCount,
                                  gpu ? "fits " + gpu->name + " (each stage's parameters, state "
                                                              "and activations)"
                                      : std::string("exists (fewer layers than stages)"));
    return failure();
  }
  splitStages = split->stages;
  gpuName = costs->name;
  std::vector<std::vector<int32_t>> stages = allProgramStages(plan, split->kernelStage);
  if ((opts.microbatches > 1 && !splitMicroBatches(plan, opts.microbatches, stages, error)) ||
      !placeStages(plan, stages, split->names, error)) {
    llvm::errs() << "dlc: error: " << error << "\n";
    return failure();
  }
  for (size_t s = 0; gpu && s < plan.stages.size(); ++s) {
    const plan::StageRegion &r = plan.stages[s];
    if (r.persistentBytes + r.bytes > capacity) {
      llvm::errs() << llvm::formatv("dlc: error: pipeline stage {0} ({1} .. {2}) needs {3:F2} "
                                    "GiB, more than {4}'s usable {5:F2} GiB\n",
                                    s, r.first, r.last, (r.persistentBytes + r.bytes) / kGiB,
                                    gpu->name, capacity / kGiB);
      return failure();
    }
  }
  return success();
}

int dlc::compile(const CompileOptions &opts, llvm::raw_ostream &out) {
  auto t0 = std::chrono::steady_clock::now();
  MLIRContext ctx;
  OneLineDiagnostics diagnostics(ctx);

  ModelConfig config;
  config.limits = opts.limits;
  config.recompute = opts.recompute;
  config.loss = opts.loss;
  OwningOpRef<ModuleOp> module = importAnyModel(ctx, opts.input, config, opts.batch);
  if (!module)
    return 1;
  if (std::string error; !overridePrecision(opts.precision, config, error)) {
    llvm::errs() << "dlc: error: " << error << "\n";
    return 1;
  }
  if (opts.emit == EmitStage::Import) {
    module->print(out);
    return 0;
  }
  int64_t batch = opts.batch > 0 ? opts.batch : config.train.batch;
  // Placement on K devices as S pipeline stages x R data-parallel replicas, S x R = K.
  // data: S = 1, every device runs the whole step on batch/K (the plan is one device's, at
  // its share of the batch). pipeline: the layers split into S stages (--stages, default K),
  // R = K/S replicas of that pipeline each on batch/R (the plan is one replica's). auto: data,
  // unless a --gpu is named and one device's share of the step does not fit it; then the
  // fewest stages S (dividing K) whose split at the replica's batch fits, the remaining
  // devices replicas.
  std::string placement = opts.placement;
  const int64_t K = opts.devices;
  int64_t stages = 1;
  if (K > 1 && placement == "pipeline")
    stages = opts.stages > 0 ? opts.stages : K;
  if (K > 1 && placement == "auto") {
    placement = "data";
    hw::Catalog catalog;
    std::string error;
    const hw::Gpu *gpu = chosenGpu(opts, catalog, error);
    if (!error.empty()) {
      llvm::errs() << "dlc: error: " << error << "\n";
      return 1;
    }
    if (batch % K != 0) {
      placement = "pipeline";
      stages = K;
      if (!opts.quiet)
        out << llvm::formatv("dlc: placement auto: {0} devices do not divide the batch of {1} "
                             "(data placement needs equal shares): pipeline\n",
                             K, batch);
    } else if (gpu) {
      auto share = planAtBatch(*module, config, opts.input, batch / K, opts.fuse, Storage::Gpu);
      if (failed(share))
        return 1;
      const uint64_t capacity = advisor::usableBytes(*gpu);
      if (advisor::planBytes(*share) > capacity) {
        placement = "pipeline";
        stages = K; // when no fewer stages fit: placePipeline says whether K do
        for (int64_t S = 2; S < K; ++S) {
          const int64_t R = K / S;
          if (K % S != 0 || batch % R != 0 || (batch / R) % opts.microbatches != 0)
            continue;
          auto replica = planAtBatch(*module, config, opts.input, batch / R / opts.microbatches,
                                     opts.fuse, Storage::Gpu);
          if (failed(replica))
            return 1;
          if (advisor::assignStages(*replica, *gpu, int(S), capacity)) {
            stages = S;
            break;
          }
        }
        if (!opts.quiet)
          out << llvm::formatv("dlc: placement auto: data placement needs {0:F2} GiB per device "
                               "at batch {1}, more than {2}'s usable {3:F2} GiB: pipeline of "
                               "{4} stages x {5} replica{6} (the fewest stages that fit)\n",
                               advisor::planBytes(*share) / kGiB, batch / K, gpu->name,
                               capacity / kGiB, stages, K / stages, K / stages == 1 ? "" : "s");
      }
    }
    out.flush(); // before any error on stderr
  }
  const bool pipeline = stages > 1;
  const int64_t replicas = K / stages;
  if (replicas > 1 && pipeline && (opts.target == "cuda" || opts.emit == EmitStage::Cuda)) {
    llvm::errs() << "dlc: error: replicas of a pipeline (" << stages << " stages x " << replicas
                 << " replicas) run on CPU devices only so far (dlrun --device "
                    "cpu:0,cpu:1,...); the CUDA target takes a pipeline over all its devices "
                    "(--placement pipeline without --stages) or --placement data\n";
    return 1;
  }
  if (opts.microbatches > 1 && !pipeline) {
    llvm::errs() << "dlc: error: --microbatches splits a pipeline's step; it needs --devices K "
                    "--placement pipeline\n";
    return 1;
  }
  if (replicas > 1 && batch % replicas != 0) {
    if (pipeline)
      llvm::errs() << llvm::formatv("dlc: error: {0} replicas of the {1}-stage pipeline do not "
                                    "divide the batch of {2}: every replica takes an equal "
                                    "share\n",
                                    replicas, stages, batch);
    else
      llvm::errs() << llvm::formatv("dlc: error: --devices {0} does not divide the batch of "
                                    "{1}: data placement gives every device an equal share\n",
                                    K, batch);
    return 1;
  }
  batch /= replicas;
  if (pipeline && batch % opts.microbatches != 0) {
    llvm::errs() << llvm::formatv("dlc: error: --microbatches {0} does not divide the batch of "
                                  "{1}{2}: every micro-batch is an equal share\n",
                                  opts.microbatches, batch,
                                  replicas > 1 ? " (a replica's share)" : "");
    return 1;
  }
  // GPipe: the plan is compiled at the micro-batch, then its programs run it M times
  // (compiler/Planning/MicroBatch.h); `batch` stays the whole step's.
  const int64_t microbatch = pipeline ? batch / opts.microbatches : batch;
  config.train.batch = microbatch;

  // The fit check needs the model as imported (the heuristic counts it, and finding the
  // largest batch that fits recompiles it).
  OwningOpRef<ModuleOp> imported;
  if (!opts.gpu.empty() && !module->lookupSymbol("forward")) {
    llvm::errs() << opts.input << ": error: --gpu checks the training step; this ONNX graph is "
                    "inference only: give --loss softmax_cross_entropy or --loss mse\n";
    return 1;
  }
  if (!opts.gpu.empty())
    imported = cast<ModuleOp>(module->clone());
  PassStage stop = opts.emit == EmitStage::Shapes     ? PassStage::Shapes
                   : opts.emit == EmitStage::Autodiff ? PassStage::Autodiff
                                                      : PassStage::Fused;
  // The CPU runs an LSTM layer as one kernel each way; CUDA code runs its unrolled steps.
  bool cuda = opts.target == "cuda" || opts.emit == EmitStage::Cuda;
  if (failed(runPasses(*module, microbatch, opts.fuse, stop, cuda)))
    return 1;
  if (opts.emit == EmitStage::Shapes || opts.emit == EmitStage::Autodiff ||
      opts.emit == EmitStage::Fused) {
    module->print(out);
    return 0;
  }
  // The CPU computes on float buffers: a mixed-precision model runs there in fp32, and its
  // plan says so (dlrun prints it); a CUDA plan stores its step buffers in 2 bytes.
  RecomputeReport recompute;
  auto built = makePlan(*module, config, opts.input, /*withIR=*/true, &recompute,
                        cuda ? Storage::Gpu : Storage::Cpu);
  if (failed(built))
    return 1;
  plan::Plan &plan = *built;
  plan.train.devices = replicas;
  std::vector<advisor::Stage> splitStages;
  std::string costGpu;
  if (pipeline && failed(placePipeline(plan, opts, stages, splitStages, costGpu)))
    return 1;
  if (!pipeline && !opts.gpu.empty() &&
      failed(checkFits(*imported, config, opts.input, plan,
                       {opts.gpu, opts.hardware, opts.memoryModel, opts.maskElements}, opts.fuse)))
    return 1;
  if (cuda) {
    std::string arch, error;
    if (!chooseCudaArch(opts.arch, opts.gpu, opts.hardware, arch, error) ||
        !checkPrecisionArch(plan.train.precision, arch, error) ||
        !attachCudaCode(plan, arch, opts.emit == EmitStage::Cuda, error)) {
      llvm::errs() << "dlc: error: " << error << "\n";
      return 1;
    }
    if (opts.emit == EmitStage::Cuda) {
      for (const plan::Program &p : plan.programs)
        out << "// ===== program " << p.name << " =====\n" << p.cudaSource;
      return 0;
    }
  }
  if (opts.emit == EmitStage::Kernels) {
    for (const plan::Program &p : plan.programs)
      out << plan::describeProgram(plan, p);
    return 0;
  }
  if (opts.emit == EmitStage::Memory) {
    out << plan::describeMemory(plan);
    return 0;
  }

  std::string output = opts.output;
  if (output.empty())
    output = (llvm::sys::path::stem(opts.input) + ".plan").str();
  std::string error;
  if (!plan::writePlan(plan, output, error)) {
    llvm::errs() << "dlc: error: " << error << "\n";
    return 1;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!opts.quiet) {
    if (plan.target == "cuda")
      out << "dlc: CUDA code for " << plan.arch << " (NVRTC: PTX and CUBIN per program)\n";
    size_t kernels = 0;
    for (const plan::Program &p : plan.programs)
      kernels += p.kernels.size();
    out << llvm::formatv("dlc: wrote {0}: {1} parameters tensors, {2} kernels, batch {3}, "
                         "arena {4:F2} MiB ({5:F2} MiB parameters and state) in {6:F0} ms\n",
                         output, plan.params.size(), kernels, batch,
                         plan.arenaBytes / 1048576.0, plan.persistentBytes / 1048576.0,
                         secs * 1e3);
    if (opts.recompute)
      out << describeRecompute(recompute, plan) << "\n";
    if (replicas > 1 && !pipeline)
      out << llvm::formatv("dlc: placement {0}: {1} devices, each the whole step on batch "
                           "{2} (global batch {3}) in its own {4:F2} MiB arena; gradients "
                           "averaged once per step ({5:F2} MiB)\n",
                           opts.placement == "auto" ? "auto -> data" : "data", opts.devices, batch, batch * opts.devices,
                           plan.arenaBytes / 1048576.0, gradientBytes(plan) / 1048576.0);
    if (pipeline) {
      const char *how = opts.placement == "auto" ? "auto -> pipeline" : "pipeline";
      if (replicas > 1)
        out << llvm::formatv("dlc: placement {0}: {1} devices as {2} data-parallel replicas of "
                             "a pipeline of {3} stages (device r*{3}+s: replica r's stage s), "
                             "each replica on batch {4} of the global {5}{6}; each stage's "
                             "gradients averaged over its {2} devices once per step\n",
                             how, K, replicas, stages, batch, batch * replicas,
                             opts.microbatches > 1
                                 ? llvm::formatv(" as {0} micro-batches of {1}",
                                                 opts.microbatches, microbatch)
                                       .str()
                                 : std::string(" (one micro-batch: the stages run in turn)"));
      else if (opts.microbatches == 1)
        out << llvm::formatv("dlc: placement {0}: {1} devices, the layers in {1} stages, batch "
                             "{2} through them (one micro-batch: the stages run in turn)\n",
                             how, opts.devices, batch);
      else
        out << llvm::formatv("dlc: placement {0}: {1} devices, the layers in {1} stages, batch "
                             "{2} through them as {3} micro-batches of {4} (GPipe: each stage "
                             "runs the forwards 1..{3}, then the backwards {3}..1)\n",
                             how, opts.devices, batch, opts.microbatches, microbatch);
      for (size_t s = 0; s < plan.stages.size(); ++s) {
        const plan::StageRegion &r = plan.stages[s];
        size_t kernels = 0, copies = 0;
        const plan::Program &train = *plan.program("train");
        for (size_t k = 0; k < train.kernels.size(); ++k)
          if (train.kernelStage[k] == int32_t(s)) {
            ++kernels;
            copies += train.kernels[k].kind == plan::KernelKind::Copy;
          }
        const std::string inFlight =
            opts.microbatches > 1
                ? llvm::formatv(" with {0} micro-batches in flight", opts.microbatches).str()
                : std::string();
        std::string who = "device " + std::to_string(s), averaged;
        if (replicas > 1) { // stage s on devices s, S + s, 2S + s, ...
          who = "devices " + std::to_string(s);
          for (int64_t replica = 1; replica < replicas; ++replica)
            who += "," + std::to_string(replica * stages + int64_t(s));
          averaged = llvm::formatv(", {0:F2} MiB of gradients averaged",
                                   gradientBytes(plan, &r) / 1048576.0)
                         .str();
        }
        out << llvm::formatv("dlc:   {0}: {1} .. {2}: {3:F2} MiB{7} ({4:F2} MiB "
                             "parameters and state), {5} training kernels, {6} of them copies "
                             "in{8}\n",
                             who, r.first, r.last, (r.persistentBytes + r.bytes) / 1048576.0,
                             r.persistentBytes / 1048576.0, kernels, copies, inFlight, averaged);
      }
      // GPipe's step, from each stage's roofline time t_s per micro-batch (forward, backward
      // and update at the micro-batch): the first micro-batch crosses every stage (the sum of
      // the t_s), each further one adds the slowest stage's time: sum + (M - 1) x max, which
      // is (M + K - 1) x t for K equal stages, and the stages in turn for M = 1. Device s is
      // busy M x t_s of it; the rest is the bubble (K - 1 / (M + K - 1) for equal stages).
      double slowest = 0, sum = 0;
      for (const advisor::Stage &st : splitStages) {
        slowest = std::max(slowest, st.seconds);
        sum += st.seconds;
      }
      const int64_t M = opts.microbatches, K = stages;
      const double step = sum + double(M - 1) * slowest;
      out << llvm::formatv("dlc:   estimated step on {0}: {1:F3} ms = the stages' {2:F3} ms + "
                           "(M - 1) x the slowest's {3:F3} ms per micro-batch; the devices idle "
                           "{4:F0}% of it (the bubble; the stages in turn: {5:F3} ms)\n",
                           costGpu, step * 1e3, sum * 1e3, slowest * 1e3,
                           step > 0 ? 100.0 * (1.0 - double(M) * sum / (double(K) * step)) : 0.0,
                           double(M) * sum * 1e3);
      if (replicas > 1)
        out << llvm::formatv("dlc:   each device of a replica: its stage's share of the step "
                             "above at batch {0}, then its stage's gradients averaged with the "
                             "{1} other replica{2}'s\n",
                             batch, replicas - 1, replicas == 2 ? "" : "s");
      if (M > 1 && hasBatchNorm(plan))
        out << "dlc: note: batch norm normalizes each micro-batch on its own (as GPipe does), "
               "so the step differs from the whole batch's\n";
    }
  }
  return 0;
}
