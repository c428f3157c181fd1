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
// Lifetimes are then recomputed from the new kernel order.
//
#include "compiler/Planning/MixedPrecision.h"

#include <algorithm>
#include <climits>
#include <map>
#include <set>

using namespace dlc;
using plan::BufferKind;
using plan::DType;
using plan::KernelKind;

namespace {

/// The argument positions of `kind` that cuBLAS or cuDNN read: all in the half type.
std::vector<size_t> libraryOperands(KernelKind kind) {
  if (kind == KernelKind::Matmul || kind == KernelKind::Conv2dFwd ||
      kind == KernelKind::Conv2dBwdData || kind == KernelKind::Conv2dBwdFilter ||
      kind == KernelKind::Conv2dGeneralFwd || kind == KernelKind::Conv2dGeneralBwdData ||
      kind == KernelKind::Conv2dGeneralBwdFilter)
    return {0, 1};
  return {};
}

/// The argument a library call that may produce a weight gradient writes, or -1.
int libraryOutput(KernelKind kind) {
  return kind == KernelKind::Matmul || kind == KernelKind::Conv2dBwdFilter ||
                 kind == KernelKind::Conv2dGeneralBwdFilter
             ? 2
             : -1;
}

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
    if (out >= 0 && size_t(out) < k.args.size() && master.count(k.args[out])) {
      int32_t g = k.args[out];
      uint64_t elements = plan.buffers[g].bytes / 4;
      int32_t h = addBuffer(plan, plan.buffers[g].name + "." + plan::dtypeName(half),
                            BufferKind::Gradient, half, elements, programIndex);
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
  for (plan::Buffer &b : plan.buffers)
    if (b.program == programIndex) {
      b.first = INT32_MAX;
      b.last = -1;
    }
  auto touch = [&](int32_t id, int32_t step) {
    plan::Buffer &b = plan.buffers[id];
    if (b.program != programIndex)
      return;
    b.first = std::min(b.first, step);
    b.last = std::max(b.last, step);
  };
  for (size_t s = 0; s < prog.kernels.size(); ++s)
    for (int32_t id : prog.kernels[s].args)
      touch(id, int32_t(s));
  const int32_t end = std::max<int32_t>(0, int32_t(prog.kernels.size()) - 1);
  for (const plan::ProgramInput &in : prog.inputs)
    touch(in.buffer, 0);
  for (int32_t id : {prog.loss, prog.correct})
    if (id >= 0)
      touch(id, end);
  for (plan::Buffer &b : plan.buffers)
    if (b.program == programIndex && b.last < 0) { // touched by nothing (cannot happen now)
      b.first = 0;
      b.last = 0;
    }
}

} // namespace

void dlc::applyMixedPrecision(plan::Plan &plan) {
  const DType half = plan::halfType(plan.train.precision);
  if (half == DType::F32)
    return;
  for (size_t p = 0; p < plan.programs.size(); ++p)
    applyToProgram(plan, int32_t(p), half);
}
