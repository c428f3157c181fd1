//===- CudaSymbols.cpp - dlopen/dlsym of the CUDA driver, cuDNN, cuBLAS and NCCL ===//
//
// Libraries are looked for by soname, so the system's loader path decides (the driver puts
// libcuda.so.1 there); the others are also looked for in the toolkit this build found,
// which is often not on that path. Handles are never closed: the table lives as long as the
// process.
//
#include "runtime/cuda/CudaSymbols.h"

#include <dlfcn.h>
#include <mutex>
#include <vector>

using namespace dlc::cuda;

// Two levels, so that versioning macros (cuMemAlloc -> cuMemAlloc_v2) expand first.
#define DLC_CUDA_STRINGIFY_EXPANDED(x) #x
#define DLC_CUDA_STRINGIFY(x) DLC_CUDA_STRINGIFY_EXPANDED(x)

namespace {

CudaSymbols table;
std::mutex tableMutex;
bool loaded[4];

std::vector<std::string> candidates(CudaLibrary library) {
  std::vector<std::string> sonames;
  switch (library) {
  case CudaLibrary::Driver:
    return {"libcuda.so.1"}; // comes with the driver, never with the toolkit
  case CudaLibrary::Cudnn:
    sonames = {"libcudnn.so.9"};
    break;
  case CudaLibrary::Cublas:
    sonames = {"libcublas.so.13", "libcublas.so.12"};
    break;
  case CudaLibrary::Nccl:
    sonames = {"libnccl.so.2"};
    break;
  }
#ifdef DLC_CUDA_LIBRARY_DIR
  for (size_t i = 0, n = sonames.size(); i < n; ++i)
    sonames.push_back(std::string(DLC_CUDA_LIBRARY_DIR) + "/" + sonames[i]);
#endif
  return sonames;
}

} // namespace

bool dlc::cuda::loadCudaLibrary(CudaLibrary library, std::string &error) {
  std::lock_guard<std::mutex> lock(tableMutex);
  if (loaded[int(library)])
    return true;
#if !DLC_HAVE_NCCL_HEADER
  if (library == CudaLibrary::Nccl) {
    error = "this dlrun was built without nccl.h";
    return false;
  }
#endif
  std::vector<std::string> names = candidates(library);
  void *handle = nullptr;
  std::string why; // the first soname's error says best what is missing
  for (const std::string &name : names) {
    if ((handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)))
      break;
    std::string e = dlerror();
    if (why.empty())
      why = e;
  }
  if (!handle) {
    error = why;
    return false;
  }
#define DLC_CUDA_RESOLVE(lib, name)                                                                \
  if (library == CudaLibrary::lib) {                                                               \
    void *address = dlsym(handle, DLC_CUDA_STRINGIFY(name));                                       \
    if (!address) {                                                                                \
      error = names[0] + " has no " DLC_CUDA_STRINGIFY(name) " (too old for this build?)";         \
      return false;                                                                                \
    }                                                                                              \
    table.name = reinterpret_cast<decltype(table.name)>(address);                                  \
  }
  DLC_CUDA_SYMBOLS(DLC_CUDA_RESOLVE)
#define DLC_CUDA_RESOLVE_TYPED(lib, name, type) DLC_CUDA_RESOLVE(lib, name)
  DLC_CUDA_TYPED_SYMBOLS(DLC_CUDA_RESOLVE_TYPED)
#undef DLC_CUDA_RESOLVE_TYPED
#undef DLC_CUDA_RESOLVE
  loaded[int(library)] = true;
  return true;
}

const CudaSymbols &dlc::cuda::cudaSymbols() { return table; }
