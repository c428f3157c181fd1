//===- Nvrtc.h - CUDA C to PTX and CUBIN with NVRTC, cached on disk -*- C++ -*-===//
//
// One entry point, as tinygrad's compiler_cuda.py: source in, binaries out, errors carrying
// the program log. libnvrtc is loaded with dlopen on first use, so dlc builds and starts
// without the CUDA toolkit and only compiling for CUDA needs it.
//
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlc::cuda {

struct CudaBinary {
  std::string arch;           // "sm_86"
  std::string ptx;            // for the driver's JIT on newer GPUs
  std::vector<uint8_t> cubin; // ELF for `arch`, loadable with cuModuleLoadData
  std::string log;            // NVRTC's whole program log (warnings, or every error)
  bool fromCache = false;     // true when read from the on-disk cache instead of compiled
};

/// Compiles CUDA C `src` for `arch` ("sm_75", "sm_86", ...) to PTX and CUBIN. Results are
/// cached in $DLC_CACHE_DIR, else $XDG_CACHE_HOME/dlc/nvrtc, else ~/.cache/dlc/nvrtc, keyed
/// by a hash of the NVRTC version, the options, the arch and the source; a cache that cannot
/// be read or written is skipped. On failure returns false with a one-line `error`: NVRTC
/// missing, an arch NVRTC cannot target (CUDA 13: sm_75 and newer), or a compile error
/// naming the kernel it is in (the whole program log is in out.log).
bool compileCuda(const std::string &src, const std::string &arch, CudaBinary &out,
                 std::string &error);

/// Loads libnvrtc if it is not loaded yet; false with a one-line reason when it cannot be.
/// compileCuda calls it; tests use it to tell "NVRTC not installed" from a failure.
bool loadNvrtc(std::string &error);

} // namespace dlc::cuda
