//===- EmbeddingRules.cpp - rules of embedding -*- C++ -*-===//
//
// dl.embedding picks rows of its weight by index; with the indices flattened to `rows` entries
// it is one gather of rows x dim values. Its gradient reaches only the weight (indices are
// data): dl.embedding_grad scatter-adds the incoming gradient's rows into a zeroed [vocab, dim].
// dl.position_add adds a [positions, dim] table's first T rows to every sequence [B, T, dim];
// the input's gradient passes through, the table's is dl.position_add_grad, the batch's sum.
//
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;
using dlc::plan::KernelKind;

LogicalResult EmbeddingOp::buildGradient(GradientBuilder &g) {
  if (!g.wants(getWeight()))
    return success();
  const int64_t vocab = shapeOf(getWeight())[0];
  g.accumulate(getWeight(), g.builder().create<EmbeddingGradOp>(
                                getLoc(), getIndices(), g.grad(getResult()),
                                g.builder().getI64IntegerAttr(vocab)));
  return success();
}
LogicalResult EmbeddingOp::lowerToKernels(KernelBuilder &k) {
  auto w = shapeOf(getWeight());
  k.call(*this, {KernelKind::Embedding, {getIndices(), getWeight()},
                 {numElements(getIndices()), w[0], w[1]}});
  return success();
}
LogicalResult EmbeddingGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::EmbeddingBwd, {getIndices(), getGrad()},
                 {numElements(getIndices()), getVocab(), shapeOf(getGrad()).back()}});
  return success();
}

LogicalResult PositionAddOp::buildGradient(GradientBuilder &g) {
  Value dy = g.grad(getResult());
  if (!dy)
    return success();
  if (g.wants(getInput()))
    g.accumulate(getInput(), dy);
  if (g.wants(getTable()))
    g.accumulate(getTable(), g.builder().create<PositionAddGradOp>(
                                 getLoc(), dy, g.builder().getI64IntegerAttr(
                                                   shapeOf(getTable())[0])));
  return success();
}
LogicalResult PositionAddOp::lowerToKernels(KernelBuilder &k) {
  auto x = shapeOf(getInput());
  k.call(*this, {KernelKind::PositionAdd, {getInput(), getTable()},
                 {x[0], x[1], x[2], shapeOf(getTable())[0]}});
  return success();
}
LogicalResult PositionAddGradOp::lowerToKernels(KernelBuilder &k) {
  auto dy = shapeOf(getGrad());
  k.call(*this, {KernelKind::PositionAddBwd, {getGrad()},
                 {dy[0], dy[1], dy[2], int64_t(getPositions())}});
  return success();
}
