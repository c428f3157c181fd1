//===- LossRules.cpp - rules of parameters, the loss, metrics and the optimizer -*- C++ -*-===//
//
// Gradient and kernel lowering (DLInterfaces.td) of dl.param (a parameter's buffer; its
// gradient is what the optimizer consumes), dl.softmax_xent (the loss: autodiff seeds it, so
// its rule starts every backward pass), dl.accuracy (not differentiated) and dl.sgd_update.
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
LogicalResult SoftmaxXentOp::lowerToKernels(KernelBuilder &k) {
  auto l = shapeOf(getLogits());
  k.call(*this, {KernelKind::SoftmaxXent, {getLogits(), getLabels()}, {l[0], l[1]}});
  return success();
}
LogicalResult SoftmaxXentGradOp::lowerToKernels(KernelBuilder &k) {
  auto l = shapeOf(getLogits());
  k.call(*this, {KernelKind::SoftmaxXentBwd, {getLogits(), getLabels()}, {l[0], l[1]}});
  return success();
}

LogicalResult AccuracyOp::lowerToKernels(KernelBuilder &k) {
  auto l = shapeOf(getLogits());
  k.call(*this, {KernelKind::Accuracy, {getLogits(), getLabels()}, {l[0], l[1]}});
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
