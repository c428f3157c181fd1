//===- CudaEmulationTest.cpp - generated CUDA kernels vs the CPU runtime --------===//
//
// The CUDA C that compiler/Target/Cuda generates for LeNet (batch 4) is compiled into this
// test as host C++ (CudaEmulation.h) and run with the compiler's own launch
// configurations on an arena laid out as the plan says, then compared with the CPU runtime:
// every kernel call on its own (random inputs, LeNet's and those of the coverage program:
// fused epilogues, strides, padding, ...), and LeNet's whole training and evaluation steps.
// No GPU needed; what it cannot check is the cuDNN/cuBLAS calls, which run here as the
// generated reference kernels.
//
#include "CoverageProgram.h"
#include "EmulationSource.h"
#include "compiler/Target/Cuda/CudaCodegen.h"
#include "runtime/train/Init.h"
#include "runtime/cpu/Executor.h"
#include "runtime/cpu/Kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

// Last: it defines CUDA's keywords as macros.
#include "CudaEmulation.h"

#include "lenet4_emulated.inc"

using namespace dlc;
using plan::KernelKind;

namespace {

const std::string kTestData = DLC_CUDA_TESTDATA;

class CudaEmulationTest : public ::testing::Test {
protected:
  using Range = std::pair<uint64_t, uint64_t>; // arena bytes [first, second)

  static Range rangeOf(int32_t id) {
    return {plan.buffers[id].offset, plan.buffers[id].offset + plan.buffers[id].bytes};
  }

  static void SetUpTestSuite() {
    std::string error;
    ASSERT_TRUE(plan::readPlan(kTestData + "/lenet4.plan", plan, error)) << error;
    cudatest::addCoverageProgram(plan);
    for (const auto &k : kEmulatedKernels)
      kernels[k.name] = k.launch;
  }

  /// The program's launch records, as the emulation generator produced them.
  static std::vector<cuda::CudaLaunch> launchesOf(const plan::Program &prog) {
    std::vector<cuda::CudaLaunch> launches;
    std::string error;
    EXPECT_FALSE(cudatest::emulationSource(plan, prog, launches, error).empty()) << error;
    return launches;
  }

  static void emulate(const plan::Program &prog, const cuda::CudaLaunch &l, uint8_t *arena) {
    const plan::Kernel &k = prog.kernels[l.kernel];
    std::vector<void *> pointers;
    for (int32_t id : k.args)
      pointers.push_back(arena + plan.buffers[id].offset);
    auto it = kernels.find(l.function);
    ASSERT_NE(it, kernels.end()) << "no compiled kernel '" << l.function << "'";
    it->second(dim3(l.grid.x, l.grid.y, l.grid.z), dim3(l.block.x, l.block.y, l.block.z),
               pointers.data());
  }

  /// The CPU runtime's result for one kernel call. Epilogues are applied here with the CPU's
  /// bias_add and relu kernels, independently of whether the CPU executor fuses them.
  static void reference(const plan::Program &prog, const plan::Kernel &k, uint8_t *arena) {
    plan::Program one;
    one.name = prog.name;
    one.kernels.push_back(k);
    plan::Kernel &base = one.kernels.back();
    const bool fusable = k.kind == KernelKind::Conv2dFwd || k.kind == KernelKind::Matmul;
    const size_t plainInts = k.kind == KernelKind::Conv2dFwd ? 11 : 5;
    int64_t epilogue = 0;
    if (fusable && k.ints.size() > plainInts) {
      epilogue = k.ints.back();
      base.ints.pop_back();
      if (epilogue & plan::kEpilogueBias)
        base.args.pop_back();
    }
    cpu::runProgram(plan, one, arena);
    if (!epilogue)
      return;
    auto at = [&](int arg) {
      return reinterpret_cast<float *>(arena + plan.buffers[k.args[arg]].offset);
    };
    size_t outer, channels, inner;
    if (k.kind == KernelKind::Conv2dFwd) {
      cpu::ConvShape s{int(k.ints[0]), int(k.ints[1]), int(k.ints[2]), int(k.ints[3]),
                       int(k.ints[4]), int(k.ints[5]), int(k.ints[6]), int(k.ints[7]),
                       int(k.ints[8]), int(k.ints[9]), int(k.ints[10])};
      outer = s.n, channels = s.k, inner = size_t(s.oh()) * s.ow();
    } else {
      outer = k.ints[0], channels = k.ints[1], inner = 1;
    }
    float *y = at(2);
    if (epilogue & plan::kEpilogueBias)
      cpu::biasAdd(outer, channels, inner, y, at(int(k.args.size()) - 1), y);
    if (epilogue & plan::kEpilogueRelu)
      cpu::reluForward(outer * channels * inner, y, y);
  }

