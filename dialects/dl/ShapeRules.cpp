//===- ShapeRules.cpp - rules of layer_norm and transpose --------*- C++ -*-===//
//
// Gradient and kernel lowering (DLInterfaces.td) of the transformer building blocks of
// issue 10. dl.layer_norm normalises the rows of its input's last axis: the kernels see
// [rows][d] with rows the product of the other dimensions, and the forward kernel saves each
// row's mean and rstd for the backward one. dl.transpose's kernel takes the
// shape padded in front to 6 axes and the permutation shifted to match; its gradient is the
// transpose by the inverse permutation.
//
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;
using dlc::plan::KernelKind;

namespace {
/// {rows, d} of a tensor normalised over its last axis.
std::vector<int64_t> rowsOf(Value x) {
  auto s = shapeOf(x);
  int64_t rows = 1;
  for (int64_t d : s.drop_back())
    rows *= d;
  return {rows, s.back()};
}
} // namespace

LogicalResult LayerNormOp::buildGradient(GradientBuilder &g) {
  Value dy = g.grad(getResult());
  if (!dy || (!g.wants(getInput()) && !g.wants(getWeight()) && !g.wants(getBias())))
    return success();
  auto grad = g.builder().create<LayerNormGradOp>(getLoc(), getInput(), dy, getWeight(),
                                                  getMean(), getRstd());
  g.accumulate(getInput(), grad.getGradInput());
  g.accumulate(getWeight(), grad.getGradWeight());
  g.accumulate(getBias(), grad.getGradBias());
  return success();
}
LogicalResult LayerNormOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::LayerNormFwd, {getInput(), getWeight(), getBias()},
                 rowsOf(getInput()), {getEps().convertToFloat()}});
  return success();
}
LogicalResult LayerNormGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::LayerNormBwd,
                 {getInput(), getGrad(), getWeight(), getMean(), getRstd()},
                 rowsOf(getInput())});
  return success();
}

LogicalResult TransposeOp::buildGradient(GradientBuilder &g) {
  if (!g.wants(getInput()))
    return success();
  ArrayRef<int64_t> perm = getPerm();
  SmallVector<int64_t> inverse(perm.size());
  for (size_t j = 0; j < perm.size(); ++j)
    inverse[perm[j]] = int64_t(j);
  g.accumulate(getInput(),
               g.builder().create<TransposeOp>(getLoc(), g.grad(getResult()), inverse));
  return success();
}
LogicalResult TransposeOp::lowerToKernels(KernelBuilder &k) {
  auto x = shapeOf(getInput());
  ArrayRef<int64_t> perm = getPerm();
  const int64_t pad = 6 - int64_t(x.size());
  std::vector<int64_t> ints(12);
  for (int64_t j = 0; j < 6; ++j) {
    ints[j] = j < pad ? 1 : x[j - pad];
    ints[6 + j] = j < pad ? j : perm[j - pad] + pad;
  }
  k.call(*this, {KernelKind::Transpose, {getInput()}, ints});
  return success();
}
