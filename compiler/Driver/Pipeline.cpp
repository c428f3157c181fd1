//===- Pipeline.cpp - the compile pipeline as reusable steps -----*- C++ -*-===//
#include "compiler/Driver/Pipeline.h"

#include "compiler/Lowering/LowerToKernels.h"
#include "compiler/Planning/ArenaLayout.h"
#include "compiler/Planning/MixedPrecision.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/dl/DLOps.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace dlc;

/// Keeps a diagnostic on one readable line whatever the model file holds: messages quote its
/// names and keys, which may contain newlines or control bytes and be megabytes long.
static std::string oneLine(const std::string &text) {
  constexpr size_t kMaxChars = 1000;
  std::string out;
  for (unsigned char c : text) {
    if (c == '\n')
      out += "\\n";
    else if (c < 0x20 || c == 0x7f)
      out += llvm::formatv("\\x{0:x-2}", unsigned(c)).str();
    else
      out += char(c);
  }
  if (out.size() > kMaxChars)
    out = out.substr(0, kMaxChars / 2) + " [...] " + out.substr(out.size() - kMaxChars / 2);
  return out;
}

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
    llvm::errs() << "layer '" << oneLine(layer) << "': ";
  llvm::errs() << oneLine(d.str()) << "\n";
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

LogicalResult dlc::runPasses(ModuleOp module, int64_t batch, bool fuse, PassStage stop,
                             bool unrollLstm) {
  PassManager pm(module.getContext());
  pm.addPass(dl::createInferShapes(dl::InferShapesOptions{batch}));
  if (unrollLstm)
    pm.addPass(dl::createUnrollLstm());
  // A module with only @infer (an imported inference graph) has nothing to differentiate.
  if (stop != PassStage::Shapes && module.lookupSymbol("forward"))
    pm.addPass(dl::createAutodiff());
  if (stop == PassStage::Fused && fuse)
    pm.addPass(dl::createFuseEpilogues());
  return pm.run(module);
}

/// Refuses, at the layer that asks for it, any tensor of the batched training step above
/// --max-tensor-bytes. The importer checked sizes per example; this is the check with the batch,
/// and it bounds every size the lowering and the arena layout multiply and add.
static LogicalResult checkTensorSizes(ModuleOp module, const ModelLimits &limits,
                                       bool halfFloats) {
  WalkResult r = module.walk([&](Operation *op) {
    for (Type t : op->getResultTypes()) {
      auto rt = dyn_cast<RankedTensorType>(t);
      if (!rt)
        continue;
      std::optional<int64_t> bytes = tensorBytes(rt.getShape(), ShapedType::kDynamic);
      if (bytes && halfFloats && rt.getElementType().isF32())
        *bytes /= 2; // stored in 2 bytes (a step buffer of a mixed precision on a GPU)
      if (bytes && *bytes <= limits.maxTensorBytes)
        continue;
      std::string type;
      llvm::raw_string_ostream os(type);
      os << rt;
      emitError(op->getLoc()) << op->getName() << " result " << type << " needs "
                              << (bytes ? std::to_string(*bytes) : "more than 2^63")
                              << " bytes, more than the limit of " << limits.maxTensorBytes
                              << " (--max-tensor-bytes)";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return failure(r.wasInterrupted());
}

FailureOr<plan::Plan> dlc::makePlan(ModuleOp module, const ModelConfig &config,
                                    const std::string &source, bool withIR,
                                    RecomputeReport *recompute, Storage storage) {
  plan::Plan plan;
  bool half = storage == Storage::Gpu && config.train.precision != plan::Precision::Fp32;
  // The inference program (dlrun --infer) beside train and eval: added here, so that the
  // IR dlc --emit prints stays the training step's.
  PassManager pm(module.getContext());
  pm.addPass(dl::createExtractInference());
  if (failed(pm.run(module)) || failed(checkTensorSizes(module, config.limits, half)) ||
      failed(lowerToKernels(module, plan)))
    return failure();
  if (config.recompute) {
    RecomputeReport report = recomputeBlocks(plan);
    if (recompute)
      *recompute = report;
  }
  plan.train.precision = config.train.precision;
  if (storage == Storage::Gpu)
    applyMixedPrecision(plan);
  layoutArena(plan);
  if (plan.arenaBytes > uint64_t(config.limits.maxPlanBytes)) {
    emitError(module.getLoc()) << "the plan needs " << plan.arenaBytes
                               << " bytes of memory (parameters, state and activations), more "
                                  "than the limit of "
                               << config.limits.maxPlanBytes << " (--max-plan-bytes)";
    return failure();
  }
  for (plan::Parameter &param : plan.params) {
    auto it = config.values.find(param.name);
    if (it != config.values.end())
      param.values = it->second;
  }
  plan.model = config.name;
  plan.source = source;
  plan.train = config.train;
  plan.data = config.data;
  auto fn = module.lookupSymbol<func::FuncOp>("forward");
  if (!fn)
    fn = module.lookupSymbol<func::FuncOp>("infer");
  // Every input has the batch first, but for whole tensors (dl.whole: an imported graph's,
  // its batch fixed at import); the first float input is the one image data feeds.
  plan.train.batch = fn.getNumArguments() == 0 || fn.getArgAttr(0, "dl.whole")
                         ? 1
                         : cast<RankedTensorType>(fn.getArgumentTypes()[0]).getDimSize(0);
  for (auto [i, t] : llvm::enumerate(fn.getArgumentTypes())) {
    auto rt = cast<RankedTensorType>(t);
    if (rt.getElementType().isF32()) {
      bool whole = fn.getArgAttr(i, "dl.whole") != nullptr;
      plan.inputShape.assign(rt.getShape().begin() + (whole ? 0 : 1), rt.getShape().end());
      break;
    }
  }
  for (Operation &op : fn.getBody().front())
    if (auto xent = dyn_cast<dl::SoftmaxXentOp>(op)) {
      auto logits = cast<RankedTensorType>(xent.getLogits().getType());
      plan.classes = logits.getDimSize(logits.getRank() - 1);
    }
  if (withIR) {
    llvm::raw_string_ostream irs(plan.ir);
    module.print(irs);
  }
  return plan;
}

FailureOr<plan::Plan> dlc::planAtBatch(ModuleOp imported, const ModelConfig &config,
                                       const std::string &source, int64_t batch, bool fuse,
                                       Storage storage) {
  OwningOpRef<ModuleOp> module = cast<ModuleOp>(imported->clone());
  if (failed(runPasses(*module, batch, fuse, PassStage::Fused, storage == Storage::Gpu)))
    return failure();
  return makePlan(*module, config, source, /*withIR=*/false, nullptr, storage);
}
