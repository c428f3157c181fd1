// Which activations the CPU keeps in oneDNN's blocked layout (runtime/cpu/Layout.h), on
// programs built by hand: a convolution, batch norm and ReLU chain between two convolutions
// is blocked; one NCHW reader anywhere in a group (LRN, a program output, a view of
// the same memory read by a matmul) or a channel count that is not a multiple of the block
// keeps the whole group NCHW, and the convolutions' bits say which of their tensors are
// blocked; max pooling ties its input and output to one layout. Skipped without oneDNN.
#include "runtime/cpu/DnnlConv.h"
#include "runtime/cpu/Layout.h"
#include "runtime/cpu/Parallel.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace dlc;
using plan::KernelKind;

namespace {

/// conv(x) -> batch norm -> relu -> conv, batch 8 at 16x16 with `c` channels in the middle:
/// big enough that oneDNN takes both convolutions. Buffers: 0 x (input), 1 w1, 2 y1, 3 ws,
/// 4-7 gamma beta runMean runVar, 8 z, 9 mean, 10 invStd, 11 r, 12 w2, 13 y2 (output).
struct Chain {
  plan::Plan p;
  plan::Program prog;
  int32_t add(uint64_t floats, int32_t program, int first, int last) {
    plan::Buffer b;
    b.bytes = floats * 4;
    b.offset = p.arenaBytes;
    b.program = program;
    b.first = first, b.last = last;
    p.arenaBytes += (b.bytes + 63) / 64 * 64;
    p.buffers.push_back(b);
    return int32_t(p.buffers.size() - 1);
  }
  explicit Chain(int64_t c) {
    const int64_t n = 8, hw = 16 * 16, act = n * c * hw;
    add(n * 32 * hw, 0, 0, 0);      // 0 x
    add(c * 32 * 9, -1, 0, 0);      // 1 w1
    add(act, 0, 0, 1);              // 2 y1
    add(1, 0, 0, 0);                // 3 workspace
    for (int i = 0; i < 4; ++i)
      add(c, -1, 0, 0);             // 4-7
    add(act, 0, 1, 2);              // 8 z
    add(c, 0, 1, 1);                // 9 mean
    add(c, 0, 1, 1);                // 10 invStd
    add(act, 0, 2, 3);              // 11 r
    add(32 * c * 9, -1, 0, 0);      // 12 w2
    add(n * 32 * hw, 0, 3, 3);      // 13 y2
    auto kernel = [&](KernelKind kind, std::vector<int64_t> ints, std::vector<float> floats,
                      std::vector<int32_t> args) {
      plan::Kernel k;
      k.kind = kind, k.ints = std::move(ints), k.floats = std::move(floats), k.args = std::move(args);
      prog.kernels.push_back(k);
    };
    kernel(KernelKind::Conv2dFwd, {n, 32, 16, 16, c, 3, 3, 1, 1, 1, 1}, {}, {0, 1, 2, 3});
    kernel(KernelKind::BatchNormTrain, {n, c, hw}, {1e-5f, 0.1f}, {2, 4, 5, 6, 7, 8, 9, 10});
    kernel(KernelKind::Relu, {act}, {}, {8, 11});
    kernel(KernelKind::Conv2dFwd, {n, c, 16, 16, 32, 3, 3, 1, 1, 1, 1}, {}, {11, 12, 13, 3});
    prog.name = "train";
    prog.inputs.push_back({"image", 0});
    prog.outputs.push_back({"out", 13, {n, 32, 16, 16}});
  }
  plan::Program run() {
    p.programs = {prog};
    plan::Program copy = prog;
    stats = cpu::assignLayouts(p, 0, copy);
    return copy;
  }
  cpu::LayoutStats stats;
};

class LayoutTest : public ::testing::Test {
protected:
  void SetUp() override {
    cpu::setThreads(1);
    if (cpu::dnnlBlock() == 0)
      GTEST_SKIP() << "oneDNN not built in or no blocked layout on this CPU";
    block = cpu::dnnlBlock();
  }
  int block = 0;
};

TEST_F(LayoutTest, ChainBetweenConvolutionsIsBlocked) {
  Chain chain(64);
  plan::Program prog = chain.run();
  EXPECT_EQ(prog.kernels[0].blocked, 1u << 2) << "conv1: its output only (x is an input)";
  EXPECT_EQ(prog.kernels[1].blocked, (1u << 0) | (1u << 5)) << "batch norm's x and y";
  EXPECT_EQ(prog.kernels[2].blocked, 3u) << "relu's x and y";
  EXPECT_EQ(prog.kernels[3].blocked, 1u << 0) << "conv2: its input only (y2 is an output)";
  EXPECT_EQ(chain.stats.blocked, 3);
  EXPECT_EQ(chain.stats.convCalls, 2);
  EXPECT_EQ(chain.stats.block, block);
}

TEST_F(LayoutTest, ChannelsNotAMultipleOfTheBlockStayNchw) {
  Chain chain(block + block / 2);
  plan::Program prog = chain.run();
  for (const plan::Kernel &k : prog.kernels)
    EXPECT_EQ(k.blocked, 0u);
  EXPECT_EQ(chain.stats.blocked, 0);
}

TEST_F(LayoutTest, OneNchwReaderKeepsTheGroupNchw) {
  // Local response normalisation (NCHW only) reads the relu's output: relu, batch norm and
  // conv1's output stay NCHW.
  Chain lrn(64);
  const int32_t out = lrn.add(8 * 64 * 256, 0, 3, 3);
  lrn.prog.kernels.push_back({KernelKind::LrnFwd, "lrn", {8, 64, 256, 2}, {1.f, 1e-4f, 0.75f}, {11, out}});
  plan::Program prog = lrn.run();
  EXPECT_EQ(prog.kernels[0].blocked, 0u);
  EXPECT_EQ(prog.kernels[1].blocked, 0u);
  EXPECT_EQ(prog.kernels[2].blocked, 0u);
  EXPECT_EQ(prog.kernels[3].blocked, 0u);

  // A program output in the group.
  Chain output(64);
  output.prog.outputs.push_back({"z", 8, {8, 64, 16, 16}});
  prog = output.run();
  EXPECT_EQ(prog.kernels[1].blocked, 0u);
  EXPECT_EQ(prog.kernels[0].blocked, 0u);

  // A view: a buffer on z's memory while z lives, read by a matmul.
  Chain view(64);
  const plan::Buffer z = view.p.buffers[8];
  view.p.buffers.push_back(z);
  const int32_t alias = int32_t(view.p.buffers.size() - 1);
  const int32_t mm = view.add(8 * 10, 0, 2, 2);
  view.prog.kernels.push_back({KernelKind::Matmul, "mm", {8, 10, 64 * 256, 0, 1}, {}, {alias, 12, mm}});
  prog = view.run();
  EXPECT_EQ(prog.kernels[1].blocked, 0u);
  EXPECT_EQ(prog.kernels[2].blocked, 0u);
}

TEST_F(LayoutTest, OffWithTheEnvironmentSwitch) {
  setenv("DLC_BLOCKED", "0", 1);
  Chain chain(64);
  plan::Program prog = chain.run();
  unsetenv("DLC_BLOCKED");
  for (const plan::Kernel &k : prog.kernels)
    EXPECT_EQ(k.blocked, 0u);
}

// Max pooling takes the blocked layout on both sides (a tie: its input and output differ in
// shape but share the layout); an NCHW output (here a program output) makes its input NCHW
// too, and so the whole chain before it.
TEST_F(LayoutTest, MaxPoolingTiesItsInputAndOutput) {
  Chain pooled(64);
  const int32_t out = pooled.add(8 * 64 * 8 * 8, 0, 3, 4);
  const int32_t after = pooled.add(8 * 64 * 8 * 8, 0, 4, 4);
  pooled.prog.kernels.push_back({KernelKind::MaxPoolFwd, "pool", {8, 64, 16, 16, 2, 2, 2, 2, 0, 0}, {}, {11, out}});
  pooled.prog.kernels.push_back({KernelKind::Relu, "relu", {8 * 64 * 64}, {}, {out, after}});
  plan::Program prog = pooled.run();
  EXPECT_EQ(prog.kernels[4].blocked, 3u) << "the pooling's input and output";
  EXPECT_EQ(prog.kernels[2].blocked, 3u);
  EXPECT_EQ(prog.kernels[5].blocked, 3u);

  Chain shown(64);
  const int32_t pooledOut = shown.add(8 * 64 * 8 * 8, 0, 3, 3);
  shown.prog.kernels.push_back({KernelKind::MaxPoolFwd, "pool", {8, 64, 16, 16, 2, 2, 2, 2, 0, 0}, {}, {11, pooledOut}});
  shown.prog.outputs.push_back({"pooled", pooledOut, {8, 64, 8, 8}});
  prog = shown.run();
  EXPECT_EQ(prog.kernels[4].blocked, 0u);
  EXPECT_EQ(prog.kernels[2].blocked, 0u) << "tied to the NCHW output through the pooling";
  EXPECT_EQ(prog.kernels[1].blocked, 0u);
  EXPECT_EQ(prog.kernels[0].blocked, 0u);
}

} // namespace

