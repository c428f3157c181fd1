// Unit tests for the CPU kernel library: forward results against naive direct implementations,
// every backward kernel against central finite differences, and the training utilities against
// hand-computed values. Kernels split work over a thread pool, so the convolution and pooling
// checks also run with two threads and must agree with one.
#include "runtime/cpu/DnnlConv.h"
#include "runtime/cpu/Isa.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/Parallel.h"

#include "GradientCheck.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

using namespace dlc::cpu;

namespace {

using namespace dlc::testing;

// ---------------------------------------------------------------- convolution

Vec naiveConv(const ConvShape &s, const Vec &x, const Vec &w) {
  const int oh = s.oh(), ow = s.ow();
  Vec y((size_t)s.n * s.k * oh * ow);
  for (int n = 0; n < s.n; ++n)
    for (int k = 0; k < s.k; ++k)
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          double acc = 0.0;
          for (int c = 0; c < s.c; ++c)
            for (int kr = 0; kr < s.r; ++kr)
              for (int ks = 0; ks < s.s; ++ks) {
                int iy = oy * s.strideH - s.padH + kr, ix = ox * s.strideW - s.padW + ks;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w)
                  continue;
                acc += (double)x[((n * s.c + c) * s.h + iy) * s.w + ix] *
                       w[((k * s.c + c) * s.r + kr) * s.s + ks];
              }
          y[((n * s.k + k) * oh + oy) * ow + ox] = (float)acc;
        }
  return y;
}

const ConvShape kConvShapes[] = {
    {2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1},  // same padding
    {2, 3, 7, 6, 4, 3, 3, 2, 2, 0, 0},  // strided, trailing rows/cols unused
    {1, 2, 5, 8, 3, 2, 3, 1, 2, 1, 2},  // rectangular filter, asymmetric stride and padding
    {2, 2, 4, 4, 2, 1, 1, 2, 2, 0, 0},  // 1x1 strided (downsampling shortcut)
    // 20 channels: a block of 16 and a partial block of 8; 17 pixels wide: several tiles
    // per row; padding 2 with a 3x3 filter: whole windows in the padding at the corners.
    {3, 2, 5, 17, 20, 3, 3, 1, 1, 2, 2},
    {3, 6, 8, 8, 16, 5, 5, 1, 1, 0, 0},  // LeNet conv2-like: exactly two vectors of channels
    // Row-vectorised forward and filter gradient (C*R*S <= 32, stride 1 along rows):
    {3, 1, 9, 13, 6, 3, 3, 1, 1, 1, 1},   // LeNet conv1-like, rows of 13: one partial vector
    {2, 2, 5, 20, 5, 3, 3, 2, 1, 1, 1},   // 3 vectors a row, 5 channels, row stride 2
    {2, 1, 4, 37, 13, 2, 3, 1, 1, 0, 2},  // 5 vectors a row (two segments), 13 channels
    {2, 2, 6, 9, 4, 3, 3, 1, 1, 0, 0},    // input rows copied in whole vectors run past
                                          // the padded row (9 -> 16 floats in 10)
    // In 16-lane (AVX-512) vectors: LeNet's conv1 (two vectors a row, the second partial,
    // one tile of all 6 channels), a row of exactly one vector, rows of 3 vectors with 7
    // channels (tiles of 4 and 3).
    {3, 1, 28, 28, 6, 3, 3, 1, 1, 1, 1},
    {2, 3, 5, 16, 6, 3, 3, 1, 1, 1, 1},
    {2, 2, 4, 35, 7, 2, 2, 1, 1, 0, 0},
    // Whole blocks of 16 channels in 16-lane vectors: two blocks with rows of 28 in tiles
    // of 14, 1x1 rows of 30 in tiles of 10, stride 2 with padding 2; 16 input channels (the
    // data gradient is a forward convolution into 16 channels).
    {2, 3, 6, 28, 32, 3, 3, 1, 1, 1, 1},
    {2, 2, 5, 30, 16, 1, 1, 1, 1, 0, 0},
    {2, 3, 7, 9, 16, 3, 3, 2, 2, 2, 2},
    {2, 16, 5, 6, 4, 3, 3, 1, 1, 1, 1},
    // Batch-vectorised data gradient (stride 1, C % 8 != 0, n >= 8):
    {11, 6, 9, 9, 4, 5, 5, 1, 1, 0, 0},   // a group of 8 and one of 3; odd row width
    {9, 13, 6, 7, 3, 3, 3, 1, 1, 1, 1},   // 13 channels: tiles of 6, 6 and 1; padding
    {8, 3, 5, 6, 2, 3, 5, 1, 1, 2, 0},    // rectangular filter, padding on rows only
};

