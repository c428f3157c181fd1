//===- Autodiff.cpp - build the training step by reverse-mode AD -*- C++ -*-===//
//
// Algorithm:
//   1. Clone @forward into @train_step.
//   2. Mark every value that depends on a dl.param (only those need gradients).
//   3. Seed: the loss (result 0: dl.softmax_xent, dl.mse or dl.bce_with_logits) gets its
//      grad op (dl.softmax_xent_grad, ...) for its input; d(loss)/d(loss) = 1 is folded in.
//   4. Visit the cloned ops in reverse; since a value's users all come after it, its gradient
//      is complete when its producer is visited. The producer's gradient rule (its
//      GradientOpInterface, dialects/dl/DLInterfaces.td) emits its gradient ops and adds the
//      contributions to its operands' gradients (dl.add when a value has several users).
//   5. Per trainable parameter: declare its optimizer states (`<name>.momentum`, or
//      `<name>.exp_avg` and `<name>.exp_avg_sq` for Adam) and emit its update (dl.sgd_update,
//      dl.sgd_step or dl.adam_update) right after both the gradient and the last reader of
//      the parameter's value, so that the gradient dies as early as possible and no reader
//      ever sees the updated weights. A scheduled optimizer starts the step with
//      dl.lr_schedule on `@optimizer.state`; with gradient clipping every gradient feeds
//      dl.grad_sumsq as soon as it is complete and the updates wait, after dl.clip_scale, at
//      the end of the step (the global norm needs every gradient first).
//
#include "compiler/Transforms/Passes.h"
#include "runtime/plan/KernelCheck.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"

namespace mlir::dl {
#define GEN_PASS_DEF_AUTODIFF
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::dl

using namespace mlir;
using namespace mlir::dl;

/// Emits the gradient ops of one forward op: its rule (GradientOpInterface, implemented per
/// op family in dialects/dl/*Rules.cpp) when some result has a gradient.
static LogicalResult differentiateOp(Operation *op, GradientBuilder &grads) {
  if (llvm::none_of(op->getResults(), [&](Value r) { return grads.grad(r); }))
    return success(); // nothing downstream of this op reaches the loss
  auto rule = dyn_cast<GradientOpInterface>(op);
  if (!rule)
    return op->emitOpError("has no gradient rule");
  return rule.buildGradient(grads);
}

/// The optimizer's settings, the module's `dl.optimizer` dictionary (set by the importer),
/// with PyTorch's defaults for what it does not say.
class Optimizer {
public:
  Optimizer(OpBuilder &b, DictionaryAttr dict) : b(b), dict(dict) {}
  StringRef type() const {
    auto t = dict ? dict.getAs<StringAttr>("type") : StringAttr();
    return t ? t.getValue() : "sgd";
  }
  FloatAttr f32(StringRef name, float dflt) const {
    auto a = dict ? dict.getAs<FloatAttr>(name) : FloatAttr();
    return b.getF32FloatAttr(a ? a.getValueAsDouble() : dflt);
  }
  IntegerAttr i64(StringRef name, int64_t dflt) const {
    auto a = dict ? dict.getAs<IntegerAttr>(name) : IntegerAttr();
    return b.getI64IntegerAttr(a ? a.getInt() : dflt);
  }
  bool flag(StringRef name) const { return dict && dict.getAs<UnitAttr>(name); }
  /// Constant-lr SGD without clipping or Nesterov: dl.sgd_update, whose kernel (lr an
  /// attribute) is the one plans used before schedules existed, so they train bit for bit
  /// as before.
  bool plainSgd() const {
    return type() == "sgd" && i64("schedule", 0).getInt() == 0 &&
           i64("warmup_steps", 0).getInt() == 0 && !flag("nesterov") &&
           !(f32("clip_grad_norm", 0.f).getValueAsDouble() > 0);
  }

private:
  OpBuilder &b;
  DictionaryAttr dict;
};

namespace {
struct AutodiffPass : public dl::impl::AutodiffBase<AutodiffPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = module.lookupSymbol<func::FuncOp>("forward");
    if (!forward || forward.isExternal()) {
      module.emitError("--dl-autodiff needs a function @forward");
      return signalPassFailure();
    }
    if (auto old = module.lookupSymbol<func::FuncOp>("train_step"))
      old.erase();
    auto step = cast<func::FuncOp>(forward->clone());
    step.setSymName("train_step");
    module.push_back(step);
    useBatchStatistics(step);
    useTrainingDropout(step);
    if (failed(differentiate(module, step)))
      signalPassFailure();
  }

