//===- ActivationRules.cpp - rules of the activation layers, mul, sub, softmax -*- C++ -*-===//
//
// Gradient and kernel lowering (DLInterfaces.td) of the issue-10 layers: tanh, silu, gelu,
// leaky_relu, relu6, hardswish, mul, sub (with neg), softmax, and their gradient ops. Each
// gradient op takes the forward output where the derivative is a function of it (tanh, relu6,
// softmax: the input need not stay alive) and the forward input otherwise.
//
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;
using dlc::plan::KernelKind;

namespace {
/// A one-kernel lowering over every element of `count`'s tensor.
void elementwise(KernelBuilder &k, Operation *op, KernelKind kind,
                 SmallVector<KernelBuilder::Arg> inputs, Value count,
                 std::vector<float> floats = {}) {
  k.call(op, {kind, std::move(inputs), {numElements(count)}, std::move(floats)});
}
} // namespace

// tanh: dx = dy * (1 - y^2).
LogicalResult TanhOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(),
                 g.builder().create<TanhGradOp>(getLoc(), g.grad(getResult()), getResult()));
  return success();
}
LogicalResult TanhOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, KernelKind::Tanh, {getInput()}, getInput());
  return success();
}
LogicalResult TanhGradOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, KernelKind::TanhBwd, {getGrad(), getOutput()}, getGrad());
  return success();
}

// silu, from the input.
LogicalResult SiluOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(),
                 g.builder().create<SiluGradOp>(getLoc(), g.grad(getResult()), getInput()));
  return success();
}
LogicalResult SiluOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, KernelKind::Silu, {getInput()}, getInput());
  return success();
}
LogicalResult SiluGradOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, KernelKind::SiluBwd, {getGrad(), getInput()}, getGrad());
  return success();
}

// gelu, exact or tanh form (two kernel kinds each way), from the input.
LogicalResult GeluOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(), g.builder().create<GeluGradOp>(getLoc(), g.grad(getResult()),
                                                            getInput(), getApproximateTanh()));
  return success();
}
LogicalResult GeluOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, getApproximateTanh() ? KernelKind::GeluTanh : KernelKind::Gelu,
              {getInput()}, getInput());
  return success();
}
LogicalResult GeluGradOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, getApproximateTanh() ? KernelKind::GeluTanhBwd : KernelKind::GeluBwd,
              {getGrad(), getInput()}, getGrad());
  return success();
}

// leaky_relu: the slope is the kernels' float attribute.
LogicalResult LeakyReluOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(), g.builder().create<LeakyReluGradOp>(
                                 getLoc(), g.grad(getResult()), getInput(), getSlopeAttr()));
  return success();
}
LogicalResult LeakyReluOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, KernelKind::LeakyRelu, {getInput()}, getInput(),
              {getSlope().convertToFloat()});
  return success();
}
LogicalResult LeakyReluGradOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, KernelKind::LeakyReluBwd, {getGrad(), getInput()}, getGrad(),
              {getSlope().convertToFloat()});
  return success();
}

// relu6, from the output.
LogicalResult Relu6Op::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(),
                 g.builder().create<Relu6GradOp>(getLoc(), g.grad(getResult()), getResult()));
  return success();
}
LogicalResult Relu6Op::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, KernelKind::Relu6, {getInput()}, getInput());
  return success();
}
LogicalResult Relu6GradOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, KernelKind::Relu6Bwd, {getGrad(), getOutput()}, getGrad());
  return success();
}

// hardswish, from the input.
LogicalResult HardswishOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(), g.builder().create<HardswishGradOp>(getLoc(), g.grad(getResult()),
                                                                 getInput()));
  return success();
}
LogicalResult HardswishOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, KernelKind::Hardswish, {getInput()}, getInput());
  return success();
}
LogicalResult HardswishGradOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, KernelKind::HardswishBwd, {getGrad(), getInput()}, getGrad());
  return success();
}

// mul: da = dy * b, db = dy * a (the mul kernel again).
LogicalResult MulOp::buildGradient(GradientBuilder &g) {
  Value dy = g.grad(getResult());
  if (g.wants(getLhs()))
    g.accumulate(getLhs(), g.builder().create<MulOp>(getLoc(), dy, getRhs()));
  if (g.wants(getRhs()))
    g.accumulate(getRhs(), g.builder().create<MulOp>(getLoc(), dy, getLhs()));
  return success();
}
LogicalResult MulOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, KernelKind::Mul, {getLhs(), getRhs()}, getLhs());
  return success();
}

// sub: da = dy, db = -dy.
LogicalResult SubOp::buildGradient(GradientBuilder &g) {
  Value dy = g.grad(getResult());
  g.accumulate(getLhs(), dy);
  if (g.wants(getRhs()))
    g.accumulate(getRhs(), g.builder().create<NegOp>(getLoc(), dy));
  return success();
}
LogicalResult SubOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, KernelKind::Sub, {getLhs(), getRhs()}, getLhs());
  return success();
}

LogicalResult NegOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(), g.builder().create<NegOp>(getLoc(), g.grad(getResult())));
  return success();
}
LogicalResult NegOp::lowerToKernels(KernelBuilder &k) {
  elementwise(k, *this, KernelKind::Neg, {getInput()}, getInput());
  return success();
}

// softmax over the last axis: the kernels see [rows][cols].
namespace {
std::vector<int64_t> rowsAndCols(Value v) {
  auto shape = shapeOf(v);
  int64_t cols = shape.empty() ? 1 : shape.back();
  return {numElements(v) / cols, cols};
}
} // namespace

LogicalResult SoftmaxOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(),
                 g.builder().create<SoftmaxGradOp>(getLoc(), g.grad(getResult()), getResult()));
  return success();
}
LogicalResult SoftmaxOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::SoftmaxFwd, {getInput()}, rowsAndCols(getInput())});
  return success();
}
LogicalResult SoftmaxGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::SoftmaxBwd, {getGrad(), getOutput()}, rowsAndCols(getGrad())});
  return success();
}
