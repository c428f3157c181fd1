// Inference programs run as batch slices (runtime/cpu/BatchSplit.h): a small convolutional
// classifier's eval and infer programs give, sliced over 2 and 3 threads, the results of the
// ordinary run on one thread; programs whose buffers or kernels do not allow slicing are
// refused (and then run as before).
#include "runtime/cpu/BatchSplit.h"
#include "runtime/cpu/Executor.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/Parallel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace dlc;
using namespace dlc::plan;

namespace {

constexpr int64_t kBatch = 7; // 3 + 4 examples on two threads, 2 + 2 + 3 on three

/// conv 3x3 (1 -> 3 channels, 6x6, same padding, bias and ReLU fused) -> 2x2 max pool ->
/// linear 27 -> 4 with bias -> relu kernel -> softmax cross-entropy and accuracy. Buffers
/// laid out one after another (no reuse).
struct ConvNet {
  Plan p;
  int32_t images, labels, convW, convB, conv, workspace, pool, fcW, fcB, fc, relu, loss, correct;

  ConvNet() {
    p.model = "convnet";
    p.train.batch = kBatch;
    auto buffer = [&](const char *name, BufferKind kind, uint64_t floats) {
      Buffer b;
      b.name = name;
      b.kind = kind;
      b.bytes = floats * 4;
      b.offset = p.arenaBytes;
      b.program = kind == BufferKind::Parameter ? -1 : 0;
      p.buffers.push_back(b);
      p.arenaBytes += (b.bytes + 63) / 64 * 64;
      return int32_t(p.buffers.size() - 1);
    };
    convW = buffer("conv.w", BufferKind::Parameter, 3 * 9);
    convB = buffer("conv.b", BufferKind::Parameter, 3);
    fcW = buffer("fc.w", BufferKind::Parameter, 4 * 27);
    fcB = buffer("fc.b", BufferKind::Parameter, 4);
    p.persistentBytes = p.arenaBytes;
    images = buffer("images", BufferKind::Input, kBatch * 36);
    labels = buffer("labels", BufferKind::Input, kBatch);
    conv = buffer("conv", BufferKind::Activation, kBatch * 3 * 36);
    workspace = buffer("conv.ws", BufferKind::Workspace, 16);
    pool = buffer("pool", BufferKind::Activation, kBatch * 27);
    fc = buffer("fc", BufferKind::Activation, kBatch * 4);
    relu = buffer("relu", BufferKind::Activation, kBatch * 4);
    loss = buffer("loss", BufferKind::Output, 1);
    correct = buffer("correct", BufferKind::Output, 1);
    const int64_t biasRelu = kEpilogueBias | kEpilogueRelu;
    Program eval;
    eval.name = "eval";
    eval.kernels = {
        kernel(KernelKind::Conv2dFwd, {kBatch, 1, 6, 6, 3, 3, 3, 1, 1, 1, 1, biasRelu},
               {images, convW, conv, workspace, convB}),
        kernel(KernelKind::MaxPoolFwd, {kBatch, 3, 6, 6, 2, 2, 2, 2, 0, 0}, {conv, pool}),
        kernel(KernelKind::Matmul, {kBatch, 4, 27, 0, 1, kEpilogueBias}, {pool, fcW, fc, fcB}),
        kernel(KernelKind::Relu, {kBatch * 4}, {fc, relu}),
        kernel(KernelKind::SoftmaxXent, {kBatch, 4}, {relu, labels, loss}),
        kernel(KernelKind::Accuracy, {kBatch, 4}, {relu, labels, correct})};
    eval.loss = loss;
    eval.correct = correct;
    Program infer = eval;
    infer.name = "infer";
    infer.kernels.resize(4);
    infer.loss = infer.correct = -1;
    infer.outputs = {{"relu", relu, {kBatch, 4}}};
    p.programs = {eval, infer};
  }

  static Kernel kernel(KernelKind kind, std::vector<int64_t> ints, std::vector<int32_t> args) {
    Kernel k;
    k.kind = kind;
    k.name = "k";
    k.ints = std::move(ints);
    k.args = std::move(args);
    return k;
  }