  /// Random floats in [-1, 1] in `range`.
  static void fillRandom(uint8_t *arena, Range range, std::mt19937 &rng) {
    std::uniform_real_distribution<float> uniform(-1.f, 1.f);
    for (uint64_t i = range.first; i + 4 <= range.second; i += 4) {
      float v = uniform(rng);
      std::memcpy(&arena[i], &v, 4);
    }
  }

  /// A batch as dlrun copies it in before each step: random images, valid class ids.
  static void fillInputs(const plan::Program &prog, uint8_t *arena, std::mt19937 &rng) {
    for (const plan::ProgramInput &in : prog.inputs) {
      if (in.dtype == plan::DType::F32) {
        fillRandom(arena, rangeOf(in.buffer), rng);
        continue;
      }
      const int32_t classes = int32_t(std::max<int64_t>(1, in.classes));
      std::uniform_int_distribution<int32_t> label(0, classes - 1);
      for (uint64_t i = rangeOf(in.buffer).first; i < rangeOf(in.buffer).second; i += 4) {
        int32_t v = label(rng);
        std::memcpy(&arena[i], &v, 4);
      }
    }
  }

  /// Random values everywhere, then a valid batch.
  static std::vector<uint8_t> randomArena(const plan::Program &prog, unsigned seed) {
    std::vector<uint8_t> arena(plan.arenaBytes);
    std::mt19937 rng(seed);
    fillRandom(arena.data(), {0, arena.size()}, rng);
    // Variances and inverse standard deviations are positive in any real step.
    for (const plan::Buffer &b : plan.buffers)
      if (b.name == "runVar" || b.name == "saveInvStd")
        for (uint64_t i = b.offset; i + 4 <= b.offset + b.bytes; i += 4) {
          float v;
          std::memcpy(&v, &arena[i], 4);
          v = std::fabs(v) + 0.1f;
          std::memcpy(&arena[i], &v, 4);
        }
    // Second moments are non-negative; an optimizer state holds a step count >= 1, a
    // positive lr, a non-negative sum of squares and a clip factor in (0, 1].
    for (const plan::Buffer &b : plan.buffers)
      if (b.name == "exp_avg_sq" || b.name == "opt_state")
        for (uint64_t i = b.offset; i + 4 <= b.offset + b.bytes; i += 4) {
          float v;
          std::memcpy(&v, &arena[i], 4);
          v = std::fabs(v) + 0.01f;
          if (b.name == "opt_state" && i == b.offset)
            v = std::floor(v * 10.0f) + 1.0f;
          std::memcpy(&arena[i], &v, 4);
        }
    fillInputs(prog, arena.data(), rng);
    return arena;
  }

  /// Compares two arenas float by float: inside the `tolerant` ranges up to 1e-5 of the
  /// range's largest magnitude (sums run in a different order on each side), bit for bit
  /// elsewhere except inside `skip`. Reports the first few mismatches with their buffers.
  static void expectMatch(const std::vector<uint8_t> &got, const std::vector<uint8_t> &want,
                          const std::vector<Range> &tolerant, const std::vector<Range> &skip,
                          const std::string &what) {
    auto at = [](const std::vector<uint8_t> &arena, size_t i) {
      float v;
      std::memcpy(&v, &arena[i], 4);
      return v;
    };
    std::vector<float> scale;
    for (auto [lo, hi] : tolerant) {
      float m = 0.f;
      for (size_t i = lo; i + 4 <= hi; i += 4)
        m = std::max(m, std::fabs(at(want, i)));
      scale.push_back(m);
    }
    int bad = 0;
    for (size_t i = 0; i + 4 <= want.size() && bad < 5; i += 4) {
      if (std::memcmp(&got[i], &want[i], 4) == 0 ||
          std::any_of(skip.begin(), skip.end(),
                      [&](Range r) { return i >= r.first && i < r.second; }))
        continue;
      float tol = -1.f; // outside every tolerant range: must be equal
      for (size_t r = 0; r < tolerant.size(); ++r)
        if (i >= tolerant[r].first && i < tolerant[r].second)
          tol = std::max(tol, 1e-5f * std::max(1.f, scale[r]));
      const float g = at(got, i), w = at(want, i);
      if (std::fabs(g - w) <= tol)
        continue;
      std::string in;
      for (const plan::Buffer &b : plan.buffers)
        if (i >= b.offset && i < b.offset + b.bytes)
          in += " '" + b.name + "'";
      ADD_FAILURE() << what << ": arena byte " << i << " (in" << in << "): emulated " << g
                    << ", CPU " << w << (tol < 0 ? " (outside the kernel's buffers)" : "");
      ++bad;
    }
  }

