//===- Autodiff.cpp - build the training step by reverse-mode AD -*- C++ -*-===//
//
// Algorithm:
//   1. Clone @forward into @train_step.
//   2. Mark every value that depends on a dl.param (only those need gradients).
//   3. Seed: the loss (result 0, a dl.softmax_xent) gets dl.softmax_xent_grad for its logits.
//   4. Visit the cloned ops in reverse; since a value's users all come after it, its gradient
//      is complete when its producer is visited. Emit the producer's gradient ops and add the
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

namespace {
class GradBuilder {
public:
  GradBuilder(OpBuilder &b, const DenseSet<Value> &needsGrad) : b(b), needsGrad(needsGrad) {}

  /// Adds `g` to the gradient of `v` (ignored when `v` needs none).
  void accumulate(Value v, Value g) {
    if (!needsGrad.contains(v))
      return;
    Value &slot = grads[v];
    slot = slot ? b.create<AddOp>(g.getLoc(), slot, g).getResult() : g;
  }
  Value grad(Value v) const { return grads.lookup(v); }
  bool wants(Value v) const { return needsGrad.contains(v); }

  /// Emits the gradient ops of one forward op. Fails on an op it has no rule for.
  LogicalResult visit(Operation *op);

private:
  OpBuilder &b;
  const DenseSet<Value> &needsGrad;
  DenseMap<Value, Value> grads;
};
} // namespace

static SmallVector<int64_t> trailingShape(Value v) {
  return SmallVector<int64_t>(cast<RankedTensorType>(v.getType()).getShape().drop_front());
}

