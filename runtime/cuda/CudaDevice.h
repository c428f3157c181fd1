//===- CudaDevice.h - one GPU opened through the CUDA driver API ---*- C++ -*-===//
//
// The device, its primary context (shared with cuDNN and cuBLAS, which use whatever context
// is current), one stream, and cuDNN and cuBLAS handles bound to that stream. Every CUDA
// library is loaded with dlopen when a device is opened (CudaSymbols.h).
//
#pragma once

#include "runtime/cuda/CudaSymbols.h"

#include <cstdint>
#include <string>

namespace dlc::cuda {

class CudaDevice {
public:
  CudaDevice() = default;
  CudaDevice(const CudaDevice &) = delete;
  CudaDevice &operator=(const CudaDevice &) = delete;
  ~CudaDevice() { close(); }

  /// Releases the handles, the stream and the context; a closed device can be opened again.
  void close();
  bool isOpen() const { return context != nullptr; }

  /// "sm_86": what NVRTC compiles for this device.
  std::string arch() const { return "sm_" + std::to_string(ccMajor * 10 + ccMinor); }

  /// False with a one-line `error` ("<what>: CUDA_ERROR_...: <description>") unless `r` is
  /// CUDA_SUCCESS. Also for cuDNN and cuBLAS statuses.
  bool check(CUresult r, const char *what, std::string &error) const;
  bool check(cudnnStatus_t s, const char *what, std::string &error) const;
  bool check(cublasStatus_t s, const char *what, std::string &error) const;

  /// Synchronous copies between host and device memory; false with a one-line `error`.
  bool upload(CUdeviceptr dst, const void *src, size_t bytes, std::string &error) const;
  bool download(void *dst, CUdeviceptr src, size_t bytes, std::string &error) const;

  const CudaSymbols *sym = nullptr;
  int ordinal = -1;
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUstream stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;
  std::string name;             // "NVIDIA H100 80GB HBM3"
  int ccMajor = 0, ccMinor = 0; // compute capability
  int multiprocessors = 0;
  uint64_t totalBytes = 0;
};

/// Opens GPU `ordinal` (0-based) into `out`, closing what `out` held. Without a usable GPU
/// returns false with a one-line `error` that dlrun prints as is, e.g. "no CUDA device found
/// (libcuda.so.1: cannot open shared object file: No such file or directory); use --device
/// cpu"; likewise for a missing cuDNN 9 or cuBLAS, or an ordinal past the last device.
bool openCudaDevice(int ordinal, CudaDevice &out, std::string &error);

/// How many GPUs the driver sees; false with openCudaDevice's "no CUDA device found (...)"
/// line when it cannot be loaded or sees none.
bool countCudaDevices(int &count, std::string &error);

/// "no CUDA device cuda:5 (this machine has cuda:0 to cuda:1)".
std::string noSuchCudaDevice(int ordinal, int count);

} // namespace dlc::cuda
