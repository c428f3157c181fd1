//===- CudaResNetEmulationTest.cpp - ResNet-50's generated CUDA C vs the CPU -----===//
//
// ResNet-50 as `dlc compile` makes it by default (epilogues fused), at batch 2 on 64x64
// images (the network of models/resnet50.yaml; the input is smaller so that the test takes
// seconds), has its CUDA C generated at build time (test/cuda/CMakeLists.txt) and compiled
// into this test as host C++ through CudaEmulation.h. Every kernel call of its
// training and evaluation steps then runs, with the compiler's launch configurations, on
// initialised parameters and a random batch, and is compared with the CPU kernel by dlrun
// --validate's logic (runtime/train/Validate.h): each call from the same inputs, so every call is
// judged on its own. The whole steps are compared too. cuDNN/cuBLAS calls run as the
// generated reference kernels, as in CudaEmulationTest.
//
#include "runtime/cpu/CpuDevice.h"
#include "runtime/train/Init.h"
#include "runtime/train/Validate.h"
#include "runtime/cpu/Executor.h"
#include "test/unit/TinyPlan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

// Last: they define CUDA's keywords as macros.
#include "CudaEmulation.h"

#include "EmulatedDevice.h"
#include "resnet50_emulated.inc"

using namespace dlc;
using plan::KernelKind;

namespace {

const std::string kTestData = DLC_CUDA_TESTDATA;

class CudaResNetEmulationTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    std::string error;
    ASSERT_TRUE(plan::readPlan(kTestData + "/resnet50_2.plan", plan, error)) << error;
  }

  void SetUp() override {
    ASSERT_EQ(plan.model, "resnet50");
    ASSERT_EQ(plan.inputShape, (std::vector<int64_t>{3, 64, 64}));
    device = std::make_unique<cudatest::EmulatedDevice>(plan, kEmulatedKernels,
                                                        std::size(kEmulatedKernels));
    initParameters(plan, device->arena.data());
    cpuArena.assign(plan.arenaBytes, 0);
    cpu = makeCpuDevice(plan, cpuArena.data(), /*blockedLayouts=*/false); // NCHW, as the GPU
  }

  /// A batch as dlrun copies it in: random images, valid labels.
  void fillInputs(const plan::Program &prog, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> pixel(0.f, 1.f);
    std::uniform_int_distribution<int32_t> label(0, int32_t(plan.classes) - 1);
    const plan::Buffer &x = plan.buffers[dlc::test::imagesOf(prog)],
                       &y = plan.buffers[dlc::test::labelsOf(prog)];
    for (uint64_t i = x.offset; i < x.offset + x.bytes; i += 4) {
      float v = pixel(rng);
      std::memcpy(&device->arena[i], &v, 4);
    }
    for (uint64_t i = y.offset; i < y.offset + y.bytes; i += 4) {
      int32_t v = label(rng);
      std::memcpy(&device->arena[i], &v, 4);
    }
  }

  /// Every call of `name` validated; prints the worst error per kind.
  void validateEveryKernel(const std::string &name) {
    const plan::Program &prog = *plan.program(name);
    fillInputs(prog, 1);
    std::vector<KernelCheck> checks;
    std::string error;
    ASSERT_TRUE(validateProgram(plan, prog, *device, *cpu, checks, error)) << error;
    ASSERT_EQ(checks.size(), prog.kernels.size());
    std::map<std::string, std::pair<int, double>> perKind; // calls, worst relative error
    for (const KernelCheck &c : checks) {
      EXPECT_TRUE(c.ok) << name << " kernel " << c.index << " '" << c.kernel->name << "' ("
                        << plan::kernelKindName(c.kernel->kind) << "): relative error "
                        << c.maxRel << " > " << c.tolerance << " in '"
                        << plan.buffers[c.worst].name << "'";
      auto &[calls, worst] = perKind[plan::kernelKindName(c.kernel->kind)];
      ++calls;
      worst = std::max(worst, c.maxRel);
    }
    std::printf("%s: %zu kernel calls\n", name.c_str(), checks.size());
    for (const auto &[kind, stats] : perKind)
      std::printf("  %-18s %4d calls, worst relative error %.2e\n", kind.c_str(), stats.first,
                  stats.second);
  }

  static plan::Plan plan;
  std::unique_ptr<cudatest::EmulatedDevice> device;
  std::vector<uint8_t> cpuArena;
  std::unique_ptr<Device> cpu;
};

plan::Plan CudaResNetEmulationTest::plan;

