//===- AttentionRules.cpp - rules of the attention core ----------*- C++ -*-===//
//
// Gradient and kernel lowering (DLInterfaces.td) of dl.attention (issue 11). The forward
// kernel writes the merged heads and the softmax probabilities, which the backward kernel
// reads with qkv to produce the gradient of qkv; the projections around it (c_attn, c_proj)
// are ordinary linear layers. Kernel ints: batch, steps, heads, head size, causal. With a
// padding mask the forward is attention_masked_fwd; the backward is the same (the kept
// probabilities are 0 at masked keys, so they carry the mask).
//
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;
using dlc::plan::KernelKind;

namespace {
std::vector<int64_t> attentionInts(Value qkv, int64_t heads, bool causal) {
  auto s = shapeOf(qkv);
  return {s[0], s[1], heads, s[2] / (3 * heads), causal ? 1 : 0};
}
} // namespace

LogicalResult AttentionOp::buildGradient(GradientBuilder &g) {
  Value dy = g.grad(getResult());
  if (!dy || !g.wants(getQkv()))
    return success();
  g.accumulate(getQkv(), g.builder().create<AttentionGradOp>(getLoc(), dy, getQkv(), getProbs(),
                                                             getResult(), getHeads(),
                                                             getCausal()));
  return success();
}
LogicalResult AttentionOp::lowerToKernels(KernelBuilder &k) {
  if (Value mask = getMask())
    k.call(*this, {KernelKind::AttentionMaskedFwd, {getQkv(), mask},
                   attentionInts(getQkv(), getHeads(), getCausal())});
  else
    k.call(*this, {KernelKind::AttentionFwd, {getQkv()},
                   attentionInts(getQkv(), getHeads(), getCausal())});
  return success();
}
LogicalResult AttentionGradOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::AttentionBwd, {getGrad(), getQkv(), getProbs(), getOutput()},
                 attentionInts(getQkv(), getHeads(), getCausal())});
  return success();
}
