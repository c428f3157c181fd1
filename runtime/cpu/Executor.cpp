//===- Executor.cpp - runs a plan's kernel program on the CPU ----*- C++ -*-===//
//
// A switch over kernel kinds into the kernel library, generated from the `cpu` column of
// runtime/plan/KernelKinds.def: the compiler already chose every shape, buffer and offset,
// so nothing here allocates or decides.
//
#include "runtime/cpu/Executor.h"

#include "runtime/cpu/ActivationKernels.h"
#include "runtime/cpu/ConcatKernels.h"
#include "runtime/cpu/Convolution.h"
#include "runtime/cpu/DnnlConv.h"
#include "runtime/cpu/DropoutKernels.h"
#include "runtime/cpu/GroupedConvKernels.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/AttentionKernels.h"
#include "runtime/cpu/LayerNormKernels.h"
#include "runtime/cpu/LossScaleKernels.h"
#include "runtime/cpu/LrnKernels.h"
#include "runtime/cpu/NormPoolKernels.h"
#include "runtime/cpu/OptimizerKernels.h"
#include "runtime/cpu/RecurrentKernels.h"
#include "runtime/cpu/RegressionLossKernels.h"
#include "runtime/cpu/TransposeKernels.h"
#include "runtime/cpu/EmbeddingKernels.h"
#include "runtime/cpu/TensorKernels.h"
#include "runtime/plan/KernelCheck.h"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

using namespace dlc;
using plan::KernelKind;

namespace {
using Clock = std::chrono::steady_clock;

cpu::ConvShape convShape(const std::vector<int64_t> &i) {
  return {int(i[0]), int(i[1]), int(i[2]), int(i[3]), int(i[4]), int(i[5]),
          int(i[6]), int(i[7]), int(i[8]), int(i[9]), int(i[10])};
}
cpu::GroupedConvShape groupedConvShape(const std::vector<int64_t> &i) {
  return {int(i[0]),  int(i[1]),  int(i[2]),  int(i[3]),  int(i[4]),  int(i[5]),
          int(i[6]),  int(i[7]),  int(i[8]),  int(i[9]),  int(i[10]), int(i[11]),
          int(i[12]), int(i[13]), int(i[14]), int(i[15])};
}
cpu::AttentionShape attentionShape(const std::vector<int64_t> &i) {
  return {i[0], i[1], i[2], i[3], i[4] != 0};
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
const float *epilogueBias(const plan::Kernel &k, float *const *a) {
  return (plan::kernelEpilogue(k) & plan::kEpilogueBias) ? a[k.args.size() - 1] : nullptr;
}
bool epilogueRelu(const plan::Kernel &k) {
  return plan::kernelEpilogue(k) & plan::kEpilogueRelu;
}
/// The channel block of the kernel's blocked arguments (runtime/cpu/Layout.h), 0: all NCHW.
int block(const plan::Kernel &k) { return k.blocked ? cpu::dnnlBlock() : 0; }
/// Label buffers hold int32 class ids.
const int32_t *labels(const float *a) { return reinterpret_cast<const int32_t *>(a); }

} // namespace

void cpu::runKernel(const plan::Kernel &k, float *const *a) {
  [[maybe_unused]] const std::vector<int64_t> &i = k.ints;
  [[maybe_unused]] const std::vector<float> &f = k.floats;
  // One case per line of the table, calling its `cpu` column.
  switch (k.kind) {
#define DLC_KERNEL_KIND(Enum, name, params, ints, floats, epilogues, tolerance, flops, cpu)         \
  case KernelKind::Enum:                                                                           \
    return cpu;
#include "runtime/plan/KernelKinds.def"
  case KernelKind::NumKinds:
    break;
  }
  // The plan loader refuses unknown kinds (runtime/plan/KernelCheck.h), so this is a bug.
  std::fprintf(stderr, "dlrun: error: kernel kind %d (%s) has no CPU implementation\n",
               int(k.kind), k.name.c_str());
  std::abort();
}

void cpu::prepareKernels(const std::vector<const plan::Program *> &programs) {
  std::set<std::array<int64_t, 5>> gemms;
  for (const plan::Program *prog : programs)
    for (const plan::Kernel &k : prog->kernels) {
      // Each distinct product once (the LSTM's 28 steps share a handful).
      if (k.kind == KernelKind::Matmul &&
          gemms.insert({k.ints[0], k.ints[1], k.ints[2], k.ints[3], k.ints[4]}).second)
        matmulWarmUp(int(k.ints[0]), int(k.ints[1]), int(k.ints[2]), k.ints[3], k.ints[4]);
      prepareKernel(k);
    }
}

bool cpu::prepareKernel(const plan::Kernel &k) {
  using K = KernelKind;
  const bool plain = k.kind == K::Conv2dFwd || k.kind == K::Conv2dBwdData ||
                     k.kind == K::Conv2dBwdFilter;
  const bool general = k.kind == K::Conv2dGeneralFwd || k.kind == K::Conv2dGeneralBwdData ||
                       k.kind == K::Conv2dGeneralBwdFilter;
  if (!plain && !general)
    return true;
  const GroupedConvShape s = plain ? generalShape(convShape(k.ints)) : groupedConvShape(k.ints);
  const DnnlConvOp op = k.kind == K::Conv2dFwd || k.kind == K::Conv2dGeneralFwd
                            ? DnnlConvOp::Forward
                        : k.kind == K::Conv2dBwdData || k.kind == K::Conv2dGeneralBwdData
                            ? DnnlConvOp::BackwardData
                            : DnnlConvOp::BackwardFilter;
  if (!k.blocked && !preferDnnl(op, s))
    return true;
  const bool made = dnnlPrepare(op, s, plan::kernelEpilogue(k) & plan::kEpilogueBias,
                                epilogueRelu(k), k.blocked);
  return made || !k.blocked;
}

void cpu::runKernelTimed(size_t n, const plan::Kernel &k, float *const *args, Profile *profile,
                         Trace *trace, int32_t device) {
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
         std::chrono::duration<double, std::micro>(t1 - t0).count(), device});
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
    // A pipeline's kernels carry their device, a row of the trace each.
    runKernelTimed(n, k, args, profile, trace, prog.kernelStage.empty() ? 0 : prog.kernelStage[n]);
    // A step whose scaled gradients overflowed skips its updates (the loader checked that
    // `resume` lies after this kernel and within the program).
    if (k.kind == plan::KernelKind::SkipIfNonfinite && args[0][cpu::kFoundInf] != 0.0f)
      n = size_t(k.ints[0]) - 1;
  }
  if (profile)
    ++profile->runs;
  if (trace)
    ++trace->runs;
}
