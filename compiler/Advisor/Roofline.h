//===- Roofline.h - a roofline estimate of a training step ------*- C++ -*-===//
#pragma once

#include "compiler/Hardware/Catalog.h"
#include "runtime/plan/Plan.h"

namespace dlc::advisor {
/// Seconds for one run of `prog` on `gpu`: each kernel takes the longer of its FLOPs at the
/// device's FP32 peak and its bytes (every argument read or written once) at its memory
/// bandwidth. A lower bound: real kernels reach neither peak.
double rooflineSeconds(const plan::Plan &p, const plan::Program &prog, const hw::Gpu &gpu);
} // namespace dlc::advisor
