// CPU kernels of the scheduled optimizers: the learning-rate schedule, global-norm gradient
// clipping, SGD (momentum, Nesterov, weight decay) and Adam/AdamW, with PyTorch's update
// rules (torch.optim.SGD, Adam, AdamW and torch.nn.utils.clip_grad_norm_).
//
// The per-step scalars live in one small model-state buffer, the optimizer's `state`
// (kOptState* below), so they are computed inside the plan, saved in checkpoints and read by
// every update kernel of the step: lr_schedule counts the step and writes its learning rate,
// grad_sumsq/clip_scale turn the gradients' global norm into a scale factor, and the update
// kernels read all three. (The constant-lr SGD of sgd_momentum needs none of this and keeps
// its own kernel, so existing plans train bit for bit as before.)
#pragma once
#include "runtime/plan/KernelCheck.h"

#include <cstddef>
#include <cstdint>

namespace dlc::cpu {

/// The optimizer state buffer: the step count t (1 on the first step; exact as a float up to
/// 2^24 steps), the step's learning rate, the sum of the squares of every gradient, and the
/// factor the gradients are multiplied by (clip_grad_norm's, 1 without clipping).
enum OptStateSlot { kOptStep = 0, kOptLr = 1, kOptSumSq = 2, kOptClip = 3 };
static_assert(plan::kOptStateFloats == 4, "the slots above");

/// Schedule types of lr_schedule's first int attribute.
enum class Schedule : int64_t { Constant = 0, Step = 1, Cosine = 2, Linear = 3 };

/// The learning rate of step t (1-based) of a schedule: linear warm-up over the first
/// `warmup` steps (lr * t / warmup), then, with u = t - warmup - 1 steps after it:
/// constant lr; step lr * gamma^floor(u / stepSize); cosine minLr + (lr - minLr) *
/// (1 + cos(pi * p)) / 2; linear lr + (minLr - lr) * p, where p = min(u / (total - warmup), 1).
double scheduledLr(Schedule type, int64_t warmup, int64_t stepSize, int64_t total, double lr,
                   double gamma, double minLr, double t);

/// Starts a step: t += 1, lr = scheduledLr(t), sum of squares 0, clip factor 1.
void lrSchedule(int64_t type, int64_t warmup, int64_t stepSize, int64_t total, float lr, float gamma,
                float minLr, float *state);
/// state[kOptSumSq] += sum of g[i]^2 (summed in double).
void gradSumSq(size_t n, const float *g, float *state);
/// state[kOptClip] = min(1, maxNorm / (sqrt(state[kOptSumSq]) + 1e-6)), PyTorch's clip_coef.
void clipScale(float maxNorm, float *state);
/// torch.optim.SGD on g * clip: d = g + wd*w; m = momentum*m + d (m starts at 0, so the first
/// step's m is d); d = nesterov ? d + momentum*m : m; w -= lr * d.
void sgdStep(size_t n, bool nesterov, float momentum, float weightDecay, float *w, const float *g,
             float *m, const float *state);
/// torch.optim.Adam (decoupled false: g += wd*w) or AdamW (decoupled: w *= 1 - lr*wd) on
/// g * clip: m = b1*m + (1-b1)g; v = b2*v + (1-b2)g^2; w -= lr/(1-b1^t) * m /
/// (sqrt(v)/sqrt(1-b2^t) + eps).
void adamStep(size_t n, bool decoupled, float beta1, float beta2, float eps, float weightDecay,
              float *w, const float *g, float *m, float *v, const float *state);

} // namespace dlc::cpu
