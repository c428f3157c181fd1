//===- ElementwiseRules.cpp - rules of elementwise ops and views -*- C++ -*-===//
//
// Gradient and kernel lowering (DLInterfaces.td) of the elementwise ops (relu, sigmoid,
// add, bias_add, their gradients) and of the views (flatten, reshape), which share their
// operand's buffer and pass gradients through as reshapes.
//
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;
namespace plan = dlc::plan;
using plan::KernelKind;

namespace {
/// The shape of `v` without its batch dimension (a reshape's target).
SmallVector<int64_t> trailingShape(Value v) { return SmallVector<int64_t>(shapeOf(v).drop_front()); }

/// {outer, channels, inner}: the dimensions before `axis`, at it, and after it.
std::vector<int64_t> aroundAxis(Value v, int64_t axis) {
  auto x = shapeOf(v);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i)
    outer *= x[i];
  for (size_t i = axis + 1; i < x.size(); ++i)
    inner *= x[i];
  return {outer, x[axis], inner};
}
} // namespace

LogicalResult ReluOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(), g.builder().create<ReluGradOp>(getLoc(), g.grad(getResult()),
                                                            getResult()));
  return success();
}
LogicalResult ReluOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::Relu, {getInput()}, {numElements(getInput())}});
  return success();
}
LogicalResult ReluGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::ReluBwd, {getGrad(), getOutput()}, {numElements(getGrad())}});
  return success();
}

LogicalResult SigmoidOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(), g.builder().create<SigmoidGradOp>(getLoc(), g.grad(getResult()),
                                                               getResult()));
  return success();
}
LogicalResult SigmoidOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::Sigmoid, {getInput()}, {numElements(getInput())}});
  return success();
}
LogicalResult SigmoidGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::SigmoidBwd, {getGrad(), getOutput()}, {numElements(getGrad())}});
  return success();
}

LogicalResult AddOp::buildGradient(GradientBuilder &g) {
  Value dy = g.grad(getResult());
  g.accumulate(getLhs(), dy);
  g.accumulate(getRhs(), dy);
  return success();
}
LogicalResult AddOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::Add, {getLhs(), getRhs()}, {numElements(getLhs())}});
  return success();
}

LogicalResult AddReluOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::AddRelu, {getLhs(), getRhs()}, {numElements(getLhs())}});
  return success();
}
LogicalResult AddReluGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this,
         {KernelKind::AddReluBwd, {getLhs(), getRhs(), getOutput()}, {numElements(getLhs())}});
  return success();
}

LogicalResult BiasAddOp::buildGradient(GradientBuilder &g) {
  Value dy = g.grad(getResult());
  g.accumulate(getInput(), dy);
  if (g.wants(getBias()))
    g.accumulate(getBias(), g.builder().create<BiasAddGradOp>(getLoc(), dy, getAxis()));
  return success();
}
LogicalResult BiasAddOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::BiasAdd, {getInput(), getBias()}, aroundAxis(getInput(), getAxis())});
  return success();
}
LogicalResult BiasAddGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::BiasAddBwd, {getGrad()}, aroundAxis(getGrad(), getAxis())});
  return success();
}

LogicalResult FlattenOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(), g.builder().create<ReshapeOp>(getLoc(), g.grad(getResult()),
                                                           trailingShape(getInput())));
  return success();
}
LogicalResult FlattenOp::lowerToKernels(KernelBuilder &k) {
  k.view(getResult(), getInput());
  return success();
}

LogicalResult ReshapeOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(), g.builder().create<ReshapeOp>(getLoc(), g.grad(getResult()),
                                                           trailingShape(getInput())));
  return success();
}
LogicalResult ReshapeOp::lowerToKernels(KernelBuilder &k) {
  k.view(getResult(), getInput());
  return success();
}