/// Runs `body` once with one kernel thread and once with two (restoring one afterwards).
void withThreadCounts(const std::function<void(int)> &body) {
  for (int t : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(t));
    setThreads(t);
    body(t);
  }
  setThreads(1);
}

/// Runs `body` with the 8-lane kernels and, where the CPU has AVX-512, with the 16-lane
/// forms of those that have one (Isa.h).
void withVectorWidths(const std::function<void()> &body) {
  const bool before = wideVectors();
  for (bool wide : {false, true}) {
    SCOPED_TRACE(wide ? "16-lane vectors" : "8-lane vectors");
    setWideVectors(wide);
    body();
  }
  setWideVectors(before);
}

struct ConvData {
  ConvShape s;
  Vec x, w, scratch;
  ConvData(const ConvShape &shape, std::mt19937 &rng)
      : s(shape), x(randomVec(rng, (size_t)s.n * s.c * s.h * s.w)),
        w(randomVec(rng, (size_t)s.k * s.c * s.r * s.s)), scratch(convScratchFloats(s)) {}
  size_t ySize() const { return (size_t)s.n * s.k * s.oh() * s.ow(); }
  Vec forward() {
    Vec y(ySize(), kGarbage);
    conv2dForward(s, x.data(), w.data(), y.data(), scratch.data());
    return y;
  }
};

TEST(KernelsTest, ConvScratchSize) {
  ConvShape s{2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1};
  EXPECT_EQ(convScratchFloats(s), (size_t)3 * 3 * 3 * 7 * 6);
}

std::string shapeName(const ConvShape &s) {
  return "conv n" + std::to_string(s.n) + " c" + std::to_string(s.c) + " " + std::to_string(s.h) +
         "x" + std::to_string(s.w) + " k" + std::to_string(s.k) + " " + std::to_string(s.r) + "x" +
         std::to_string(s.s) + " stride " + std::to_string(s.strideH) + "x" +
         std::to_string(s.strideW) + " pad " + std::to_string(s.padH) + "x" + std::to_string(s.padW);
}

TEST(KernelsTest, Conv2dForwardMatchesDirect) {
  std::mt19937 rng(1);
  withThreadCounts([&](int) {
    withVectorWidths([&] {
      for (const ConvShape &shape : kConvShapes) {
        SCOPED_TRACE(shapeName(shape));
        ConvData d(shape, rng);
        expectAllNear(d.forward(), naiveConv(d.s, d.x, d.w));
      }
    });
  });
}

TEST(KernelsTest, Conv2dForwardEpilogue) {
  std::mt19937 rng(13);
  withThreadCounts([&](int) {
    withVectorWidths([&] {
      for (const ConvShape &shape : kConvShapes) {
        SCOPED_TRACE(shapeName(shape));
        ConvData d(shape, rng);
        Vec bias = randomVec(rng, shape.k), expected = naiveConv(d.s, d.x, d.w);
        const size_t plane = (size_t)shape.oh() * shape.ow();
        for (size_t i = 0; i < expected.size(); ++i)
          expected[i] = std::max(0.0f, expected[i] + bias[i / plane % shape.k]);
        Vec y(d.ySize(), kGarbage);
        conv2dForward(d.s, d.x.data(), d.w.data(), y.data(), d.scratch.data(), bias.data(), true);
        expectAllNear(y, expected);
        // Bias alone: negative values must survive.
        Vec yb(d.ySize(), kGarbage);
        conv2dForward(d.s, d.x.data(), d.w.data(), yb.data(), d.scratch.data(), bias.data(), false);
        Vec plain = naiveConv(d.s, d.x, d.w);
        for (size_t i = 0; i < plain.size(); ++i)
          plain[i] += bias[i / plane % shape.k];
        expectAllNear(yb, plain);
      }
    });
  });
}

TEST(KernelsTest, Conv2dBackwardDataGradient) {
  std::mt19937 rng(2);
  withThreadCounts([&](int) {
    withVectorWidths([&] {
      for (const ConvShape &shape : kConvShapes) {
        SCOPED_TRACE(shapeName(shape));
        ConvData d(shape, rng);
        Vec r = randomVec(rng, d.ySize()), dx(d.x.size(), kGarbage);
        conv2dBackwardData(d.s, r.data(), d.w.data(), dx.data(), d.scratch.data());
        checkGradient(d.x, dx, r, [&] { return d.forward(); });
      }
    });
  });
}

TEST(KernelsTest, Conv2dBackwardFilterGradient) {
  std::mt19937 rng(3);
  withThreadCounts([&](int) {
    for (const ConvShape &shape : kConvShapes) {
      SCOPED_TRACE(shapeName(shape));
      ConvData d(shape, rng);
      Vec r = randomVec(rng, d.ySize()), dw(d.w.size(), kGarbage);
      conv2dBackwardFilter(d.s, r.data(), d.x.data(), dw.data(), d.scratch.data());
      checkGradient(d.w, dw, r, [&] { return d.forward(); });
    }
  });
}

