//===- PoolingRules.cpp - rules of max and average pooling ------*- C++ -*-===//
//
// Gradient and kernel lowering (DLInterfaces.td) of dl.maxpool2d, dl.avgpool2d and their
// gradient ops (maxpool2d_grad may carry a fused relu from --dl-fuse-epilogues).
//
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;
namespace plan = dlc::plan;
using plan::KernelKind;

namespace {
std::vector<int64_t> poolInts(ArrayRef<int64_t> x, ArrayRef<int64_t> k, ArrayRef<int64_t> s,
                              ArrayRef<int64_t> p) {
  return {x[0], x[1], x[2], x[3], k[0], k[1], s[0], s[1], p[0], p[1]};
}
} // namespace

LogicalResult MaxPool2dOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(),
                 g.builder().create<MaxPool2dGradOp>(getLoc(), g.grad(getResult()), getInput(),
                                                     getKernel(), getStride(), getPadding()));
  return success();
}
LogicalResult MaxPool2dOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::MaxPoolFwd, {getInput()},
                 poolInts(shapeOf(getInput()), getKernel(), getStride(), getPadding())});
  return success();
}
LogicalResult MaxPool2dGradOp::lowerToKernels(KernelBuilder &k) {
  auto ints = poolInts(shapeOf(getInput()), getKernel(), getStride(), getPadding());
  if (getRelu())
    ints.push_back(plan::kEpilogueRelu);
  k.call(*this, {KernelKind::MaxPoolBwd, {getInput(), getGrad()}, ints});
  return success();
}

LogicalResult AvgPool2dOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput())) {
    auto xs = shapeOf(getInput());
    g.accumulate(getInput(), g.builder().create<AvgPool2dGradOp>(
                                 getLoc(), g.grad(getResult()), ArrayRef<int64_t>{xs[2], xs[3]},
                                 getKernel(), getStride(), getPadding()));
  }
  return success();
}
LogicalResult AvgPool2dOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::AvgPoolFwd, {getInput()},
                 poolInts(shapeOf(getInput()), getKernel(), getStride(), getPadding())});
  return success();
}
LogicalResult AvgPool2dGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::AvgPoolBwd, {getGrad()},
                 poolInts(shapeOf(getResult()), getKernel(), getStride(), getPadding())});
  return success();
}
