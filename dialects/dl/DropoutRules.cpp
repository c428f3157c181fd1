//===- DropoutRules.cpp - rules of dropout -*- C++ -*-===//
//
// dl.dropout is the identity (a view) where it is written, in @forward, which is what the
// evaluation program runs; --dl-autodiff substitutes dl.dropout_train in the training step.
// The training form's gradient is dl.dropout_grad, followed by dl.increment of the layer's
// counter: forward and backward read the same counter value, the next step a new one. A
// counter per layer keeps the layers independent of each other's order.
//
#include "dialects/dl/DLOps.h"

#include <cmath>

using namespace mlir;
using namespace mlir::dl;
using dlc::plan::KernelKind;

namespace {
/// The kernels' attributes: ints {n, seed, threshold = rate * 2^24}, floats {1 / (1 - rate)}.
KernelBuilder::Call maskCall(KernelKind kind, Value x, StringRef counter, float rate,
                             int64_t seed) {
  auto threshold = int64_t(std::llround(double(rate) * double(1 << 24)));
  return {kind, {x, counter}, {numElements(x), seed, threshold}, {float(1.0 / (1.0 - rate))}};
}
} // namespace

LogicalResult DropoutOp::buildGradient(GradientBuilder &g) {
  // Only in @forward, which is never differentiated; the identity either way.
  if (g.wants(getInput()))
    g.accumulate(getInput(), g.grad(getResult()));
  return success();
}
LogicalResult DropoutOp::lowerToKernels(KernelBuilder &k) {
  k.view(getResult(), getInput());
  return success();
}

LogicalResult DropoutTrainOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    g.accumulate(getInput(), g.builder().create<DropoutGradOp>(getLoc(), g.grad(getResult()),
                                                               getRateAttr(), getSeedAttr(),
                                                               getStepAttr()));
  // Even when nothing before it needs a gradient: the next step must draw a new mask.
  g.builder().create<IncrementOp>(getLoc(), getStepAttr());
  return success();
}
LogicalResult DropoutTrainOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, maskCall(KernelKind::DropoutFwd, getInput(), getStep(),
                         getRate().convertToFloat(), getSeed()));
  return success();
}
LogicalResult DropoutGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, maskCall(KernelKind::DropoutBwd, getGrad(), getStep(),
                         getRate().convertToFloat(), getSeed()));
  return success();
}

LogicalResult IncrementOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::Increment, {getCounter()}, {1}});
  return success();
}