// LeNet's own layers at batch 100: work is cut the same way whatever the thread count, so the
// results must be bit-for-bit identical.
TEST(KernelsTest, Conv2dLeNetShapesThreadsAgree) {
  std::mt19937 rng(14);
  for (const ConvShape &shape : {ConvShape{100, 1, 28, 28, 6, 3, 3, 1, 1, 1, 1},
                                 ConvShape{100, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0}}) {
    SCOPED_TRACE(shapeName(shape));
    ConvData d(shape, rng);
    Vec dy = randomVec(rng, d.ySize()), bias = randomVec(rng, shape.k);
    Vec y[2], dx[2], dw[2];
    for (int t : {1, 2}) {
      setThreads(t);
      y[t - 1].assign(d.ySize(), kGarbage);
      dx[t - 1].assign(d.x.size(), kGarbage);
      dw[t - 1].assign(d.w.size(), kGarbage);
      conv2dForward(d.s, d.x.data(), d.w.data(), y[t - 1].data(), d.scratch.data(), bias.data(),
                    true);
      conv2dBackwardData(d.s, dy.data(), d.w.data(), dx[t - 1].data(), d.scratch.data());
      conv2dBackwardFilter(d.s, dy.data(), d.x.data(), dw[t - 1].data(), d.scratch.data());
    }
    setThreads(1);
    EXPECT_EQ(y[0], y[1]);
    EXPECT_EQ(dx[0], dx[1]);
    EXPECT_EQ(dw[0], dw[1]);
    // And the forward result is the reference one.
    Vec expected = naiveConv(d.s, d.x, d.w);
    const size_t plane = (size_t)shape.oh() * shape.ow();
    for (size_t i = 0; i < expected.size(); ++i)
      expected[i] = std::max(0.0f, expected[i] + bias[i / plane % shape.k]);
    expectAllNear(y[0], expected);
  }
}

// ---------------------------------------------------------------- max pooling

Vec naiveMaxPool(const PoolShape &s, const Vec &x) {
  const int oh = s.oh(), ow = s.ow();
  Vec y((size_t)s.n * s.c * oh * ow);
  for (int p = 0; p < s.n * s.c; ++p)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        float best = -INFINITY;
        for (int i = 0; i < s.kh; ++i)
          for (int j = 0; j < s.kw; ++j) {
            int iy = oy * s.strideH - s.padH + i, ix = ox * s.strideW - s.padW + j;
            if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w)
              best = std::max(best, x[(p * s.h + iy) * s.w + ix]);
          }
        y[(p * oh + oy) * ow + ox] = best;
      }
  return y;
}

/// Distinct values spaced 0.05 apart, so an eps = 1e-2 perturbation never changes an argmax.
Vec distinctVec(std::mt19937 &rng, size_t n) {
  Vec v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = 0.05f * (float)i - 0.025f * (float)n;
  std::shuffle(v.begin(), v.end(), rng);
  return v;
}

const PoolShape kPoolShapes[] = {
    {2, 3, 6, 6, 2, 2, 2, 2, 0, 0},  // classic 2x2/2 (the fast path)
    {2, 2, 7, 6, 3, 3, 2, 2, 1, 1},  // overlapping 3x3/2 with padding (ResNet stem)
    {2, 2, 5, 7, 2, 2, 2, 2, 0, 0},  // 2x2/2 with an odd last row and column left out
    {200, 6, 4, 4, 2, 2, 2, 2, 0, 0}, // enough planes to be split over threads
    // Rows of 8 windows or more take the vector path:
    {2, 2, 4, 16, 2, 2, 2, 2, 0, 0},  // exactly one vector a row
    {2, 3, 6, 22, 2, 2, 2, 2, 0, 0},  // 11 windows: a second vector overlapping the first
    {1, 2, 5, 35, 2, 2, 2, 2, 0, 0},  // 17 windows, odd last row and column left out
    {2, 3, 10, 10, 2, 2, 2, 2, 0, 0}, // 5 windows a row: 4-wide vectors, overlapping
    {1, 2, 4, 9, 2, 2, 2, 2, 0, 0},   // exactly 4, odd last column left out
    // padding: same (stride 1, odd kernel, (k-1)/2 each side): output size = input size
    {2, 2, 6, 5, 3, 3, 1, 1, 1, 1},
    {1, 2, 5, 9, 5, 3, 1, 1, 2, 1},
};

