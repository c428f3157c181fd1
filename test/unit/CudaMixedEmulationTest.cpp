//===- CudaMixedEmulationTest.cpp - mixed-precision CUDA steps vs the CPU's fp32 ===//
//
// The CUDA C generated for the mixed-precision form of a plan (2-byte activations and
// activation gradients, bf16 or fp16; fp32 master weights, their gradients and optimizer
// state; casts of the weights and of the weight gradients) is compiled here as host C++
// (CudaEmulation.h) and run for training steps, and compared with the CPU executor running
// the same model's fp32 plan from the same parameters and batch: the losses within 1e-2
// relative, and every weight's update (SGD: lr x its gradient at the first step) within a
// relative L2 error of the half type's precision (the transformer block: 3e-2 in bf16, 5e-3
// in fp16; measured at most 1.2e-2 and 1.2e-3, the ratio of their 8 and 11 bits). Also: the 2-byte conversions round to
// nearest even as CUDA's __float2half_rn and __float2bfloat16_rn do, on every float class.
// NVRTC compiles the mixed sources for sm_80, sm_86 and sm_90: these models' programs and
// the coverage program (every kernel kind) with 2-byte buffers, as a GPU would run them and
// with the reference kernels. What this cannot check is a GPU: cuBLAS and cuDNN run here as
// the generated reference kernels, on the same 2-byte operands.
//
#include "CoverageProgram.h"
#include "EmulationSource.h"
#include "MixedPlan.h"
#include "compiler/Target/Cuda/Nvrtc.h"
#include "runtime/cpu/Executor.h"
#include "runtime/train/Init.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

// Last: it defines CUDA's keywords as macros.
#include "CudaEmulation.h"

#include "compiler/Target/Cuda/HalfTypes.h"

// The prelude as the generated sources have it (guarded, so once here suffices).
#include "mixed_block_bf16.inc"
#include "mixed_block_fp16.inc"
#include "mixed_lenet_bf16.inc"
#include "mixed_lenet_fp16.inc"

using namespace dlc;

