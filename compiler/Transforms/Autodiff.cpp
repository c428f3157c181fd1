//===- Autodiff.cpp - build the training step by reverse-mode AD -*- C++ -*-===//
//
// Algorithm:
//   1. Clone @forward into @train_step.
//   2. Mark every value that depends on a dl.param (only those need gradients).
//   3. Seed: the loss (result 0, a dl.softmax_xent) gets dl.softmax_xent_grad for its logits.
//   4. Visit the cloned ops in reverse; since a value's users all come after it, its gradient
//      is complete when its producer is visited. The producer's gradient rule (its
//      GradientOpInterface, dialects/dl/DLInterfaces.td) emits its gradient ops and adds the
//      contributions to its operands' gradients (dl.add when a value has several users).
//   5. Per trainable parameter: declare `<name>.momentum` and emit dl.sgd_update right after
//      both the gradient and the last reader of the parameter's value, so that the gradient
//      dies as early as possible and no reader ever sees the updated weights.
//
#include "compiler/Transforms/Passes.h"

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
                                              bn.getMomentumAttr());
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
    if (ret.getNumOperands() == 0 || !ret.getOperand(0).getDefiningOp<SoftmaxXentOp>())
      return step.emitError("the first result of @forward must be a dl.softmax_xent loss");

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
    grads.accumulate(loss, loss); // a marker: the seed is folded into softmax_xent_grad
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
        b.setInsertionPointAfterValue(g);
        entry.first = entry.first ? b.create<AddOp>(p.getLoc(), entry.first, g).getResult() : g;
      }
    }

    auto opt = module->getAttrOfType<DictionaryAttr>("dl.optimizer");
    auto hyper = [&](StringRef name, float dflt) {
      auto a = opt ? opt.getAs<FloatAttr>(name) : FloatAttr();
      return b.getF32FloatAttr(a ? a.getValueAsDouble() : dflt);
    };
    FloatAttr lr = hyper("lr", 0.01f), mom = hyper("momentum", 0.9f),
              wd = hyper("weight_decay", 0.0f);

    for (auto &[name, entry] : perParam) {
      auto [g, reads] = entry;
      if (!g)
        continue; // the parameter does not reach the loss
      auto decl = module.lookupSymbol<ParameterOp>(name);
      std::string stateName = (name.getValue() + ".momentum").str();
      if (!module.lookupSymbol(stateName)) {
        OpBuilder mb(decl);
        mb.setInsertionPointAfter(decl);
        mb.create<ParameterOp>(decl.getLoc(), stateName, decl.getType(), "zeros", 0, 0, "state");
      }
      // After the gradient and after every reader of the old value.
      Operation *last = g.getDefiningOp();
      for (ParamOp read : reads)
        for (Operation *user : read->getUsers())
          if (last->isBeforeInBlock(user))
            last = user;
      b.setInsertionPointAfter(last);
      b.create<SGDUpdateOp>(decl.getLoc(), FlatSymbolRefAttr::get(name), g,
                            FlatSymbolRefAttr::get(b.getContext(), stateName), lr, mom, wd);
    }
    return success();
  }
};
} // namespace
