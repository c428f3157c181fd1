//===- Validate.h - a device's kernels against the CPU's, call by call -*- C++ -*-===//
//
// dlrun --validate (tinygrad's VALIDATE_WITH_CPU): runs a program on a device one kernel call
// at a time and runs each call on a reference device (the CPU) too, from the same inputs,
// then compares what the call wrote.
//
// Before call i, the call's argument buffers are copied from the device under test to the
// reference; both run call i; every argument buffer except workspaces is then read back from
// both and compared. The device keeps its own results and the reference starts each call
// from them, so errors do not accumulate across calls and a wrong kernel is reported alone,
// not together with every kernel after it. Inputs are compared too: a kernel that clobbers
// a buffer it only reads is a mismatch. Nothing here knows what the device is: dlrun passes
// the CUDA device, the tests the host emulation of the generated CUDA C.
//
#pragma once

#include "runtime/device/Device.h"
#include "runtime/plan/Plan.h"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace dlc {

/// How one kernel call compared.
struct KernelCheck {
  size_t index = 0;                     // in the program
  const plan::Kernel *kernel = nullptr; // the call
  double maxAbs = 0;    // largest |device - reference| of any compared element
  double maxRel = 0;    // largest error relative to its buffer's scale (see compareFloats)
  double tolerance = 0; // largest maxRel allowed: validateTolerance(kernel->kind)
  int32_t worst = -1;   // buffer with the largest relative error (-1: all bit-identical)
  bool ok = true;       // maxRel <= tolerance
};

/// Error allowed for a kind, relative to the scale of the buffer compared: 1e-5 for
/// elementwise kinds (a few float operations per element; the device may contract to FMA
/// and round exp/log differently by an ulp or two), 1e-3 for reductions (convolutions,
/// matmul, bias and batch-norm sums, softmax, average pooling), whose summation order and
/// algorithm (cuDNN's Winograd or FFT, cuBLAS's split-K) the device picks.
double validateTolerance(plan::KernelKind kind);

/// Compares `n` floats of one buffer. `maxAbs` is the largest |device - reference|; `maxRel`
/// divides it by the buffer's scale, the largest |reference| (at least FLT_MIN), since an
/// element of a sum may cancel to near zero where a per-element relative error means
/// nothing. Bit-identical elements count as equal (so are NaNs with the same bits); a
/// non-finite value on one side only is an infinite error.
void compareFloats(const float *device, const float *reference, size_t n, double &maxAbs,
                   double &maxRel);

/// Validates `prog` as the file header says, calling `onKernel` (if set) after each call and
/// filling `checks` with one entry per call. The program's inputs (images, labels) and the
/// persistent state must already be in `device`'s arena; the reference's arena needs nothing
/// (it is written before each call). False with a one-line `error` when a side fails to run a
/// call or move bytes; mismatches are not errors, they are checks with `ok` false.
bool validateProgram(const plan::Plan &plan, const plan::Program &prog, Device &device,
                     Device &reference, std::vector<KernelCheck> &checks, std::string &error,
                     const std::function<void(const KernelCheck &)> &onKernel = {});

/// validateProgram printing, to `out`, a header, one line per kernel call (index, name,
/// kind, max abs and relative error, "ok" or "MISMATCH" with the tolerance and the worst
/// buffer) and a summary. Returns the number of mismatching calls, or -1 with `error` set.
int validateAndReport(const plan::Plan &plan, const plan::Program &prog, Device &device,
                      Device &reference, std::FILE *out, std::string &error);

} // namespace dlc