TEST_F(CudaResNetEmulationTest, CompiledSourceIsTheCodegensCurrentOutput) {
  std::ifstream f(kTestData + "/resnet50_emulated.inc");
  std::stringstream compiled;
  compiled << f.rdbuf();
  size_t functions = 0;
  for (const plan::Program &prog : plan.programs) {
    std::vector<cuda::CudaLaunch> launches;
    std::string error;
    std::string src = cudatest::emulationSource(plan, prog, launches, error);
    ASSERT_FALSE(src.empty()) << error;
    EXPECT_NE(compiled.str().find(src), std::string::npos) << "program " << prog.name;
    functions += launches.size();
  }
  // One emulated function per kernel call: library calls run as reference kernels.
  EXPECT_EQ(std::size(kEmulatedKernels), functions);
}

TEST_F(CudaResNetEmulationTest, TheProgramsHaveEveryKindResNetNeeds) {
  // What "every kernel of ResNet-50" covers here: the plan's kinds, fused epilogues included.
  std::set<KernelKind> kinds;
  int fused = 0;
  for (const plan::Program &prog : plan.programs)
    for (const plan::Kernel &k : prog.kernels) {
      kinds.insert(k.kind);
      fused += (k.kind == KernelKind::Conv2dFwd && k.ints.size() > 11 && k.ints[11]) ||
               (k.kind == KernelKind::Matmul && k.ints.size() > 5 && k.ints[5]);
    }
  for (KernelKind k : {KernelKind::Conv2dFwd, KernelKind::Conv2dBwdData,
                       KernelKind::Conv2dBwdFilter, KernelKind::MaxPoolFwd, KernelKind::MaxPoolBwd,
                       KernelKind::ReluBwd, KernelKind::Add, KernelKind::AddRelu,
                       KernelKind::AddReluBwd, KernelKind::Matmul,
                       KernelKind::SoftmaxXent, KernelKind::SoftmaxXentBwd, KernelKind::Accuracy,
                       KernelKind::SgdMomentum, KernelKind::BatchNormTrain,
                       KernelKind::BatchNormEval, KernelKind::BatchNormBwd, KernelKind::AvgPoolFwd,
                       KernelKind::AvgPoolBwd})
    EXPECT_TRUE(kinds.count(k)) << plan::kernelKindName(k);
  EXPECT_GT(fused, 0); // the fc layer's bias at least
}

TEST_F(CudaResNetEmulationTest, EveryTrainKernelMatchesTheCpu) { validateEveryKernel("train"); }
TEST_F(CudaResNetEmulationTest, EveryEvalKernelMatchesTheCpu) { validateEveryKernel("eval"); }

TEST_F(CudaResNetEmulationTest, EvalAndTrainStepsMatchTheCpuExecutor) {
  // The whole steps, each side on its own, so rounding differences carry through 50 layers.
  // Compared: the loss, the correct count, and the classifier's parameters and momentum,
  // to 1e-3 of their scale. That is what the step's conditioning allows: at batch 2 on the
  // CPU alone, a relative change of 1e-7 in the input images moves fc's momentum by 2e-4 of
  // its scale after one step, and deeper parameters (behind batch norm over 2x2 activations)
  // by up to 7%, so those are not compared here. EveryTrainKernelMatchesTheCpu compares every
  // call of the step on its own inputs, the check that means something for them.
  const plan::Program &train = *plan.program("train"), &eval = *plan.program("eval");
  auto scalar = [&](const uint8_t *arena, int32_t id) {
    float v;
    std::memcpy(&v, arena + plan.buffers[id].offset, 4);
    return v;
  };
  unsigned seed = 2;
  for (const plan::Program *prog : {&eval, &train}) {
    SCOPED_TRACE(prog->name);
    fillInputs(*prog, seed++);
    std::copy(device->arena.begin(), device->arena.end(), cpuArena.begin());
    std::string error;
    ASSERT_TRUE(device->run(*prog, nullptr, nullptr, error)) << error;
    cpu::runProgram(plan, *prog, cpuArena.data());
    const float loss = scalar(cpuArena.data(), prog->loss);
    EXPECT_TRUE(std::isfinite(loss));
    EXPECT_NEAR(scalar(device->arena.data(), prog->loss), loss, 1e-4f * std::fabs(loss));
    EXPECT_EQ(scalar(device->arena.data(), prog->correct), scalar(cpuArena.data(), prog->correct));
    int compared = 0;
    for (const plan::Buffer &b : plan.buffers) {
      if (b.program != -1 || b.name.rfind("fc.", 0) != 0) // fc's weight, bias and momentum
        continue;
      ++compared;
      double abs, rel;
      compareFloats(reinterpret_cast<const float *>(&device->arena[b.offset]),
                    reinterpret_cast<const float *>(&cpuArena[b.offset]), b.bytes / 4, abs, rel);
      EXPECT_LE(rel, 1e-3) << b.name;
    }
    EXPECT_EQ(compared, 4);
  }
}

} // namespace
