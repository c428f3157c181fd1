//===- CpuDevice.h - the CPU as a Device ---------------------------*- C++ -*-===//
#pragma once

#include "runtime/device/Device.h"

namespace dlc {

/// The CPU: programs run in the host arena itself (which is also its arena for runKernel,
/// read and write). `blockedLayouts`: activations may be held in oneDNN's blocked layout
/// between the kernels that take it (runtime/cpu/Layout.h); off where something compares
/// the arena's activations byte for byte with another device's (dlrun --validate).
std::unique_ptr<Device> makeCpuDevice(const plan::Plan &plan, uint8_t *arena,
                                      bool blockedLayouts = true);

} // namespace dlc
