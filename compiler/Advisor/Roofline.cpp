//===- Roofline.cpp - a roofline estimate of a training step ----*- C++ -*-===//
#include "compiler/Advisor/Roofline.h"

#include <algorithm>
#include <cstdlib>

/// The tensor-core rate of `gpu` for a library call on 2-byte operands of type `t`, or 0:
/// FP16 from compute capability 7.0 (Volta), BF16 from 8.0 (Ampere); the catalog's dense
/// FP16 figure serves for both (they are equal on every card that has BF16).
static double halfTflops(const dlc::hw::Gpu &gpu, dlc::plan::DType t) {
  double cc = std::atof(gpu.computeCapability.c_str());
  if (t == dlc::plan::DType::F16)
    return cc >= 7.0 ? gpu.fp16Tflops : 0;
  if (t == dlc::plan::DType::BF16)
    return cc >= 8.0 ? gpu.fp16Tflops : 0;
  return 0;
}

double dlc::advisor::rooflineSeconds(const plan::Plan &p, const plan::Program &prog,
                                     const hw::Gpu &gpu) {
  double flopsPerSec = gpu.fp32Tflops * 1e12, bytesPerSec = gpu.bandwidthGBs * 1e9;
  if (flopsPerSec <= 0 || bytesPerSec <= 0)
    return 0;
  double total = 0;
  for (const plan::Kernel &k : prog.kernels) {
    double bytes = 0;
    for (int32_t a : k.args)
      bytes += p.buffers[a].bytes;
    // Matmuls and convolutions on half operands (their first argument) use tensor cores.
    double rate = flopsPerSec;
    bool library = k.kind == plan::KernelKind::Matmul || k.kind == plan::KernelKind::Conv2dFwd ||
                   k.kind == plan::KernelKind::Conv2dBwdData ||
                   k.kind == plan::KernelKind::Conv2dBwdFilter ||
                   k.kind == plan::KernelKind::Conv2dGeneralFwd ||
                   k.kind == plan::KernelKind::Conv2dGeneralBwdData ||
                   k.kind == plan::KernelKind::Conv2dGeneralBwdFilter;
    if (library && !k.args.empty())
      rate = std::max(rate, halfTflops(gpu, p.buffers[k.args[0]].dtype) * 1e12);
    total += std::max(k.flops / rate, bytes / bytesPerSec);
  }
  return total;
}
