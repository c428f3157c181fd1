//===- Pipeline.cpp - the compile pipeline as reusable steps -----*- C++ -*-===//
#include "compiler/Driver/Pipeline.h"

#include "compiler/Lowering/LowerToKernels.h"
#include "compiler/Planning/ArenaLayout.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/dl/DLOps.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

using namespace mlir;
using namespace dlc;

static void printDiagnostic(Diagnostic &d) {
  Location loc = d.getLocation();
  std::string layer;
  if (auto n = dyn_cast<NameLoc>(loc)) {
    layer = n.getName().str();
    loc = n.getChildLoc();
  }
  if (auto f = dyn_cast<FileLineColLoc>(loc))
    llvm::errs() << f.getFilename().getValue() << ":" << f.getLine() << ":" << f.getColumn()
                 << ": ";
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

OneLineDiagnostics::OneLineDiagnostics(MLIRContext &ctx)
    : handler(&ctx, [this](Diagnostic &d) {
        bool isError = d.getSeverity() == DiagnosticSeverity::Error;
        if (!isError || firstError)
          printDiagnostic(d);
        if (isError)
          firstError = false;
        return success();
      }) {
  ctx.printOpOnDiagnostic(false);
  ctx.printStackTraceOnDiagnostic(false);
}

LogicalResult dlc::runPasses(ModuleOp module, int64_t batch, bool fuse, PassStage stop) {
  PassManager pm(module.getContext());
  pm.addPass(dl::createInferShapes(dl::InferShapesOptions{batch}));
  if (stop != PassStage::Shapes)
    pm.addPass(dl::createAutodiff());
  if (stop == PassStage::Fused && fuse)
    pm.addPass(dl::createFuseEpilogues());
  return pm.run(module);
}

FailureOr<plan::Plan> dlc::makePlan(ModuleOp module, const ModelConfig &config,
                                    const std::string &source, bool withIR) {
  plan::Plan plan;
  if (failed(lowerToKernels(module, plan)))
    return failure();
  layoutArena(plan);
  plan.model = config.name;
  plan.source = source;
  plan.train = config.train;
  plan.data = config.data;
  auto fn = module.lookupSymbol<func::FuncOp>("forward");
  auto imageShape = cast<RankedTensorType>(fn.getArgumentTypes()[0]).getShape();
  plan.train.batch = imageShape[0];
  plan.inputShape.assign(imageShape.begin() + 1, imageShape.end());
  for (Operation &op : fn.getBody().front())
    if (auto xent = dyn_cast<dl::SoftmaxXentOp>(op))
      plan.classes = cast<RankedTensorType>(xent.getLogits().getType()).getDimSize(1);
  if (withIR) {
    llvm::raw_string_ostream irs(plan.ir);
    module.print(irs);
  }
  return plan;
}

FailureOr<plan::Plan> dlc::planAtBatch(ModuleOp imported, const ModelConfig &config,
                                       const std::string &source, int64_t batch, bool fuse) {
  OwningOpRef<ModuleOp> module = cast<ModuleOp>(imported->clone());
  if (failed(runPasses(*module, batch, fuse, PassStage::Fused)))
    return failure();
  return makePlan(*module, config, source, /*withIR=*/false);
}