namespace {

const std::string kTestData = DLC_CUDA_TESTDATA;

struct Case {
  const char *tag;
  const dlc::cuda::emu::Kernel *table;
  size_t size;
  float updateTolerance; // relative L2 error of the weight updates
};

template <size_t N> Case makeCase(const char *tag, const dlc::cuda::emu::Kernel (&t)[N], float tol) {
  return {tag, t, N, tol};
}

float loadFloat(const std::vector<uint8_t> &arena, uint64_t at) {
  float v;
  std::memcpy(&v, &arena[at], 4);
  return v;
}

using KernelTable = std::map<std::string, void (*)(dim3, dim3, void *const *)>;

/// Runs a program's launches on `arena` as the CUDA executor does, including its one control
/// transfer: after skip_if_nonfinite with the found-inf flag set, on at its resume kernel.
void emulateProgram(const plan::Plan &p, const plan::Program &prog,
                    const std::vector<cuda::CudaLaunch> &launches, const KernelTable &kernels,
                    std::vector<uint8_t> &arena) {
  for (size_t n = 0; n < launches.size(); ++n) {
    const cuda::CudaLaunch &l = launches[n];
    const plan::Kernel &k = prog.kernels[l.kernel];
    std::vector<void *> pointers;
    for (int32_t id : k.args)
      pointers.push_back(arena.data() + p.buffers[id].offset);
    auto it = kernels.find(l.function);
    ASSERT_NE(it, kernels.end()) << "no compiled kernel '" << l.function << "'";
    it->second(dim3(l.grid.x, l.grid.y, l.grid.z), dim3(l.block.x, l.block.y, l.block.z),
               pointers.data());
    if (k.kind == plan::KernelKind::SkipIfNonfinite &&
        loadFloat(arena, p.buffers[k.args[0]].offset + 8) != 0.0f)
      n = size_t(k.ints[0]) - 1;
  }
}

/// Two training steps and an evaluation of `c` on both sides from the same initial
/// parameters and batches.
void compareSteps(const Case &c) {
  SCOPED_TRACE(c.tag);
  plan::Plan cpu;
  std::string error;
  ASSERT_TRUE(plan::readPlan(kTestData + "/mixed_" + c.tag + ".plan", cpu, error)) << error;
  ASSERT_NE(cpu.train.precision, plan::Precision::Fp32);
  plan::Plan gpu = cudatest::mixedCudaPlan(cpu);
  ASSERT_TRUE(plan::validatePlan(gpu, error)) << error;
  // The same parameters and state at the same offsets; mixed-fp16 adds its loss-scale
  // state after them (zeros: the scale 65536).
  ASSERT_GE(gpu.persistentBytes, cpu.persistentBytes);
  const plan::Parameter *lossScale = nullptr;
  for (const plan::Parameter &p : gpu.params)
    if (p.name == "loss_scale")
      lossScale = &p;
  ASSERT_EQ(lossScale != nullptr, gpu.train.precision == plan::Precision::MixedFp16);

  KernelTable kernels;
  for (size_t i = 0; i < c.size; ++i)
    kernels[c.table[i].name] = c.table[i].launch;

  std::vector<uint8_t> want(cpu.arenaBytes), got(gpu.arenaBytes);
  initParameters(cpu, want.data());
  std::copy(want.begin(), want.begin() + cpu.persistentBytes, got.begin());
  std::mt19937 rng(11);
  for (const char *name : {"train", "train", "eval"}) {
    const plan::Program &cp = *cpu.program(name), &gp = *gpu.program(name);
    // The same batch on both sides: images in [-1, 1], valid class ids.
    ASSERT_EQ(cp.inputs.size(), gp.inputs.size());
    for (size_t i = 0; i < cp.inputs.size(); ++i) {
      const plan::Buffer &cb = cpu.buffers[cp.inputs[i].buffer], &gb = gpu.buffers[gp.inputs[i].buffer];
      ASSERT_EQ(cb.bytes, gb.bytes);
      std::uniform_real_distribution<float> uniform(-1.f, 1.f);
      std::uniform_int_distribution<int32_t> label(0, int32_t(std::max<int64_t>(1, cp.inputs[i].classes)) - 1);
      for (uint64_t at = 0; at < cb.bytes; at += 4) {
        uint8_t bytes[4];
        if (cp.inputs[i].dtype == plan::DType::I32) {
          int32_t v = label(rng);
          std::memcpy(bytes, &v, 4);
        } else {
          float v = uniform(rng);
          std::memcpy(bytes, &v, 4);
        }
        std::memcpy(&want[cb.offset + at], bytes, 4);
        std::memcpy(&got[gb.offset + at], bytes, 4);
      }
    }
    std::vector<uint8_t> batch = got; // its inputs, for a step the loss scale made skip
    const std::vector<uint8_t> before = want;
    cpu::runProgram(cpu, cp, want.data());
    std::vector<cuda::CudaLaunch> launches;
    ASSERT_FALSE(cudatest::emulationSource(gpu, gp, launches, error, std::string(c.tag) + "_").empty())
        << error;
    emulateProgram(gpu, gp, launches, kernels, got);
    // mixed-fp16: GradScaler's first scale (65536) may overflow the scaled gradients, as it
    // does in PyTorch: such a step changes nothing but halves the scale. The same batch again
    // is then what the next step would do; the comparison is with the step that is taken.
    for (int skipped = 0; lossScale && std::string(name) == "train"; ++skipped) {
      const uint64_t at = gpu.buffers[lossScale->buffer].offset;
      ASSERT_EQ(loadFloat(got, at + 8), 0.0f); // the flag is cleared either way
      if (loadFloat(got, at + 4) >= 1.0f) {    // a good step counted
        std::printf("[ %s ] %s step taken at scale 2^%.0f after %d skipped\n", c.tag, name,
                    16.0f + loadFloat(got, at), skipped);
        break;
      }
      ASSERT_LT(skipped, 16) << "the loss scale never stopped overflowing";
      for (const plan::Parameter &p : cpu.params) { // a skipped step updates nothing
        const plan::Buffer &b = cpu.buffers[p.buffer];
        ASSERT_EQ(std::memcmp(&got[b.offset], &batch[b.offset], b.bytes), 0) << p.name;
      }
      std::copy(got.begin() + cpu.persistentBytes, got.begin() + gpu.persistentBytes,
                batch.begin() + cpu.persistentBytes); // the halved scale
      got = batch;
      emulateProgram(gpu, gp, launches, kernels, got);
    }
    const float lw = loadFloat(want, cpu.buffers[cp.loss].offset);
    const float lg = loadFloat(got, gpu.buffers[gp.loss].offset);
    EXPECT_NEAR(lg, lw, 1e-2f * std::fabs(lw)) << name << " loss";
    std::printf("[ %s ] %s loss: fp32 %.6f, mixed %.6f (relative %.2e)\n", c.tag, name, lw, lg,
                std::fabs(lg - lw) / std::fabs(lw));
    if (std::string(name) == "eval")
      continue;
    // Each weight's update against the CPU's; then both sides go on from the CPU's weights
    // so that the next step compares gradients again, not accumulated drift.
    for (const plan::Parameter &p : cpu.params) {
      if (!p.trainable)
        continue;
      const plan::Buffer &b = cpu.buffers[p.buffer];
      double err = 0, norm = 0;
      for (uint64_t at = b.offset; at < b.offset + b.bytes; at += 4) {
        const double dw = double(loadFloat(want, at)) - loadFloat(before, at);
        const double dg = double(loadFloat(got, at)) - loadFloat(before, at);
        err += (dg - dw) * (dg - dw);
        norm += dw * dw;
      }
      const double rel = norm > 0 ? std::sqrt(err / norm) : std::sqrt(err);
      EXPECT_LE(rel, c.updateTolerance) << name << " update of " << p.name;
      std::printf("[ %s ]   %-24s update relative error %.2e\n", c.tag, p.name.c_str(), rel);
    }
    std::copy(want.begin(), want.begin() + cpu.persistentBytes, got.begin());
  }
}

std::vector<Case> cases() {
  return {makeCase("block_bf16", kEmulated_block_bf16, 3e-2f),
          makeCase("block_fp16", kEmulated_block_fp16, 5e-3f),
          // LeNet's convolution gradients differ more, and not in proportion to the half
          // type's precision (measured: conv1.weight 0.11 in bf16, 0.035 in fp16, its linear
          // layers 7e-3 and 7e-4): a rounded activation can move a max-pool window's argmax
          // or a relu's sign, which routes a whole gradient term elsewhere.
          makeCase("lenet_bf16", kEmulated_lenet_bf16, 0.15f),
          makeCase("lenet_fp16", kEmulated_lenet_fp16, 0.05f)};
}

} // namespace

