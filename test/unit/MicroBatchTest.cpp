//===- MicroBatchTest.cpp - GPipe micro-batches and the pipeline's waits -*- C++ -*-===//
//
// compiler/Planning/MicroBatch.h on the tiny classifier: 2 micro-batches of 2 against the
// same model at batch 4 (the loss, the count, the update), the GPipe order of the rewritten
// step; and runtime/cpu/PipelineRunner.h's waits on a hand-made two-device program.
//
#include "compiler/Planning/ArenaLayout.h"
#include "compiler/Planning/MicroBatch.h"
#include "runtime/cpu/Executor.h"
#include "runtime/cpu/PipelineRunner.h"
#include "runtime/plan/KernelCheck.h"
#include "test/unit/TinyPlan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

using namespace dlc;
using namespace dlc::plan;
using dlc::test::tinyClassifierPlan;

namespace {
/// A zeroed arena aligned as the kernels expect (kBufferAlignment).
struct Arena {
  explicit Arena(uint64_t bytes)
      : data(static_cast<uint8_t *>(std::aligned_alloc(64, (bytes + 63) / 64 * 64))) {
    std::memset(data, 0, (bytes + 63) / 64 * 64);
  }
  ~Arena() { std::free(data); }
  uint8_t *data;
};

float *at(const Plan &p, Arena &arena, int32_t buffer) {
  return reinterpret_cast<float *>(arena.data + p.buffers[size_t(buffer)].offset);
}

/// Gives the tiny plan's eval program buffers of its own, as the compiler does (it shares
/// the training step's).
void separateEval(Plan &p) {
  Program &eval = p.programs[1];
  std::map<int32_t, int32_t> own;
  auto mine = [&](int32_t &id) {
    if (id < 0 || p.buffers[size_t(id)].program != 0)
      return;
    auto it = own.find(id);
    if (it == own.end()) {
      Buffer b = p.buffers[size_t(id)];
      b.program = 1;
      p.buffers.push_back(b);
      it = own.emplace(id, int32_t(p.buffers.size() - 1)).first;
    }
    id = it->second;
  };
  for (Kernel &k : eval.kernels)
    for (int32_t &id : k.args)
      mine(id);
  for (ProgramInput &in : eval.inputs)
    mine(in.buffer);
  mine(eval.loss);
  mine(eval.correct);
}

/// Fills the parameters of `p` with the same values whatever its layout.
void fillParameters(const Plan &p, Arena &arena) {
  float *w = at(p, arena, p.params[0].buffer);
  for (int i = 0; i < 48; ++i)
    w[i] = 0.05f * float((i * 7) % 11) - 0.25f;
  std::memset(at(p, arena, p.params[1].buffer), 0, 48 * 4);
}

/// Fills the images and labels of `prog` with the batch's examples in order.
void fillInputs(const Plan &p, const Program &prog, Arena &arena) {
  float *x = at(p, arena, prog.inputs[0].buffer);
  for (int64_t i = 0; i < p.train.batch * 16; ++i)
    x[i] = std::sin(0.37f * float(i));
  int32_t *y = reinterpret_cast<int32_t *>(at(p, arena, prog.inputs[1].buffer));
  for (int64_t i = 0; i < p.train.batch; ++i)
    y[i] = int32_t((i * 2 + 1) % 3);
}
} // namespace

