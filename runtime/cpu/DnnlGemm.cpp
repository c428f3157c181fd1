//===- DnnlGemm.cpp - single-precision GEMM through oneDNN, when built in -*- C++ -*-===//
//
// See DnnlGemm.h. dnnl_sgemm takes row-major operands, like cblas_sgemm in CblasRowMajor.
//
#include "runtime/cpu/DnnlGemm.h"

#include "runtime/cpu/DnnlConv.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if DLC_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#endif

namespace dlc::cpu {

#if DLC_HAVE_DNNL
namespace {
/// Below this many multiply-adds OpenBLAS's lighter call wins or ties when it runs its
/// AVX-512 kernels (LeNet's last layer, 100 x 10 x 84: 1.3 us against 1.8 us; the LSTM's
/// output layer's dx, 128 x 128 x 10: 1.5 against 1.7); above it oneDNN wins (the LSTM's
/// steps, 128 x 512 x 128: 10-20%; twice as fast as OpenBLAS under OPENBLAS_CORETYPE=Haswell,
/// this machine's setting).
constexpr int64_t kMinMacs = 1 << 17;

} // namespace

bool dnnlGemmEnabled() {
  static const bool on = [] {
    const char *e = std::getenv("DLC_DNNL_GEMM");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on && dnnlEnabled();
}

bool dnnlGemm(bool transA, bool transB, int m, int n, int k, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc) {
  if (int64_t(m) * n * k < kMinMacs || !dnnlGemmEnabled())
    return false;
  // One thread per call: the caller is one of the pool's threads, with its own share.
  omp_set_num_threads(1);
  return dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb, beta,
                    c, ldc) == dnnl_success;
}
#else
bool dnnlGemmEnabled() { return false; }
bool dnnlGemm(bool, bool, int, int, int, const float *, int, const float *, int, float, float *,
              int) {
  return false;
}
#endif

} // namespace dlc::cpu
