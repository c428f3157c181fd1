//===- CudaCodegen.h - a plan program as CUDA C and launch records -*- C++ -*-===//
//
// The CUDA target of the kernel-level IR: every kernel call of a plan program becomes either
// one generated `extern "C" __global__` function (shapes baked in as constants, launch
// configuration chosen here) or a cuDNN/cuBLAS library call described by its descriptors'
// parameters. Plain C++: no MLIR, no CUDA toolkit needed to generate.
//
// Generated kernels follow one rule so that CudaEmulation.h can run them as
// host C++: no __syncthreads and no shared memory. Elementwise kernels use one thread per
// output element in a grid-stride loop; reductions use one thread per output (a channel, a
// row) and scalar outputs (loss, accuracy) one thread, so nothing needs zeroing or atomics
// and every result is deterministic.
//
#pragma once

#include "runtime/plan/CudaLaunch.h"
#include "runtime/plan/Plan.h"

#include <string>
#include <vector>

namespace dlc::cuda {

struct CudaCodegenOptions {
  /// Also emit a plain CUDA implementation of each library call (convolutions, matmul, with
  /// their epilogues) and name it in CudaLaunch::function. Slow; for verification, chiefly
  /// the host emulation test, which has no cuDNN or cuBLAS.
  bool emitReferenceLibraryKernels = false;
  /// Prepended to every generated symbol, so that several programs' sources can share one
  /// translation unit (the host emulation compiles train and eval together).
  std::string symbolPrefix;
};

/// Generates the CUDA C source of `program` (one of `plan`'s programs) and fills `launches`
/// with one record per kernel call, in program order. Kernel functions are named
/// `<prefix>k<index>_<kind>`, e.g. `k12_relu_bwd`. Returns "" with a one-line `error` for a
/// kernel kind that has no CUDA lowering yet or a kernel whose attributes or buffers do not
/// match its kind.
std::string emitCudaSource(const plan::Plan &plan, const plan::Program &program,
                           std::vector<CudaLaunch> &launches, std::string &error,
                           const CudaCodegenOptions &options = {});

} // namespace dlc::cuda
