//===- CudaDeviceRunner.h - a GPU as a Device ----------------------*- C++ -*-===//
#pragma once

#include "runtime/device/Device.h"

namespace dlc {

/// GPU `ordinal` through the CUDA driver (loaded at run time). The plan must target CUDA
/// (`dlc compile --target cuda`). Uploads the host arena, which holds initialised parameters.
/// Null with a one-line `error` without a usable GPU, e.g. "no CUDA device found
/// (libcuda.so.1: ...); use --device cpu", or when dlrun was built without CUDA support.
std::unique_ptr<Device> makeCudaDevice(const plan::Plan &plan, uint8_t *arena, int ordinal,
                                       std::string &error);

} // namespace dlc
