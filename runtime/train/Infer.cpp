//===- Infer.cpp - dlrun --infer: named tensors in, named tensors out -*- C++ -*-===//
#include "runtime/train/Infer.h"

#include "runtime/cpu/CpuDevice.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/cuda/CudaDeviceRunner.h"
#include "runtime/train/Arena.h"
#include "runtime/train/Checkpoint.h"
#include "runtime/train/Init.h"
#include "runtime/train/Safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>

using namespace dlc;

namespace {
int fail(const std::string &error) {
  std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
  return 1;
}

/// Whether a tensor of `shape` feeds `in`: [batch, ...in.shape], or in.shape itself when the
/// batch is 1 (an ONNX graph's inputs are whole tensors, its batch fixed at compile time).
bool shapeFits(const std::vector<int64_t> &shape, const plan::ProgramInput &in, int64_t batch) {
  std::vector<int64_t> batched{batch};
  batched.insert(batched.end(), in.shape.begin(), in.shape.end());
  return shape == batched || (batch == 1 && shape == in.shape);
}
} // namespace

int dlc::inferPlan(const InferOptions &opts) {
  std::string error;
  plan::Plan p;
  if (!plan::readPlan(opts.planPath, p, error))
    return fail(error);
  const plan::Program *prog = p.program("infer");
  if (!prog)
    return fail(opts.planPath + ": plan has no infer program (compiled by an older dlc?)");
  std::map<std::string, SafetensorsTensor> inputs;
  if (!readSafetensors(opts.input, inputs, error))
    return fail(error);
  AlignedArena arena(p.arenaBytes);
  if (!arena.data)
    return fail(opts.planPath + ": cannot allocate the arena of " + std::to_string(p.arenaBytes) +
                " bytes");
  initParameters(p, arena.data);
  if (!opts.load.empty() && !loadCheckpoint(p, arena.data, opts.load, error))
    return fail(error);
  // Every input before anything runs: present, of its dtype and shape.
  for (const plan::ProgramInput &in : prog->inputs) {
    auto it = inputs.find(in.name);
    const char *dtype = in.dtype == plan::DType::I32 ? "I32" : "F32";
    // Batch 1 (an ONNX graph's whole tensors): the shape alone; else [batch, ...shape].
    std::vector<int64_t> want;
    if (p.train.batch != 1)
      want.push_back(p.train.batch);
    want.insert(want.end(), in.shape.begin(), in.shape.end());
    if (it == inputs.end())
      return fail(opts.input + ": no tensor '" + in.name + "' (the model's input, " + dtype + " " +
                  shapeText(want) + ")");
    const SafetensorsTensor &t = it->second;
    if (t.dtype != dtype || !shapeFits(t.shape, in, p.train.batch))
      return fail(opts.input + ": tensor '" + in.name + "' is " + t.dtype + " " +
                  shapeText(t.shape) + ", the model's input " + dtype + " " + shapeText(want));
    const plan::Buffer &b = p.buffers[in.buffer];
    std::memcpy(arena.data + b.offset, t.data.data(), std::min<uint64_t>(b.bytes, t.data.size()));
  }
  auto device = opts.cudaOrdinal < 0 ? makeCpuDevice(p, arena.data)
                                     : makeCudaDevice(p, arena.data, opts.cudaOrdinal, error);
  if (!device)
    return fail(error);
  // A pipeline of micro-batches runs each device on a thread of its own, each running its
  // kernels itself (runtime/cpu/PipelineRunner.h); otherwise the kernels' pool.
  const bool threadedPipeline = !p.stages.empty() && p.train.microbatches > 1;
  cpu::setThreads(int(threadedPipeline ? 1
                      : opts.threads > 0
                          ? opts.threads
                          : std::max<int64_t>(1, std::min<int64_t>(
                                                     2, std::thread::hardware_concurrency()))));
  if (!device->run(*prog, nullptr, nullptr, error))
    return fail(error);
  std::map<std::string, SafetensorsTensor> outputs;
  for (const plan::ProgramOutput &o : prog->outputs) {
    SafetensorsTensor t;
    t.dtype = "F32";
    t.shape = o.shape;
    uint64_t n = 1;
    for (int64_t d : o.shape)
      n *= uint64_t(d);
    t.data.resize(n * 4);
    if (!device->read(p.buffers[o.buffer].offset, t.data.data(), t.data.size(), error))
      return fail(error);
    outputs[o.name] = std::move(t);
  }
  if (!writeSafetensors(opts.output, outputs, p.model, error))
    return fail(error);
  return 0;
}
