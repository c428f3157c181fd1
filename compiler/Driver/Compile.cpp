//===- Compile.cpp - the dlc pipeline: YAML -> plan file ---------*- C++ -*-===//
#include "compiler/Driver/Compile.h"

#include "compiler/Import/YamlImporter.h"
#include "compiler/Lowering/LowerToKernels.h"
#include "compiler/Planning/ArenaLayout.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/dl/DLOps.h"
#include "runtime/plan/PlanText.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <chrono>

using namespace mlir;
using namespace dlc;

namespace {
/// Prints each diagnostic as one line: `file:line:col: error: layer 'x': message`.
void printDiagnostic(Diagnostic &d) {
  Location loc = d.getLocation();
  std::string layer;
  if (auto n = dyn_cast<NameLoc>(loc)) {
    layer = n.getName().str();
    loc = n.getChildLoc();
  }
  if (auto f = dyn_cast<FileLineColLoc>(loc))
    llvm::errs() << f.getFilename().getValue() << ":" << f.getLine() << ":" << f.getColumn() << ": ";
  else
    llvm::errs() << "dlc: ";
  switch (d.getSeverity()) {
  case DiagnosticSeverity::Error: llvm::errs() << "error: "; break;
  case DiagnosticSeverity::Warning: llvm::errs() << "warning: "; break;
  default: llvm::errs() << "note: "; break;
  }
  if (!layer.empty())
    llvm::errs() << "layer '" << layer << "': ";
  llvm::errs() << d.str() << "\n";
}
} // namespace

int dlc::compile(const CompileOptions &opts, llvm::raw_ostream &out) {
  auto t0 = std::chrono::steady_clock::now();
  MLIRContext ctx;
  ctx.printOpOnDiagnostic(false);
  ctx.printStackTraceOnDiagnostic(false);
  bool firstError = true;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
    // Only the first error: later ones are usually consequences of it.
    if (d.getSeverity() != DiagnosticSeverity::Error || firstError)
      printDiagnostic(d);
    if (d.getSeverity() == DiagnosticSeverity::Error)
      firstError = false;
    return success();
  });

  ModelConfig config;
  OwningOpRef<ModuleOp> module = importModel(ctx, opts.input, config);
  if (!module)
    return 1;
  if (opts.emit == EmitStage::Import) {
    module->print(out);
    return 0;
  }
  int64_t batch = opts.batch > 0 ? opts.batch : config.train.batch;
  config.train.batch = batch;

  PassManager pm(&ctx);
  pm.addPass(dl::createInferShapes(dl::InferShapesOptions{batch}));
  if (opts.emit != EmitStage::Shapes)
    pm.addPass(dl::createAutodiff());
  if (opts.emit != EmitStage::Shapes && opts.emit != EmitStage::Autodiff && opts.fuse)
    pm.addPass(dl::createFuseEpilogues());
  if (failed(pm.run(*module)))
    return 1;
  if (opts.emit == EmitStage::Shapes || opts.emit == EmitStage::Autodiff ||
      opts.emit == EmitStage::Fused) {
    module->print(out);
    return 0;
  }

  plan::Plan plan;
  if (failed(lowerToKernels(*module, plan)))
    return 1;
  layoutArena(plan);
  plan.model = config.name;
  plan.source = opts.input;
  plan.train = config.train;
  plan.data = config.data;
  auto fn = module->lookupSymbol<func::FuncOp>("forward");
  auto imageShape = cast<RankedTensorType>(fn.getArgumentTypes()[0]).getShape();
  plan.inputShape.assign(imageShape.begin() + 1, imageShape.end());
  for (Operation &op : fn.getBody().front())
    if (auto xent = dyn_cast<dl::SoftmaxXentOp>(op))
      plan.classes = cast<RankedTensorType>(xent.getLogits().getType()).getDimSize(1);
  {
    llvm::raw_string_ostream irs(plan.ir);
    module->print(irs);
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
    size_t kernels = 0;
    for (const plan::Program &p : plan.programs)
      kernels += p.kernels.size();
    out << llvm::formatv("dlc: wrote {0}: {1} parameters tensors, {2} kernels, batch {3}, "
                         "arena {4:F2} MiB ({5:F2} MiB parameters and state) in {6:F0} ms\n",
                         output, plan.params.size(), kernels, batch,
                         plan.arenaBytes / 1048576.0, plan.persistentBytes / 1048576.0,
                         secs * 1e3);
  }
  return 0;
}
