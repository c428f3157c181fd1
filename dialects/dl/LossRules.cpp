//===- LossRules.cpp - rules of parameters, the loss, metrics and the optimizer -*- C++ -*-===//
//
// Gradient and kernel lowering (DLInterfaces.td) of dl.param (a parameter's buffer; its
// gradient is what the optimizer consumes), dl.softmax_xent (the loss: autodiff seeds it, so
// its rule starts every backward pass), the regression losses dl.mse and dl.bce_with_logits
// (likewise seeds; their target is data and gets no gradient, as PyTorch's target.detach()),
// dl.accuracy (not differentiated) and dl.sgd_update.
//
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;
namespace plan = dlc::plan;
using plan::KernelKind;

// The parameter's gradient is summed by --dl-autodiff and fed to the optimizer.
LogicalResult ParamOp::buildGradient(GradientBuilder &) { return success(); }
LogicalResult ParamOp::lowerToKernels(KernelBuilder &k) {
  k.parameter(getResult(), getName());
  return success();
}

LogicalResult SoftmaxXentOp::buildGradient(GradientBuilder &g) {
  // Only the loss is differentiated: d(loss)/d(loss) = 1 is folded into the grad op.
  g.accumulate(getLogits(),
               g.builder().create<SoftmaxXentGradOp>(getLoc(), getLogits(), getLabels()));
  return success();
}
/// {rows, classes}: logits [N, T, classes] (a class per position) are N*T rows, so the loss
/// is the mean over every position (F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1))).
static std::vector<int64_t> rowsAndClasses(Value logits) {
  const int64_t classes = shapeOf(logits).back();
  return {numElements(logits) / classes, classes};
}

LogicalResult SoftmaxXentOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::SoftmaxXent, {getLogits(), getLabels()}, rowsAndClasses(getLogits())});
  return success();
}
LogicalResult SoftmaxXentGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this,
         {KernelKind::SoftmaxXentBwd, {getLogits(), getLabels()}, rowsAndClasses(getLogits())});
  return success();
}

// The loss's gradient, 1, is folded into the grad op; the target is treated as a constant.
LogicalResult MseOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(),
                 g.builder().create<MseGradOp>(getLoc(), getInput(), getTarget()));
  return success();
}
LogicalResult MseOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::Mse, {getInput(), getTarget()}, {numElements(getInput())}});
  return success();
}
LogicalResult MseGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::MseBwd, {getInput(), getTarget()}, {numElements(getInput())}});
  return success();
}

LogicalResult BceWithLogitsOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(),
                 g.builder().create<BceWithLogitsGradOp>(getLoc(), getInput(), getTarget()));
  return success();
}
LogicalResult BceWithLogitsOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this,
         {KernelKind::BceWithLogits, {getInput(), getTarget()}, {numElements(getInput())}});
  return success();
}
LogicalResult BceWithLogitsGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this,
         {KernelKind::BceWithLogitsBwd, {getInput(), getTarget()}, {numElements(getInput())}});
  return success();
}

LogicalResult AccuracyOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::Accuracy, {getLogits(), getLabels()}, rowsAndClasses(getLogits())});
  return success();
}

LogicalResult SGDUpdateOp::lowerToKernels(KernelBuilder &k) {
  KernelBuilder::Call c{KernelKind::SgdMomentum,
                        {getParam(), getGrad(), getState()},
                        {numElements(getGrad())},
                        {getLr().convertToFloat(), getMomentum().convertToFloat(),
                         getWeightDecay().convertToFloat()}};
  c.name = "sgd_update@" + getParam().str();
  k.call(*this, c);
  return success();
}