  /// Every kernel call of `name`, each on fresh random inputs, against the CPU.
  static void checkEachKernel(const std::string &name) {
    const plan::Program &prog = *plan.program(name);
    std::vector<cuda::CudaLaunch> launches = launchesOf(prog);
    ASSERT_EQ(launches.size(), prog.kernels.size());
    for (const cuda::CudaLaunch &l : launches) {
      const plan::Kernel &k = prog.kernels[l.kernel];
      std::vector<uint8_t> want = randomArena(prog, unsigned(l.kernel));
      std::vector<uint8_t> got = want;
      reference(prog, k, want.data());
      emulate(prog, l, got.data());
      // The CPU's convolutions use their workspace for im2col; the GPU's do not.
      std::vector<Range> buffers, workspaces;
      for (int32_t id : k.args)
        (plan.buffers[id].kind == plan::BufferKind::Workspace ? workspaces : buffers)
            .push_back(rangeOf(id));
      expectMatch(got, want, buffers, workspaces,
                  name + " kernel " + l.function + " (" + k.name + ")");
    }
  }

  static plan::Plan plan;
  static std::map<std::string, void (*)(dim3, dim3, void *const *)> kernels;
};

plan::Plan CudaEmulationTest::plan;
std::map<std::string, void (*)(dim3, dim3, void *const *)> CudaEmulationTest::kernels;

TEST_F(CudaEmulationTest, CompiledSourceIsTheCodegensCurrentOutput) {
  std::ifstream f(kTestData + "/lenet4_emulated.inc");
  std::stringstream compiled;
  compiled << f.rdbuf();
  for (const plan::Program &prog : plan.programs) {
    std::vector<cuda::CudaLaunch> launches;
    std::string error;
    std::string src = cudatest::emulationSource(plan, prog, launches, error);
    ASSERT_FALSE(src.empty()) << error;
    EXPECT_NE(compiled.str().find(src), std::string::npos) << "program " << prog.name;
  }
}

TEST_F(CudaEmulationTest, EachTrainKernelMatchesTheCpu) { checkEachKernel("train"); }
TEST_F(CudaEmulationTest, EachEvalKernelMatchesTheCpu) { checkEachKernel("eval"); }
TEST_F(CudaEmulationTest, EachCoverageKernelMatchesTheCpu) {
  // 15 fused epilogues, 14 other kernels, 7 of ResNet's, 4 pooling gradients with a relu,
  // 4 LRN, 4 recurrent, 2 sigmoid, 10 optimizer, 19 activation, mul/sub/neg and softmax
  // kernels, 3 dropout and 2 concat kernels, 8 regression-loss kernels, 2 layer-norm and 2
  // transpose kernels, 2 embedding kernels, 12 grouped convolution kernels, 4 attention
  // kernels, 1 pipeline copy, 2 position embedding kernels, of imported graphs' general
  // kernels 34 unary, 9 broadcast binary, 1 slice and 9 reduce, 2 masked attention kernels,
  // and 1 micro-batch slice (GPipe's copy_slice).
  ASSERT_EQ(plan.program("coverage")->kernels.size(),
            15u + 10u + 7u + 4u + 4u + 4u + 2u + 10u + 19u + 3u + 2u + 8u + 2u + 2u + 2u + 12u +
                4u + 1u + 2u + 34u + 9u + 1u + 9u + 2u + 1u);
  checkEachKernel("coverage");
}

TEST_F(CudaEmulationTest, TrainAndEvalStepsMatchTheCpuExecutor) {
  // Initialised parameters keep activations at the scale training sees; random ones blow
  // them up to where float rounding alone separates the two sides.
  const plan::Program &train = *plan.program("train"), &eval = *plan.program("eval");
  std::vector<uint8_t> want = randomArena(train, 7);
  initParameters(plan, want.data());
  std::vector<uint8_t> got = want;
  std::mt19937 rng(8);
  auto scalar = [&](const std::vector<uint8_t> &arena, int32_t id) {
    float v;
    std::memcpy(&v, &arena[plan.buffers[id].offset], 4);
    return v;
  };
  // Two training steps (the second starts from non-zero momentum), then an evaluation.
  for (const plan::Program *prog : {&train, &train, &eval}) {
    fillInputs(*prog, want.data(), rng);
    std::copy(want.begin() + plan.persistentBytes, want.end(), got.begin() + plan.persistentBytes);
    cpu::runProgram(plan, *prog, want.data());
    for (const cuda::CudaLaunch &l : launchesOf(*prog))
      emulate(*prog, l, got.data());
    const float loss = scalar(want, prog->loss);
    EXPECT_NEAR(scalar(got, prog->loss), loss, 1e-5f * std::fabs(loss)) << prog->name;
    EXPECT_EQ(scalar(got, prog->correct), scalar(want, prog->correct)) << prog->name;
    // Parameters and momentum; the rest of the arena is scratch by now.
    std::vector<Range> state;
    for (const plan::Parameter &p : plan.params)
      state.push_back(rangeOf(p.buffer));
    expectMatch(got, want, state, {{plan.persistentBytes, plan.arenaBytes}}, prog->name + " step");
  }
}

} // namespace
