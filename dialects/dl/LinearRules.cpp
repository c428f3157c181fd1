//===- LinearRules.cpp - rules of convolution and matmul --------*- C++ -*-===//
//
// Gradient and kernel lowering (DLInterfaces.td) of dl.conv2d, its two gradient ops and
// dl.matmul, with their fused bias/relu epilogues (which have no gradient rule: the
// epilogues are fused after autodiff).
//
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;
namespace plan = dlc::plan;
using plan::KernelKind;

namespace {
/// A convolution's kernel call: the conv2d_* kinds (and their fast kernels) for one group, no
/// dilation and symmetric padding, as every layer before groups existed; else the
/// conv2d_general_* kinds. x is the input's shape, w the filter's ([k, c/groups, r, s]), y the
/// output's; the workspace is one image's im2col matrix (of one group).
struct ConvCall {
  KernelKind kind;
  std::vector<int64_t> ints;
  uint64_t workspaceBytes;
};
ConvCall convCall(KernelKind simple, KernelKind general, ArrayRef<int64_t> x, ArrayRef<int64_t> w,
                  ArrayRef<int64_t> y, ArrayRef<int64_t> s, ArrayRef<int64_t> p,
                  std::optional<ArrayRef<int64_t>> dilation, std::optional<uint64_t> groups) {
  int64_t g = groups ? int64_t(*groups) : 1;
  int64_t dh = dilation ? (*dilation)[0] : 1, dw = dilation ? (*dilation)[1] : 1;
  int64_t top = p[0], left = p[1], bottom = p.size() == 4 ? p[2] : p[0],
          right = p.size() == 4 ? p[3] : p[1];
  uint64_t scratch = uint64_t(w[1] * w[2] * w[3] * y[2] * y[3]) * 4;
  if (g == 1 && dh == 1 && dw == 1 && top == bottom && left == right)
    return {simple, {x[0], x[1], x[2], x[3], w[0], w[2], w[3], s[0], s[1], top, left}, scratch};
  return {general,
          {x[0], x[1], x[2], x[3], w[0], w[2], w[3], s[0], s[1], top, left, bottom, right, dh, dw,
           g},
          scratch};
}
/// Appends the epilogue bits of a fused conv/matmul to `ints` (when any) and its bias to
/// `trailing`.
void epilogue(Value bias, bool relu, std::vector<int64_t> &ints, SmallVectorImpl<Value> &trailing) {
  int64_t bits = 0;
  if (bias) {
    bits |= plan::kEpilogueBias;
    trailing.push_back(bias);
  }
  if (relu)
    bits |= plan::kEpilogueRelu;
  if (bits)
    ints.push_back(bits);
}
LogicalResult refuseEpilogue(Operation *op) {
  return op->emitOpError("has a fused epilogue; run --dl-autodiff before --dl-fuse-epilogues");
}
} // namespace

LogicalResult Conv2dOp::buildGradient(GradientBuilder &g) {
  if (getBias() || getRelu())
    return refuseEpilogue(*this);
  Value dy = g.grad(getResult()), x = getInput(), w = getFilter();
  auto xs = shapeOf(x), ws = shapeOf(w);
  OpBuilder &b = g.builder();
  if (g.wants(x))
    g.accumulate(x, b.create<Conv2dGradInputOp>(getLoc(), dy, w, ArrayRef<int64_t>{xs[2], xs[3]},
                                                getStride(), getPadding(), getDilationAttr(),
                                                getGroupsAttr()));
  if (g.wants(w))
    g.accumulate(w, b.create<Conv2dGradFilterOp>(getLoc(), dy, x, ArrayRef<int64_t>{ws[2], ws[3]},
                                                 getStride(), getPadding(), getDilationAttr(),
                                                 getGroupsAttr()));
  return success();
}
LogicalResult Conv2dOp::lowerToKernels(KernelBuilder &k) {
  auto x = shapeOf(getInput()), w = shapeOf(getFilter()), y = shapeOf(getResult());
  ConvCall cc = convCall(KernelKind::Conv2dFwd, KernelKind::Conv2dGeneralFwd, x, w, y,
                         getStride(), getPadding(), getDilation(), getGroups());
  KernelBuilder::Call c{cc.kind, {getInput(), getFilter()}, cc.ints};
  c.workspaceBytes = cc.workspaceBytes;
  epilogue(getBias(), getRelu(), c.ints, c.trailing);
  k.call(*this, c);
  return success();
}
LogicalResult Conv2dGradInputOp::lowerToKernels(KernelBuilder &k) {
  auto dy = shapeOf(getGrad()), w = shapeOf(getFilter()), x = shapeOf(getResult());
  ConvCall cc = convCall(KernelKind::Conv2dBwdData, KernelKind::Conv2dGeneralBwdData, x, w, dy,
                         getStride(), getPadding(), getDilation(), getGroups());
  KernelBuilder::Call c{cc.kind, {getGrad(), getFilter()}, cc.ints};
  c.workspaceBytes = cc.workspaceBytes;
  k.call(*this, c);
  return success();
}
LogicalResult Conv2dGradFilterOp::lowerToKernels(KernelBuilder &k) {
  auto dy = shapeOf(getGrad()), x = shapeOf(getInput()), w = shapeOf(getResult());
  ConvCall cc = convCall(KernelKind::Conv2dBwdFilter, KernelKind::Conv2dGeneralBwdFilter, x, w,
                         dy, getStride(), getPadding(), getDilation(), getGroups());
  KernelBuilder::Call c{cc.kind, {getGrad(), getInput()}, cc.ints};
  c.workspaceBytes = cc.workspaceBytes;
  k.call(*this, c);
  return success();
}

LogicalResult MatmulOp::buildGradient(GradientBuilder &g) {
  if (getBias() || getRelu())
    return refuseEpilogue(*this);
  Value dy = g.grad(getResult()), a = getLhs(), w = getRhs();
  bool ta = getTransposeA(), tb = getTransposeB();
  OpBuilder &b = g.builder();
  Location loc = getLoc();
  // C = op(A) op(B): each case below is dC pushed through the transposes.
  if (g.wants(a)) {
    Value da = !ta ? b.create<MatmulOp>(loc, dy, w, Value(), false, !tb).getResult()
                   : b.create<MatmulOp>(loc, w, dy, Value(), tb, true).getResult();
    g.accumulate(a, da);
  }
  if (g.wants(w)) {
    Value dw = !tb ? b.create<MatmulOp>(loc, a, dy, Value(), !ta, false).getResult()
                   : b.create<MatmulOp>(loc, dy, a, Value(), true, ta).getResult();
    g.accumulate(w, dw);
  }
  return success();
}
LogicalResult MatmulOp::lowerToKernels(KernelBuilder &k) {
  // Operands and result of rank > 2 are matrices of their leading dims' product as rows.
  auto a = shapeOf(getLhs()), c = shapeOf(getResult());
  int64_t rows = 1, inner = getTransposeA() ? 1 : a.back();
  for (int64_t d : ArrayRef<int64_t>(c).drop_back())
    rows *= d;
  if (getTransposeA())
    for (int64_t d : ArrayRef<int64_t>(a).drop_back())
      inner *= d;
  KernelBuilder::Call call{KernelKind::Matmul, {getLhs(), getRhs()},
                           {rows, c.back(), inner, getTransposeA() ? 1 : 0,
                            getTransposeB() ? 1 : 0}};
  epilogue(getBias(), getRelu(), call.ints, call.trailing);
  k.call(*this, call);
  return success();
}