TEST(KernelsTest, MaxPoolForwardMatchesDirect) {
  std::mt19937 rng(4);
  withThreadCounts([&](int) {
    for (const PoolShape &s : kPoolShapes) {
      Vec x = randomVec(rng, (size_t)s.n * s.c * s.h * s.w);
      Vec y((size_t)s.n * s.c * s.oh() * s.ow(), kGarbage);
      maxPool2dForward(s, x.data(), y.data());
      expectAllNear(y, naiveMaxPool(s, x), 0.0f);
    }
  });
}

TEST(KernelsTest, MaxPoolBackwardGradient) {
  std::mt19937 rng(5);
  withThreadCounts([&](int) {
    for (const PoolShape &s : kPoolShapes) {
      if (s.n > 2)
        continue; // finite differences over 19,200 inputs: covered by the ties test below
      Vec x = distinctVec(rng, (size_t)s.n * s.c * s.h * s.w);
      const size_t ySize = (size_t)s.n * s.c * s.oh() * s.ow();
      Vec r = randomVec(rng, ySize), dx(x.size(), kGarbage);
      maxPool2dBackward(s, x.data(), r.data(), dx.data());
      checkGradient(x, dx, r, [&] {
        Vec y(ySize);
        maxPool2dForward(s, x.data(), y.data());
        return y;
      });
    }
  });
}

// ReLU outputs make tied windows common (all zeros); every tie must go to the first maximum
// in row-major window order, as the forward pass defines it.
TEST(KernelsTest, MaxPoolBackwardTiesGoToFirstMax) {
  std::mt19937 rng(15);
  withThreadCounts([&](int) {
    for (const PoolShape &s : kPoolShapes) {
      Vec x((size_t)s.n * s.c * s.h * s.w);
      std::uniform_int_distribution<int> level(0, 2);
      for (float &v : x)
        v = (float)level(rng); // few distinct values: many ties
      const int oh = s.oh(), ow = s.ow();
      Vec dy = randomVec(rng, (size_t)s.n * s.c * oh * ow), dx(x.size(), kGarbage);
      maxPool2dBackward(s, x.data(), dy.data(), dx.data());
      Vec expected(x.size(), 0.0f);
      for (int p = 0; p < s.n * s.c; ++p)
        for (int oy = 0; oy < oh; ++oy)
          for (int ox = 0; ox < ow; ++ox) {
            int best = -1;
            for (int i = 0; i < s.kh; ++i)
              for (int j = 0; j < s.kw; ++j) {
                int iy = oy * s.strideH - s.padH + i, ix = ox * s.strideW - s.padW + j;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w)
                  continue;
                int idx = (p * s.h + iy) * s.w + ix;
                if (best < 0 || x[idx] > x[best])
                  best = idx;
              }
            expected[best] += dy[(p * oh + oy) * ow + ox];
          }
      expectAllNear(dx, expected, 1e-6f);
    }
  });
}

// The fused ReLU gradient (maxpool2d_grad {relu}) must equal maxpool2d_grad followed by
// relu_grad exactly, x being a ReLU's output (zeros and ties included).
TEST(KernelsTest, MaxPoolBackwardReluMatchesComposition) {
  std::mt19937 rng(16);
  withThreadCounts([&](int) {
    for (const PoolShape &s : kPoolShapes) {
      Vec x = randomVec(rng, (size_t)s.n * s.c * s.h * s.w);
      reluForward(x.size(), x.data(), x.data()); // about half zeros: all-zero windows too
      const size_t ySize = (size_t)s.n * s.c * s.oh() * s.ow();
      Vec dy = randomVec(rng, ySize), fused(x.size(), kGarbage), twoStep(x.size(), kGarbage);
      maxPool2dBackward(s, x.data(), dy.data(), fused.data(), /*relu=*/true);
      maxPool2dBackward(s, x.data(), dy.data(), twoStep.data());
      reluBackward(x.size(), twoStep.data(), x.data(), twoStep.data());
      EXPECT_EQ(fused, twoStep);
      size_t masked = 0; // windows whose gradient the ReLU stopped: the case under test
      for (size_t i = 0; i < x.size(); ++i)
        masked += x[i] == 0.0f;
      EXPECT_GT(masked, 0u);
    }
  });
}

// ---------------------------------------------------------------- elementwise

TEST(KernelsTest, ReluForward) {
  Vec x = {-2.0f, -0.0f, 0.0f, 0.5f, 3.0f}, y(x.size(), kGarbage);
  reluForward(x.size(), x.data(), y.data());
  expectAllNear(y, {0.0f, 0.0f, 0.0f, 0.5f, 3.0f}, 0.0f);
  reluForward(x.size(), x.data(), x.data());  // in place
  expectAllNear(x, y, 0.0f);
}