TEST(MicroBatch, TwoMicroBatchesMatchTheWholeBatch) {
  Plan whole = tinyClassifierPlan(4);
  Plan split = tinyClassifierPlan(2);
  separateEval(whole);
  separateEval(split);
  layoutArena(whole);
  std::vector<std::vector<int32_t>> stages;
  for (const Program &p : split.programs)
    stages.push_back(std::vector<int32_t>(p.kernels.size(), 0));
  std::string error;
  ASSERT_TRUE(splitMicroBatches(split, 2, stages, error)) << error;
  EXPECT_EQ(split.train.batch, 4);
  EXPECT_EQ(split.train.microbatches, 2);
  layoutArena(split);
  for (size_t p = 0; p < split.programs.size(); ++p) {
    ASSERT_EQ(stages[p].size(), split.programs[p].kernels.size());
    for (const Kernel &k : split.programs[p].kernels)
      ASSERT_TRUE(checkKernel(split, k, error)) << k.name << ": " << error;
  }

  // GPipe's order: forwards of micro-batches 1 and 2 (each its slices first), the loss's
  // sum and mean, the backward of 2, then of 1 with its gradient added and the sum halved,
  // the optimizer last.
  std::vector<std::string> kinds;
  for (const Kernel &k : split.program("train")->kernels)
    kinds.push_back(kernelKindName(k.kind));
  EXPECT_EQ(kinds, (std::vector<std::string>{
                       "copy_slice", "matmul", "copy_slice", "softmax_xent",  // micro-batch 1
                       "copy_slice", "matmul", "copy_slice", "softmax_xent",  // micro-batch 2
                       "add", "unary",                                       // mean loss
                       "softmax_xent_bwd", "matmul",                         // backward 2
                       "softmax_xent_bwd", "matmul", "add", "unary",         // backward 1
                       "sgd_momentum"}));

  Arena a(whole.arenaBytes), b(split.arenaBytes);
  fillParameters(whole, a);
  fillParameters(split, b);
  for (const char *name : {"train", "eval"}) {
    fillInputs(whole, *whole.program(name), a);
    fillInputs(split, *split.program(name), b);
    cpu::runProgram(whole, *whole.program(name), a.data);
    cpu::runProgram(split, *split.program(name), b.data);
    const Program &pw = *whole.program(name), &ps = *split.program(name);
    EXPECT_NEAR(*at(whole, a, pw.loss), *at(split, b, ps.loss), 1e-6) << name;
    if (pw.correct >= 0)
      EXPECT_EQ(*at(whole, a, pw.correct), *at(split, b, ps.correct)) << name;
  }
  // The update (after the training step; eval changes no parameter) and the momentum: the
  // mean gradient of the 4 examples, summed in another order.
  for (int p = 0; p < 2; ++p) {
    const float *x = at(whole, a, whole.params[size_t(p)].buffer);
    const float *y = at(split, b, split.params[size_t(p)].buffer);
    for (int i = 0; i < 48; ++i)
      EXPECT_NEAR(x[i], y[i], 1e-6f) << whole.params[size_t(p)].name << "[" << i << "]";
  }
}

TEST(MicroBatch, RefusesWhatItCannotSplit) {
  Plan plan = tinyClassifierPlan(2);
  std::vector<std::vector<int32_t>> stages;
  for (const Program &p : plan.programs)
    stages.push_back(std::vector<int32_t>(p.kernels.size(), 0));
  std::string error;
  Plan scaled = plan;
  Kernel skip;
  skip.kind = KernelKind::SkipIfNonfinite;
  skip.ints = {5};
  skip.args = {scaled.params[1].buffer};
  scaled.programs[0].kernels.push_back(skip);
  auto scaledStages = stages;
  scaledStages[0].push_back(0);
  EXPECT_FALSE(splitMicroBatches(scaled, 2, scaledStages, error));
  EXPECT_EQ(error, "--microbatches does not support dynamic loss scaling (training.precision "
                   "mixed-fp16) yet");
  EXPECT_FALSE(splitMicroBatches(plan, 1, stages, error));
}

// Two devices: device 0 writes A (kernel 0), device 1 copies it (kernel 1), device 0 then
// writes B, which the planner put where A was (kernel 2): kernel 1 waits for kernel 0, and
// kernel 2 for kernel 1. A kernel of device 0 touching other memory (kernel 3) waits for
// nothing; neither does device 1's own work (kernel 4).
TEST(PipelineRunner, WaitsForRemoteWritesAndReads) {
  Plan p;
  p.arenaBytes = 4 * 256;
  p.stages = {{0, 0, 0, 512, "a", "a"}, {0, 0, 512, 512, "b", "b"}};
  auto buffer = [&](const char *name, uint64_t offset) {
    Buffer b;
    b.name = name;
    b.bytes = 256;
    b.offset = offset;
    b.program = 0;
    p.buffers.push_back(b);
    return int32_t(p.buffers.size() - 1);
  };
  int32_t a = buffer("A", 0), reused = buffer("B", 0), other = buffer("C", 256),
          copy = buffer("A@1", 512), mine = buffer("D", 768);
  auto kernel = [](KernelKind kind, std::vector<int32_t> args) {
    Kernel k;
    k.kind = kind;
    k.ints = {64};
    k.args = std::move(args);
    return k;
  };
  Program prog;
  prog.name = "train";
  prog.kernels = {kernel(KernelKind::Relu, {other, a}), kernel(KernelKind::Copy, {a, copy}),
                  kernel(KernelKind::Relu, {other, reused}), kernel(KernelKind::Relu, {a, other}),
                  kernel(KernelKind::Relu, {copy, mine})};
  prog.kernelStage = {0, 1, 0, 0, 1};
  auto waits = cpu::PipelineRunner::waits(p, prog);
  ASSERT_EQ(waits.size(), 5u);
  ASSERT_EQ(waits[1].size(), 1u);
  EXPECT_EQ(waits[1][0].device, 0);
  EXPECT_EQ(waits[1][0].index, 0);
  ASSERT_EQ(waits[2].size(), 1u);
  EXPECT_EQ(waits[2][0].device, 1);
  EXPECT_EQ(waits[2][0].index, 1);
  EXPECT_TRUE(waits[0].empty());
  EXPECT_TRUE(waits[3].empty());
  EXPECT_TRUE(waits[4].empty());
}