LogicalResult GradBuilder::visit(Operation *op) {
  Location loc = op->getLoc();
  if (isa<ParamOp, AccuracyOp, ZerosOp>(op))
    return success();
  if (auto xent = dyn_cast<SoftmaxXentOp>(op)) {
    // Only the loss is differentiated: d(loss)/d(loss) = 1 is folded into the grad op.
    if (xent.getResult().use_empty() || !grads.count(xent.getResult()))
      return success();
    accumulate(xent.getLogits(),
               b.create<SoftmaxXentGradOp>(loc, xent.getLogits(), xent.getLabels()));
    return success();
  }
  // Fused epilogues have no gradient rules: differentiate first, then fuse.
  if ((isa<Conv2dOp>(op) && (cast<Conv2dOp>(op).getBias() || cast<Conv2dOp>(op).getRelu())) ||
      (isa<MatmulOp>(op) && (cast<MatmulOp>(op).getBias() || cast<MatmulOp>(op).getRelu())))
    return op->emitOpError("has a fused epilogue; run --dl-autodiff before --dl-fuse-epilogues");
  if (auto bn = dyn_cast<BatchNormTrainOp>(op)) {
    Value dy = grad(bn.getResult());
    if (!dy)
      return success();
    auto g = b.create<BatchNormGradOp>(loc, bn.getInput(), dy, bn.getGamma(), bn.getMean(),
                                       bn.getInvStd());
    accumulate(bn.getInput(), g.getGradInput());
    accumulate(bn.getGamma(), g.getGradGamma());
    accumulate(bn.getBeta(), g.getGradBeta());
    return success();
  }
  if (auto cell = dyn_cast<LstmCellOp>(op)) {
    // Backpropagation through time: c_t's gradient reaches this step from step t+1's cell.
    Value dh = grad(cell.getH()), dc = grad(cell.getC());
    if (!dh && !dc)
      return success();
    auto zeros = [&](Value like) {
      auto s = cast<RankedTensorType>(like.getType()).getShape();
      return b.create<ZerosOp>(loc, like, s.drop_front()).getResult();
    };
    auto g = b.create<LstmCellGradOp>(loc, cell.getGates(), cell.getCPrev(),
                                      dh ? dh : zeros(cell.getH()), dc ? dc : zeros(cell.getC()),
                                      cell.getForgetBiasAttr());
    accumulate(cell.getGates(), g.getGradGates());
    accumulate(cell.getCPrev(), g.getGradCPrev());
    return success();
  }
  Value dy = op->getNumResults() == 1 ? grad(op->getResult(0)) : Value();
  if (!dy)
    return success(); // nothing downstream of this op reaches the loss

  if (auto relu = dyn_cast<ReluOp>(op)) {
    if (wants(relu.getInput()))
      accumulate(relu.getInput(), b.create<ReluGradOp>(loc, dy, relu.getResult()));
  } else if (auto bias = dyn_cast<BiasAddOp>(op)) {
    accumulate(bias.getInput(), dy);
    if (wants(bias.getBias()))
      accumulate(bias.getBias(), b.create<BiasAddGradOp>(loc, dy, bias.getAxis()));
  } else if (auto add = dyn_cast<AddOp>(op)) {
    accumulate(add.getLhs(), dy);
    accumulate(add.getRhs(), dy);
  } else if (auto mm = dyn_cast<MatmulOp>(op)) {
    Value a = mm.getLhs(), w = mm.getRhs();
    bool ta = mm.getTransposeA(), tb = mm.getTransposeB();
    // C = op(A) op(B): each case below is dC pushed through the transposes.
    if (wants(a)) {
      Value da = !ta ? b.create<MatmulOp>(loc, dy, w, Value(), false, !tb).getResult()
                     : b.create<MatmulOp>(loc, w, dy, Value(), tb, true).getResult();
      accumulate(a, da);
    }
    if (wants(w)) {
      Value dw = !tb ? b.create<MatmulOp>(loc, a, dy, Value(), !ta, false).getResult()
                     : b.create<MatmulOp>(loc, dy, a, Value(), true, ta).getResult();
      accumulate(w, dw);
    }
  } else if (auto fl = dyn_cast<FlattenOp>(op)) {
    if (wants(fl.getInput()))
      accumulate(fl.getInput(), b.create<ReshapeOp>(loc, dy, trailingShape(fl.getInput())));
  } else if (auto rs = dyn_cast<ReshapeOp>(op)) {
    if (wants(rs.getInput()))
      accumulate(rs.getInput(), b.create<ReshapeOp>(loc, dy, trailingShape(rs.getInput())));
  } else if (auto conv = dyn_cast<Conv2dOp>(op)) {
    Value x = conv.getInput(), w = conv.getFilter();
    auto xs = cast<RankedTensorType>(x.getType()).getShape();
    auto ws = cast<RankedTensorType>(w.getType()).getShape();
    if (wants(x))
      accumulate(x, b.create<Conv2dGradInputOp>(loc, dy, w, ArrayRef<int64_t>{xs[2], xs[3]},
                                                conv.getStride(), conv.getPadding()));
    if (wants(w))
      accumulate(w, b.create<Conv2dGradFilterOp>(loc, dy, x, ArrayRef<int64_t>{ws[2], ws[3]},
                                                 conv.getStride(), conv.getPadding()));
  } else if (auto pool = dyn_cast<AvgPool2dOp>(op)) {
    if (wants(pool.getInput())) {
      auto xs = cast<RankedTensorType>(pool.getInput().getType()).getShape();
      accumulate(pool.getInput(),
                 b.create<AvgPool2dGradOp>(loc, dy, ArrayRef<int64_t>{xs[2], xs[3]},
                                           pool.getKernel(), pool.getStride(),
                                           pool.getPadding()));
    }
  } else if (auto lrn = dyn_cast<LrnOp>(op)) {
    if (wants(lrn.getInput()))
      accumulate(lrn.getInput(),
                 b.create<LrnGradOp>(loc, dy, lrn.getInput(), lrn.getResult(),
                                     lrn.getDepthRadiusAttr(), lrn.getBiasAttr(),
                                     lrn.getAlphaAttr(), lrn.getBetaAttr()));
  } else if (auto pool = dyn_cast<MaxPool2dOp>(op)) {
    if (wants(pool.getInput()))
      accumulate(pool.getInput(),
                 b.create<MaxPool2dGradOp>(loc, dy, pool.getInput(), pool.getKernel(),
                                           pool.getStride(), pool.getPadding()));
  } else {
    return op->emitOpError("has no gradient rule");
  }
  return success();
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
    GradBuilder grads(b, needsGrad);
    Value loss = ret.getOperand(0);
    grads.accumulate(loss, loss); // a marker: the seed is folded into softmax_xent_grad
    for (Operation *op : llvm::reverse(ops))
      if (failed(grads.visit(op)))
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
