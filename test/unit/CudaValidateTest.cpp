//===- CudaValidateTest.cpp - dlrun --validate's comparison, without a GPU ------===//
//
// runtime/train/Validate.h compares a device's kernel calls with the CPU's one by one. dlrun hands
// it the CUDA device; here the device is LeNet's generated CUDA C (batch 4, plus the
// coverage program) running on the host through the emulation header (EmulatedDevice.h).
// Clean programs must validate call by call; a corrupted output, a wrong kernel, a kernel
// that clobbers its input and a failing kernel must each be reported at exactly that call.
//
#include "CoverageProgram.h"
#include "runtime/cpu/CpuDevice.h"
#include "runtime/train/Init.h"
#include "runtime/train/Validate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

// Last: they define CUDA's keywords as macros.
#include "CudaEmulation.h"

#include "EmulatedDevice.h"
#include "lenet4_emulated.inc"

using namespace dlc;
using plan::KernelKind;

namespace {

const std::string kTestData = DLC_CUDA_TESTDATA;

class CudaValidateTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    std::string error;
    ASSERT_TRUE(plan::readPlan(kTestData + "/lenet4.plan", plan, error)) << error;
    cudatest::addCoverageProgram(plan);
  }

  void SetUp() override {
    device = std::make_unique<cudatest::EmulatedDevice>(plan, kEmulatedKernels,
                                                        std::size(kEmulatedKernels));
    cpuArena.assign(plan.arenaBytes, 0);
    cpu = makeCpuDevice(plan, cpuArena.data(), /*blockedLayouts=*/false); // NCHW, as the GPU
    // Random values everywhere (the coverage program's buffers), initialised parameters, a
    // batch of random images and valid labels.
    std::vector<uint8_t> &a = device->arena;
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> uniform(-1.f, 1.f);
    auto put = [&](uint64_t at, float v) { std::memcpy(&a[at], &v, 4); };
    for (uint64_t i = 0; i + 4 <= a.size(); i += 4)
      put(i, uniform(rng));
    for (const plan::Buffer &b : plan.buffers)
      if (b.name == "runVar" || b.name == "saveInvStd") // positive in any real step
        for (uint64_t i = b.offset; i < b.offset + b.bytes; i += 4)
          put(i, std::fabs(uniform(rng)) + 0.1f);
    initParameters(plan, a.data());
  }

  /// Valid class ids in `prog`'s labels, as dlrun copies a batch in before each step (the
  /// images are random already, and programs share the non-persistent region).
  void fillLabels(const plan::Program &prog) {
    const plan::ProgramInput *in = plan::Plan::classInput(prog);
    if (!in)
      return;
    std::mt19937 rng(12);
    const plan::Buffer &l = plan.buffers[in->buffer];
    std::uniform_int_distribution<int32_t> label(0, int32_t(in->classes) - 1);
    for (uint64_t i = l.offset; i < l.offset + l.bytes; i += 4) {
      int32_t v = label(rng);
      std::memcpy(&device->arena[i], &v, 4);
    }
  }

  const plan::Program &train() const { return *plan.program("train"); }

  /// Index of the first kernel call of `kind` in `prog`.
  static size_t firstOf(const plan::Program &prog, KernelKind kind) {
    for (size_t i = 0; i < prog.kernels.size(); ++i)
      if (prog.kernels[i].kind == kind)
        return i;
    ADD_FAILURE() << "no " << plan::kernelKindName(kind) << " in " << prog.name;
    return 0;
  }

  /// Validates `prog`; expects every call but `bad` (if any) to match, and `bad` not to.
  std::vector<KernelCheck> validateExpectingOnly(const plan::Program &prog, size_t bad) {
    fillLabels(prog);
    std::vector<KernelCheck> checks;
    std::string error;
    EXPECT_TRUE(validateProgram(plan, prog, *device, *cpu, checks, error)) << error;
    EXPECT_EQ(checks.size(), prog.kernels.size());
    for (const KernelCheck &c : checks)
      EXPECT_EQ(c.ok, c.index != bad)
          << prog.name << " kernel " << c.index << " '" << c.kernel->name << "' ("
          << plan::kernelKindName(c.kernel->kind) << "): relative error " << c.maxRel
          << ", tolerance " << c.tolerance;
    return checks;
  }

  /// Overrides call `index` of train with the generated kernel followed by `after`, which
  /// gets the call's arguments as float pointers.
  void tamper(size_t index, std::function<void(float *const *)> after) {
    const plan::Program &prog = train();
    device->overrides[{"train", index}] = [this, &prog, index,
                                           after](uint8_t *, void *const *p, std::string &error) {
      if (!device->runGenerated(prog, index, error))
        return false;
      after(reinterpret_cast<float *const *>(p));
      return true;
    };
  }

  static plan::Plan plan;
  std::unique_ptr<cudatest::EmulatedDevice> device;
  std::vector<uint8_t> cpuArena;
  std::unique_ptr<Device> cpu;
};

