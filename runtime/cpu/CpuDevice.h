//===- CpuDevice.h - the CPU as a Device ---------------------------*- C++ -*-===//
#pragma once

#include "runtime/device/Device.h"

namespace dlc {

/// The CPU: programs run in the host arena itself (which is also its arena for runKernel,
/// read and write).
std::unique_ptr<Device> makeCpuDevice(const plan::Plan &plan, uint8_t *arena);

} // namespace dlc
