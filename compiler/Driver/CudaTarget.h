//===- CudaTarget.h - attach CUDA code to a plan ------------------*- C++ -*-===//
#pragma once

#include "runtime/plan/Plan.h"

#include <string>

namespace dlc {
/// Picks the architecture for `dlc compile --target cuda`: `arch` when given, else the one of
/// the catalog GPU `gpu` (refusing cards NVRTC 13 cannot target), else sm_75, the oldest NVRTC
/// 13 supports (its PTX is JIT-compiled by newer drivers). One-line `error` on failure.
bool chooseCudaArch(const std::string &arch, const std::string &gpu, const std::string &hardware,
                    std::string &out, std::string &error);

/// mixed-bf16 needs sm_80 or newer (bfloat16 in cuBLAS and cuDNN starts with Ampere); fp32
/// and mixed-fp16 run on every architecture NVRTC targets. One-line `error` otherwise.
bool checkPrecisionArch(plan::Precision precision, const std::string &arch, std::string &error);

/// Generates every program's CUDA C, compiles it with NVRTC for `arch` to PTX and CUBIN and
/// stores source, binaries and launch records in the plan (target "cuda"). With
/// `sourceOnly`, stops after generation (for --emit=cuda). One-line `error` on failure.
bool attachCudaCode(plan::Plan &plan, const std::string &arch, bool sourceOnly,
                    std::string &error);
} // namespace dlc
