// Unit tests of the advisor's plain-C++ pieces: the largest-batch search, device headroom, the
// roofline estimate and the plan SVG, on synthetic inputs.
#include "compiler/Advisor/Fit.h"
#include "compiler/Advisor/PlanSvg.h"
#include "compiler/Advisor/Roofline.h"

#include <gtest/gtest.h>

#include <map>

using namespace dlc;
using namespace dlc::advisor;

namespace {
/// bytes(b) = fixed + perExample * b, counting calls.
struct Linear {
  uint64_t fixed, perExample;
  int calls = 0;
  std::optional<uint64_t> operator()(int64_t b) {
    ++calls;
    return fixed + perExample * uint64_t(b);
  }
};
} // namespace

TEST(LargestBatch, LinearMemoryIsExact) {
  for (uint64_t capacity : {1000ull, 1049ull, 1050ull, 123457ull, 10000000ull}) {
    Linear f{50, 100};
    auto got = largestBatch(std::ref(f), capacity);
    ASSERT_TRUE(got);
    int64_t want = capacity < 150 ? 0 : int64_t((capacity - 50) / 100);
    EXPECT_EQ(*got, want) << "capacity " << capacity;
    EXPECT_LT(f.calls, 40) << "the search should be logarithmic";
  }
}

TEST(LargestBatch, NonlinearMemoryIsStillTheBoundary) {
  // Packing makes real plans grow a little faster than linearly; the search must not trust
  // the linear prediction.
  auto f = [](int64_t b) { return std::optional<uint64_t>(1000 + 10 * b + b * b / 4); };
  for (uint64_t capacity : {2000ull, 50000ull, 1000000ull}) {
    auto got = largestBatch(f, capacity);
    ASSERT_TRUE(got);
    EXPECT_LE(*f(*got), capacity);
    EXPECT_GT(*f(*got + 1), capacity);
  }
}

TEST(LargestBatch, NothingFitsAndFailures) {
  EXPECT_EQ(largestBatch(Linear{500, 100}, 400), std::optional<int64_t>(0));
  auto failing = [](int64_t) { return std::optional<uint64_t>(); };
  EXPECT_EQ(largestBatch(failing, 1000), std::nullopt);
  auto failsLate = [](int64_t b) {
    return b < 5 ? std::optional<uint64_t>(10 * b) : std::optional<uint64_t>();
  };
  EXPECT_EQ(largestBatch(failsLate, 1000), std::nullopt);
}

TEST(Fit, UsableBytesKeepsTheReserve) {
  hw::Gpu gpu;
  gpu.memoryBytes = 12ull << 30;
  EXPECT_EQ(usableBytes(gpu), (12ull << 30) - kDeviceReserveBytes);
  gpu.memoryBytes = kDeviceReserveBytes / 2;
  EXPECT_EQ(usableBytes(gpu), 0u);
}

namespace {
/// Two kernels on three buffers: a parameter and two activations.
plan::Plan tinyPlan() {
  plan::Plan p;
  p.model = "tiny";
  p.train.batch = 4;
  auto buffer = [&](const char *name, plan::BufferKind kind, uint64_t bytes, uint64_t offset,
                    int32_t program, int32_t first, int32_t last) {
    plan::Buffer b;
    b.name = name;
    b.kind = kind;
    b.bytes = bytes;
    b.offset = offset;
    b.program = program;
    b.first = first;
    b.last = last;
    p.buffers.push_back(b);
  };
  buffer("w", plan::BufferKind::Parameter, 1000, 0, -1, 0, 0);
  buffer("a", plan::BufferKind::Activation, 4000, 1024, 0, 0, 1);
  buffer("b<&>", plan::BufferKind::Gradient, 2000, 5120, 0, 1, 1);
  plan::Program prog;
  prog.name = "train";
  plan::Kernel k0, k1;
  k0.flops = 2e12; // 2 TFLOP: compute-bound
  k0.args = {0, 1};
  k1.flops = 0; // memory-bound: 6000 bytes
  k1.args = {1, 2};
  prog.kernels = {k0, k1};
  prog.peakBytes = 6144;
  p.programs.push_back(prog);
  p.persistentBytes = 1024;
  p.arenaBytes = 1024 + 6144;
  return p;
}
} // namespace

TEST(Roofline, EachKernelTakesTheLongerOfComputeAndMemory) {
  plan::Plan p = tinyPlan();
  hw::Gpu gpu;
  gpu.fp32Tflops = 10;     // 2 TFLOP -> 0.2 s
  gpu.bandwidthGBs = 1e-6; // 1000 bytes/s: 5000 bytes -> 5 s, 6000 bytes -> 6 s
  EXPECT_NEAR(rooflineSeconds(p, p.programs[0], gpu), 5.0 + 6.0, 1e-9);
  gpu.bandwidthGBs = 1000; // memory is now negligible for kernel 0
  EXPECT_NEAR(rooflineSeconds(p, p.programs[0], gpu), 0.2 + 6000 / 1e12, 1e-9);
  gpu.fp32Tflops = 0; // unknown peaks: no estimate
  EXPECT_EQ(rooflineSeconds(p, p.programs[0], gpu), 0);
}

TEST(Fit, PeakBreakdownAndLargestBuffers) {
  plan::Plan p = tinyPlan();
  std::vector<uint64_t> byKind = breakdownAtPeak(p);
  EXPECT_EQ(byKind[size_t(plan::BufferKind::Parameter)], 1000u);
  EXPECT_EQ(byKind[size_t(plan::BufferKind::Activation)], 4000u);
  EXPECT_EQ(byKind[size_t(plan::BufferKind::Gradient)], 2000u); // step 1 is the peak
  auto top = largestAtPeak(p, 2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0]->name, "a");
  EXPECT_EQ(top[1]->name, "b<&>");
}

TEST(PlanSvg, OneBoxPerBufferEscapedAndThePeak) {
  std::string svg = planSvg(tinyPlan(), "train");
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  size_t boxes = 0;
  for (size_t at = svg.find("<title>"); at != std::string::npos; at = svg.find("<title>", at + 1))
    ++boxes;
  EXPECT_EQ(boxes, 1u + 3u); // the document's title and one per buffer
  EXPECT_NE(svg.find("b&lt;&amp;&gt; (gradient, 2000 bytes"), std::string::npos);
  EXPECT_NE(svg.find("peak 0.01 MiB"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}