  /// Training normalises with batch statistics (and updates the running ones); the
  /// evaluation step keeps the running statistics.
  static void useBatchStatistics(func::FuncOp step) {
    step.walk([](BatchNormOp bn) {
      OpBuilder b(bn);
      auto train = b.create<BatchNormTrainOp>(bn.getLoc(), bn.getInput(), bn.getGamma(),
                                              bn.getBeta(), bn.getRunningMeanAttr(),
                                              bn.getRunningVarAttr(), bn.getEpsAttr(),
                                              bn.getMomentumAttr(), bn.getReluAttr());
      bn.getResult().replaceAllUsesWith(train.getResult());
      bn.erase();
    });
  }

  /// Dropout drops only while training; the evaluation step keeps the identity.
  static void useTrainingDropout(func::FuncOp step) {
    step.walk([](DropoutOp d) {
      OpBuilder b(d);
      auto train = b.create<DropoutTrainOp>(d.getLoc(), d.getInput(), d.getRateAttr(),
                                            d.getSeedAttr(), d.getStepAttr());
      d.getResult().replaceAllUsesWith(train.getResult());
      d.erase();
    });
  }

  LogicalResult differentiate(ModuleOp module, func::FuncOp step) {
    Block &body = step.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    Operation *lossOp = ret.getNumOperands() ? ret.getOperand(0).getDefiningOp() : nullptr;
    if (!lossOp || !isa<SoftmaxXentOp, MseOp, BceWithLogitsOp>(lossOp))
      return step.emitError("the first result of @forward must be a loss (dl.softmax_xent, "
                            "dl.mse or dl.bce_with_logits)");

    // Values reachable from a parameter are the ones that need gradients.
    DenseSet<Value> needsGrad;
    SmallVector<Operation *> ops;
    for (Operation &op : body.without_terminator()) {
      ops.push_back(&op);
      bool depends = isa<ParamOp>(op) || llvm::any_of(op.getOperands(), [&](Value v) {
                       return needsGrad.contains(v);
                     });
      if (depends)
        for (Value r : op.getResults())
          needsGrad.insert(r);
    }

    OpBuilder b(ret);
    GradientBuilder grads(b, needsGrad);
    Value loss = ret.getOperand(0);
    grads.accumulate(loss, loss); // a marker: the seed is folded into the loss's grad op
    for (Operation *op : llvm::reverse(ops))
      if (failed(differentiateOp(op, grads)))
        return failure();

    // Sum the gradients of every read of each parameter.
    llvm::MapVector<StringAttr, std::pair<Value, SmallVector<ParamOp>>> perParam;
    for (Operation *op : ops) {
      auto p = dyn_cast<ParamOp>(op);
      if (!p)
        continue;
      auto decl = module.lookupSymbol<ParameterOp>(p.getNameAttr());
      if (!decl || decl.getRole() != "weight")
        continue;
      auto &entry = perParam[p.getNameAttr().getAttr()];
      entry.second.push_back(p);
      if (Value g = grads.grad(p.getResult())) {
        // After both addends: a later read's gradient may come earlier in the backward pass
        // (a tied weight: the LM head's gradient before the embedding's).
        Value prev = entry.first;
        Operation *gOp = g.getDefiningOp(), *prevOp = prev ? prev.getDefiningOp() : nullptr;
        b.setInsertionPointAfterValue(prevOp && gOp && gOp->isBeforeInBlock(prevOp) ? prev : g);
        entry.first = prev ? b.create<AddOp>(p.getLoc(), prev, g).getResult() : g;
      }
    }

    auto opt = module->getAttrOfType<DictionaryAttr>("dl.optimizer");
    Optimizer o(b, opt);
    // The optimizer state (step, lr, clip factor) and the step's first kernel.
    const std::string optState = "optimizer.state";
    auto optRef = FlatSymbolRefAttr::get(b.getContext(), optState);
    if (!o.plainSgd()) {
      if (!module.lookupSymbol(optState)) {
        OpBuilder mb(module.getBodyRegion());
        mb.setInsertionPointToStart(module.getBody());
        mb.create<ParameterOp>(module.getLoc(), optState,
                               RankedTensorType::get({int64_t(dlc::plan::kOptStateFloats)},
                                                     mb.getF32Type()),
                               "zeros", 0, 0, "state");
      }
      b.setInsertionPointToStart(&body);
      b.create<LrScheduleOp>(step.getLoc(), optRef, o.i64("schedule", 0),
                             o.i64("warmup_steps", 0), o.i64("step_size", 1),
                             o.i64("total_steps", 0), o.f32("lr", 0.01f), o.f32("gamma", 1.f),
                             o.f32("min_lr", 0.f));
    }
    const bool clip = o.f32("clip_grad_norm", 0.f).getValueAsDouble() > 0;

    for (auto &[name, entry] : perParam) {
      auto [g, reads] = entry;
      if (!g)
        continue; // the parameter does not reach the loss
      auto decl = module.lookupSymbol<ParameterOp>(name);
      auto state = [&](StringRef suffix) {
        std::string stateName = (name.getValue() + suffix).str();
        if (!module.lookupSymbol(stateName)) {
          OpBuilder mb(decl);
          mb.setInsertionPointAfter(decl);
          mb.create<ParameterOp>(decl.getLoc(), stateName, decl.getType(), "zeros", 0, 0,
                                 "state");
        }
        return FlatSymbolRefAttr::get(b.getContext(), stateName);
      };
      if (clip) {
        // Every gradient joins the global norm; the updates wait for all of them.
        b.setInsertionPointAfterValue(g);
        b.create<GradSumSqOp>(decl.getLoc(), g, optRef);
        b.setInsertionPoint(ret);
      } else {
        // After the gradient and after every reader of the old value.
        Operation *last = g.getDefiningOp();
        for (ParamOp read : reads)
          for (Operation *user : read->getUsers())
            if (last->isBeforeInBlock(user))
              last = user;
        b.setInsertionPointAfter(last);
      }
      auto param = FlatSymbolRefAttr::get(name);
      if (o.type() == "adam" || o.type() == "adamw")
        b.create<AdamUpdateOp>(decl.getLoc(), param, g, state(".exp_avg"), state(".exp_avg_sq"),
                               optRef, o.f32("beta1", 0.9f), o.f32("beta2", 0.999f),
                               o.f32("eps", 1e-8f), o.f32("weight_decay", 0.f),
                               b.getBoolAttr(o.type() == "adamw"));
      else if (o.plainSgd())
        b.create<SGDUpdateOp>(decl.getLoc(), param, g, state(".momentum"), o.f32("lr", 0.01f),
                              o.f32("momentum", 0.9f), o.f32("weight_decay", 0.f));
      else
        b.create<SGDStepOp>(decl.getLoc(), param, g, state(".momentum"), optRef,
                            o.f32("momentum", 0.9f), o.f32("weight_decay", 0.f),
                            b.getBoolAttr(o.flag("nesterov")));
    }
    if (clip) {
      // Before the updates, which were inserted before the return.
      Operation *first = ret;
      for (Operation &op : body)
        if (isa<AdamUpdateOp, SGDStepOp>(op)) {
          first = &op;
          break;
        }
      b.setInsertionPoint(first);
      b.create<ClipScaleOp>(step.getLoc(), optRef, o.f32("clip_grad_norm", 1.f));
    }
    return success();
  }
};
} // namespace
