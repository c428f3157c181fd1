//===- Executor.h - runs a plan's kernel program on the CPU ------*- C++ -*-===//
#pragma once

#include "runtime/device/Profile.h"
#include "runtime/plan/Plan.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace dlc::cpu {

using device::Profile;
using device::Trace;
using device::TraceEvent;

/// Runs one kernel call on `args`, the addresses of its buffers (k.args) in order. Kernels
/// are pure functions of their buffers; runProgram is this in a loop.
void runKernel(const plan::Kernel &k, float *const *args);

/// Makes the library primitives (oneDNN's convolutions, its GEMM kernels) of every kernel of
/// `programs` (as the device runs them, layouts included) now, at load, so that no step
/// pays for them; the kernels make any that are missing themselves.
void prepareKernels(const std::vector<const plan::Program *> &programs);
/// prepareKernels for one kernel call; false when it is a convolution with blocked tensors
/// (runtime/cpu/Layout.h) that oneDNN refused, which must then not run blocked.
bool prepareKernel(const plan::Kernel &k);

/// runKernel for kernel number `n` of a program, timed into `profile` and `trace` when
/// given (neither: exactly runKernel). runProgram and the data-parallel runner share it.
void runKernelTimed(size_t n, const plan::Kernel &k, float *const *args, Profile *profile,
                    Trace *trace, int32_t device = 0);

/// Executes `prog`'s kernels in order on buffers at their planned offsets in `arena`
/// (plan.arenaBytes long). With `profile`, times each kernel; with `trace` (until it is
/// full), records each call's start and duration.
void runProgram(const plan::Plan &plan, const plan::Program &prog, uint8_t *arena,
                Profile *profile = nullptr, Trace *trace = nullptr);

} // namespace dlc::cpu
