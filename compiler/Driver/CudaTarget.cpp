//===- CudaTarget.cpp - attach CUDA code to a plan ----------------*- C++ -*-===//
#include "compiler/Driver/CudaTarget.h"

#include "compiler/Hardware/Catalog.h"
#include "compiler/Target/Cuda/CudaCodegen.h"
#include "compiler/Target/Cuda/Nvrtc.h"
#include "runtime/plan/CudaLaunch.h"

#include <cstdlib>

using namespace dlc;

bool dlc::chooseCudaArch(const std::string &arch, const std::string &gpu,
                         const std::string &hardware, std::string &out, std::string &error) {
  if (!arch.empty()) {
    out = arch;
    return true;
  }
  if (gpu.empty()) {
    out = "sm_75";
    return true;
  }
  hw::Catalog catalog = hw::builtinCatalog();
  if (!hardware.empty() && !hw::loadCatalogFile(hardware, catalog, error))
    return false;
  const hw::Gpu *g = hw::findGpu(catalog, gpu, error);
  if (!g)
    return false;
  if (!g->nvrtcCanTarget()) {
    error = g->name + " is " + (g->smArch().empty() ? "of an unknown architecture" : g->smArch()) +
            ": the CUDA 13 toolkit's NVRTC compiles for sm_75 and newer only, so dlc cannot "
            "generate code for it (`dlc mem` still plans its memory)";
    return false;
  }
  out = g->smArch();
  return true;
}

bool dlc::checkPrecisionArch(plan::Precision precision, const std::string &arch,
                             std::string &error) {
  if (precision != plan::Precision::MixedBf16 || arch.rfind("sm_", 0) != 0 ||
      std::atoi(arch.c_str() + 3) >= 80)
    return true;
  error = std::string("precision mixed-bf16 needs sm_80 or newer (cuBLAS and cuDNN have no "
                      "bfloat16 path before Ampere), not ") +
          arch + "; use --arch sm_80 or newer, or mixed-fp16";
  return false;
}

bool dlc::attachCudaCode(plan::Plan &plan, const std::string &arch, bool sourceOnly,
                         std::string &error) {
  for (plan::Program &prog : plan.programs) {
    std::vector<cuda::CudaLaunch> launches;
    std::string src = cuda::emitCudaSource(plan, prog, launches, error);
    if (src.empty())
      return false;
    prog.cudaSource = src;
    prog.cudaLaunches = cuda::encodeLaunches(launches);
    if (sourceOnly)
      continue;
    cuda::CudaBinary binary;
    if (!cuda::compileCuda(src, arch, binary, error)) {
      error = "program '" + prog.name + "': " + error;
      return false;
    }
    prog.cudaPtx = binary.ptx;
    prog.cudaCubin.assign(binary.cubin.begin(), binary.cubin.end());
  }
  plan.target = "cuda";
  plan.arch = arch;
  return true;
}