// The residual sums' fused kernels are the two-step compositions they replace, bit for bit
// (odd length: the vector loops' tails), at 1 and 2 threads.
TEST(KernelsTest, AddReluMatchesComposition) {
  std::mt19937 rng(16);
  const size_t n = 100003;
  Vec a = randomVec(rng, n), b = randomVec(rng, n), da = randomVec(rng, n), db = randomVec(rng, n);
  for (int t : {1, 2}) {
    setThreads(t);
    Vec sum(n), twoStep(n), fused(n, kGarbage);
    add(n, a.data(), b.data(), sum.data());
    reluForward(n, sum.data(), twoStep.data());
    addRelu(n, a.data(), b.data(), fused.data());
    expectAllNear(fused, twoStep, 0.0f);
    const Vec y = twoStep; // the relu's output masks the gradient
    Vec grad(n), dx2(n), dx(n, kGarbage);
    add(n, da.data(), db.data(), grad.data());
    reluBackward(n, grad.data(), y.data(), dx2.data());
    addReluBackward(n, da.data(), db.data(), y.data(), dx.data());
    expectAllNear(dx, dx2, 0.0f);
    EXPECT_GT(std::count(y.begin(), y.end(), 0.0f), int64_t(n / 4)); // both sides of the kink
  }
  setThreads(1);
}

TEST(KernelsTest, ReluBackwardGradient) {
  std::mt19937 rng(6);
  Vec x = randomVec(rng, 64);
  for (float &v : x)  // keep clear of the kink at 0
    v += v >= 0.0f ? 0.1f : -0.1f;
  auto fwd = [&] {
    Vec y(x.size());
    reluForward(x.size(), x.data(), y.data());
    return y;
  };
  Vec y = fwd(), r = randomVec(rng, x.size()), dx(x.size(), kGarbage);
  reluBackward(x.size(), r.data(), y.data(), dx.data());
  checkGradient(x, dx, r, fwd);
}

TEST(KernelsTest, SigmoidForward) {
  Vec x = {-100.0f, -2.0f, 0.0f, 0.5f, 100.0f}, y(x.size(), kGarbage);
  sigmoidForward(x.size(), x.data(), y.data());
  Vec expected(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    expected[i] = float(1.0 / (1.0 + std::exp(-double(x[i]))));
  expectAllNear(y, expected, 1e-6f);
  EXPECT_EQ(y[2], 0.5f);
  EXPECT_EQ(y[0], 0.0f); // exp(100) overflows to inf: no NaN
  sigmoidForward(x.size(), x.data(), x.data()); // in place
  expectAllNear(x, y, 0.0f);
}

TEST(KernelsTest, SigmoidBackwardGradient) {
  std::mt19937 rng(16);
  Vec x = randomVec(rng, 64, -4.0f, 4.0f);
  auto fwd = [&] {
    Vec y(x.size());
    sigmoidForward(x.size(), x.data(), y.data());
    return y;
  };
  Vec y = fwd(), r = randomVec(rng, x.size()), dx(x.size(), kGarbage);
  sigmoidBackward(x.size(), r.data(), y.data(), dx.data());
  checkGradient(x, dx, r, fwd);
}

TEST(KernelsTest, BiasAddForwardAndInPlace) {
  const size_t outer = 2, channels = 3, inner = 4;
  Vec x(outer * channels * inner), b = {1.0f, -2.0f, 0.5f}, expected(x.size());
  std::iota(x.begin(), x.end(), 0.0f);
  for (size_t i = 0; i < x.size(); ++i)
    expected[i] = x[i] + b[(i / inner) % channels];
  Vec y(x.size(), kGarbage);
  biasAdd(outer, channels, inner, x.data(), b.data(), y.data());
  expectAllNear(y, expected, 0.0f);
  biasAdd(outer, channels, inner, x.data(), b.data(), x.data());
  expectAllNear(x, expected, 0.0f);
}

TEST(KernelsTest, BiasAddGradient) {
  std::mt19937 rng(7);
  const size_t outer = 3, channels = 4, inner = 5, n = outer * channels * inner;
  Vec x = randomVec(rng, n), b = randomVec(rng, channels), r = randomVec(rng, n);
  auto fwd = [&] {
    Vec y(n);
    biasAdd(outer, channels, inner, x.data(), b.data(), y.data());
    return y;
  };
  Vec db(channels, kGarbage);
  biasAddBackward(outer, channels, inner, r.data(), db.data());
  checkGradient(b, db, r, fwd);
  checkGradient(x, r, r, fwd);  // dx is dy itself
}

// A matmul's bias (inner 1, the LSTM's gates): the columns are summed a row at a time, which
// must give each channel exactly the double sum in row order, at any thread count.
TEST(KernelsTest, BiasAddBackwardColumns) {
  std::mt19937 rng(71);
  for (auto [outer, channels] : {std::pair<size_t, size_t>{128, 512}, {3, 1}, {1000, 37}}) {
    Vec dy = randomVec(rng, outer * channels);
    std::vector<float> expected(channels);
    for (size_t c = 0; c < channels; ++c) {
      double sum = 0.0;
      for (size_t o = 0; o < outer; ++o)
        sum += dy[o * channels + c];
      expected[c] = float(sum);
    }
    withThreadCounts([&](int) {
      Vec db(channels, kGarbage);
      biasAddBackward(outer, channels, 1, dy.data(), db.data());
      for (size_t c = 0; c < channels; ++c)
        ASSERT_EQ(db[c], expected[c]) << "outer " << outer << " channel " << c;
    });
  }
}

TEST(KernelsTest, AddGradient) {
  std::mt19937 rng(8);
  const size_t n = 32;
  Vec a = randomVec(rng, n), b = randomVec(rng, n), r = randomVec(rng, n), y(n, kGarbage);
  add(n, a.data(), b.data(), y.data());
  for (size_t i = 0; i < n; ++i)
    EXPECT_FLOAT_EQ(y[i], a[i] + b[i]);
  auto fwd = [&] {
    Vec out(n);
    add(n, a.data(), b.data(), out.data());
    return out;
  };
  checkGradient(a, r, r, fwd);
  checkGradient(b, r, r, fwd);
}

// ---------------------------------------------------------------- matmul

/// op(X)[i][j] for a row-major matrix stored as rows x cols (of op(X)) or transposed.
float opAt(const Vec &m, bool trans, int rows, int cols, int i, int j) {
  return trans ? m[(size_t)j * rows + i] : m[(size_t)i * cols + j];
}

Vec naiveMatmul(int M, int N, int K, bool transA, bool transB, const Vec &A, const Vec &B) {
  Vec C((size_t)M * N);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double acc = 0.0;
      for (int k = 0; k < K; ++k)
        acc += (double)opAt(A, transA, M, K, i, k) * opAt(B, transB, K, N, k, j);
      C[(size_t)i * N + j] = (float)acc;
    }
  return C;
}

