//===- MixedPrecision.h - 2-byte storage for a mixed-precision plan -*- C++ -*-===//
//
// What `training.precision: mixed-fp16 | mixed-bf16` means for memory, as PyTorch AMP does
// it on a GPU: parameters, their gradients and the optimizer state stay fp32 (the master
// copy the optimizer updates); activations, activation gradients and workspaces are stored
// in 2 bytes; each weight a matmul or convolution reads gets one half copy per step (AMP's
// autocast cache: cast once, read by the forward and the backward), as does an input batch
// such a layer reads, and each weight gradient
// that cuBLAS or cuDNN writes in half is cast to its fp32 buffer for the optimizer.
// Plain C++ on a lowered plan (no MLIR), before the arena layout.
//
#pragma once

#include "runtime/plan/Plan.h"

namespace dlc {

/// Gives every step buffer of `plan` the storage of plan.train.precision and inserts the
/// cast kernels (weight copies, fp32 weight gradients); sizes and lifetimes follow. Nothing
/// changes for fp32. Call before layoutArena.
void applyMixedPrecision(plan::Plan &plan);

} // namespace dlc