  /// An arena with random parameters and inputs (labels in [0, 4)).
  std::vector<uint8_t> arena(uint32_t seed) const {
    std::vector<uint8_t> a(p.arenaBytes, 0);
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int32_t b : {convW, convB, fcW, fcB, images}) {
      float *f = reinterpret_cast<float *>(a.data() + p.buffers[size_t(b)].offset);
      for (uint64_t i = 0; i < p.buffers[size_t(b)].bytes / 4; ++i)
        f[i] = normal(rng);
    }
    int32_t *l = reinterpret_cast<int32_t *>(a.data() + p.buffers[size_t(labels)].offset);
    for (int64_t i = 0; i < kBatch; ++i)
      l[i] = int32_t(rng() % 4);
    return a;
  }

  const float *at(const std::vector<uint8_t> &a, int32_t b) const {
    return reinterpret_cast<const float *>(a.data() + p.buffers[size_t(b)].offset);
  }
};

/// Restores one kernel thread after each test.
struct BatchSplitTest : ::testing::Test {
  void TearDown() override { cpu::setThreads(1); }
};

TEST_F(BatchSplitTest, SlicedRunsMatchTheWholeBatch) {
  ConvNet net;
  for (const Program &prog : net.p.programs) {
    SCOPED_TRACE(prog.name);
    cpu::setThreads(1);
    std::vector<uint8_t> whole = net.arena(3);
    cpu::runProgram(net.p, prog, whole.data());
    for (int t : {2, 3}) {
      SCOPED_TRACE("threads " + std::to_string(t));
      cpu::setThreads(t);
      std::vector<uint8_t> sliced = net.arena(3);
      auto split = cpu::BatchSplit::make(net.p, prog, sliced.data());
      ASSERT_NE(split, nullptr);
      ASSERT_TRUE(split->run());
      // The kept buffers: what the rest of the program or the caller reads.
      for (int64_t i = 0; i < kBatch * 4; ++i)
        EXPECT_NEAR(net.at(sliced, net.relu)[i], net.at(whole, net.relu)[i], 1e-5f) << i;
      if (prog.loss >= 0) {
        EXPECT_NEAR(*net.at(sliced, net.loss), *net.at(whole, net.loss), 1e-5f);
        EXPECT_EQ(*net.at(sliced, net.correct), *net.at(whole, net.correct));
      }
      // The slices' own buffers are theirs: the arena's copy of the pool output is untouched.
      for (int64_t i = 0; i < kBatch * 27; ++i)
        ASSERT_EQ(net.at(sliced, net.pool)[i], 0.0f);
    }
  }
}

TEST_F(BatchSplitTest, OneThreadRunsNothing) {
  ConvNet net;
  cpu::setThreads(1);
  std::vector<uint8_t> a = net.arena(4);
  auto split = cpu::BatchSplit::make(net.p, net.p.programs[0], a.data());
  ASSERT_NE(split, nullptr);
  EXPECT_FALSE(split->run());
  EXPECT_EQ(*net.at(a, net.correct), 0.0f);
}

TEST_F(BatchSplitTest, RefusesWhatCannotBeSliced) {
  cpu::setThreads(2);
  std::vector<uint8_t> a(1);
  {
    ConvNet net; // the kept output shares memory with the images (an arena reuse)
    net.p.buffers[size_t(net.relu)].offset = net.p.buffers[size_t(net.images)].offset;
    EXPECT_EQ(cpu::BatchSplit::make(net.p, net.p.programs[0], a.data()), nullptr);
  }
  {
    ConvNet net; // a matmul whose other operand is an activation, not a weight
    net.p.programs[0].kernels[2].args[1] = net.conv;
    EXPECT_EQ(cpu::BatchSplit::make(net.p, net.p.programs[0], a.data()), nullptr);
  }
  {
    ConvNet net; // no per-example kernel first: nothing to slice
    std::swap(net.p.programs[0].kernels[0], net.p.programs[0].kernels[5]);
    EXPECT_EQ(cpu::BatchSplit::make(net.p, net.p.programs[0], a.data()), nullptr);
  }
  {
    ConvNet net; // per-example data read before the program writes it, not an input batch
    net.p.buffers[size_t(net.images)].kind = BufferKind::Activation;
    EXPECT_EQ(cpu::BatchSplit::make(net.p, net.p.programs[0], a.data()), nullptr);
  }
  {
    ConvNet net; // a batch that is not the plan's
    net.p.train.batch = kBatch + 1;
    EXPECT_EQ(cpu::BatchSplit::make(net.p, net.p.programs[0], a.data()), nullptr);
  }
  {
    ConvNet net; // training programs are never sliced
    net.p.programs[0].name = "train";
    EXPECT_EQ(cpu::BatchSplit::make(net.p, net.p.programs[0], a.data()), nullptr);
  }
}

} // namespace
