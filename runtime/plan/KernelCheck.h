//===- KernelCheck.h - what each kernel kind takes, and checks of kernel calls -*- C++ -*-===//
//
// The kernel table (KernelKinds.def) as data, and the load-time check of every kernel call
// of a plan: argument and attribute counts, attribute ranges, and that each argument buffer
// holds every byte the kernel reads or writes, computed from its attributes. Plans are
// files people copy between machines; a plan that passes these checks cannot make any
// kernel of either device read or write outside its buffers.
//
#pragma once

#include "runtime/plan/Plan.h"

#include <cstdint>
#include <string>
#include <vector>

namespace dlc::plan {

/// dlrun --validate's relative tolerances (KernelKinds.def's `tolerance` column).
constexpr double kExact = 1e-5;
constexpr double kReduction = 1e-3;

/// Kernels index their buffers with 32-bit integers: no argument may need more elements.
constexpr uint64_t kMaxElements = 0x7fffffff;

/// The scheduled optimizers' state buffer (runtime/cpu/OptimizerKernels.h): step, lr, sum of
/// squares, clip factor. The step count is a float, exact up to kMaxSteps.
constexpr uint64_t kOptStateFloats = 4;
constexpr int64_t kMaxSteps = int64_t(1) << 24;

/// The whole-layer LSTM kernels' buffers (runtime/cpu/RecurrentKernels.h): floats per
/// example of the reserve (every step's gates, h_{t-1}, c_{t-1}, and the last c), and the
/// backward's workspace (two pairs of dh, dc rows). Sizes past 2^64 saturate (the checks
/// then refuse them).
inline uint64_t satMul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}
inline uint64_t satAdd(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}
inline uint64_t lstmReserveWidth(uint64_t steps, uint64_t units) {
  return satAdd(satMul(satMul(steps, 6), units), units);
}
inline uint64_t lstmSequenceWorkspaceFloats(uint64_t n, uint64_t units) {
  return satMul(satMul(4, n), units);
}

/// One line of KernelKinds.def.
struct KernelKindInfo {
  const char *name;
  /// The buffer arguments as CUDA C parameter declarations, e.g. "const float *x, float *y".
  const char *params;
  size_t args;        // mandatory buffer arguments (the bias of kEpilogueBias comes after)
  size_t ints;        // mandatory int attributes (an optional epilogue int may follow)
  size_t floats;      // float attributes
  int64_t epilogues;  // accepted epilogue bits; non-zero: the optional epilogue int exists
  double tolerance;   // dlrun --validate's relative tolerance
};
const KernelKindInfo &kernelKindInfo(KernelKind kind);

/// The parameter declarations of `kind` one by one ("const float *x"), and the bare name of
/// argument `index` ("x"; "bias" for the epilogue's bias).
std::vector<std::string> kernelParams(KernelKind kind);
std::string kernelArgName(KernelKind kind, size_t index);
/// Whether the kernel writes argument `index` (its non-const parameters; never the bias).
bool kernelWritesArg(KernelKind kind, size_t index);

/// The kernel's epilogue bits (its optional trailing int; 0 when absent).
int64_t kernelEpilogue(const Kernel &k);

/// Floating-point operations of one call by the table's formula. Only for kernels that
/// passed checkKernel (or that the compiler just built).
double kernelFlops(const Kernel &k);

/// Checks one kernel call of `plan`: argument, int and float counts against its kind; every
/// size attribute positive and at most kMaxElements, the others in range; float attributes
/// finite and in range; buffer ids valid; and that each argument buffer has at least the
/// bytes the kernel touches in it. On failure a one-line `error` without prefix, e.g.
/// "argument 'x' needs 313600 bytes, buffer 'pool1' has 117600".
bool checkKernel(const Plan &plan, const Kernel &k, std::string &error);

/// The bytes each argument of `k` needs as 4-byte elements (checkKernel scales them by each
/// buffer's dtype), in argument order (the bias last when present),
/// or false with `error` when the attributes are out of range. checkKernel is this plus the
/// comparison with the buffers.
bool kernelArgBytes(const Kernel &k, std::vector<uint64_t> &bytes, std::string &error);

} // namespace dlc::plan