namespace {
/// Chain's two filters with an SGD step each: w1 with gradient g1 and momentum m1, w2 with
/// g2 and m2 (buffers 14-17, the gradients transient).
struct Trained : Chain {
  explicit Trained(int64_t c) : Chain(c) {
    const int32_t g1 = add(c * 32 * 9, 0, 4, 4), m1 = add(c * 32 * 9, -1, 0, 0);
    const int32_t g2 = add(32 * c * 9, 0, 4, 5), m2 = add(32 * c * 9, -1, 0, 0);
    prog.kernels.push_back({KernelKind::SgdMomentum, "sgd1", {c * 32 * 9}, {0.1f, 0.9f, 0.f}, {1, g1, m1}});
    prog.kernels.push_back({KernelKind::SgdMomentum, "sgd2", {32 * c * 9}, {0.1f, 0.9f, 0.f}, {12, g2, m2}});
    p.programs = {prog};
  }
  std::vector<int32_t> filters() {
    p.programs = {prog};
    std::vector<int32_t> ids;
    for (const cpu::BlockedFilter &f : cpu::assignFilterLayouts(p))
      ids.push_back(f.buffer);
    std::sort(ids.begin(), ids.end());
    return ids;
  }
};
} // namespace

// Filters stay in oneDNN's blocked filter layout across steps (Layout.h, assignFilterLayouts)
// with the buffers their optimizer combines with them; the convolutions' bit 1 says so. A
// filter that another kind reads by position (here a matmul), or whose channels are not
// multiples of the block, stays OIHW with its gradient and momentum.
TEST_F(LayoutTest, FiltersHeldBlockedWithTheirOptimizerState) {
  const cpu::GroupedConvShape conv1{8, 32, 16, 16, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  if (!cpu::dnnlFilterLayoutFits(conv1))
    GTEST_SKIP() << "oneDNN's forward asks for another filter layout on this CPU";
  Trained both(64);
  EXPECT_EQ(both.filters(), (std::vector<int32_t>{1, 12, 14, 15, 16, 17}));
  std::vector<cpu::BlockedFilter> held = cpu::assignFilterLayouts(both.p);
  ASSERT_EQ(held.size(), 6u);
  EXPECT_EQ(held[0].o, 64);
  EXPECT_EQ(held[0].i, 32);
  EXPECT_EQ(held[0].r, 3);
  plan::Program prog = both.prog;
  const cpu::LayoutStats stats = cpu::assignLayouts(both.p, 0, prog, held);
  EXPECT_EQ(prog.kernels[0].blocked, (1u << 2) | (1u << 1)) << "conv1: output and filter";
  EXPECT_EQ(prog.kernels[3].blocked, (1u << 0) | (1u << 1)) << "conv2: input and filter";
  EXPECT_EQ(prog.kernels[4].blocked, 0u) << "the optimizer has no layout bits";
  EXPECT_EQ(stats.filterCalls, 2);

  Trained read(64);
  const int32_t mm = read.add(8 * 10, 0, 5, 5);
  read.prog.kernels.push_back({KernelKind::Matmul, "mm", {8, 10, 64 * 9, 0, 1}, {}, {0, 12, mm}});
  EXPECT_EQ(read.filters(), (std::vector<int32_t>{1, 14, 15})) << "w2, g2, m2 stay OIHW";

  Trained odd(block + block / 2);
  EXPECT_EQ(odd.filters(), std::vector<int32_t>{});

  setenv("DLC_BLOCKED_FILTERS", "0", 1);
  Trained off(64);
  EXPECT_EQ(off.filters(), std::vector<int32_t>{});
  unsetenv("DLC_BLOCKED_FILTERS");
}