TEST(CudaMixedEmulation, TransformerBlockBf16) { compareSteps(cases()[0]); }
TEST(CudaMixedEmulation, TransformerBlockFp16) { compareSteps(cases()[1]); }
TEST(CudaMixedEmulation, LeNetBf16) { compareSteps(cases()[2]); }
TEST(CudaMixedEmulation, LeNetFp16) { compareSteps(cases()[3]); }

TEST(CudaMixedEmulation, ConversionsRoundToNearestEven) {
  // bf16: 1 + 2^-8 is halfway between 1 and 1 + 2^-7: to even (1); 1 + 3 x 2^-8 up.
  dlc_bf16 b;
  b = 1.0f + 0x1p-8f;
  EXPECT_EQ(b.bits, 0x3f80);
  b = 1.0f + 3 * 0x1p-8f;
  EXPECT_EQ(b.bits, 0x3f82);
  b = -2.5f;
  EXPECT_EQ(float(b), -2.5f);
  b = NAN;
  EXPECT_TRUE(std::isnan(float(b)));
  b = INFINITY;
  EXPECT_EQ(float(b), INFINITY);
  // fp16: exact values, ties to even, overflow at 65520, subnormals, NaN, signs.
  dlc_half h;
  const struct {
    float in;
    unsigned short bits;
  } halves[] = {{1.0f, 0x3c00},          {-2.0f, 0xc000},          {65504.0f, 0x7bff},
                {65519.0f, 0x7bff},      {65520.0f, 0x7c00},       {1e6f, 0x7c00},
                {1.0f + 0x1p-11f, 0x3c00}, {1.0f + 3 * 0x1p-11f, 0x3c02}, {0x1p-14f, 0x0400},
                {0x1p-24f, 0x0001},      {0x1p-25f, 0x0000},       {0x1.8p-25f, 0x0001},
                {3 * 0x1p-25f, 0x0002},  {0.0f, 0x0000},           {-0.0f, 0x8000},
                {INFINITY, 0x7c00},      {-INFINITY, 0xfc00},      {0x1.ffcp-15f, 0x0400}};
  for (const auto &c : halves) {
    h = c.in;
    EXPECT_EQ(h.bits, c.bits) << c.in;
  }
  h = NAN;
  EXPECT_TRUE(std::isnan(float(h)));
  // Every finite half converts back exactly and re-rounds to itself.
  for (unsigned bits = 0; bits < 0x10000; ++bits) {
    if ((bits & 0x7c00) == 0x7c00)
      continue;
    dlc_half x;
    x.bits = (unsigned short)bits;
    dlc_half y;
    y = float(x);
    ASSERT_EQ(y.bits, bits) << bits;
  }
  // Reading gives floats: arithmetic on stored values is float arithmetic.
  dlc_bf16 a, c;
  a = 3.0f;
  c = 0.5f;
  float product = a * c;
  EXPECT_EQ(product, 1.5f);
}