TEST(KernelsTest, MatmulForwardAllTransposes) {
  std::mt19937 rng(9);
  const int M = 5, N = 7, K = 4;
  for (bool transA : {false, true})
    for (bool transB : {false, true}) {
      SCOPED_TRACE(std::string("transA=") + (transA ? "1" : "0") + " transB=" + (transB ? "1" : "0"));
      Vec A = randomVec(rng, M * K), B = randomVec(rng, K * N), C(M * N, kGarbage);
      matmul(M, N, K, transA, transB, A.data(), B.data(), C.data());
      expectAllNear(C, naiveMatmul(M, N, K, transA, transB, A, B));
    }
}

TEST(KernelsTest, MatmulEpilogueAndThreads) {
  std::mt19937 rng(16);
  // Tall (split by rows), wide (split by columns) and small (one chunk) products, and the
  // few-row products of inference at batch 1-4 (their own kernel when B is transposed; the
  // K and N here leave vector and column-group remainders).
  const int shapes[][3] = {{300, 20, 40}, {8, 500, 30}, {5, 7, 4},  {100, 120, 400},
                           {1, 120, 400}, {2, 37, 13},  {3, 9, 8},  {4, 130, 7}};
  withThreadCounts([&](int) {
    for (const auto &sh : shapes)
      for (bool transA : {false, true})
        for (bool transB : {false, true}) {
          const int M = sh[0], N = sh[1], K = sh[2];
          SCOPED_TRACE("M" + std::to_string(M) + " N" + std::to_string(N) + " transA=" +
                       std::to_string(transA) + " transB=" + std::to_string(transB));
          Vec A = randomVec(rng, M * K), B = randomVec(rng, K * N), bias = randomVec(rng, N);
          Vec expected = naiveMatmul(M, N, K, transA, transB, A, B);
          Vec C(M * N, kGarbage);
          matmul(M, N, K, transA, transB, A.data(), B.data(), C.data());
          expectAllNear(C, expected);
          for (int i = 0; i < M * N; ++i)
            expected[i] = std::max(0.0f, expected[i] + bias[i % N]);
          std::fill(C.begin(), C.end(), kGarbage);
          matmul(M, N, K, transA, transB, A.data(), B.data(), C.data(), bias.data(), true);
          expectAllNear(C, expected);
        }
  });
}

