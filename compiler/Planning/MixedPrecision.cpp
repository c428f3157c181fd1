//===- MixedPrecision.cpp - 2-byte storage for a mixed-precision plan -*- C++ -*-===//
//
// Per program, in one pass over its kernels:
//   1. the master gradients: the `g` arguments of the optimizer kernels (and of the global
//      norm's sum of squares) stay fp32;
//   2. every other activation, gradient and workspace buffer becomes the half type, but
//      for normalisation statistics (layer and batch norm's mean and inverse spread);
//   3. a matmul's or convolution's fp32 operand (a parameter, an input batch) is replaced by
//      a half copy made by a cast kernel just before its first reader in the program (cuBLAS
//      and cuDNN take operands of one type);
//   4. a master gradient written by a matmul or a convolution's filter gradient (the
//      library calls that write half on the GPU) is written to a half buffer instead, then
//      cast into the fp32 one.
// Lifetimes are then recomputed from the new kernel order. mixed-fp16 first gets dynamic
// loss scaling (addLossScaling: GradScaler's, as kernels and one skip point).
//
#include "compiler/Planning/MixedPrecision.h"

#include "compiler/Planning/ArenaLayout.h"

#include "runtime/plan/KernelCheck.h"

#include <algorithm>
#include <climits>
#include <map>
#include <set>

using namespace dlc;
using plan::BufferKind;
using plan::DType;
using plan::KernelKind;

