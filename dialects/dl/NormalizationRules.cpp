//===- NormalizationRules.cpp - rules of batch norm and LRN -----*- C++ -*-===//
//
// Gradient and kernel lowering (DLInterfaces.td) of batch normalisation (dl.batch_norm for
// evaluation; dl.batch_norm_train, which --dl-autodiff substitutes in the training step, and
// its gradient) and of local response normalisation. The running statistics are module
// parameters the kernels read (evaluation) or update (training) by symbol.
//
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;
namespace plan = dlc::plan;
using plan::KernelKind;

namespace {
/// n, c and the product of the remaining dimensions, for per-channel kernels.
std::vector<int64_t> normInts(Value x) {
  auto s = shapeOf(x);
  int64_t hw = 1;
  for (size_t i = 2; i < s.size(); ++i)
    hw *= s[i];
  return {s[0], s[1], hw};
}

/// n, c, h*w and the window radius of local response normalisation.
std::vector<int64_t> lrnInts(Value x, int64_t radius) {
  auto v = normInts(x);
  v.push_back(radius);
  return v;
}
} // namespace

LogicalResult BatchNormOp::lowerToKernels(KernelBuilder &k) {
  std::vector<int64_t> ints = normInts(getInput());
  if (getRelu())
    ints.push_back(plan::kEpilogueRelu);
  k.call(*this, {KernelKind::BatchNormEval,
                 {getInput(), getGamma(), getBeta(), getRunningMean(), getRunningVar()},
                 ints,
                 {getEps().convertToFloat()}});
  return success();
}

LogicalResult BatchNormTrainOp::buildGradient(GradientBuilder &g) {
  Value dy = g.grad(getResult());
  if (!dy)
    return success(); // only the statistics reach the loss: they are constants here
  auto grad = g.builder().create<BatchNormGradOp>(getLoc(), getInput(), dy, getGamma(),
                                                  getMean(), getInvStd());
  g.accumulate(getInput(), grad.getGradInput());
  g.accumulate(getGamma(), grad.getGradGamma());
  g.accumulate(getBeta(), grad.getGradBeta());
  return success();
}
LogicalResult BatchNormTrainOp::lowerToKernels(KernelBuilder &k) {
  std::vector<int64_t> ints = normInts(getInput());
  if (getRelu())
    ints.push_back(plan::kEpilogueRelu);
  k.call(*this, {KernelKind::BatchNormTrain,
                 {getInput(), getGamma(), getBeta(), getRunningMean(), getRunningVar()},
                 ints,
                 {getEps().convertToFloat(), getMomentum().convertToFloat()}});
  return success();
}
LogicalResult BatchNormGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::BatchNormBwd,
                 {getInput(), getGrad(), getGamma(), getMean(), getInvStd()},
                 normInts(getInput())});
  return success();
}

LogicalResult LrnOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(), g.builder().create<LrnGradOp>(
                                 getLoc(), g.grad(getResult()), getInput(), getResult(),
                                 getDepthRadiusAttr(), getBiasAttr(), getAlphaAttr(),
                                 getBetaAttr()));
  return success();
}
LogicalResult LrnOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::LrnFwd, {getInput()}, lrnInts(getInput(), getDepthRadius()),
                 {getBias().convertToFloat(), getAlpha().convertToFloat(),
                  getBeta().convertToFloat()}});
  return success();
}
LogicalResult LrnGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::LrnBwd, {getInput(), getOutput(), getGrad()},
                 lrnInts(getInput(), getDepthRadius()),
                 {getBias().convertToFloat(), getAlpha().convertToFloat(),
                  getBeta().convertToFloat()}});
  return success();
}
