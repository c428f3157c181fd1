//===- Executor.cpp - runs a plan's kernel program on the CPU ----*- C++ -*-===//
//
// A switch over kernel kinds into the kernel library: the compiler already chose every
// shape, buffer and offset, so nothing here allocates or decides.
//
#include "runtime/cpu/Executor.h"

#include "runtime/cpu/Kernels.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

using namespace dlc;
using plan::KernelKind;

namespace {
cpu::ConvShape convShape(const std::vector<int64_t> &i) {
  return {int(i[0]), int(i[1]), int(i[2]), int(i[3]), int(i[4]), int(i[5]),
          int(i[6]), int(i[7]), int(i[8]), int(i[9]), int(i[10])};
}
cpu::PoolShape poolShape(const std::vector<int64_t> &i) {
  return {int(i[0]), int(i[1]), int(i[2]), int(i[3]), int(i[4]),
          int(i[5]), int(i[6]), int(i[7]), int(i[8]), int(i[9])};
}

void runKernel(const plan::Kernel &k, float *const *a) {
  const auto &i = k.ints;
  switch (k.kind) {
  case KernelKind::Conv2dFwd:
    return cpu::conv2dForward(convShape(i), a[0], a[1], a[2], a[3]);
  case KernelKind::Conv2dBwdData:
    return cpu::conv2dBackwardData(convShape(i), a[0], a[1], a[2], a[3]);
  case KernelKind::Conv2dBwdFilter:
    return cpu::conv2dBackwardFilter(convShape(i), a[0], a[1], a[2], a[3]);
  case KernelKind::MaxPoolFwd:
    return cpu::maxPool2dForward(poolShape(i), a[0], a[1]);
  case KernelKind::MaxPoolBwd:
    return cpu::maxPool2dBackward(poolShape(i), a[0], a[1], a[2]);
  case KernelKind::Relu:
    return cpu::reluForward(i[0], a[0], a[1]);
  case KernelKind::ReluBwd:
    return cpu::reluBackward(i[0], a[0], a[1], a[2]);
  case KernelKind::BiasAdd:
    return cpu::biasAdd(i[0], i[1], i[2], a[0], a[1], a[2]);
  case KernelKind::BiasAddBwd:
    return cpu::biasAddBackward(i[0], i[1], i[2], a[0], a[1]);
  case KernelKind::Matmul:
    return cpu::matmul(i[0], i[1], i[2], i[3], i[4], a[0], a[1], a[2]);
  case KernelKind::Add:
    return cpu::add(i[0], a[0], a[1], a[2]);
  case KernelKind::SoftmaxXent:
    return cpu::softmaxXentForward(i[0], i[1], a[0], reinterpret_cast<const int32_t *>(a[1]),
                                   a[2]);
  case KernelKind::SoftmaxXentBwd:
    return cpu::softmaxXentBackward(i[0], i[1], a[0], reinterpret_cast<const int32_t *>(a[1]),
                                    a[2]);
  case KernelKind::Accuracy:
    return cpu::accuracy(i[0], i[1], a[0], reinterpret_cast<const int32_t *>(a[1]), a[2]);
  case KernelKind::SgdMomentum:
    return cpu::sgdMomentum(i[0], k.floats[0], k.floats[1], k.floats[2], a[0], a[1], a[2]);
  default:
    // Kinds added to the plan format before their CPU kernels exist are rejected here
    // rather than silently skipped.
    std::fprintf(stderr, "dlrun: error: kernel kind '%s' (%s) has no CPU implementation\n",
                 plan::kernelKindName(k.kind), k.name.c_str());
    std::exit(1);
  }
}
} // namespace

void cpu::runProgram(const plan::Plan &plan, const plan::Program &prog, uint8_t *arena,
                     Profile *profile) {
  float *args[8];
  if (profile && profile->seconds.size() != prog.kernels.size())
    profile->seconds.assign(prog.kernels.size(), 0.0);
  for (size_t n = 0; n < prog.kernels.size(); ++n) {
    const plan::Kernel &k = prog.kernels[n];
    for (size_t j = 0; j < k.args.size() && j < 8; ++j)
      args[j] = reinterpret_cast<float *>(arena + plan.buffers[k.args[j]].offset);
    if (!profile) {
      runKernel(k, args);
      continue;
    }
    auto t0 = std::chrono::steady_clock::now();
    runKernel(k, args);
    profile->seconds[n] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  if (profile)
    ++profile->runs;
}