namespace {

/// GradScaler's growth_interval: the scale doubles after this many steps without inf/NaN.
constexpr int64_t kGrowthInterval = 2000;

/// The argument positions of `kind` that cuBLAS or cuDNN read: all in the half type.
std::vector<size_t> libraryOperands(KernelKind kind) {
  if (kind == KernelKind::Matmul || kind == KernelKind::Conv2dFwd ||
      kind == KernelKind::Conv2dBwdData || kind == KernelKind::Conv2dBwdFilter ||
      kind == KernelKind::Conv2dGeneralFwd || kind == KernelKind::Conv2dGeneralBwdData ||
      kind == KernelKind::Conv2dGeneralBwdFilter)
    return {0, 1};
  return {};
}

/// The argument a library call writes (its result: y, dx, dw or c), or -1. A float one (a
/// master weight's gradient, or a program's named output, which stays fp32) is written
/// through a half buffer and a cast: cuBLAS and cuDNN take one dtype for all operands.
int libraryOutput(KernelKind kind) { return libraryOperands(kind).empty() ? -1 : 2; }

/// The gradient argument of the kinds that read a master gradient, or -1.
int masterGradientArg(KernelKind kind) {
  if (kind == KernelKind::SgdMomentum || kind == KernelKind::SgdStep ||
      kind == KernelKind::AdamStep)
    return 1;
  return kind == KernelKind::GradSumSq ? 0 : -1;
}

/// The outputs of `kind` that stay fp32: normalisation statistics (mean, inverse spread),
/// which the backward pass divides by, as cuDNN and PyTorch keep them.
std::vector<size_t> statisticsOutputs(KernelKind kind) {
  if (kind == KernelKind::LayerNormFwd)
    return {4, 5};
  if (kind == KernelKind::BatchNormTrain)
    return {6, 7};
  return {};
}

int32_t addBuffer(plan::Plan &plan, const std::string &name, BufferKind kind, DType dtype,
                  uint64_t elements, int32_t program) {
  plan::Buffer b;
  b.name = name;
  b.kind = kind;
  b.dtype = dtype;
  b.bytes = elements * plan::dtypeBytes(dtype);
  b.program = program;
  plan.buffers.push_back(b);
  return int32_t(plan.buffers.size() - 1);
}

plan::Kernel castKernel(const std::string &name, uint64_t elements, int32_t from, int32_t to) {
  plan::Kernel k;
  k.kind = KernelKind::Cast;
  k.name = name;
  k.ints = {int64_t(elements)};
  k.args = {from, to};
  k.flops = 0;
  return k;
}

void applyToProgram(plan::Plan &plan, int32_t programIndex, DType half) {
  plan::Program &prog = plan.programs[programIndex];
  std::set<int32_t> master, keep; // master gradients; every buffer that stays fp32
  for (const plan::Kernel &k : prog.kernels) {
    if (int g = masterGradientArg(k.kind); g >= 0 && size_t(g) < k.args.size())
      master.insert(k.args[g]);
    for (size_t a : statisticsOutputs(k.kind))
      if (a < k.args.size())
        keep.insert(k.args[a]);
  }
  keep.insert(master.begin(), master.end());

  // Buffers of the program as they were lowered: every one 4 bytes an element.
  for (plan::Buffer &b : plan.buffers) {
    bool step = b.kind == BufferKind::Activation || b.kind == BufferKind::Gradient ||
                b.kind == BufferKind::Workspace;
    if (b.program != programIndex || !step || b.dtype != DType::F32)
      continue;
    int32_t id = int32_t(&b - plan.buffers.data());
    if (keep.count(id))
      continue;
    b.dtype = half;
    b.bytes = b.bytes / 4 * plan::dtypeBytes(half);
  }

  std::vector<plan::Kernel> kernels;
  kernels.reserve(prog.kernels.size());
  std::map<int32_t, int32_t> copies; // fp32 buffer -> its half copy
  for (plan::Kernel k : prog.kernels) {
    for (size_t a : libraryOperands(k.kind)) {
      if (a >= k.args.size())
        continue;
      int32_t w = k.args[a];
      if (plan.buffers[w].dtype != DType::F32)
        continue;
      auto it = copies.find(w);
      if (it == copies.end()) {
        // A weight's copy is AMP's cached cast; an input batch (the first layer's) is cast
        // by its reader likewise.
        BufferKind kind = plan.buffers[w].kind == BufferKind::Input ? BufferKind::Activation
                                                                    : BufferKind::WeightCopy;
        uint64_t elements = plan.buffers[w].bytes / 4;
        std::string name = plan.buffers[w].name + "." + plan::dtypeName(half);
        int32_t copy = addBuffer(plan, name, kind, half, elements, programIndex);
        kernels.push_back(castKernel("cast@" + name, elements, w, copy));
        it = copies.emplace(w, copy).first;
      }
      k.args[a] = it->second;
    }
    int out = libraryOutput(k.kind);
    if (out >= 0 && size_t(out) < k.args.size() &&
        plan.buffers[k.args[out]].dtype == DType::F32) {
      int32_t g = k.args[out];
      uint64_t elements = plan.buffers[g].bytes / 4;
      int32_t h = addBuffer(plan, plan.buffers[g].name + "." + plan::dtypeName(half),
                            master.count(g) ? BufferKind::Gradient : BufferKind::Activation,
                            half, elements, programIndex);
      k.args[out] = h;
      std::string name = "cast@" + plan.buffers[g].name;
      kernels.push_back(std::move(k));
      kernels.push_back(castKernel(name, elements, h, g));
      continue;
    }
    kernels.push_back(std::move(k));
  }
  prog.kernels = std::move(kernels);

  // Lifetimes in the new order: inputs from the start, outputs (read back) to the end.
  recomputeLiveness(plan, programIndex);
  for (plan::Buffer &b : plan.buffers)
    if (b.program == programIndex && b.last < 0) { // touched by nothing (cannot happen now)
      b.first = 0;
      b.last = 0;
    }
}

/// Whether `kind` belongs to the optimizer's step (reads weight gradients, updates weights).
bool isUpdate(KernelKind kind) {
  return kind == KernelKind::SgdMomentum || kind == KernelKind::SgdStep ||
         kind == KernelKind::AdamStep || kind == KernelKind::GradSumSq ||
         kind == KernelKind::ClipScale;
}

/// The loss gradient kinds: their output (argument 2) is what the backward pass starts from.
bool isLossGradient(KernelKind kind) {
  return kind == KernelKind::SoftmaxXentBwd || kind == KernelKind::MseBwd ||
         kind == KernelKind::BceWithLogitsBwd;
}

plan::Kernel stateKernel(KernelKind kind, const std::string &name, std::vector<int64_t> ints,
                         std::vector<int32_t> args) {
  plan::Kernel k;
  k.kind = kind;
  k.name = name;
  k.ints = std::move(ints);
  k.args = std::move(args);
  k.flops = plan::kernelFlops(k);
  return k;
}

/// mixed-fp16's dynamic loss scaling (GradScaler) in a program that updates weights: the
/// loss gradient times the scale; the updates moved after the whole backward pass (as
/// optimizer.step() after backward(): every weight gradient must be checked first); before
/// them each weight gradient unscaled and checked, and the skip point; after them the scale's
/// update. Returns the kernels, lifetimes to be recomputed.
std::vector<plan::Kernel> addLossScaling(plan::Plan &plan, const std::vector<plan::Kernel> &in,
                                         int32_t state) {
  std::vector<plan::Kernel> out, updates;
  for (const plan::Kernel &k : in) {
    if (isUpdate(k.kind)) {
      updates.push_back(k);
      continue;
    }
    out.push_back(k);
    if (isLossGradient(k.kind)) {
      uint64_t elements = plan.buffers[k.args[2]].bytes / plan::dtypeBytes(plan.buffers[k.args[2]].dtype);
      out.push_back(stateKernel(KernelKind::LossScale, "loss_scale@" + k.name,
                                {int64_t(elements)}, {k.args[2], state}));
    }
  }
  if (updates.empty())
    return in;
  std::set<int32_t> unscaled;
  for (const plan::Kernel &k : updates)
    if (int g = masterGradientArg(k.kind); g >= 0 && unscaled.insert(k.args[g]).second)
      out.push_back(stateKernel(KernelKind::UnscaleGrad, "unscale@" + plan.buffers[k.args[g]].name,
                                {int64_t(plan.buffers[k.args[g]].bytes / 4)}, {k.args[g], state}));
  // Resumes at the scale's update; the index is set once the casts are in (resumeAtUpdate).
  out.push_back(stateKernel(KernelKind::SkipIfNonfinite, "skip_if_nonfinite", {1}, {state}));
  out.insert(out.end(), updates.begin(), updates.end());
  out.push_back(stateKernel(KernelKind::LossScaleUpdate, "loss_scale_update", {kGrowthInterval},
                            {state}));
  return out;
}

/// Points each skip_if_nonfinite at the loss_scale_update after it.
void resumeAtUpdate(plan::Program &prog) {
  for (size_t i = 0; i < prog.kernels.size(); ++i)
    if (prog.kernels[i].kind == KernelKind::SkipIfNonfinite)
      for (size_t j = i + 1; j < prog.kernels.size(); ++j)
        if (prog.kernels[j].kind == KernelKind::LossScaleUpdate) {
          prog.kernels[i].ints = {int64_t(j)};
          break;
        }
}

} // namespace

void dlc::applyMixedPrecision(plan::Plan &plan) {
  const DType half = plan::halfType(plan.train.precision);
  if (half == DType::F32)
    return;
  int32_t state = -1;
  if (plan.train.precision == plan::Precision::MixedFp16) {
    // GradScaler's state, persistent: zeros are its initial scale 65536 (LossScaleKernels.h).
    plan::Parameter p;
    p.name = "loss_scale";
    p.shape = {4};
    p.init = "zeros";
    p.trainable = false;
    p.buffer = int32_t(plan.buffers.size());
    plan::Buffer b;
    b.name = p.name;
    b.kind = BufferKind::OptimizerState;
    b.bytes = 16;
    b.program = -1;
    plan.buffers.push_back(b);
    plan.params.push_back(p);
    state = p.buffer;
  }
  for (size_t p = 0; p < plan.programs.size(); ++p) {
    if (state >= 0)
      plan.programs[p].kernels = addLossScaling(plan, plan.programs[p].kernels, state);
    applyToProgram(plan, int32_t(p), half);
    resumeAtUpdate(plan.programs[p]);
  }
}
