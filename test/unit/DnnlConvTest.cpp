// The oneDNN convolutions (runtime/cpu/DnnlConv.h) against the in-house kernels they replace
// (Kernels.h's conv2d*, GroupedConvKernels.h's groupedConv2d*) on shapes where a wrong
// descriptor shows: stride 2 with padding, 1x1, 7x7, uneven batch splits, groups,
// depthwise, dilation, asymmetric padding; forward with and without the bias and ReLU
// epilogues, both gradients; with one and two threads. Skipped when oneDNN is not built in.
#include "runtime/cpu/Convolution.h"
#include "runtime/cpu/DnnlConv.h"
#include "runtime/cpu/Parallel.h"

#include "BlockedLayout.h"
#include "GradientCheck.h"

#include <gtest/gtest.h>

using namespace dlc::cpu;
using namespace dlc::testing;

namespace {

// n c h w k r s strideH strideW padTop padLeft padBottom padRight dilH dilW groups
const GroupedConvShape kShapes[] = {
    {3, 5, 11, 9, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},     // stride 2, padding, odd sizes
    {2, 16, 8, 8, 32, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},    // 1x1
    {3, 24, 7, 7, 40, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1},    // 1x1 stride 2 (ResNet shortcut)
    {2, 3, 20, 18, 16, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1},   // 7x7 stride 2 pad 3 (ResNet stem)
    {1, 32, 6, 6, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    // batch 1: nothing to split
    {5, 1, 12, 12, 6, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1},    // one input channel (LeNet)
    {2, 6, 9, 8, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},     // three groups
    {3, 16, 9, 9, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 16},   // depthwise stride 2 (MobileNet)
    {2, 8, 10, 11, 8, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1},    // dilation 2
    {2, 4, 7, 8, 6, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1, 2},      // asymmetric 'same' padding, groups
    // Split by channels at 2 threads (few positions per thread; see ChannelSplitWhereSmall):
    {3, 64, 7, 7, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    // ResNet's layer4 3x3, odd batch
    {4, 96, 8, 8, 64, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1},    // layer4's strided 1x1 shortcut
    {1, 32, 9, 9, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    // batch 1
};

std::string name(const GroupedConvShape &s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "n%d c%d %dx%d k%d %dx%d stride %dx%d pad %d,%d,%d,%d dil %dx%d g%d",
                s.n, s.c, s.h, s.w, s.k, s.r, s.s, s.strideH, s.strideW, s.padTop, s.padLeft,
                s.padBottom, s.padRight, s.dilH, s.dilW, s.groups);
  return buf;
}

class DnnlConvTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (dnnlVersion().empty())
      GTEST_SKIP() << "built without oneDNN";
    setDnnlEnabled(true);
  }
  void TearDown() override { setThreads(1); }
};

TEST_F(DnnlConvTest, MatchesInHouseKernels) {
  std::mt19937 rng(13);
  for (int threads : {1, 2}) {
    setThreads(threads);
    for (const GroupedConvShape &s : kShapes) {
      SCOPED_TRACE(name(s) + ", " + std::to_string(threads) + " threads");
      const size_t xs = size_t(s.n) * s.c * s.h * s.w, ys = size_t(s.n) * s.k * s.oh() * s.ow(),
                   ws = size_t(s.k) * s.cg() * s.r * s.s;
      Vec x = randomVec(rng, xs), w = randomVec(rng, ws), dy = randomVec(rng, ys),
          bias = randomVec(rng, s.k);
      for (int epilogue = 0; epilogue < 4; ++epilogue) {
        const float *b = epilogue & 1 ? bias.data() : nullptr;
        const bool relu = epilogue & 2;
        Vec want(ys, kGarbage), got(ys, kGarbage);
        groupedConv2dForward(s, x.data(), w.data(), want.data(), nullptr, b, relu);
        ASSERT_TRUE(dnnlConvForward(s, x.data(), w.data(), got.data(), b, relu));
        expectAllNear(got, want, 2e-4f);
      }
      Vec wantDx(xs, kGarbage), gotDx(xs, kGarbage);
      groupedConv2dBackwardData(s, dy.data(), w.data(), wantDx.data(), nullptr);
      ASSERT_TRUE(dnnlConvBackwardData(s, dy.data(), w.data(), gotDx.data()));
      expectAllNear(gotDx, wantDx, 2e-4f);
      Vec wantDw(ws, kGarbage), gotDw(ws, kGarbage);
      groupedConv2dBackwardFilter(s, dy.data(), x.data(), wantDw.data(), nullptr);
      ASSERT_TRUE(dnnlConvBackwardFilter(s, dy.data(), x.data(), gotDw.data()));
      expectAllNear(gotDw, wantDw, 2e-4f);
    }
  }
}

// The plain kinds' entry points (what conv2d_fwd and friends run) against the plain
// in-house kernels: the dispatch and the shape conversion, on a layer oneDNN takes and one
// it leaves to the in-house kernels.
TEST_F(DnnlConvTest, PlainEntryPointsAgree) {
  std::mt19937 rng(7);
  // n c h w k r s strideH strideW padH padW
  const ConvShape shapes[] = {{8, 32, 28, 27, 64, 3, 3, 1, 1, 1, 1}, {3, 5, 11, 9, 7, 3, 3, 2, 2, 1, 1}};
  EXPECT_TRUE(preferDnnl(DnnlConvOp::BackwardFilter, generalShape(shapes[0])));
  EXPECT_FALSE(preferDnnl(DnnlConvOp::Forward, generalShape(shapes[1])));
  for (const ConvShape &s : shapes) {
    const size_t xs = size_t(s.n) * s.c * s.h * s.w, ys = size_t(s.n) * s.k * s.oh() * s.ow(),
                 ws = size_t(s.k) * s.c * s.r * s.s;
    Vec x = randomVec(rng, xs), w = randomVec(rng, ws), dy = randomVec(rng, ys),
        bias = randomVec(rng, s.k);
    std::vector<float> scratch(convScratchFloats(s));
    Vec want(ys, kGarbage), got(ys, kGarbage);
    conv2dForward(s, x.data(), w.data(), want.data(), scratch.data(), bias.data(), true);
    convForward(s, x.data(), w.data(), got.data(), scratch.data(), bias.data(), true);
    expectAllNear(got, want, 2e-4f);
    Vec wantDx(xs, kGarbage), gotDx(xs, kGarbage);
    conv2dBackwardData(s, dy.data(), w.data(), wantDx.data(), scratch.data());
    convBackwardData(s, dy.data(), w.data(), gotDx.data(), scratch.data());
    expectAllNear(gotDx, wantDx, 2e-4f);
    Vec wantDw(ws, kGarbage), gotDw(ws, kGarbage);
    conv2dBackwardFilter(s, dy.data(), x.data(), wantDw.data(), scratch.data());
    convBackwardFilter(s, dy.data(), x.data(), gotDw.data(), scratch.data());
    expectAllNear(gotDw, wantDw, 2e-4f);
  }
}

// The measured choice (Convolution.cpp): LeNet's layers at batch 100 and anything at batch 1
// stay in-house, except LeNet's forward conv2; ResNet-size layers go to oneDNN.
TEST_F(DnnlConvTest, ChoosesByMeasuredSize) {
  // n c h w k r s strideH strideW padTop padLeft padBottom padRight dilH dilW groups
  const GroupedConvShape conv1{100, 1, 28, 28, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  const GroupedConvShape conv2{100, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1};
  GroupedConvShape conv2b1 = conv2;
  conv2b1.n = 1;
  const GroupedConvShape resnet{8, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  for (DnnlConvOp op : {DnnlConvOp::Forward, DnnlConvOp::BackwardData, DnnlConvOp::BackwardFilter}) {
    EXPECT_FALSE(preferDnnl(op, conv1));
    EXPECT_EQ(preferDnnl(op, conv2), op == DnnlConvOp::Forward);
    EXPECT_FALSE(preferDnnl(op, conv2b1));
    EXPECT_TRUE(preferDnnl(op, resnet));
  }
}

// The channel split (DnnlConv.cpp, channelParts) is what the last three kShapes get at two
// threads, in every direction, so MatchesInHouseKernels and BlockedTensorsMatchNchw check
// it; ResNet's early layers keep the batch split, and one thread splits nothing.
TEST_F(DnnlConvTest, ChannelSplitWhereSmall) {
  const size_t count = sizeof kShapes / sizeof kShapes[0];
  const GroupedConvShape layer1{8, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  for (DnnlConvOp op : {DnnlConvOp::Forward, DnnlConvOp::BackwardData, DnnlConvOp::BackwardFilter}) {
    setThreads(2);
    for (size_t i = count - 3; i < count; ++i)
      EXPECT_EQ(dnnlChannelParts(op, kShapes[i]), 2) << name(kShapes[i]);
    EXPECT_EQ(dnnlChannelParts(op, layer1), 0);
    EXPECT_EQ(dnnlChannelParts(op, kShapes[6]), 0) << "groups";
    setThreads(1);
    EXPECT_EQ(dnnlChannelParts(op, kShapes[count - 3]), 0);
  }
}

TEST_F(DnnlConvTest, DisabledDeclines) {
  const GroupedConvShape s = kShapes[0];
  Vec x(size_t(s.n) * s.c * s.h * s.w), w(size_t(s.k) * s.c * s.r * s.s),
      y(size_t(s.n) * s.k * s.oh() * s.ow(), kGarbage);
  setDnnlEnabled(false);
  EXPECT_FALSE(dnnlConvForward(s, x.data(), w.data(), y.data(), nullptr, false));
  EXPECT_EQ(y[0], kGarbage);
  setDnnlEnabled(true);
}

} // namespace

// Tensors handed over already in the blocked layout (runtime/cpu/Layout.h): each of the
// three directions with every combination of its two activation tensors blocked or NCHW,
// against the in-house kernel's NCHW result reordered; one and two threads (the batch split
// slices blocked tensors by image too), an odd batch, a strided 3x3 and a 1x1 layer.
TEST_F(DnnlConvTest, BlockedTensorsMatchNchw) {
  const int block = dnnlBlock();
  if (block == 0)
    GTEST_SKIP() << "oneDNN chose no blocked layout on this CPU";
  std::mt19937 rng(29);
  // n c h w k r s strideH strideW padTop padLeft padBottom padRight dilH dilW groups
  const GroupedConvShape shapes[] = {{3, 32, 9, 10, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},
                                     {5, 16, 7, 7, 48, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},
                                     {3, 64, 7, 7, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}};
  for (int threads : {1, 2}) {
    setThreads(threads);
    for (const GroupedConvShape &s : shapes) {
      const int hw = s.h * s.w, ohw = s.oh() * s.ow();
      const size_t xs = size_t(s.n) * s.c * hw, ys = size_t(s.n) * s.k * ohw,
                   ws = size_t(s.k) * s.cg() * s.r * s.s;
      Vec x = randomVec(rng, xs), w = randomVec(rng, ws), dy = randomVec(rng, ys);
      Vec y(ys), dx(xs), dw(ws);
      groupedConv2dForward(s, x.data(), w.data(), y.data(), nullptr, nullptr, false);
      groupedConv2dBackwardData(s, dy.data(), w.data(), dx.data(), nullptr);
      groupedConv2dBackwardFilter(s, dy.data(), x.data(), dw.data(), nullptr);
      const Vec xB = toBlocked(x, s.n, s.c, hw, block), dyB = toBlocked(dy, s.n, s.k, ohw, block);
      const Vec yB = toBlocked(y, s.n, s.k, ohw, block), dxB = toBlocked(dx, s.n, s.c, hw, block);
      // Bit 1 of a forward or data gradient: the filter in oneDNN's blocked filter layout
      // (Layout.h keeps it so across steps where the channels are multiples of the block).
      const bool filterFits = s.k % block == 0 && s.c % block == 0;
      Vec wB(ws, kGarbage);
      if (filterFits)
        ASSERT_TRUE(dnnlReorderFilter(s.k, s.c, s.r, s.s, w.data(), wB.data(), true));
      for (unsigned bits : {1u, 4u, 5u, 2u, 7u}) {
        if ((bits & 2) && !filterFits)
          continue;
        SCOPED_TRACE(name(s) + ", " + std::to_string(threads) + " threads, bits " +
                     std::to_string(bits));
        const float *wArg = bits & 2 ? wB.data() : w.data();
        Vec got(ys, kGarbage);
        ASSERT_TRUE(dnnlConvForward(s, bits & 1 ? xB.data() : x.data(), wArg, got.data(),
                                    nullptr, false, bits));
        expectAllNear(got, bits & 4 ? yB : y, 2e-4f);
        Vec gotDx(xs, kGarbage);
        ASSERT_TRUE(dnnlConvBackwardData(s, bits & 1 ? dyB.data() : dy.data(), wArg,
                                         gotDx.data(), bits));
        expectAllNear(gotDx, bits & 4 ? dxB : dx, 2e-4f);
      }
      // Bit 2 of a filter gradient: its output in the blocked filter layout.
      for (unsigned bits : {1u, 2u, 3u, 4u, 7u}) {
        if ((bits & 4) && !filterFits)
          continue;
        SCOPED_TRACE(name(s) + ", " + std::to_string(threads) + " threads, filter bits " +
                     std::to_string(bits));
        Vec gotDw(ws, kGarbage);
        ASSERT_TRUE(dnnlConvBackwardFilter(s, bits & 1 ? dyB.data() : dy.data(),
                                           bits & 2 ? xB.data() : x.data(), gotDw.data(), bits));
        if (bits & 4) {
          Vec plain(ws, kGarbage);
          ASSERT_TRUE(dnnlReorderFilter(s.k, s.c, s.r, s.s, gotDw.data(), plain.data(), false));
          gotDw = plain;
        }
        expectAllNear(gotDw, dw, 2e-4f);
      }
    }
  }
}
