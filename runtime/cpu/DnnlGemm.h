//===- DnnlGemm.h - single-precision GEMM through oneDNN, when built in -*- C++ -*-===//
//
// oneDNN's dnnl_sgemm is JIT-compiled for the CPU it runs on (AVX-512 where there is
// AVX-512). On the 2-vCPU AMD EPYC (AVX-512) the LSTM's matmuls (m, n, k of 28 to 512) ran
// 10-20% faster through it than through OpenBLAS's AVX-512 kernels, and twice as fast as
// through the AVX2 ones that OPENBLAS_CORETYPE=Haswell (that machine's setting) selects; for
// products below ~10^5 multiply-adds OpenBLAS's lighter call wins (docs/performance.md, "The
// LSTM sequence classifier"). The matmul kernel (Kernels.cpp) calls it on each of its
// threads' blocks, one OpenMP thread per call: the runtime's pool is the parallelism.
//
// Built without oneDNN, or with DLC_DNNL=0 or DLC_DNNL_GEMM=0 in the environment (or
// setDnnlEnabled(false)), dnnlGemm declines and the caller runs OpenBLAS.
//
#pragma once

namespace dlc::cpu {

/// Whether dnnlGemm takes products at all (built in and not switched off).
bool dnnlGemmEnabled();

/// C = op(A) op(B) + beta C, row-major, as cblas_sgemm with alpha 1 (lda, ldb, ldc as
/// there); false (nothing written) when oneDNN is off, not built in or the product is too
/// small to be worth its call overhead.
bool dnnlGemm(bool transA, bool transB, int m, int n, int k, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

} // namespace dlc::cpu