plan::Plan CudaValidateTest::plan;

constexpr size_t kNone = size_t(-1);

TEST_F(CudaValidateTest, EveryKernelOfLeNetAndTheCoverageProgramMatches) {
  for (const char *name : {"train", "eval", "coverage"}) {
    SCOPED_TRACE(name);
    std::vector<KernelCheck> checks = validateExpectingOnly(*plan.program(name), kNone);
    // The comparison is not vacuous: the CPU's convolutions (im2col + BLAS) sum in another
    // order than the generated reference kernels, so some results differ in the last bits.
    if (std::string(name) != "eval") {
      double worst = 0;
      for (const KernelCheck &c : checks)
        worst = std::max(worst, c.maxRel);
      EXPECT_GT(worst, 0.0);
    }
  }
}

TEST_F(CudaValidateTest, ACorruptedOutputIsReportedAtItsKernelOnly) {
  // One element of the output of a convolution, a relu, a matmul, the loss and a momentum
  // buffer, each in its own run: the kernels after it read the corrupted value on both
  // sides, so they still match.
  struct Case {
    KernelKind kind;
    int outArg;
  };
  for (Case c : {Case{KernelKind::Conv2dFwd, 2}, Case{KernelKind::Relu, 1},
                 Case{KernelKind::Matmul, 2}, Case{KernelKind::SoftmaxXent, 2},
                 Case{KernelKind::SgdMomentum, 2}}) {
    SCOPED_TRACE(plan::kernelKindName(c.kind));
    SetUp();
    const size_t index = firstOf(train(), c.kind);
    tamper(index, [&](float *const *a) { a[c.outArg][0] += 0.5f; });
    std::vector<KernelCheck> checks = validateExpectingOnly(train(), index);
    ASSERT_GT(checks.size(), index);
    EXPECT_EQ(checks[index].worst, train().kernels[index].args[c.outArg]);
    EXPECT_NEAR(checks[index].maxAbs, 0.5, 1e-3);
  }
}

TEST_F(CudaValidateTest, AWrongKernelIsReportedAtItsKernelOnly) {
  // A relu that passes negative values through.
  const size_t relu = firstOf(train(), KernelKind::Relu);
  const int64_t count = train().kernels[relu].ints[0];
  device->overrides[{"train", relu}] = [count](uint8_t *, void *const *p, std::string &) {
    std::memcpy(p[1], p[0], size_t(count) * 4);
    return true;
  };
  std::vector<KernelCheck> checks = validateExpectingOnly(train(), relu);
  ASSERT_GT(checks.size(), relu);
  EXPECT_EQ(checks[relu].worst, train().kernels[relu].args[1]);
}

TEST_F(CudaValidateTest, ToleranceIsRelativeToTheBufferAndLooserForReductions) {
  // Scaling every output by 1 + 1e-4 passes for a matmul (a reduction: 1e-3) and fails for a
  // relu (elementwise: 1e-5); by 1 + 1e-2 it fails for both.
  const size_t matmul = firstOf(train(), KernelKind::Matmul);
  const size_t relu = firstOf(train(), KernelKind::Relu);
  const plan::Kernel &mk = train().kernels[matmul];
  const size_t mCount = size_t(mk.ints[0] * mk.ints[1]);
  const size_t rCount = size_t(train().kernels[relu].ints[0]);
  for (float factor : {1.f + 1e-4f, 1.f + 1e-2f}) {
    SCOPED_TRACE(factor);
    SetUp();
    auto scale = [factor](float *y, size_t n) {
      for (size_t i = 0; i < n; ++i)
        y[i] *= factor;
    };
    tamper(matmul, [&](float *const *a) { scale(a[2], mCount); });
    tamper(relu, [&](float *const *a) { scale(a[1], rCount); });
    std::vector<KernelCheck> checks;
    std::string error;
    fillLabels(train());
    ASSERT_TRUE(validateProgram(plan, train(), *device, *cpu, checks, error)) << error;
    ASSERT_EQ(checks.size(), train().kernels.size());
    EXPECT_EQ(checks[matmul].ok, factor < 1.001f) << checks[matmul].maxRel;
    EXPECT_FALSE(checks[relu].ok) << checks[relu].maxRel;
    EXPECT_NEAR(checks[relu].maxRel, factor - 1.f, 1e-6);
  }
}

TEST_F(CudaValidateTest, AKernelThatClobbersItsInputIsAMismatch) {
  const size_t relu = firstOf(train(), KernelKind::Relu);
  tamper(relu, [](float *const *a) { a[0][3] = 123.f; });
  std::vector<KernelCheck> checks = validateExpectingOnly(train(), relu);
  ASSERT_GT(checks.size(), relu);
  EXPECT_EQ(checks[relu].worst, train().kernels[relu].args[0]);
}

