// Unit tests for the grouped / dilated / asymmetrically padded convolutions
// (runtime/cpu/GroupedConvKernels.h): forward against a naive loop written from PyTorch's
// definition, both backward kernels against central finite differences, with one and two
// threads (bit-identical), over depthwise, grouped, dilated and 'same'-padded shapes.
#include "runtime/cpu/GroupedConvKernels.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/Parallel.h"

#include "GradientCheck.h"

#include <gtest/gtest.h>

#include <string>

using namespace dlc::cpu;
using namespace dlc::testing;

namespace {

/// y[n][ko][oy][ox] = sum over the group's channels and taps, straight from the definition.
Vec naive(const GroupedConvShape &s, const Vec &x, const Vec &w, const float *bias = nullptr,
          bool relu = false) {
  const int oh = s.oh(), ow = s.ow(), cg = s.cg(), kg = s.kg();
  Vec y(size_t(s.n) * s.k * oh * ow);
  for (int n = 0; n < s.n; ++n)
    for (int ko = 0; ko < s.k; ++ko)
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          double acc = bias ? bias[ko] : 0.0;
          for (int cl = 0; cl < cg; ++cl) {
            const int ci = ko / kg * cg + cl;
            for (int r = 0; r < s.r; ++r)
              for (int q = 0; q < s.s; ++q) {
                const int iy = oy * s.strideH - s.padTop + r * s.dilH;
                const int ix = ox * s.strideW - s.padLeft + q * s.dilW;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w)
                  continue;
                acc += double(x[((size_t(n) * s.c + ci) * s.h + iy) * s.w + ix]) *
                       w[((size_t(ko) * cg + cl) * s.r + r) * s.s + q];
              }
          }
          y[((size_t(n) * s.k + ko) * oh + oy) * ow + ox] =
              relu && acc < 0 ? 0.0f : float(acc);
        }
  return y;
}

// n c h w k r s strideH strideW padTop padLeft padBottom padRight dilH dilW groups
const GroupedConvShape kShapes[] = {
    {2, 4, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4},  // depthwise 3x3 'same'
    {2, 4, 9, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 4},  // depthwise, multiplier 2, stride 2
    {1, 3, 8, 9, 3, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 3},  // depthwise, dilation 2 'same'
    {2, 6, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},  // two groups
    {2, 6, 8, 7, 6, 3, 2, 1, 2, 0, 1, 2, 0, 2, 1, 3},  // three groups, dilation, stride 2
    {2, 3, 6, 7, 5, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1, 1},  // one group, 'same' with an even kernel
    {1, 2, 9, 9, 3, 3, 3, 1, 1, 3, 3, 3, 3, 3, 3, 1},  // one group, dilation 3 'same'
    {3, 4, 5, 6, 4, 2, 3, 1, 1, 0, 1, 1, 1, 1, 1, 4},  // depthwise, asymmetric even window
    {2, 3, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},  // depthwise, multiplier 2, stride 1
    {2, 2, 9, 8, 2, 3, 3, 1, 2, 1, 1, 1, 1, 1, 1, 2},  // depthwise, stride 1 down, 2 across
};

std::string name(const GroupedConvShape &s) {
  return "n" + std::to_string(s.n) + " c" + std::to_string(s.c) + " " + std::to_string(s.h) +
         "x" + std::to_string(s.w) + " k" + std::to_string(s.k) + " " + std::to_string(s.r) +
         "x" + std::to_string(s.s) + " stride " + std::to_string(s.strideH) + "," +
         std::to_string(s.strideW) + " pad " + std::to_string(s.padTop) + "," +
         std::to_string(s.padLeft) + "," + std::to_string(s.padBottom) + "," +
         std::to_string(s.padRight) + " dil " + std::to_string(s.dilH) + "," +
         std::to_string(s.dilW) + " groups " + std::to_string(s.groups);
}

struct Data {
  GroupedConvShape s;
  Vec x, w;
  Data(const GroupedConvShape &shape, std::mt19937 &rng)
      : s(shape), x(randomVec(rng, size_t(s.n) * s.c * s.h * s.w)),
        w(randomVec(rng, size_t(s.k) * s.cg() * s.r * s.s)) {}
  size_t ySize() const { return size_t(s.n) * s.k * s.oh() * s.ow(); }
  Vec forward(const float *bias = nullptr, bool relu = false) {
    Vec y(ySize(), kGarbage);
    groupedConv2dForward(s, x.data(), w.data(), y.data(), nullptr, bias, relu);
    return y;
  }
};

