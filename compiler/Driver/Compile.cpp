//===- Compile.cpp - the dlc pipeline: YAML -> plan file ---------*- C++ -*-===//
#include "compiler/Driver/Compile.h"

#include "compiler/Driver/CudaTarget.h"
#include "compiler/Driver/Mem.h"
#include "compiler/Driver/Pipeline.h"
#include "runtime/plan/PlanText.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <chrono>

using namespace mlir;
using namespace dlc;

/// Bytes of the trainable parameters: what data placement averages across devices per step.
static uint64_t gradientBytes(const plan::Plan &plan) {
  uint64_t bytes = 0;
  for (const plan::Parameter &p : plan.params)
    if (p.trainable) {
      uint64_t n = 4;
      for (int64_t d : p.shape)
        n *= uint64_t(d);
      bytes += n;
    }
  return bytes;
}


int dlc::compile(const CompileOptions &opts, llvm::raw_ostream &out) {
  auto t0 = std::chrono::steady_clock::now();
  MLIRContext ctx;
  OneLineDiagnostics diagnostics(ctx);

  ModelConfig config;
  config.limits = opts.limits;
  config.loss = opts.loss;
  OwningOpRef<ModuleOp> module = importAnyModel(ctx, opts.input, config, opts.batch);
  if (!module)
    return 1;
  if (opts.emit == EmitStage::Import) {
    module->print(out);
    return 0;
  }
  int64_t batch = opts.batch > 0 ? opts.batch : config.train.batch;
  // Placement on K devices: data (every device runs the whole step on batch/K) is the only
  // one implemented; auto chooses it. The plan is one device's, at its share of the batch.
  if (opts.devices > 1) {
    if (opts.placement == "pipeline") {
      llvm::errs() << "dlc: error: --placement pipeline is not implemented yet (layers split "
                      "across devices); use --placement data\n";
      return 1;
    }
    if (batch % opts.devices != 0) {
      llvm::errs() << llvm::formatv("dlc: error: --devices {0} does not divide the batch of "
                                    "{1}: data placement gives every device an equal share\n",
                                    opts.devices, batch);
      return 1;
    }
    batch /= opts.devices;
  }
  config.train.batch = batch;

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
  if (failed(runPasses(*module, batch, opts.fuse, stop)))
    return 1;
  if (opts.emit == EmitStage::Shapes || opts.emit == EmitStage::Autodiff ||
      opts.emit == EmitStage::Fused) {
    module->print(out);
    return 0;
  }
  auto built = makePlan(*module, config, opts.input, /*withIR=*/true);
  if (failed(built))
    return 1;
  plan::Plan &plan = *built;
  plan.train.devices = opts.devices;
  if (!opts.gpu.empty() &&
      failed(checkFits(*imported, config, opts.input, plan,
                       {opts.gpu, opts.hardware, opts.memoryModel, opts.maskElements}, opts.fuse)))
    return 1;
  if (opts.target == "cuda" || opts.emit == EmitStage::Cuda) {
    std::string arch, error;
    if (!chooseCudaArch(opts.arch, opts.gpu, opts.hardware, arch, error) ||
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
    if (opts.devices > 1)
      out << llvm::formatv("dlc: placement {0}: {1} devices, each the whole step on batch "
                           "{2} (global batch {3}) in its own {4:F2} MiB arena; gradients "
                           "averaged once per step ({5:F2} MiB)\n",
                           opts.placement == "auto" ? "auto -> data" : "data", opts.devices, batch, batch * opts.devices,
                           plan.arenaBytes / 1048576.0, gradientBytes(plan) / 1048576.0);
  }
  return 0;
}
