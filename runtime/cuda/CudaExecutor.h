//===- CudaExecutor.h - runs a plan's kernel program on a GPU -----*- C++ -*-===//
//
// The CUDA counterpart of cpu/Executor.h. The compiler already decided everything (CUDA C
// compiled to a CUBIN, launch configurations, library-call descriptors, arena offsets), so
// loading turns its records into driver objects once (module, functions, cuDNN descriptors
// and algorithms) and running only launches, in program order, on the device's stream.
//
#pragma once

#include "runtime/cuda/CudaDevice.h"
#include "runtime/plan/CudaLaunch.h"
#include "runtime/plan/Plan.h"

#include <cstdint>
#include <string>
#include <vector>

namespace dlc::cuda {

/// plan.arenaBytes of device memory: every buffer at its planned offset.
class CudaArena {
public:
  CudaArena() = default;
  CudaArena(const CudaArena &) = delete;
  CudaArena &operator=(const CudaArena &) = delete;
  ~CudaArena() { release(); }
  void release();

  /// Device address of `buffer` of the plan the arena was allocated for.
  CUdeviceptr at(const plan::Plan &plan, int32_t buffer) const {
    return base + plan.buffers[buffer].offset;
  }

  const CudaDevice *device = nullptr;
  CUdeviceptr base = 0;
  uint64_t bytes = 0;
};

/// Allocates `plan`'s arena on `device` into `out`; false with a one-line `error`.
bool allocateArenaCuda(const CudaDevice &device, const plan::Plan &plan, CudaArena &out,
                       std::string &error);

/// A program loaded on a device, ready to run.
class CudaProgram {
public:
  CudaProgram() = default;
  CudaProgram(const CudaProgram &) = delete;
  CudaProgram &operator=(const CudaProgram &) = delete;
  ~CudaProgram() { release(); }
  void release();

  /// One kernel call: a generated kernel, or a cuDNN/cuBLAS call with its descriptors.
  struct Call {
    const plan::Kernel *kernel = nullptr;
    CudaLaunch launch;
    CUfunction function = nullptr; // generated kernels
    std::vector<uint64_t> offsets; // of the kernel's buffers in the arena
    cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr; // cuDNN calls and
    cudnnFilterDescriptor_t w = nullptr;                              // epilogues
    cudnnConvolutionDescriptor_t conv = nullptr;
    int algorithm = 0; // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
    /// Library calls: the operands' storage (all alike; 2-byte in a mixed-precision plan,
    /// computed in float), and whether `function` is a generated epilogue to launch after
    /// the call (a 2-byte output's bias and relu).
    plan::DType dtype = plan::DType::F32;
    bool generatedEpilogue = false;
  };

  const CudaDevice *device = nullptr;
  CUmodule module = nullptr;
  cudnnActivationDescriptor_t relu = nullptr;
  std::vector<Call> calls;
  std::vector<CUevent> events; // one before each call and one after the last, for profiling
};

/// Loads `program` of `plan` onto `device`: the module `image` (a CUBIN, or PTX ending in
/// NUL, from compileCuda) with the kernels `launches` name (from emitCudaSource), and for each
/// library call its cuDNN descriptors and the fastest deterministic algorithm that fits the
/// plan's workspace. False with a one-line `error`.
bool loadProgramCuda(const CudaDevice &device, const plan::Plan &plan, const plan::Program &program,
                     const std::vector<CudaLaunch> &launches, const std::vector<uint8_t> &image,
                     CudaProgram &out, std::string &error);

/// Runs every call of `program` in order on `arena` and waits for the device. With
/// `kernelSeconds`, adds each call's time (CUDA events) to it, as device::Profile does.
bool runProgramCuda(const CudaProgram &program, const CudaArena &arena, std::string &error,
                    std::vector<double> *kernelSeconds = nullptr);

/// Runs call `index` of `program` alone on `arena` and waits for it (dlrun --validate, which
/// compares each call's outputs with the CPU's). False with a one-line `error` naming the call.
bool runCallCuda(const CudaProgram &program, size_t index, const CudaArena &arena,
                 std::string &error);

/// Queues calls [first, last) of `program` on the device's stream without waiting: the parts
/// of a data-parallel step (runtime/device/PackedStep.h), whose faults surface at its next
/// wait. Dynamic loss scaling's skip is runProgramCuda's alone (data parallelism refuses it).
bool enqueueCallsCuda(const CudaProgram &program, size_t first, size_t last,
                      const CudaArena &arena, std::string &error);

/// Queues call `index` of `program` with its argument `arg` at `address` instead of its
/// buffer (an optimizer kernel reading its averaged gradient from the pack).
bool enqueueCallOnCuda(const CudaProgram &program, size_t index, const CudaArena &arena,
                       size_t arg, CUdeviceptr address, std::string &error);

} // namespace dlc::cuda
