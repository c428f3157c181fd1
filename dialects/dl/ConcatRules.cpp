//===- ConcatRules.cpp - rules of concat -*- C++ -*-===//
//
// dl.concat joins rows: with the axis at position k, each operand is [outer][inner] (outer the
// product of the dimensions before k, inner that from k on), and the result's rows are the
// two operands' rows end to end. Its gradient, dl.concat_grad, splits the incoming gradient's
// rows the same way.
//
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;
using dlc::plan::KernelKind;

namespace {
/// {outer, aInner, bInner} for operands `a` and `b` joined along `axis`.
std::vector<int64_t> rows(Value a, Value b, int64_t axis) {
  auto x = shapeOf(a), y = shapeOf(b);
  int64_t outer = 1, aInner = 1, bInner = 1;
  for (int64_t i = 0; i < axis; ++i)
    outer *= x[i];
  for (size_t i = axis; i < x.size(); ++i) {
    aInner *= x[i];
    bInner *= y[i];
  }
  return {outer, aInner, bInner};
}
} // namespace

LogicalResult ConcatOp::buildGradient(GradientBuilder &g) {
  if (!g.wants(getLhs()) && !g.wants(getRhs()))
    return success();
  auto split = g.builder().create<ConcatGradOp>(getLoc(), g.grad(getResult()), getAxisAttr(),
                                                g.builder().getI64IntegerAttr(
                                                    shapeOf(getLhs())[getAxis()]));
  g.accumulate(getLhs(), split.getLhsGrad());
  g.accumulate(getRhs(), split.getRhsGrad());
  return success();
}
LogicalResult ConcatOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::Concat, {getLhs(), getRhs()}, rows(getLhs(), getRhs(), getAxis())});
  return success();
}
LogicalResult ConcatGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::ConcatBwd, {getGrad()},
                 rows(getLhsGrad(), getRhsGrad(), getAxis())});
  return success();
}
