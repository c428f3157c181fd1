//===- HalfTypes.h - 2-byte storage types of the generated CUDA C -*- C++ -*-===//
//
// A mixed-precision plan stores some buffers as IEEE binary16 or bfloat16 (plan::DType F16,
// BF16). Generated kernels declare such a buffer with one of two storage types defined in a
// prelude of the source: `dlc_half` and `dlc_bf16`, two bytes each, which convert to float
// when read and round to nearest even when a float is stored. They have no arithmetic of
// their own, so every expression over them computes in float (as cuDNN and cuBLAS do with
// CUBLAS_COMPUTE_32F) and the kernel bodies are the float ones unchanged. The prelude is
// plain C++ (integer operations and __float_as_uint/__uint_as_float), so the host emulation
// (test/cuda/CudaEmulation.h) runs the very code the GPU would.
//
#pragma once

#include "runtime/plan/Plan.h"

namespace dlc::cuda {

/// "dlc_half" for F16, "dlc_bf16" for BF16, null for the 4-byte types.
const char *halfStorageType(plan::DType t);

/// The prelude defining dlc_half and dlc_bf16 (guarded: several programs' sources may share
/// one translation unit).
const char *halfTypesSource();

} // namespace dlc::cuda