// oneDNN's sgemm (when built in) and OpenBLAS on the LSTM's shapes (a step's gates, the
// gradients of its weights, a whole sequence's), every transpose, 1 and 2 threads.
TEST(KernelsTest, MatmulOneDnnAndOpenBlas) {
  std::mt19937 rng(72);
  const int shapes[][3] = {{128, 512, 128}, {128, 128, 512}, {512, 28, 128}, {512, 128, 896}};
  for (bool dnnl : {true, false}) {
    setDnnlEnabled(dnnl);
    withThreadCounts([&](int) {
      for (const auto &sh : shapes)
        for (bool transA : {false, true})
          for (bool transB : {false, true}) {
            const int M = sh[0], N = sh[1], K = sh[2];
            SCOPED_TRACE("dnnl " + std::to_string(dnnl) + " M" + std::to_string(M) + " N" +
                         std::to_string(N) + " transA=" + std::to_string(transA) +
                         " transB=" + std::to_string(transB));
            Vec A = randomVec(rng, M * K), B = randomVec(rng, K * N), C(M * N, kGarbage);
            matmul(M, N, K, transA, transB, A.data(), B.data(), C.data());
            expectAllNear(C, naiveMatmul(M, N, K, transA, transB, A, B));
          }
    });
  }
  setDnnlEnabled(true);
}

// The gradients are built from matmul itself, exactly as the autodiff pass lowers them.
TEST(KernelsTest, MatmulGradientAllTransposes) {
  std::mt19937 rng(10);
  const int M = 4, N = 5, K = 3;
  for (bool transA : {false, true})
    for (bool transB : {false, true}) {
      SCOPED_TRACE(std::string("transA=") + (transA ? "1" : "0") + " transB=" + (transB ? "1" : "0"));
      Vec A = randomVec(rng, M * K), B = randomVec(rng, K * N), dC = randomVec(rng, M * N);
      Vec dA(M * K, kGarbage), dB(K * N, kGarbage);
      // d op(A) = dC * op(B)^T and d op(B) = op(A)^T * dC, transposed back when stored transposed.
      if (!transA)
        matmul(M, K, N, false, !transB, dC.data(), B.data(), dA.data());
      else
        matmul(K, M, N, transB, true, B.data(), dC.data(), dA.data());
      if (!transB)
        matmul(K, N, M, !transA, false, A.data(), dC.data(), dB.data());
      else
        matmul(N, K, M, true, transA, dC.data(), A.data(), dB.data());
      auto fwd = [&] {
        Vec C(M * N);
        matmul(M, N, K, transA, transB, A.data(), B.data(), C.data());
        return C;
      };
      checkGradient(A, dA, dC, fwd);
      checkGradient(B, dB, dC, fwd);
    }
}

// ---------------------------------------------------------------- loss and training utilities

double naiveXent(int batch, int classes, const Vec &logits, const std::vector<int32_t> &labels) {
  double total = 0.0;
  for (int b = 0; b < batch; ++b) {
    double sum = 0.0;
    for (int j = 0; j < classes; ++j)
      sum += std::exp((double)logits[b * classes + j]);
    total += std::log(sum) - logits[b * classes + labels[b]];
  }
  return total / batch;
}

TEST(KernelsTest, SoftmaxXentForward) {
  std::mt19937 rng(11);
  const int batch = 4, classes = 6;
  Vec logits = randomVec(rng, batch * classes, -3.0f, 3.0f);
  std::vector<int32_t> labels = {0, 5, 2, 2};
  float loss = kGarbage;
  softmaxXentForward(batch, classes, logits.data(), labels.data(), &loss);
  EXPECT_NEAR(loss, naiveXent(batch, classes, logits, labels), 1e-5);

  // Large logits must not overflow: shifting every logit leaves the loss unchanged.
  for (float &v : logits)
    v += 1000.0f;
  float shifted = kGarbage;
  softmaxXentForward(batch, classes, logits.data(), labels.data(), &shifted);
  EXPECT_NEAR(shifted, loss, 1e-3);
}

TEST(KernelsTest, SoftmaxXentGradient) {
  std::mt19937 rng(12);
  const int batch = 3, classes = 5;
  Vec logits = randomVec(rng, batch * classes, -2.0f, 2.0f);
  std::vector<int32_t> labels = {4, 0, 2};
  Vec dlogits(logits.size(), kGarbage);
  softmaxXentBackward(batch, classes, logits.data(), labels.data(), dlogits.data());
  // Each row of the gradient sums to zero (softmax sums to 1, one-hot sums to 1).
  for (int b = 0; b < batch; ++b)
    EXPECT_NEAR(std::accumulate(&dlogits[b * classes], &dlogits[(b + 1) * classes], 0.0), 0.0, 1e-6);
  const float r = 1.7f;  // scale the scalar loss so the check is not against a unit seed
  for (float &g : dlogits)
    g *= r;
  checkGradient(logits, dlogits, {r}, [&] {
    float loss;
    softmaxXentForward(batch, classes, logits.data(), labels.data(), &loss);
    return Vec{loss};
  });
}