/// NVRTC's cache in a fresh directory per test, so that every test really compiles and
/// nothing is left in the user's ~/.cache.
class CudaMixedNvrtc : public ::testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    char dir[] = "/tmp/dlc-nvrtc-mixed-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    cacheDir = dir;
    setenv("DLC_CACHE_DIR", dir, 1);
  }
  void TearDown() override { std::filesystem::remove_all(cacheDir); }
  std::string cacheDir;
};

TEST_P(CudaMixedNvrtc, MixedSourcesCompile) {
  std::string why;
  if (!cuda::loadNvrtc(why))
    GTEST_SKIP() << "NVRTC is not installed: " << why;
  const std::string arch = GetParam();
  std::string error;
  plan::Plan lenet;
  ASSERT_TRUE(plan::readPlan(kTestData + "/lenet4.plan", lenet, error)) << error;
  cudatest::addCoverageProgram(lenet);
  std::vector<plan::Plan> plans;
  for (plan::Precision p : {plan::Precision::MixedBf16, plan::Precision::MixedFp16}) {
    plan::Plan withCoverage = lenet;
    withCoverage.train.precision = p;
    plans.push_back(cudatest::mixedCudaPlan(withCoverage));
  }
  for (const char *tag : {"block_bf16", "block_fp16"}) {
    plan::Plan cpu;
    ASSERT_TRUE(plan::readPlan(kTestData + "/mixed_" + std::string(tag) + ".plan", cpu, error)) << error;
    plans.push_back(cudatest::mixedCudaPlan(cpu));
  }
  size_t halfKernels = 0;
  for (const plan::Plan &p : plans)
    for (const plan::Program &prog : p.programs)
      for (bool reference : {false, p.model == "mixed_block"}) {
        SCOPED_TRACE(p.model + " " + prog.name + " " + plan::precisionName(p.train.precision) +
                     (reference ? " with reference kernels" : ""));
        cuda::CudaCodegenOptions options;
        options.emitReferenceLibraryKernels = reference;
        std::vector<cuda::CudaLaunch> launches;
        std::string src = cuda::emitCudaSource(p, prog, launches, error, options);
        ASSERT_FALSE(src.empty()) << error;
        ASSERT_NE(src.find("struct dlc_bf16"), std::string::npos);
        cuda::CudaBinary bin;
        ASSERT_TRUE(cuda::compileCuda(src, arch, bin, error)) << error << "\n" << bin.log;
        EXPECT_NE(bin.ptx.find(".target " + arch), std::string::npos);
        for (const plan::Kernel &k : prog.kernels)
          for (int32_t id : k.args)
            if (plan::dtypeBytes(p.buffers[id].dtype) == 2) {
              ++halfKernels;
              break;
            }
      }
  // The coverage program alone has a hundred-odd kernels, most with a 2-byte argument.
  EXPECT_GT(halfKernels, 200u);
}

INSTANTIATE_TEST_SUITE_P(Archs, CudaMixedNvrtc, ::testing::Values("sm_80", "sm_86", "sm_90"),
                         [](const auto &info) { return std::string(info.param); });

// On a GPU, a library call's epilogue on a 2-byte output is a generated kernel named by the
// launch record; the loader's check of the records asks for exactly that, and for operands
// of one storage type.
TEST(CudaMixedEmulation, LaunchRecordsOfLibraryCalls) {
  plan::Plan cpu;
  std::string error;
  ASSERT_TRUE(plan::readPlan(kTestData + "/mixed_block_bf16.plan", cpu, error)) << error;
  plan::Plan gpu = cudatest::mixedCudaPlan(cpu);
  const plan::Program &train = *gpu.program("train");
  std::vector<cuda::CudaLaunch> launches;
  ASSERT_FALSE(cuda::emitCudaSource(gpu, train, launches, error).empty()) << error;
  ASSERT_TRUE(cuda::checkLaunches(gpu, train, launches, error)) << error;
  size_t gemms = 0, epilogues = 0, fused = 0;
  for (const cuda::CudaLaunch &l : launches) {
    if (l.library.kind != cuda::CudaLibraryKind::CublasGemm)
      continue;
    ++gemms;
    fused += l.library.epilogue != 0;
    epilogues += !l.function.empty();
  }
  EXPECT_GT(gemms, 10u);
  EXPECT_GT(fused, 0u);
  EXPECT_EQ(epilogues, fused);
  size_t withBias = 0;
  while (launches[withBias].library.epilogue == 0)
    ++withBias;
  std::vector<cuda::CudaLaunch> bad = launches;
  bad[withBias].function.clear();
  EXPECT_FALSE(cuda::checkLaunches(gpu, train, bad, error));
  EXPECT_NE(error.find("no generated epilogue for a 2-byte output"), std::string::npos) << error;
  plan::Plan mixedTypes = gpu;
  mixedTypes.buffers[train.kernels[withBias].args[1]].dtype = plan::DType::F32;
  EXPECT_FALSE(cuda::checkLaunches(mixedTypes, train, launches, error));
  EXPECT_NE(error.find("cublas_gemm on buffers of different dtypes"), std::string::npos) << error;
}

