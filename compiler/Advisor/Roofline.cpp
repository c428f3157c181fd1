//===- Roofline.cpp - a roofline estimate of a training step ----*- C++ -*-===//
#include "compiler/Advisor/Roofline.h"

#include <algorithm>

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
    total += std::max(k.flops / flopsPerSec, bytes / bytesPerSec);
  }
  return total;
}