void withThreadCounts(const std::function<void()> &body) {
  for (int t : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(t));
    setThreads(t);
    body();
  }
  setThreads(1);
}

TEST(GroupedConvKernelsTest, ForwardMatchesDefinition) {
  std::mt19937 rng(1);
  withThreadCounts([&] {
    for (const GroupedConvShape &shape : kShapes) {
      SCOPED_TRACE(name(shape));
      Data d(shape, rng);
      expectAllNear(d.forward(), naive(d.s, d.x, d.w));
      Vec bias = randomVec(rng, shape.k);
      expectAllNear(d.forward(bias.data(), true), naive(d.s, d.x, d.w, bias.data(), true));
    }
  });
}

TEST(GroupedConvKernelsTest, BackwardDataGradient) {
  std::mt19937 rng(2);
  withThreadCounts([&] {
    for (const GroupedConvShape &shape : kShapes) {
      SCOPED_TRACE(name(shape));
      Data d(shape, rng);
      Vec r = randomVec(rng, d.ySize()), dx(d.x.size(), kGarbage);
      groupedConv2dBackwardData(d.s, r.data(), d.w.data(), dx.data(), nullptr);
      checkGradient(d.x, dx, r, [&] { return d.forward(); });
    }
  });
}

TEST(GroupedConvKernelsTest, BackwardFilterGradient) {
  std::mt19937 rng(3);
  withThreadCounts([&] {
    for (const GroupedConvShape &shape : kShapes) {
      SCOPED_TRACE(name(shape));
      Data d(shape, rng);
      Vec r = randomVec(rng, d.ySize()), dw(d.w.size(), kGarbage);
      groupedConv2dBackwardFilter(d.s, r.data(), d.x.data(), dw.data(), nullptr);
      checkGradient(d.w, dw, r, [&] { return d.forward(); });
    }
  });
}

// One group, no dilation, symmetric padding: the same numbers as the fast conv2d kernels
// (which the compiler uses for such layers), so the two paths agree where both apply.
TEST(GroupedConvKernelsTest, AgreesWithPlainConvolution) {
  std::mt19937 rng(4);
  GroupedConvShape g{3, 5, 8, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  ConvShape c{3, 5, 8, 7, 9, 3, 3, 1, 1, 1, 1};
  Data d(g, rng);
  Vec y(d.ySize()), scratch(convScratchFloats(c));
  conv2dForward(c, d.x.data(), d.w.data(), y.data(), scratch.data());
  expectAllNear(d.forward(), y);
}

// MobileNet-V2-sized depthwise layers at a small batch: the cut of the work never depends on
// the thread count, so results are bit-for-bit identical.
TEST(GroupedConvKernelsTest, ThreadsAgree) {
  std::mt19937 rng(5);
  for (const GroupedConvShape &shape :
       {GroupedConvShape{4, 32, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 32},
        GroupedConvShape{4, 24, 28, 28, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 24},
        GroupedConvShape{4, 16, 12, 12, 32, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 4}}) {
    SCOPED_TRACE(name(shape));
    Data d(shape, rng);
    Vec dy = randomVec(rng, d.ySize());
    Vec y[2], dx[2], dw[2];
    for (int t : {1, 2}) {
      setThreads(t);
      y[t - 1] = d.forward();
      dx[t - 1].assign(d.x.size(), kGarbage);
      dw[t - 1].assign(d.w.size(), kGarbage);
      groupedConv2dBackwardData(d.s, dy.data(), d.w.data(), dx[t - 1].data(), nullptr);
      groupedConv2dBackwardFilter(d.s, dy.data(), d.x.data(), dw[t - 1].data(), nullptr);
    }
    setThreads(1);
    EXPECT_EQ(y[0], y[1]);
    EXPECT_EQ(dx[0], dx[1]);
    EXPECT_EQ(dw[0], dw[1]);
  }
}

} // namespace