TEST_F(CudaValidateTest, AFailingKernelIsAnErrorNamingIt) {
  const size_t relu = firstOf(train(), KernelKind::Relu);
  device->overrides[{"train", relu}] = [](uint8_t *, void *const *, std::string &error) {
    error = "CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered";
    return false;
  };
  std::vector<KernelCheck> checks;
  std::string error;
  fillLabels(train());
  EXPECT_FALSE(validateProgram(plan, train(), *device, *cpu, checks, error));
  EXPECT_EQ(error, "validating program 'train' kernel " + std::to_string(relu) + " '" +
                       train().kernels[relu].name +
                       "' (on emulated cuda (host)): CUDA_ERROR_ILLEGAL_ADDRESS: an illegal "
                       "memory access was encountered");
  EXPECT_EQ(checks.size(), relu);
}

/// validateAndReport's result and text for train.
std::pair<int, std::string> report(const plan::Plan &plan, Device &device, Device &cpu) {
  std::FILE *f = std::tmpfile();
  std::string error;
  int bad = validateAndReport(plan, *plan.program("train"), device, cpu, f, error);
  std::string text(size_t(std::ftell(f)), '\0');
  std::rewind(f);
  text.resize(std::fread(text.data(), 1, text.size(), f));
  std::fclose(f);
  EXPECT_GE(bad, 0) << error;
  return {bad, text};
}

TEST_F(CudaValidateTest, TheReportHasALinePerKernelAndASummary) {
  const size_t n = train().kernels.size();
  auto lines = [](const std::string &s) { return size_t(std::count(s.begin(), s.end(), '\n')); };
  fillLabels(train());
  auto [clean, text] = report(plan, *device, *cpu);
  EXPECT_EQ(clean, 0);
  EXPECT_EQ(lines(text), 2 + n + 1) << text; // header, column titles, kernels, summary
  EXPECT_EQ(text.rfind("validate: program 'train' of lenet, " + std::to_string(n) +
                           " kernel calls on emulated cuda (host) against cpu\n",
                       0),
            0u)
      << text;
  EXPECT_NE(text.find("\nvalidate: " + std::to_string(n) + " kernel calls, all within tolerance; "
                      "closest to its tolerance: kernel "),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("MISMATCH"), std::string::npos) << text;

  SetUp();
  const size_t conv = firstOf(train(), KernelKind::Conv2dFwd);
  tamper(conv, [](float *const *a) { a[2][0] = std::numeric_limits<float>::quiet_NaN(); });
  fillLabels(train());
  auto [bad, text2] = report(plan, *device, *cpu);
  EXPECT_EQ(bad, 1);
  const plan::Kernel &k = train().kernels[conv];
  EXPECT_NE(text2.find(k.name), std::string::npos);
  EXPECT_NE(text2.find("inf  MISMATCH (tolerance 1e-03; worst buffer '" +
                       plan.buffers[k.args[2]].name + "')\n"),
            std::string::npos)
      << text2;
  EXPECT_NE(text2.find("\nvalidate: " + std::to_string(n) + " kernel calls, 1 MISMATCH (first: "
                       "kernel " + std::to_string(conv) + " '" + k.name + "')"),
            std::string::npos)
      << text2;
}

TEST(ValidateCompare, ErrorsAreRelativeToTheBuffersScale) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  double abs, rel;
  // Near-zero elements (a sum that cancelled) are judged against the buffer's scale.
  const float ref[] = {100.f, 1e-6f, -50.f, nan, inf};
  const float dev[] = {100.f, 2e-6f, -50.01f, nan, inf};
  compareFloats(dev, ref, 5, abs, rel);
  EXPECT_NEAR(abs, 0.01, 1e-5);
  EXPECT_NEAR(rel, 1e-4, 1e-7);
  const float devNan[] = {100.f, 1e-6f, -50.f, 0.f, inf};
  compareFloats(devNan, ref, 5, abs, rel);
  EXPECT_EQ(abs, HUGE_VAL);
  EXPECT_EQ(rel, HUGE_VAL);
  // All zeros: any difference is infinitely large relative to the scale (FLT_MIN).
  const float zeros[] = {0.f, 0.f}, tiny[] = {0.f, 1e-30f};
  compareFloats(tiny, zeros, 2, abs, rel);
  EXPECT_GT(rel, 1e6);
  compareFloats(zeros, zeros, 2, abs, rel);
  EXPECT_EQ(rel, 0.0);
}

TEST(ValidateCompare, ReductionsAreAllowedMoreThanElementwiseKinds) {
  EXPECT_EQ(validateTolerance(KernelKind::Relu), 1e-5);
  EXPECT_EQ(validateTolerance(KernelKind::SgdMomentum), 1e-5);
  EXPECT_EQ(validateTolerance(KernelKind::Accuracy), 1e-5);
  EXPECT_EQ(validateTolerance(KernelKind::Conv2dBwdFilter), 1e-3);
  EXPECT_EQ(validateTolerance(KernelKind::Matmul), 1e-3);
  EXPECT_EQ(validateTolerance(KernelKind::BatchNormTrain), 1e-3);
}

} // namespace
