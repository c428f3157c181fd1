// CPU kernels for batch normalisation and average pooling (float32, NCHW).
//
// Like the rest of the kernel library these are pure functions over raw pointers: no
// allocation; the batch-norm kernels split channels over the thread pool (Parallel.h), and every output
// (gradients included) is fully overwritten.
//
// `block` (0, 8 or 16): 0 for NCHW; otherwise x, y, dy and dx are in the channel-blocked layout
// [n][c / block][hw][block] (oneDNN's nChw16c / nChw8c, runtime/cpu/Layout.h), c a multiple of
// block; for the pooling kernels only with global windows (y and dy are [n][c] either way).
#pragma once
#include "runtime/cpu/Kernels.h"  // for PoolShape

namespace dlc::cpu {

/// Training-mode batch norm over n x c x hw: per channel mean and biased variance over n*hw;
/// y = gamma * (x - mean) * invStd + beta with invStd = 1/sqrt(var + eps). Saves mean and invStd
/// for the backward pass and updates running stats as PyTorch does:
/// runMean = (1-momentum)*runMean + momentum*mean; runVar = (1-momentum)*runVar + momentum*var_unbiased (n*hw/(n*hw-1)).
/// When n*hw == 1 the unbiased variance is undefined; the biased one (0) is used instead.
void batchNormTrain(int n, int c, int hw, float eps, float momentum, const float *x, const float *gamma,
                    const float *beta, float *runMean, float *runVar, float *y, float *saveMean, float *saveInvStd,
                    int block = 0, bool relu = false);
/// `relu` (the fused epilogue): y = max(normalised, 0), computed as `v > 0 ? v : 0`, as relu.
/// Inference-mode batch norm with the running statistics.
void batchNormEval(int n, int c, int hw, float eps, const float *x, const float *gamma, const float *beta,
                   const float *runMean, const float *runVar, float *y, int block = 0,
                   bool relu = false);
/// Gradients of batchNormTrain's y w.r.t. x, gamma, beta (the standard batch-statistics formula). dx, dgamma, dbeta overwritten.
void batchNormBackward(int n, int c, int hw, const float *x, const float *dy, const float *gamma,
                       const float *saveMean, const float *saveInvStd, float *dx, float *dgamma, float *dbeta,
                       int block = 0);

/// Average pooling; padded positions count as zeros and the divisor is always kh*kw (count_include_pad=True).
void avgPool2dForward(const PoolShape &s, const float *x, float *y, int block = 0);
/// Spreads each dy evenly (dy / (kh*kw)) over the in-bounds part of its window.
void avgPool2dBackward(const PoolShape &s, const float *dy, float *dx, int block = 0);  // dx overwritten

}  // namespace dlc::cpu
