//===- OptimizerRules.cpp - kernel lowering of the scheduled optimizers -*- C++ -*-===//
//
// dl.lr_schedule, dl.grad_sumsq, dl.clip_scale, dl.sgd_step and dl.adam_update (not
// differentiated: --dl-autodiff emits them after the gradients). Each is one kernel call on
// the parameters and states it names; their order in the step is their order in the block.
//
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;
using dlc::plan::KernelKind;

static float f32(llvm::APFloat v) { return v.convertToFloat(); }

LogicalResult LrScheduleOp::lowerToKernels(KernelBuilder &k) {
  KernelBuilder::Call c{KernelKind::LrSchedule,
                        {getState()},
                        {int64_t(getSchedule()), int64_t(getWarmupSteps()),
                         int64_t(getStepSize()), int64_t(getTotalSteps())},
                        {f32(getLr()), f32(getGamma()), f32(getMinLr())}};
  c.name = "lr_schedule";
  k.call(*this, c);
  return success();
}

LogicalResult GradSumSqOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::GradSumSq, {getGrad(), getState()}, {numElements(getGrad())}});
  return success();
}

LogicalResult ClipScaleOp::lowerToKernels(KernelBuilder &k) {
  KernelBuilder::Call c{KernelKind::ClipScale, {getState()}, {}, {f32(getMaxNorm())}};
  c.name = "clip_scale";
  k.call(*this, c);
  return success();
}

LogicalResult SGDStepOp::lowerToKernels(KernelBuilder &k) {
  KernelBuilder::Call c{KernelKind::SgdStep,
                        {getParam(), getGrad(), getMomentumBuffer(), getOptState()},
                        {numElements(getGrad()), getNesterov() ? 1 : 0},
                        {f32(getMomentum()), f32(getWeightDecay())}};
  c.name = "sgd_step@" + getParam().str();
  k.call(*this, c);
  return success();
}

LogicalResult AdamUpdateOp::lowerToKernels(KernelBuilder &k) {
  KernelBuilder::Call c{KernelKind::AdamStep,
                        {getParam(), getGrad(), getExpAvg(), getExpAvgSq(), getOptState()},
                        {numElements(getGrad()), getDecoupled() ? 1 : 0},
                        {f32(getBeta1()), f32(getBeta2()), f32(getEps()), f32(getWeightDecay())}};
  c.name = (getDecoupled() ? "adamw_update@" : "adam_update@") + getParam().str();
  k.call(*this, c);
  return success();
}
