//===- CudaLaunch.h - how each kernel call of a program runs on a GPU -*- C++ -*-===//
//
// The contract between the CUDA target (compiler/Target/Cuda, which decides) and the CUDA
// runtime (which only executes): for every kernel call of a plan program, either a generated
// __global__ function with its launch configuration, or a cuDNN/cuBLAS call with the
// parameters of its descriptors. It lives in the runtime, as Plan.h does, so that the runtime
// never includes compiler headers.
//
#pragma once

#include "runtime/plan/KernelCheck.h"
#include "runtime/plan/Plan.h"

#include <cstdint>
#include <string>
#include <vector>

namespace dlc::cuda {

/// Grid or block extent, as CUDA's dim3.
struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

enum class CudaLibraryKind : uint8_t {
  None,               // a generated kernel
  CudnnConvFwd,       // cudnnConvolutionForward (+ cudnnConvolutionBiasActivationForward)
  CudnnConvBwdData,   // cudnnConvolutionBackwardData
  CudnnConvBwdFilter, // cudnnConvolutionBackwardFilter
  CublasGemm,         // cublasSgemm / cublasLtMatmul when there is an epilogue
};
/// "cudnn_conv_fwd", "cublas_gemm", ... ("" for None).
inline const char *cudaLibraryKindName(CudaLibraryKind k) {
  switch (k) {
  case CudaLibraryKind::None:
    return "";
  case CudaLibraryKind::CudnnConvFwd:
    return "cudnn_conv_fwd";
  case CudaLibraryKind::CudnnConvBwdData:
    return "cudnn_conv_bwd_data";
  case CudaLibraryKind::CudnnConvBwdFilter:
    return "cudnn_conv_bwd_filter";
  case CudaLibraryKind::CublasGemm:
    return "cublas_gemm";
  }
  return "?";
}

/// A 2-D convolution as cuDNN describes it: float32 NCHW tensors x[n][c][h][w] and
/// y[n][k][outH][outW], filter w[k][c/groups][r][s], cross-correlation, symmetric padding
/// (cuDNN has no other: a conv2d_general_* kernel padded asymmetrically runs as a generated
/// kernel instead), taps dilH/dilW apart, `groups` groups (cudnnSetConvolutionGroupCount).
struct CudnnConv {
  int n = 0, c = 0, h = 0, w = 0, k = 0, r = 0, s = 0;
  int padH = 0, padW = 0, strideH = 1, strideW = 1;
  int outH = 0, outW = 0;
  int dilH = 1, dilW = 1, groups = 1;
};

/// A row-major C[M][N] = op(A) op(B) expressed as the column-major cublasSgemm call that
/// computes it, C^T = op(B)^T op(A)^T (so cuBLAS's first operand is the plan's B):
///   cublasSgemm(h, transA, transB, m, n, k, 1, args[aArg], lda, args[bArg], ldb, 0, args[2], ldc)
struct CublasGemm {
  bool transA = false, transB = false; // CUBLAS_OP_T when set
  int m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
  int aArg = 1, bArg = 0; // kernel argument positions passed as cuBLAS's A and B
};

/// A kernel call that runs as a library call. The kernel's arguments keep the order of
/// Plan.h (conv: x-or-dy, w-or-x, y-or-dx-or-dw, workspace, [bias]; matmul: a, b, c, [bias]).
struct CudaLibraryCall {
  CudaLibraryKind kind = CudaLibraryKind::None;
  CudnnConv conv;              // the three cuDNN kinds
  CublasGemm gemm;             // CublasGemm
  uint64_t workspaceBytes = 0; // the plan's workspace for this call (conv); algorithms needing
                               // more are not eligible
  int64_t epilogue = 0;        // plan::kEpilogueBias | kEpilogueRelu, fused into the call:
                               // bias per output channel (conv) or per column of C (matmul)
  int biasArg = -1;            // kernel argument position of the bias, -1 without one
};

/// How one kernel call of a program runs: exactly one CudaLaunch per plan::Kernel, in order.
struct CudaLaunch {
  int32_t kernel = -1;     // index in plan::Program::kernels
  std::string function;    // the generated __global__ function; for a library call, its
                           // reference implementation when one was emitted, else ""
  Dim3 grid, block;        // launch configuration of `function`
  CudaLibraryCall library; // kind None: `function` is the kernel
};

/// The launch records as the plan file stores them (Program::cudaLaunches): one text line per
/// kernel call, whitespace-separated numbers after the function name ("-" for none).
std::string encodeLaunches(const std::vector<CudaLaunch> &launches);
/// The inverse; false with a one-line `error` on a malformed or inconsistent record.
bool decodeLaunches(const std::string &text, std::vector<CudaLaunch> &out, std::string &error);

/// The library call the CUDA target makes for kernel `k` as `kind` (a convolution as cuDNN,
/// a matmul as cuBLAS); false when `k` is not of the matching kernel kind. For kernels that
/// passed plan::checkKernel: the target builds its records with it and the loader compares.
bool libraryCallFor(const plan::Plan &plan, const plan::Kernel &k, CudaLibraryKind kind,
                    CudaLibraryCall &call);

/// Checks a program's launch records against its (already checked) kernels: one per kernel
/// in order, library descriptors exactly those of libraryCallFor (so cuDNN and cuBLAS are
/// never told of tensors larger than their buffers), launch configurations in range. The
/// generated code itself (PTX/CUBIN) is trusted as the compiler's output, as any program's
/// machine code is: the plan's checksum guards it against damage, not against forgery.
bool checkLaunches(const plan::Plan &plan, const plan::Program &prog,
                   const std::vector<CudaLaunch> &launches, std::string &error);

} // namespace dlc::cuda
