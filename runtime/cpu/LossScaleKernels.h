//===- LossScaleKernels.h - dynamic loss scaling of mixed-fp16 plans -*- C++ -*-===//
//
// torch.cuda.amp.GradScaler as kernels: the loss gradient is multiplied by the scale before
// the backward pass (so small fp16 gradients do not flush to zero), every fp32 weight
// gradient is divided by it and checked for inf/NaN, the optimizer's updates are skipped for
// a step that found one (the executor's skip_if_nonfinite), and the scale halves after such a
// step or doubles after `interval` good ones (GradScaler: init 65536, growth interval 2000).
// Only CUDA plans of precision mixed-fp16 have these kernels; the CPU versions define the
// semantics (and run on float buffers where a test asks them to).
//
#pragma once

#include <cstddef>
#include <cstdint>

namespace dlc::cpu {

/// The loss-scale state: 4 floats, zeros at the start.
enum LossScaleSlot : size_t {
  kScaleLog2 = 0, // log2(scale) - 16: 0 is GradScaler's initial 65536
  kGoodSteps = 1, // steps since the scale last changed without an inf/NaN
  kFoundInf = 2,  // set by unscale_grad, cleared by loss_scale_update
};

/// The scale a state holds: 2^(16 + state[kScaleLog2]).
float lossScaleOf(const float *state);
/// x[i] *= scale.
void lossScale(size_t n, float *x, const float *state);
/// g[i] /= scale; state[kFoundInf] = 1 if any result is not finite.
void unscaleGrad(size_t n, float *g, float *state);
/// After the step: an inf/NaN halves the scale and resets the count; otherwise the count
/// grows and the scale doubles when it reaches `interval`. Clears the flag.
void lossScaleUpdate(int64_t interval, float *state);

} // namespace dlc::cpu
