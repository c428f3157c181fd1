//===- RecurrentRules.cpp - rules of the unrolled LSTM ops ------*- C++ -*-===//
//
// Gradient and kernel lowering (DLInterfaces.td) of the ops an unrolled LSTM is made of:
// dl.zeros (the initial state), dl.time_step (one step of the input sequence), dl.lstm_cell
// and its gradient. Backpropagation through time is the cell's rule: c_t's gradient reaches
// step t from step t+1's cell.
//
#include "dialects/dl/DLOps.h"
#include "runtime/plan/KernelCheck.h"

using namespace mlir;
using namespace mlir::dl;
namespace plan = dlc::plan;
using plan::KernelKind;

LogicalResult ZerosOp::buildGradient(GradientBuilder &) { return success(); } // a constant
LogicalResult ZerosOp::lowerToKernels(KernelBuilder &k) {
  // `like` only gives the batch size: it is not an argument, so it need not stay alive.
  k.call(*this, {KernelKind::Zeros, {}, {numElements(getResult())}});
  return success();
}

LogicalResult TimeStepOp::lowerToKernels(KernelBuilder &k) {
  auto x = shapeOf(getInput());
  k.call(*this, {KernelKind::TimeStep, {getInput()}, {x[0], x[1], x[2], int64_t(getStep())}});
  return success();
}

LogicalResult LstmCellOp::buildGradient(GradientBuilder &g) {
  Value dh = g.grad(getH()), dc = g.grad(getC());
  OpBuilder &b = g.builder();
  Location loc = getLoc();
  auto zeros = [&](Value like) {
    return b.create<ZerosOp>(loc, like, shapeOf(like).drop_front()).getResult();
  };
  auto grad = b.create<LstmCellGradOp>(loc, getGates(), getCPrev(), dh ? dh : zeros(getH()),
                                       dc ? dc : zeros(getC()), getForgetBiasAttr());
  g.accumulate(getGates(), grad.getGradGates());
  g.accumulate(getCPrev(), grad.getGradCPrev());
  return success();
}
LogicalResult LstmCellOp::lowerToKernels(KernelBuilder &k) {
  auto s = shapeOf(getCPrev());
  k.call(*this, {KernelKind::LstmCellFwd, {getGates(), getCPrev()}, {s[0], s[1]},
                 {getForgetBias().convertToFloat()}});
  return success();
}
LogicalResult LstmCellGradOp::lowerToKernels(KernelBuilder &k) {
  auto s = shapeOf(getCPrev());
  k.call(*this, {KernelKind::LstmCellBwd, {getGates(), getCPrev(), getGradH(), getGradC()},
                 {s[0], s[1]}, {getForgetBias().convertToFloat()}});
  return success();
}

LogicalResult LstmOp::buildGradient(GradientBuilder &g) {
  if (g.wants(getInput()))
    return emitOpError("has no gradient with respect to its input sequence: an lstm reads the "
                       "model's input (a layer before it would need one)");
  Value dh = g.grad(getH());
  if (!dh || !(g.wants(getWeightIh()) || g.wants(getWeightHh()) || g.wants(getBias())))
    return success();
  auto grad = g.builder().create<LstmGradOp>(getLoc(), getInput(), getWeightHh(), getReserve(), dh,
                                             getForgetBiasAttr());
  g.accumulate(getWeightIh(), grad.getGradWeightIh());
  g.accumulate(getWeightHh(), grad.getGradWeightHh());
  g.accumulate(getBias(), grad.getGradBias());
  return success();
}
LogicalResult LstmOp::lowerToKernels(KernelBuilder &k) {
  auto x = shapeOf(getInput());
  k.call(*this, {KernelKind::LstmSeqFwd, {getInput(), getWeightIh(), getWeightHh(), getBias()},
                 {x[0], x[1], x[2], shapeOf(getH())[1]}, {getForgetBias().convertToFloat()}});
  return success();
}
LogicalResult LstmGradOp::lowerToKernels(KernelBuilder &k) {
  // The kernel spends the reserve (runtime/cpu/RecurrentKernels.h): nothing else may read it.
  if (!getReserve().hasOneUse())
    return emitOpError("writes its gate gradients over the reserve, which must have no other "
                       "reader");
  auto x = shapeOf(getInput());
  const int64_t units = shapeOf(getGradH())[1];
  KernelBuilder::Call call{KernelKind::LstmSeqBwd,
                           {getInput(), getWeightHh(), getReserve(), getGradH()},
                           {x[0], x[1], x[2], units},
                           {getForgetBias().convertToFloat()}};
  call.workspaceBytes = 4 * plan::lstmSequenceWorkspaceFloats(x[0], units);
  k.call(*this, call);
  return success();
}