// GradScaler's dynamics, emulated on the fp16 block: a scale that overflows the scaled
// gradients skips the step (weights and optimizer state untouched) and halves; 2000 good
// steps double it.
TEST(CudaMixedEmulation, LossScalingSkipsOverflowingSteps) {
  plan::Plan cpu;
  std::string error;
  ASSERT_TRUE(plan::readPlan(kTestData + "/mixed_block_fp16.plan", cpu, error)) << error;
  plan::Plan gpu = cudatest::mixedCudaPlan(cpu);
  const plan::Program &train = *gpu.program("train");
  KernelTable kernels;
  for (const auto &k : kEmulated_block_fp16)
    kernels[k.name] = k.launch;
  std::vector<cuda::CudaLaunch> launches;
  ASSERT_FALSE(cudatest::emulationSource(gpu, train, launches, error, "block_fp16_").empty()) << error;
  std::vector<uint8_t> arena(gpu.arenaBytes);
  initParameters(gpu, arena.data());
  uint64_t state = 0;
  for (const plan::Parameter &p : gpu.params)
    if (p.name == "loss_scale")
      state = gpu.buffers[p.buffer].offset;
  ASSERT_NE(state, 0u);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  for (const plan::ProgramInput &in : train.inputs)
    for (uint64_t at = 0; at < gpu.buffers[in.buffer].bytes; at += 4) {
      if (in.dtype == plan::DType::I32) {
        int32_t v = int32_t(at / 4 % 4);
        std::memcpy(&arena[gpu.buffers[in.buffer].offset + at], &v, 4);
      } else {
        float v = uniform(rng);
        std::memcpy(&arena[gpu.buffers[in.buffer].offset + at], &v, 4);
      }
    }
  auto setState = [&](float log2, float good) {
    std::memcpy(&arena[state], &log2, 4);
    std::memcpy(&arena[state + 4], &good, 4);
  };
  const std::vector<uint8_t> start = arena;
  // 2^(16+100): the scaled loss gradient is infinite in fp16.
  setState(100.0f, 5.0f);
  const std::vector<uint8_t> before(arena.begin(), arena.begin() + gpu.persistentBytes);
  emulateProgram(gpu, train, launches, kernels, arena);
  EXPECT_EQ(loadFloat(arena, state), 99.0f);
  EXPECT_EQ(loadFloat(arena, state + 4), 0.0f);
  EXPECT_EQ(loadFloat(arena, state + 8), 0.0f);
  for (const plan::Parameter &p : gpu.params) {
    if (p.name == "loss_scale" || p.name == "optimizer.state")
      continue;
    const plan::Buffer &b = gpu.buffers[p.buffer];
    EXPECT_EQ(std::memcmp(&arena[b.offset], &before[b.offset], b.bytes), 0) << p.name << " changed";
  }
  // A good step (at 2^12, which this block's gradients fit) at the end of the growth
  // interval doubles the scale.
  arena = start; // the batch again (the step's buffers reuse the input's memory)
  setState(-4.0f, 1999.0f);
  emulateProgram(gpu, train, launches, kernels, arena);
  EXPECT_EQ(loadFloat(arena, state), -3.0f);
  EXPECT_EQ(loadFloat(arena, state + 4), 0.0f);
  bool moved = false;
  for (const plan::Parameter &p : gpu.params)
    if (p.trainable) {
      const plan::Buffer &b = gpu.buffers[p.buffer];
      moved |= std::memcmp(&arena[b.offset], &before[b.offset], b.bytes) != 0;
    }
  EXPECT_TRUE(moved);
}