TEST(KernelsTest, AccuracyCountsArgmaxHits) {
  const int batch = 4, classes = 3;
  Vec logits = {0.1f, 0.7f, 0.2f,   // argmax 1
                2.0f, -1.0f, 0.0f,  // argmax 0
                0.0f, 0.0f, 5.0f,   // argmax 2
                -3.0f, -1.0f, -2.0f};  // argmax 1
  float correct = kGarbage;
  std::vector<int32_t> labels = {1, 2, 2, 1};
  accuracy(batch, classes, logits.data(), labels.data(), &correct);
  EXPECT_EQ(correct, 3.0f);
  labels = {0, 1, 0, 0};
  accuracy(batch, classes, logits.data(), labels.data(), &correct);
  EXPECT_EQ(correct, 0.0f);
}

TEST(KernelsTest, LabelsOutsideTheLogitsMakeTheLossNaN) {
  // Labels the loader did not check (or a damaged plan's) must never index past a row: the
  // loss and that row's gradient become NaN, which dlrun's non-finite check reports.
  const int batch = 2, classes = 3;
  std::vector<float> logits = {0.1f, 0.2f, 0.3f, 1.0f, -1.0f, 0.5f};
  for (int32_t bad : {3, -1, 1 << 30}) {
    SCOPED_TRACE(bad);
    std::vector<int32_t> labels = {1, bad};
    float loss = 0, correct = -1;
    softmaxXentForward(batch, classes, logits.data(), labels.data(), &loss);
    EXPECT_TRUE(std::isnan(loss));
    // One guard row past the gradient: it must stay untouched.
    std::vector<float> d(batch * classes + classes, 7.0f);
    softmaxXentBackward(batch, classes, logits.data(), labels.data(), d.data());
    for (int j = 0; j < classes; ++j) {
      EXPECT_TRUE(std::isfinite(d[j])) << "the valid row keeps its gradient";
      EXPECT_TRUE(std::isnan(d[classes + j]));
      EXPECT_EQ(d[2 * classes + j], 7.0f);
    }
    accuracy(batch, classes, logits.data(), labels.data(), &correct);
    EXPECT_EQ(correct, 0.0f) << "row 0 predicts class 2, label 1; row 1 has no valid label";
  }
}

TEST(KernelsTest, ElementwiseSplitOverThreads) {
  std::mt19937 rng(17);
  const size_t n = 100003; // several chunks, and not a multiple of the vector width
  Vec x = randomVec(rng, n), dy = randomVec(rng, n), y(n, kGarbage), dx(n, kGarbage);
  withThreadCounts([&](int) {
    reluForward(n, x.data(), y.data());
    reluBackward(n, dy.data(), y.data(), dx.data());
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(y[i], x[i] > 0.0f ? x[i] : 0.0f) << i;
      ASSERT_EQ(dx[i], x[i] > 0.0f ? dy[i] : 0.0f) << i;
    }
    const size_t outer = 50, channels = 7, inner = 285; // 99,750 of the n elements
    Vec b = randomVec(rng, channels), db(channels, kGarbage);
    biasAdd(outer, channels, inner, x.data(), b.data(), y.data());
    for (size_t i = 0; i < outer * channels * inner; ++i)
      ASSERT_EQ(y[i], x[i] + b[(i / inner) % channels]) << i;
    biasAddBackward(outer, channels, inner, dy.data(), db.data());
    for (size_t c = 0; c < channels; ++c) {
      double sum = 0.0;
      for (size_t o = 0; o < outer; ++o)
        for (size_t i = 0; i < inner; ++i)
          sum += dy[(o * channels + c) * inner + i];
      EXPECT_NEAR(db[c], sum, 1e-3) << c;
    }
  });
}

TEST(KernelsTest, SgdMomentumTwoSteps) {
  const float lr = 0.1f, momentum = 0.9f, wd = 0.01f;
  Vec w = {1.0f, -2.0f}, m = {0.0f, 0.0f};
  Vec g1 = {0.5f, 1.0f}, g2 = {-0.2f, 0.0f};
  sgdMomentum(2, lr, momentum, wd, w.data(), g1.data(), m.data());
  // m = 0.5 + 0.01*1 = 0.51, w = 1 - 0.051;  m = 1 + 0.01*(-2) = 0.98, w = -2 - 0.098
  expectAllNear(m, {0.51f, 0.98f}, 1e-6f);
  expectAllNear(w, {0.949f, -2.098f}, 1e-6f);
  sgdMomentum(2, lr, momentum, wd, w.data(), g2.data(), m.data());
  // m = 0.9*0.51 - 0.2 + 0.00949 = 0.26849;  m = 0.9*0.98 + 0 - 0.02098 = 0.86102
  expectAllNear(m, {0.26849f, 0.86102f}, 1e-6f);
  expectAllNear(w, {0.922151f, -2.184102f}, 1e-6f);
}

}  // namespace
