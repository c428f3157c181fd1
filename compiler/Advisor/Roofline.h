//===- Roofline.h - a roofline estimate of a training step ------*- C++ -*-===//
#pragma once

#include "compiler/Hardware/Catalog.h"
#include "runtime/plan/Plan.h"

namespace dlc::advisor {
/// Seconds for one run of `prog` on `gpu`: each kernel takes the longer of its FLOPs at the
/// device's FP32 peak (its FP16/BF16 tensor-core peak for a matmul or convolution on half
/// operands of a mixed-precision plan) and its bytes (every argument read or written once) at its memory
/// bandwidth. A lower bound: real kernels reach neither peak.
double rooflineSeconds(const plan::Plan &p, const plan::Program &prog, const hw::Gpu &gpu);
} // namespace dlc::advisor
