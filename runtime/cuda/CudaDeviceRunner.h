//===- CudaDeviceRunner.h - a GPU as a Device ----------------------*- C++ -*-===//
#pragma once

#include "runtime/device/Device.h"

#include <vector>

namespace dlc {

/// GPU `ordinal` through the CUDA driver (loaded at run time). The plan must target CUDA
/// (`dlc compile --target cuda`). Uploads the host arena, which holds initialised parameters.
/// Null with a one-line `error` without a usable GPU, e.g. "no CUDA device found
/// (libcuda.so.1: ...); use --device cpu", or when dlrun was built without CUDA support.
std::unique_ptr<Device> makeCudaDevice(const plan::Plan &plan, uint8_t *arena, int ordinal,
                                       std::string &error);

/// Whether every GPU of `ordinals` exists; `count` is how many the driver sees (for
/// `--device cuda:all`, with no ordinals). False with a one-line `error` otherwise, the same
/// as makeCudaDevice's: "no CUDA device found (...); use --device cpu", "no CUDA device
/// cuda:5 (this machine has cuda:0 to cuda:1)".
bool checkCudaDevices(const std::vector<int> &ordinals, int &count, std::string &error);

} // namespace dlc
