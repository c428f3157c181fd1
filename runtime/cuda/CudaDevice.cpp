//===- CudaDevice.cpp - one GPU opened through the CUDA driver API ------------===//
//
// Opening goes from the cheapest question to the most expensive: is there a driver, does it
// see a device, then context and stream, then cuDNN and cuBLAS (whose handles take a while to
// create). Whatever fails first gives the one-line error; what was created is released.
//
#include "runtime/cuda/CudaDevice.h"

using namespace dlc::cuda;

namespace {

std::string driverError(const CudaSymbols &s, CUresult r, const char *what) {
  const char *name = nullptr, *text = nullptr;
  s.cuGetErrorName(r, &name);
  s.cuGetErrorString(r, &text);
  return std::string(what) + ": " + (name ? name : "CUDA error " + std::to_string(int(r))) +
         (text ? std::string(": ") + text : "");
}

} // namespace

bool CudaDevice::check(CUresult r, const char *what, std::string &error) const {
  if (r == CUDA_SUCCESS)
    return true;
  error = driverError(*sym, r, what);
  return false;
}

bool CudaDevice::check(cudnnStatus_t s, const char *what, std::string &error) const {
  if (s == CUDNN_STATUS_SUCCESS)
    return true;
  error = std::string(what) + ": " + sym->cudnnGetErrorString(s);
  return false;
}

bool CudaDevice::check(cublasStatus_t s, const char *what, std::string &error) const {
  if (s == CUBLAS_STATUS_SUCCESS)
    return true;
  error = std::string(what) + ": " + sym->cublasGetStatusString(s);
  return false;
}

bool CudaDevice::upload(CUdeviceptr dst, const void *src, size_t bytes, std::string &error) const {
  return check(sym->cuMemcpyHtoD(dst, src, bytes), "cuMemcpyHtoD", error);
}

bool CudaDevice::download(void *dst, CUdeviceptr src, size_t bytes, std::string &error) const {
  return check(sym->cuMemcpyDtoH(dst, src, bytes), "cuMemcpyDtoH", error);
}

void CudaDevice::close() {
  if (cublas)
    sym->cublasDestroy(cublas);
  if (cudnn)
    sym->cudnnDestroy(cudnn);
  if (stream)
    sym->cuStreamDestroy(stream);
  if (context)
    sym->cuDevicePrimaryCtxRelease(device);
  cublas = nullptr;
  cudnn = nullptr;
  stream = nullptr;
  context = nullptr;
  sym = nullptr;
  ordinal = -1;
  device = 0;
  name.clear();
  ccMajor = ccMinor = multiprocessors = 0;
  totalBytes = 0;
}

bool dlc::cuda::countCudaDevices(int &count, std::string &error) {
  std::string why;
  count = 0;
  if (!loadCudaLibrary(CudaLibrary::Driver, why)) {
    error = "no CUDA device found (" + why + "); use --device cpu";
    return false;
  }
  const CudaSymbols &s = cudaSymbols();
  CUresult r = s.cuInit(0);
  if (r == CUDA_SUCCESS)
    r = s.cuDeviceGetCount(&count);
  if (r != CUDA_SUCCESS || count == 0) {
    error = "no CUDA device found (" +
            (r != CUDA_SUCCESS ? driverError(s, r, "cuInit") : "the driver sees none") +
            "); use --device cpu";
    return false;
  }
  return true;
}

std::string dlc::cuda::noSuchCudaDevice(int ordinal, int count) {
  return "no CUDA device cuda:" + std::to_string(ordinal) + " (this machine has " +
         (count == 1 ? "cuda:0 only" : "cuda:0 to cuda:" + std::to_string(count - 1)) + ")";
}

bool dlc::cuda::openCudaDevice(int ordinal, CudaDevice &out, std::string &error) {
  out.close();
  std::string why;
  int count = 0;
  if (!countCudaDevices(count, error))
    return false;
  const CudaSymbols &s = cudaSymbols();
  if (ordinal < 0 || ordinal >= count) {
    error = noSuchCudaDevice(ordinal, count);
    return false;
  }

  CudaDevice &d = out;
  d.sym = &s;
  d.ordinal = ordinal;
  char name[256] = {};
  size_t total = 0;
  bool ok = d.check(s.cuDeviceGet(&d.device, ordinal), "cuDeviceGet", error) &&
            d.check(s.cuDeviceGetName(name, sizeof name - 1, d.device), "cuDeviceGetName", error) &&
            d.check(s.cuDeviceGetAttribute(&d.ccMajor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                           d.device),
                    "cuDeviceGetAttribute", error) &&
            d.check(s.cuDeviceGetAttribute(&d.ccMinor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                           d.device),
                    "cuDeviceGetAttribute", error) &&
            d.check(s.cuDeviceGetAttribute(&d.multiprocessors,
                                           CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d.device),
                    "cuDeviceGetAttribute", error) &&
            d.check(s.cuDeviceTotalMem(&total, d.device), "cuDeviceTotalMem", error) &&
            d.check(s.cuDevicePrimaryCtxRetain(&d.context, d.device), "cuDevicePrimaryCtxRetain",
                    error) &&
            d.check(s.cuCtxSetCurrent(d.context), "cuCtxSetCurrent", error) &&
            d.check(s.cuStreamCreate(&d.stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate", error);
  d.name = name;
  d.totalBytes = total;
  if (ok && !loadCudaLibrary(CudaLibrary::Cudnn, why)) {
    error = "cuDNN 9 not found (" + why + "); install it or use --device cpu";
    ok = false;
  }
  ok = ok && d.check(s.cudnnCreate(&d.cudnn), "cudnnCreate", error) &&
       d.check(s.cudnnSetStream(d.cudnn, d.stream), "cudnnSetStream", error);
  if (ok && !loadCudaLibrary(CudaLibrary::Cublas, why)) {
    error = "cuBLAS not found (" + why + "); install it or use --device cpu";
    ok = false;
  }
  ok = ok && d.check(s.cublasCreate(&d.cublas), "cublasCreate", error) &&
       d.check(s.cublasSetStream(d.cublas, d.stream), "cublasSetStream", error);
  if (!ok) {
    error = "CUDA device cuda:" + std::to_string(ordinal) + ": " + error;
    out.close();
  }
  return ok;
}
