//===- TinyPlan.h - a small valid plan for tests and fuzzing -----*- C++ -*-===//
#pragma once

#include "runtime/plan/Plan.h"

namespace dlc::test {

/// The buffer of a program's first float input (the images), or -1.
inline int32_t imagesOf(const plan::Program &prog) {
  for (const plan::ProgramInput &in : prog.inputs)
    if (in.dtype == plan::DType::F32)
      return in.buffer;
  return -1;
}
/// The buffer of a program's class input (the labels), or -1.
inline int32_t labelsOf(const plan::Program &prog) {
  const plan::ProgramInput *in = plan::Plan::classInput(prog);
  return in ? in->buffer : -1;
}

/// A small plan that passes validatePlan: a linear classifier of 4x4 images into 3 classes at
/// `batch` (matmul, softmax cross-entropy and its gradient, SGD; accuracy in eval), for the
/// tests that go through readPlan or mutate a valid file, and the plan fuzzer's built-in seed.
inline plan::Plan tinyClassifierPlan(int64_t batch = 2) {
  using namespace dlc::plan;
  Plan p;
  p.model = "tiny";
  p.inputShape = {1, 4, 4};
  p.classes = 3;
  p.train.batch = batch;
  p.data.format = "synthetic";
  p.data.syntheticTrain = 8;
  p.data.syntheticTest = 4;
  auto buffer = [&](std::string name, BufferKind kind, uint64_t bytes, int32_t program) {
    Buffer b;
    b.name = std::move(name);
    b.kind = kind;
    b.bytes = bytes;
    b.offset = p.arenaBytes;
    b.program = program;
    p.buffers.push_back(b);
    p.arenaBytes += (bytes + 63) / 64 * 64;
    return int32_t(p.buffers.size() - 1);
  };
  int32_t w = buffer("fc.w", BufferKind::Parameter, 16 * 3 * 4, -1);
  int32_t m = buffer("fc.w.m", BufferKind::OptimizerState, 16 * 3 * 4, -1);
  p.persistentBytes = p.arenaBytes;
  int32_t images = buffer("images", BufferKind::Input, uint64_t(batch) * 16 * 4, 0);
  int32_t labels = buffer("labels", BufferKind::Input, uint64_t(batch) * 4, 0);
  int32_t logits = buffer("logits", BufferKind::Activation, uint64_t(batch) * 3 * 4, 0);
  int32_t loss = buffer("loss", BufferKind::Output, 4, 0);
  int32_t dlogits = buffer("dlogits", BufferKind::Gradient, uint64_t(batch) * 3 * 4, 0);
  int32_t dw = buffer("fc.dw", BufferKind::Gradient, 16 * 3 * 4, 0);
  int32_t correct = buffer("correct", BufferKind::Output, 4, 0);
  Parameter pw;
  pw.name = "fc.w";
  pw.shape = {16, 3};
  pw.init = "glorot_uniform";
  pw.fanIn = 16;
  pw.fanOut = 3;
  pw.buffer = w;
  Parameter pm = pw;
  pm.name = "fc.w.m";
  pm.init = "zeros";
  pm.trainable = false;
  pm.buffer = m;
  p.params = {pw, pm};
  auto kernel = [](KernelKind kind, std::vector<int64_t> ints, std::vector<int32_t> args,
                   std::vector<float> floats = {}) {
    Kernel k;
    k.kind = kind;
    k.name = "op@fc";
    k.ints = std::move(ints);
    k.args = std::move(args);
    k.floats = std::move(floats);
    return k;
  };
  Program train;
  train.name = "train";
  train.kernels = {kernel(KernelKind::Matmul, {batch, 3, 16, 0, 0}, {images, w, logits}),
                   kernel(KernelKind::SoftmaxXent, {batch, 3}, {logits, labels, loss}),
                   kernel(KernelKind::SoftmaxXentBwd, {batch, 3}, {logits, labels, dlogits}),
                   kernel(KernelKind::Matmul, {16, 3, batch, 1, 0}, {images, dlogits, dw}),
                   kernel(KernelKind::SgdMomentum, {48}, {w, dw, m}, {0.1f, 0.9f, 0.f})};
  train.inputs = {{"images", images, DType::F32, {1, 4, 4}, 0},
                  {"labels", labels, DType::I32, {}, 3}};
  train.loss = loss;
  Program eval;
  eval.name = "eval";
  eval.kernels = {kernel(KernelKind::Matmul, {batch, 3, 16, 0, 0}, {images, w, logits}),
                  kernel(KernelKind::SoftmaxXent, {batch, 3}, {logits, labels, loss}),
                  kernel(KernelKind::Accuracy, {batch, 3}, {logits, labels, correct})};
  eval.inputs = train.inputs;
  eval.loss = loss;
  eval.correct = correct;
  p.programs = {train, eval};
  return p;
}

/// tinyClassifierPlan as a regression model (an mse loss, classes 0, no `correct` output):
/// the 6 outputs against the first 6 floats of the images. It has no labels input (the
/// buffer stays, read by no kernel).
inline plan::Plan tinyRegressionPlan() {
  using namespace dlc::plan;
  Plan p = tinyClassifierPlan();
  p.classes = 0;
  for (Program &prog : p.programs) {
    for (Kernel &k : prog.kernels)
      if (k.kind == KernelKind::SoftmaxXent || k.kind == KernelKind::Accuracy) {
        k.kind = KernelKind::Mse;
        k.ints = {6};
        k.args = {k.args[0], imagesOf(prog), prog.loss};
      } else if (k.kind == KernelKind::SoftmaxXentBwd) {
        k.kind = KernelKind::MseBwd;
        k.ints = {6};
        k.args = {k.args[0], imagesOf(prog), k.args[2]};
      }
    prog.correct = -1;
    prog.inputs.resize(1);
  }
  return p;
}

} // namespace dlc::test
