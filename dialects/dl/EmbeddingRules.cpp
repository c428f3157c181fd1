//===- EmbeddingRules.cpp - rules of embedding -*- C++ -*-===//
//
// dl.embedding picks rows of its weight by index; with the indices flattened to `rows` entries
// it is one gather of rows x dim values. Its gradient reaches only the weight (indices are
// data): dl.embedding_grad scatter-adds the incoming gradient's rows into a zeroed [vocab, dim].
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
