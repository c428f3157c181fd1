//===- Executor.cpp - runs a plan's kernel program on the CPU ----*- C++ -*-===//
//
// A switch over kernel kinds into the kernel library: the compiler already chose every
// shape, buffer and offset, so nothing here allocates or decides.
//
#include "runtime/cpu/Executor.h"

#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/LrnKernels.h"
#include "runtime/cpu/NormPoolKernels.h"
#include "runtime/cpu/RecurrentKernels.h"
#include "runtime/plan/KernelCheck.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace dlc;
using plan::KernelKind;

namespace {
using Clock = std::chrono::steady_clock;

cpu::ConvShape convShape(const std::vector<int64_t> &i) {
  return {int(i[0]), int(i[1]), int(i[2]), int(i[3]), int(i[4]), int(i[5]),
          int(i[6]), int(i[7]), int(i[8]), int(i[9]), int(i[10])};
}
cpu::PoolShape poolShape(const std::vector<int64_t> &i) {
  return {int(i[0]), int(i[1]), int(i[2]), int(i[3]), int(i[4]),
          int(i[5]), int(i[6]), int(i[7]), int(i[8]), int(i[9])};
}

cpu::LrnShape lrnShape(const plan::Kernel &k) {
  return {int(k.ints[0]), int(k.ints[1]), int(k.ints[2]), int(k.ints[3]),
          k.floats[0],    k.floats[1],    k.floats[2]};
}

/// The bias argument (always the last) when the epilogue asks for one.
const float *epilogueBias(const plan::Kernel &k, int64_t epi, float *const *a) {
  return (epi & plan::kEpilogueBias) ? a[k.args.size() - 1] : nullptr;
}

} // namespace

void cpu::runKernel(const plan::Kernel &k, float *const *a) {
  const auto &i = k.ints;
  switch (k.kind) {
  case KernelKind::Conv2dFwd: {
    int64_t epi = plan::kernelEpilogue(k);
    return cpu::conv2dForward(convShape(i), a[0], a[1], a[2], a[3], epilogueBias(k, epi, a),
                              epi & plan::kEpilogueRelu);
  }
  case KernelKind::Conv2dBwdData:
    return cpu::conv2dBackwardData(convShape(i), a[0], a[1], a[2], a[3]);
  case KernelKind::Conv2dBwdFilter:
    return cpu::conv2dBackwardFilter(convShape(i), a[0], a[1], a[2], a[3]);
  case KernelKind::MaxPoolFwd:
    return cpu::maxPool2dForward(poolShape(i), a[0], a[1]);
  case KernelKind::MaxPoolBwd:
    return cpu::maxPool2dBackward(poolShape(i), a[0], a[1], a[2],
                                  plan::kernelEpilogue(k) & plan::kEpilogueRelu);
  case KernelKind::Relu:
    return cpu::reluForward(i[0], a[0], a[1]);
  case KernelKind::ReluBwd:
    return cpu::reluBackward(i[0], a[0], a[1], a[2]);
  case KernelKind::BiasAdd:
    return cpu::biasAdd(i[0], i[1], i[2], a[0], a[1], a[2]);
  case KernelKind::BiasAddBwd:
    return cpu::biasAddBackward(i[0], i[1], i[2], a[0], a[1]);
  case KernelKind::Matmul: {
    int64_t epi = plan::kernelEpilogue(k);
    return cpu::matmul(i[0], i[1], i[2], i[3], i[4], a[0], a[1], a[2], epilogueBias(k, epi, a),
                       epi & plan::kEpilogueRelu);
  }
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
  case KernelKind::BatchNormTrain:
    return cpu::batchNormTrain(i[0], i[1], i[2], k.floats[0], k.floats[1], a[0], a[1], a[2], a[3],
                               a[4], a[5], a[6], a[7]);
  case KernelKind::BatchNormEval:
    return cpu::batchNormEval(i[0], i[1], i[2], k.floats[0], a[0], a[1], a[2], a[3], a[4], a[5]);
  case KernelKind::BatchNormBwd:
    return cpu::batchNormBackward(i[0], i[1], i[2], a[0], a[1], a[2], a[3], a[4], a[5], a[6],
                                  a[7]);
  case KernelKind::AvgPoolFwd:
    return cpu::avgPool2dForward(poolShape(i), a[0], a[1]);
  case KernelKind::AvgPoolBwd:
    return cpu::avgPool2dBackward(poolShape(i), a[0], a[1]);
  case KernelKind::LrnFwd:
    return cpu::lrnForward(lrnShape(k), a[0], a[1]);
  case KernelKind::LrnBwd:
    return cpu::lrnBackward(lrnShape(k), a[0], a[1], a[2], a[3]);
  case KernelKind::Zeros:
    return cpu::zeros(i[0], a[0]);
  case KernelKind::TimeStep:
    return cpu::timeStep(i[0], i[1], i[2], i[3], a[0], a[1]);
  case KernelKind::LstmCellFwd:
    return cpu::lstmCellForward(i[0], i[1], k.floats[0], a[0], a[1], a[2], a[3]);
  case KernelKind::LstmCellBwd:
    return cpu::lstmCellBackward(i[0], i[1], k.floats[0], a[0], a[1], a[2], a[3], a[4], a[5]);
  case KernelKind::NumKinds:
    break;
  }
  // The plan loader refuses unknown kinds (runtime/plan/KernelCheck.h), so this is a bug.
  std::fprintf(stderr, "dlrun: error: kernel kind %d (%s) has no CPU implementation\n",
               int(k.kind), k.name.c_str());
  std::abort();
}

void cpu::runKernelTimed(size_t n, const plan::Kernel &k, float *const *args, Profile *profile,
                         Trace *trace) {
  if (!profile && !trace)
    return runKernel(k, args);
  auto t0 = Clock::now();
  runKernel(k, args);
  auto t1 = Clock::now();
  if (profile)
    profile->seconds[n] += std::chrono::duration<double>(t1 - t0).count();
  if (trace)
    trace->events.push_back(
        {&k, trace->runs, std::chrono::duration<double, std::micro>(t0 - trace->origin).count(),
         std::chrono::duration<double, std::micro>(t1 - t0).count()});
}

void cpu::runProgram(const plan::Plan &plan, const plan::Program &prog, uint8_t *arena,
                     Profile *profile, Trace *trace) {
  float *args[8];
  if (trace && trace->runs >= trace->maxRuns)
    trace = nullptr;
  if (profile && profile->seconds.size() != prog.kernels.size())
    profile->seconds.assign(prog.kernels.size(), 0.0);
  for (size_t n = 0; n < prog.kernels.size(); ++n) {
    const plan::Kernel &k = prog.kernels[n];
    for (size_t j = 0; j < k.args.size() && j < 8; ++j)
      args[j] = reinterpret_cast<float *>(arena + plan.buffers[k.args[j]].offset);
    runKernelTimed(n, k, args, profile, trace);
  }
  if (profile)
    ++profile->runs;
  if (trace)
    ++trace->runs;
}
