//===- FuseEpilogues.cpp - fold bias and relu into their producers -*- C++ -*-===//
//
// Rewrites `relu(bias_add(conv2d(x, w), b))` into `conv2d(x, w, b) {relu}` (and likewise for
// matmul, whose bias is per column), so each layer's output is written once instead of three
// times; `relu(batch_norm(x))` (training or evaluation) into `batch_norm(x) {relu}`. A step folds only when the value it consumes has no other user: in a training step
// the relu's output (read by relu_grad) survives as the fused op's result, while the
// pre-activation values, which nothing else reads, disappear. Both targets implement the
// epilogue (Plan.h: kEpilogueBias, kEpilogueRelu).
//
// Backward, `relu_grad(maxpool2d_grad(dy, y), y)` becomes `maxpool2d_grad(dy, y) {relu}`
// when the pooled value y is the relu's output: the pooling gradient already reads y to
// find each window's maximum, so masking by y > 0 there saves a pass over the activations.
//
// Sums: `relu(add(a, b))` becomes `add_relu(a, b)` (a residual block's output) and
// `relu_grad(add(a, b), y)` becomes `add_relu_grad(a, b, y)` (the gradients of a block's two
// paths meeting at its input), each one elementwise pass instead of two.
//
#include "compiler/Transforms/Passes.h"

namespace mlir::dl {
#define GEN_PASS_DEF_FUSEEPILOGUES
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::dl

using namespace mlir;
using namespace mlir::dl;

namespace {
/// True for a conv2d or matmul whose epilogue can still take `what` ("bias" or "relu").
bool canTake(Operation *op, bool bias) {
  if (!op || !op->hasOneUse())
    return false;
  if (auto c = dyn_cast<Conv2dOp>(op))
    return !c.getRelu() && !(bias && c.getBias());
  if (auto m = dyn_cast<MatmulOp>(op))
    return !m.getRelu() && !(bias && m.getBias());
  return false;
}

void setBias(Operation *op, Value b) {
  if (auto c = dyn_cast<Conv2dOp>(op))
    c.getBiasMutable().assign(b);
  else
    cast<MatmulOp>(op).getBiasMutable().assign(b);
}

/// Makes `bias` available before `producer`: parameter reads (the usual bias) have no
/// operands and are moved up; any other late-defined value blocks the fusion.
bool dominateProducer(Value bias, Operation *producer) {
  Operation *def = bias.getDefiningOp();
  if (!def || def->getBlock() != producer->getBlock() || def->isBeforeInBlock(producer))
    return true;
  if (!isa<ParamOp>(def))
    return false;
  def->moveBefore(producer);
  return true;
}

struct FuseEpiloguesPass : public dl::impl::FuseEpiloguesBase<FuseEpiloguesPass> {
  void runOnOperation() override {
    // Erasing the visited op is allowed during a walk, and it must go at once: the next
    // fold checks that its producer has a single user.
    getOperation().walk([&](Operation *op) {
      if (auto add = dyn_cast<BiasAddOp>(op)) {
        Operation *producer = add.getInput().getDefiningOp();
        // Channels are axis 1 for NCHW conv outputs; the columns of a matmul result are its
        // last axis (1 when 2-D).
        int64_t columns = isa_and_nonnull<MatmulOp>(producer)
                              ? int64_t(shapeOf(add.getInput()).size()) - 1
                              : 1;
        if (int64_t(add.getAxis()) != columns || !canTake(producer, /*bias=*/true) ||
            !dominateProducer(add.getBias(), producer))
          return;
        setBias(producer, add.getBias());
        add.getResult().replaceAllUsesWith(producer->getResult(0));
        add.erase();
      } else if (auto grad = dyn_cast<ReluGradOp>(op)) {
        // The gradients of a residual block's two paths summed at its input, the previous
        // block's relu output: one pass.
        if (auto sum = grad.getGrad().getDefiningOp<AddOp>(); sum && sum->hasOneUse()) {
          OpBuilder b(grad);
          Value dx = b.create<AddReluGradOp>(grad.getLoc(), sum.getLhs(), sum.getRhs(),
                                             grad.getOutput());
          grad.getResult().replaceAllUsesWith(dx);
          grad.erase();
          sum.erase();
          return;
        }
        auto pool = grad.getGrad().getDefiningOp<MaxPool2dGradOp>();
        if (!pool || !pool->hasOneUse() || pool.getRelu() ||
            pool.getInput() != grad.getOutput())
          return;
        pool.setRelu(true);
        grad.getResult().replaceAllUsesWith(pool.getResult());
        grad.erase();
      } else if (auto relu = dyn_cast<ReluOp>(op)) {
        Operation *producer = relu.getInput().getDefiningOp();
        // Batch norm (training or evaluation) whose normalised value only the relu reads: its
        // statistics may have other readers (the backward), its result may not.
        if (isa_and_nonnull<BatchNormTrainOp, BatchNormOp>(producer) &&
            producer->getResult(0).hasOneUse() && !producer->hasAttr("relu")) {
          producer->setAttr("relu", UnitAttr::get(&getContext()));
          relu.getResult().replaceAllUsesWith(producer->getResult(0));
          relu.erase();
          return;
        }
        // A residual block's output: the sum and its relu in one pass.
        if (auto sum = dyn_cast_or_null<AddOp>(producer); sum && sum->hasOneUse()) {
          OpBuilder b(relu);
          Value y = b.create<AddReluOp>(relu.getLoc(), sum.getLhs(), sum.getRhs());
          relu.getResult().replaceAllUsesWith(y);
          relu.erase();
          sum.erase();
          return;
        }
        if (!canTake(producer, /*bias=*/false))
          return;
        producer->setAttr("relu", UnitAttr::get(&getContext()));
        relu.getResult().replaceAllUsesWith(producer->getResult(0));
        relu.erase();
      }
    });
  }
};
} // namespace
