//===- EmulationSource.h - a program's CUDA C as the host emulation compiles it -*- C++ -*-===//
//
// dlc-cuda-emulation-gen and the tests that use its output must generate exactly the same
// source and launch records: library calls as reference kernels (so they can run on the
// host) and symbols prefixed by the program's name (so several programs share one file).
//
#pragma once

#include "compiler/Target/Cuda/CudaCodegen.h"

#include <string>
#include <vector>

namespace dlc::cudatest {

/// emitCudaSource with the emulation's options; empty with `error` on failure.
/// `tag` prefixes the symbols too, for several plans in one translation unit.
inline std::string emulationSource(const plan::Plan &plan, const plan::Program &prog,
                                   std::vector<cuda::CudaLaunch> &launches, std::string &error,
                                   const std::string &tag = "") {
  cuda::CudaCodegenOptions options;
  options.emitReferenceLibraryKernels = true;
  options.symbolPrefix = tag + prog.name + "_";
  return cuda::emitCudaSource(plan, prog, launches, error, options);
}

} // namespace dlc::cudatest
