//===- Nonfinite.h - which kernel turned a batch's values into NaN or Inf -*- C++ -*-===//
//
// When a loss comes back NaN or infinite, the loss alone does not say where the run went
// wrong. dlrun reruns the batch one kernel at a time from clean buffers and scans what each
// kernel wrote: the first buffer to hold a non-finite value names the kernel (op and layer)
// that made it from finite inputs.
//
#pragma once

#include "runtime/device/Device.h"
#include "runtime/plan/Plan.h"

#include <string>

namespace dlc {

/// Reruns `prog` on `device` kernel by kernel with its batch inputs and the persistent state
/// as they stand in the device's arena; every other buffer of the program is zeroed first, so
/// stale values of the failed run cannot be blamed on a later kernel. Sets `finding` to one
/// clause for a message, e.g. "kernel 4 of 'train' (matmul, matmul@fc1) wrote inf to
/// 'matmul@fc1' from finite inputs", or, when the persistent state is already non-finite,
/// which tensor, or that the rerun stayed finite. Returns false (and `error`) only when the
/// device fails.
bool findNonfiniteKernel(const plan::Plan &plan, const plan::Program &prog, Device &device,
                         std::string &finding, std::string &error);

} // namespace dlc
