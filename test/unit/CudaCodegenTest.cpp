//===- CudaCodegenTest.cpp - CUDA code generation and NVRTC compilation ---------===//
//
// LeNet's plan (batch 4, compiled by dlc at build time) through the CUDA target: launch
// records and library-call descriptors, errors for what has no lowering, and the generated
// source compiled by NVRTC to PTX and CUBIN for sm_75, sm_80, sm_86 and sm_90 (NVRTC runs
// ptxas for the CUBIN). The NVRTC tests skip only when libnvrtc is not installed.
//
#include "compiler/Target/Cuda/CudaCodegen.h"
#include "CoverageProgram.h"
#include "compiler/Target/Cuda/Nvrtc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

using namespace dlc;
using namespace dlc::cuda;
using plan::KernelKind;

namespace {

const std::string kTestData = DLC_CUDA_TESTDATA;

/// NVRTC's cache goes to a fresh directory per test process, so every test really compiles
/// and nothing is left in the user's ~/.cache.
class CacheDirEnvironment : public ::testing::Environment {
public:
  void SetUp() override {
    char dir[] = "/tmp/dlc-nvrtc-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    path = dir;
    setenv("DLC_CACHE_DIR", dir, 1);
  }
  void TearDown() override { std::filesystem::remove_all(path); }
  std::string path;
};
CacheDirEnvironment *const cacheDir = static_cast<CacheDirEnvironment *>(
    ::testing::AddGlobalTestEnvironment(new CacheDirEnvironment));

plan::Plan lenetPlan() {
  plan::Plan plan;
  std::string error;
  EXPECT_TRUE(plan::readPlan(kTestData + "/lenet4.plan", plan, error)) << error;
  return plan;
}

std::string generate(const plan::Plan &plan, const std::string &program,
                     std::vector<CudaLaunch> &launches, bool reference = false) {
  std::string error;
  CudaCodegenOptions options;
  options.emitReferenceLibraryKernels = reference;
  std::string src = emitCudaSource(plan, *plan.program(program), launches, error, options);
  EXPECT_FALSE(src.empty()) << error;
  return src;
}

/// A one-kernel plan over `buffers` float buffers of 1 KiB each.
/// One kernel on `buffers` buffers of `bytes` each (the generator checks each argument's
/// size against its buffer, as the plan loader does).
plan::Plan tinyPlan(plan::Kernel k, int buffers, uint64_t bytes = 1024) {
  plan::Plan plan;
  for (int b = 0; b < buffers; ++b) {
    plan::Buffer buf;
    buf.name = "b" + std::to_string(b);
    buf.bytes = bytes;
    buf.offset = bytes * b;
    plan.buffers.push_back(buf);
  }
  plan.arenaBytes = bytes * buffers;
  plan::Program prog;
  prog.name = "p";
  prog.kernels.push_back(std::move(k));
  plan.programs.push_back(prog);
  return plan;
}

std::string errorFor(const plan::Plan &plan) {
  std::vector<CudaLaunch> launches(3);
  std::string error;
  EXPECT_EQ(emitCudaSource(plan, plan.programs[0], launches, error), "");
  EXPECT_TRUE(launches.empty());
  return error;
}

plan::Kernel kernel(KernelKind kind, std::vector<int64_t> ints, std::vector<int32_t> args,
                    std::vector<float> floats = {}) {
  plan::Kernel k;
  k.kind = kind;
  k.name = "op@layer";
  k.ints = std::move(ints);
  k.args = std::move(args);
  k.floats = std::move(floats);
  return k;
}

TEST(CudaCodegen, OneLaunchPerKernelCall) {
  plan::Plan plan = lenetPlan();
  for (const char *name : {"train", "eval"}) {
    std::vector<CudaLaunch> launches;
    std::string src = generate(plan, name, launches);
    const plan::Program &prog = *plan.program(name);
    ASSERT_EQ(launches.size(), prog.kernels.size()) << name;
    for (size_t n = 0; n < launches.size(); ++n) {
      const CudaLaunch &l = launches[n];
      const plan::Kernel &k = prog.kernels[n];
      EXPECT_EQ(l.kernel, int(n));
      bool library = k.kind == KernelKind::Conv2dFwd || k.kind == KernelKind::Conv2dBwdData ||
                     k.kind == KernelKind::Conv2dBwdFilter || k.kind == KernelKind::Matmul;
      EXPECT_EQ(l.library.kind != CudaLibraryKind::None, library) << k.name;
      if (library) {
        EXPECT_EQ(l.function, "") << k.name;
        continue;
      }
      std::string fn = "k" + std::to_string(n) + "_" + plan::kernelKindName(k.kind);
      EXPECT_EQ(l.function, fn);
      EXPECT_NE(src.find("extern \"C\" __global__ void " + fn + "("), std::string::npos) << fn;
      EXPECT_GE(l.grid.x, 1u);
      EXPECT_TRUE(l.block.x == 1 || (l.block.x % 32 == 0 && l.block.x <= 1024)) << fn;
    }
    // The rule that lets the host emulation run every kernel thread by thread.
    EXPECT_EQ(src.find("__syncthreads"), std::string::npos);
    EXPECT_EQ(src.find("__shared__"), std::string::npos);
  }
}

TEST(CudaCodegen, LibraryCallDescriptors) {
  plan::Plan plan = lenetPlan();
  std::vector<CudaLaunch> launches;
  generate(plan, "train", launches);
  const plan::Program &train = *plan.program("train");

  // Kernel 0: conv1, 1->6 channels, 3x3, padding 1, on 28x28 images.
  const CudaLibraryCall &conv = launches[0].library;
  ASSERT_EQ(conv.kind, CudaLibraryKind::CudnnConvFwd);
  EXPECT_EQ(conv.conv.n, 4);
  EXPECT_EQ(conv.conv.c, 1);
  EXPECT_EQ(conv.conv.k, 6);
  EXPECT_EQ(conv.conv.r, 3);
  EXPECT_EQ(conv.conv.padH, 1);
  EXPECT_EQ(conv.conv.outH, 28);
  EXPECT_EQ(conv.conv.outW, 28);
  EXPECT_EQ(conv.workspaceBytes, plan.buffers[train.kernels[0].args[3]].bytes);
  EXPECT_EQ(conv.epilogue, 0);
  EXPECT_EQ(conv.biasArg, -1);

  // Kernel 8: fc1, C[4][120] = A[4][400] * W^T with W stored [120][400]; as column-major
  // cuBLAS: C^T[120][4] = op(W) A^T, W's storage read transposed.
  ASSERT_EQ(train.kernels[8].kind, KernelKind::Matmul);
  const CublasGemm &g = launches[8].library.gemm;
  ASSERT_EQ(launches[8].library.kind, CudaLibraryKind::CublasGemm);
  EXPECT_TRUE(g.transA);
  EXPECT_FALSE(g.transB);
  EXPECT_EQ(g.m, 120);
  EXPECT_EQ(g.n, 4);
  EXPECT_EQ(g.k, 400);
  EXPECT_EQ(g.lda, 400);
  EXPECT_EQ(g.ldb, 400);
  EXPECT_EQ(g.ldc, 120);
  EXPECT_EQ(g.aArg, 1);
  EXPECT_EQ(g.bArg, 0);

  bool sawFilter = false, sawData = false;
  for (const CudaLaunch &l : launches) {
    sawFilter |= l.library.kind == CudaLibraryKind::CudnnConvBwdFilter;
    sawData |= l.library.kind == CudaLibraryKind::CudnnConvBwdData;
  }
  EXPECT_TRUE(sawFilter);
  EXPECT_TRUE(sawData);
}

TEST(CudaCodegen, ReferenceKernelsAreOptIn) {
  plan::Plan plan = lenetPlan();
  std::vector<CudaLaunch> launches;
  std::string src = generate(plan, "train", launches, /*reference=*/true);
  EXPECT_EQ(launches[0].function, "k0_conv2d_fwd");
  EXPECT_EQ(launches[0].library.kind, CudaLibraryKind::CudnnConvFwd);
  EXPECT_NE(src.find("void k0_conv2d_fwd("), std::string::npos);
  EXPECT_NE(src.find("void k8_matmul("), std::string::npos);

  std::vector<CudaLaunch> prefixed;
  std::string error;
  CudaCodegenOptions options;
  options.symbolPrefix = "train_";
  src = emitCudaSource(plan, *plan.program("train"), prefixed, error, options);
  EXPECT_EQ(prefixed[1].function, "train_k1_bias_add");
  EXPECT_EQ(src.find(" k1_bias_add("), std::string::npos);
}

TEST(CudaCodegen, EpiloguesAreRecordedAndGenerated) {
  plan::Plan plan = lenetPlan();
  cudatest::addCoverageProgram(plan);
  std::vector<CudaLaunch> launches;
  std::string src = generate(plan, "coverage", launches, /*reference=*/true);
  ASSERT_EQ(launches.size(), plan.program("coverage")->kernels.size()); // one each
  // Kernels 0-2: conv1 with bias, relu, bias+relu; 6-8: fc1 likewise.
  EXPECT_EQ(launches[0].library.epilogue, plan::kEpilogueBias);
  EXPECT_EQ(launches[0].library.biasArg, 4);
  EXPECT_EQ(launches[1].library.epilogue, plan::kEpilogueRelu);
  EXPECT_EQ(launches[1].library.biasArg, -1);
  EXPECT_EQ(launches[8].library.kind, CudaLibraryKind::CublasGemm);
  EXPECT_EQ(launches[8].library.epilogue, plan::kEpilogueBias | plan::kEpilogueRelu);
  EXPECT_EQ(launches[8].library.biasArg, 3);
  EXPECT_NE(src.find("void k0_conv2d_fwd(const float *x, const float *w, float *y, float "
                     "*workspace, const float *bias)"),
            std::string::npos);
  EXPECT_NE(src.find("acc += bias[oc];"), std::string::npos);
  EXPECT_NE(src.find("acc += bias[col];"), std::string::npos);
  // The regression losses: one thread for the mean, the stable BCE form, the 1/n factor
  // rounded once (37 elements: 2/37 and 1/37 as floats).
  EXPECT_NE(src.find("log1p(exp(-fabs(v)))"), std::string::npos);
  EXPECT_NE(src.find("const float scale = 0.0540540554f;"), std::string::npos);
  // Grouped convolutions (12 calls, 94-105): cuDNN with its group count
  // and dilation, and a generated kernel where the padding is asymmetric.
  EXPECT_EQ(launches[94].library.kind, CudaLibraryKind::CudnnConvFwd);
  EXPECT_EQ(launches[94].library.conv.groups, 4);
  EXPECT_EQ(launches[94].library.conv.outH, 5);
  EXPECT_EQ(launches[95].library.biasArg, 4);
  EXPECT_EQ(launches[101].library.kind, CudaLibraryKind::CudnnConvBwdFilter);
  EXPECT_EQ(launches[101].library.conv.dilH, 2);
  EXPECT_EQ(launches[101].library.conv.groups, 2);
  EXPECT_EQ(launches[101].library.conv.outW, 4);
  for (size_t n = 102; n < 106; ++n) {
    EXPECT_EQ(launches[n].library.kind, CudaLibraryKind::None) << n;
    EXPECT_FALSE(launches[n].function.empty()) << n;
  }
  EXPECT_NE(src.find("const int g0 = oc / 2 * 1;"), std::string::npos);
  EXPECT_NE(src.find("const int iy = oy * 1 - 2 + r * 2;"), std::string::npos);
  EXPECT_NE(src.find("generated (cuDNN has no asymmetric padding)"), std::string::npos);
  EXPECT_NE(src.find("const float scale = 0.0270270277f;"), std::string::npos);
  // Pooling gradients with the fused relu mask on the pooled value.
  EXPECT_NE(src.find("// pool_grad_relu: "), std::string::npos);
  EXPECT_NE(src.find("] > 0.0f ? acc : 0.0f;"), std::string::npos);
  // Elementwise kinds get their statement from the kernel table.
  EXPECT_NE(src.find("    y[idx] = 1.0f / (1.0f + expf(-x[idx]));\n"), std::string::npos);
  EXPECT_NE(src.find("    dx[idx] = dy[idx] * y[idx] * (1.0f - y[idx]);\n"), std::string::npos);
  // A float attribute (leaky_relu's slope) becomes the constant the statement reads.
  EXPECT_NE(src.find("  const float f0 = 0.200000003f;\n"), std::string::npos);
  EXPECT_NE(src.find("    y[idx] = x[idx] > 0.0f ? x[idx] : f0 * x[idx];\n"), std::string::npos);
  EXPECT_NE(src.find("  const float f0 = -0.5f;\n"), std::string::npos);
  // Softmax: one thread per row of 7.
  EXPECT_NE(src.find("// softmax: rows 5, cols 7: one thread per row"), std::string::npos);
  // Concat: rows of 12 + 4.
  EXPECT_NE(src.find("    y[idx] = j < 12 ? a[o * 12 + j] : b[o * 4 + (j - 12)];\n"),
            std::string::npos);
  // Layer norm: a thread per row, and the gradient's column threads after the rows'.
  EXPECT_NE(src.find("// layer_norm: rows 6, d 13: one thread per row"), std::string::npos);
  EXPECT_NE(src.find("      const int col = idx - 6;\n"), std::string::npos);
  // Transpose [2, 5, 3, 4] -> [2, 3, 5, 4]: the output's axis of 5 steps over x's rows of 12.
  EXPECT_NE(src.find("// transpose_heads: shape 1x1x2x5x3x4, perm 0 1 2 4 3 5"),
            std::string::npos);
  EXPECT_NE(src.find("    src += (rest % 5) * 12;\n"), std::string::npos);
  // Embedding: a NaN row for an id outside [0, 7); the gradient one thread per column,
  // adding rows in the CPU's order.
  EXPECT_NE(src.find("    y[idx] = v >= 0 && v < 7 ? w[(int)v * 6 + j] : (float)sqrt(-1.0);\n"),
            std::string::npos);
  EXPECT_NE(src.find(", vocab 7, dim 6, one thread per column"), std::string::npos);
  // Attention with a padding mask: padding keys skipped, a row with no key left all zeros.
  EXPECT_NE(src.find("      if (!(mask[b * 5 + j] != 0))\n        continue;\n"), std::string::npos);
  EXPECT_NE(src.find("    const float inv = any ? (float)(1.0 / sum) : 0.0f;\n"),
            std::string::npos);
  // Position embedding: the table's row from the element's place in its sequence of 5 x 6;
  // the gradient one thread per table entry, zero past the 5 steps.
  EXPECT_NE(src.find("    y[idx] = x[idx] + table[idx % 30];\n"), std::string::npos);
  EXPECT_NE(src.find("    if (idx < 30)\n      for (int n = 0; n < 2; ++n)\n"), std::string::npos);
  // Dropout: the mask's constants (seed 12345 times the golden ratio, mod 2^64).
  EXPECT_NE(src.find("// dropout_grad: count 37, seed 12345, threshold 5033165, scale 1.42857146f"),
            std::string::npos);
  EXPECT_NE(src.find(") ^ " + std::to_string(12345ull * 0x9E3779B97F4A7C15ull) + "ull;\n"),
            std::string::npos);
  EXPECT_NE(src.find("    dx[idx] = (unsigned int)(z >> 40) >= 5033165u ? dy[idx] * "
                     "1.42857146f : 0.0f;\n"),
            std::string::npos);
}

TEST(CudaCodegen, PoolingGradientTakesNoBias) {
  EXPECT_EQ(errorFor(tinyPlan(kernel(KernelKind::MaxPoolBwd,
                                     {1, 1, 4, 4, 2, 2, 2, 2, 0, 0, plan::kEpilogueBias},
                                     {0, 1, 2, 3}),
                              4)),
            "program 'p': kernel 0 'op@layer' (maxpool_bwd): epilogue bits 1 not accepted by "
            "maxpool_bwd");
}

TEST(CudaCodegen, ResNetKindsAreGenerated) {
  std::vector<CudaLaunch> launches;
  std::string error;
  plan::Plan bn = tinyPlan(kernel(KernelKind::BatchNormTrain, {4, 2, 9}, {0, 1, 2, 3, 4, 5, 6, 7},
                                  {1e-5f, 0.1f}),
                           8);
  std::string src = emitCudaSource(bn, bn.programs[0], launches, error);
  EXPECT_NE(src.find("__global__ void k0_batch_norm_train("), std::string::npos) << error;
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(launches[0].library.kind, CudaLibraryKind::None);
  plan::Plan pool = tinyPlan(kernel(KernelKind::AvgPoolFwd, {1, 1, 4, 4, 2, 2, 2, 2, 0, 0}, {0, 1}), 2);
  src = emitCudaSource(pool, pool.programs[0], launches, error);
  EXPECT_NE(src.find("__global__ void k0_avgpool_fwd("), std::string::npos) << error;
}

TEST(CudaCodegen, LrnIsGeneratedForEachBeta) {
  std::vector<CudaLaunch> launches;
  std::string error;
  // beta 0.75: rsqrt(s) * sqrt(rsqrt(s)) as on the CPU; other betas: powf.
  plan::Plan fwd = tinyPlan(kernel(KernelKind::LrnFwd, {2, 8, 9, 4}, {0, 1}, {1.0f, 1e-4f, 0.75f}), 2);
  std::string src = emitCudaSource(fwd, fwd.programs[0], launches, error);
  EXPECT_NE(src.find("__global__ void k0_lrn_fwd(const float *x, float *y)"), std::string::npos) << error;
  EXPECT_NE(src.find("(1.0f / sqrtf(s)) * sqrtf(1.0f / sqrtf(s))"), std::string::npos);
  EXPECT_NE(src.find("c + 4 > 7 ? 7 : c + 4"), std::string::npos);
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(launches[0].library.kind, CudaLibraryKind::None);
  plan::Plan bwd = tinyPlan(kernel(KernelKind::LrnBwd, {2, 8, 9, 4}, {0, 1, 2, 3}, {1.0f, 1e-4f, 0.6f}), 4);
  src = emitCudaSource(bwd, bwd.programs[0], launches, error);
  EXPECT_NE(src.find("__global__ void k0_lrn_bwd("), std::string::npos) << error;
  EXPECT_NE(src.find("powf(s, -0.600000024f)"), std::string::npos);
  // Attributes that would make s^-beta undefined are refused.
  EXPECT_EQ(errorFor(tinyPlan(kernel(KernelKind::LrnFwd, {2, 8, 9, 4}, {0, 1}, {0.0f, 1e-4f, 0.75f}), 2)),
            "program 'p': kernel 0 'op@layer' (lrn_fwd): bias must be positive and alpha, beta "
            "non-negative");
}

TEST(CudaCodegen, RecurrentKindsAreGenerated) {
  std::vector<CudaLaunch> launches;
  std::string error;
  plan::Plan fwd = tinyPlan(kernel(KernelKind::LstmCellFwd, {128, 128}, {0, 1, 2, 3}, {1.0f}), 4, 1 << 20);
  std::string src = emitCudaSource(fwd, fwd.programs[0], launches, error);
  EXPECT_NE(src.find("__global__ void k0_lstm_cell_fwd(const float *gates, const float *cPrev, "
                     "float *h, float *c)"),
            std::string::npos)
      << error;
  EXPECT_NE(src.find("gr[128 + j] + 1.0f"), std::string::npos); // the forget bias
  EXPECT_NE(src.find("1.0f / (1.0f + expf(-x))"), std::string::npos);
  plan::Plan bwd =
      tinyPlan(kernel(KernelKind::LstmCellBwd, {128, 128}, {0, 1, 2, 3, 4, 5}, {1.0f}), 6, 1 << 20);
  src = emitCudaSource(bwd, bwd.programs[0], launches, error);
  EXPECT_NE(src.find("__global__ void k0_lstm_cell_bwd("), std::string::npos) << error;
  EXPECT_NE(src.find("dcPrev[idx] = dct * fg;"), std::string::npos);
  plan::Plan step = tinyPlan(kernel(KernelKind::TimeStep, {128, 28, 28, 3}, {0, 1}), 2, 1 << 20);
  src = emitCudaSource(step, step.programs[0], launches, error);
  EXPECT_NE(src.find("y[idx] = x[(r * 28 + 3) * 28 + j];"), std::string::npos) << error;
  EXPECT_EQ(errorFor(tinyPlan(kernel(KernelKind::TimeStep, {128, 28, 28, 28}, {0, 1}), 2)),
            "program 'p': kernel 0 'op@layer' (time_step): step (int attribute 3) is 28, outside [0, 27]");
}

TEST(CudaCodegen, KindsWithoutLoweringAreErrors) {
  // A kind this codegen does not know (a newer plan's) is refused by name, never skipped.
  EXPECT_EQ(errorFor(tinyPlan(kernel(KernelKind::NumKinds, {1}, {0, 1}), 2)),
            "program 'p': kernel 0 'op@layer' (?): unknown kernel kind " +
                std::to_string(int(KernelKind::NumKinds)));
}

TEST(CudaCodegen, MalformedKernelsAreErrors) {
  EXPECT_EQ(errorFor(tinyPlan(kernel(KernelKind::Relu, {16, 2}, {0, 1}), 2)),
            "program 'p': kernel 0 'op@layer' (relu): expects 1 int attributes, has 2");
  EXPECT_EQ(errorFor(tinyPlan(kernel(KernelKind::Relu, {16}, {0, 7}), 2)),
            "program 'p': kernel 0 'op@layer' (relu): argument 'y' names buffer 7 of 2");
  EXPECT_EQ(errorFor(tinyPlan(kernel(KernelKind::Add, {0}, {0, 1, 2}), 3)),
            "program 'p': kernel 0 'op@layer' (add): int attribute 0 is 0, not a size in [1, 2147483647]");
  EXPECT_EQ(errorFor(tinyPlan(kernel(KernelKind::Matmul, {2, 2, 2, 0, 0, 4}, {0, 1, 2}), 3)),
            "program 'p': kernel 0 'op@layer' (matmul): epilogue bits 4 not accepted by matmul");
  EXPECT_EQ(errorFor(tinyPlan(
                kernel(KernelKind::Matmul, {2, 2, 2, 0, 0, plan::kEpilogueBias}, {0, 1, 2}), 3)),
            "program 'p': kernel 0 'op@layer' (matmul): expects 4 buffer arguments, has 3");
  EXPECT_EQ(errorFor(tinyPlan(
                kernel(KernelKind::Conv2dFwd, {1, 1, 2, 2, 1, 3, 3, 1, 1, 0, 0}, {0, 1, 2, 3}), 4)),
            "program 'p': kernel 0 'op@layer' (conv2d_fwd): window 3x3 larger than the padded input 2x2");
  EXPECT_EQ(errorFor(tinyPlan(
                kernel(KernelKind::SgdMomentum, {4}, {0, 1, 2}, {std::nanf(""), 0.9f, 0.f}), 3)),
            "program 'p': kernel 0 'op@layer' (sgd_momentum): float attribute 0 is not finite");
}

//===----------------------------------------------------------------------===//
// NVRTC
//===----------------------------------------------------------------------===//

#define SKIP_WITHOUT_NVRTC()                                                                       \
  do {                                                                                             \
    std::string why;                                                                               \
    if (!loadNvrtc(why))                                                                           \
      GTEST_SKIP() << "NVRTC is not installed: " << why;                                           \
  } while (0)

/// The ELF header fields that say what a CUBIN is for.
void expectCubinFor(const std::vector<uint8_t> &cubin, int sm,
                    const std::vector<CudaLaunch> &launches) {
  ASSERT_GT(cubin.size(), 64u);
  EXPECT_EQ(std::memcmp(cubin.data(),
                        "\x7f"
                        "ELF",
                        4),
            0);
  uint16_t machine;
  uint32_t flags;
  std::memcpy(&machine, &cubin[18], 2);
  std::memcpy(&flags, &cubin[48], 4);
  EXPECT_EQ(machine, 190); // EM_CUDA
  EXPECT_EQ(int((flags >> 8) & 0xff), sm) << "e_flags " << std::hex << flags;
  std::string bytes(cubin.begin(), cubin.end());
  for (const CudaLaunch &l : launches) {
    if (!l.function.empty()) {
      EXPECT_NE(bytes.find(l.function + '\0'), std::string::npos) << l.function;
    }
  }
}

// The launch records of grouped convolutions survive the plan's text form, and the loader
// refuses any whose cuDNN descriptor differs from the kernel's attributes: a wrong group count
// or dilation would have cuDNN read the filter or the input wrongly.
TEST(CudaCodegen, GroupedConvLaunchRecordsAreChecked) {
  plan::Plan plan = lenetPlan();
  cudatest::addCoverageProgram(plan);
  std::vector<CudaLaunch> launches;
  generate(plan, "coverage", launches);
  const plan::Program &prog = *plan.program("coverage");
  std::vector<CudaLaunch> decoded;
  std::string error;
  ASSERT_TRUE(decodeLaunches(encodeLaunches(launches), decoded, error)) << error;
  ASSERT_EQ(decoded.size(), launches.size());
  EXPECT_EQ(decoded[94].library.conv.groups, 4);
  EXPECT_EQ(decoded[101].library.conv.dilW, 2);
  EXPECT_TRUE(checkLaunches(plan, prog, decoded, error)) << error;
  auto refused = [&](auto &&damage) {
    std::vector<CudaLaunch> bad = decoded;
    damage(bad);
    std::string why;
    EXPECT_FALSE(checkLaunches(plan, prog, bad, why));
    return why;
  };
  EXPECT_EQ(refused([](auto &l) { l[94].library.conv.groups = 1; }),
            "program 'coverage' CUDA launch 94: cudnn_conv_fwd descriptor does not match the "
            "kernel's attributes and buffers");
  EXPECT_EQ(refused([](auto &l) { l[101].library.conv.dilH = 1; }),
            "program 'coverage' CUDA launch 101: cudnn_conv_bwd_filter descriptor does not match "
            "the kernel's attributes and buffers");
  // The asymmetrically padded one has no cuDNN call to describe it.
  EXPECT_EQ(refused([&](auto &l) { l[102].library = decoded[94].library; }),
            "program 'coverage' CUDA launch 102: cudnn_conv_fwd for a conv2d_general_fwd kernel");
}

class CudaNvrtcArch : public ::testing::TestWithParam<const char *> {};

TEST_P(CudaNvrtcArch, LeNetCompilesToPtxAndCubin) {
  SKIP_WITHOUT_NVRTC();
  const std::string arch = GetParam();
  const int sm = std::atoi(arch.c_str() + 3);
  plan::Plan plan = lenetPlan();
  cudatest::addCoverageProgram(plan);
  // What a GPU runs (train, eval) and what the host emulation checks (reference kernels).
  for (auto [program, reference] : {std::pair{"train", false}, std::pair{"eval", false},
                                    std::pair{"train", true}, std::pair{"coverage", true}}) {
    SCOPED_TRACE(std::string(program) + (reference ? " with reference kernels" : ""));
    std::vector<CudaLaunch> launches;
    std::string src = generate(plan, program, launches, reference);
    CudaBinary bin;
    std::string error;
    ASSERT_TRUE(compileCuda(src, arch, bin, error)) << error << "\n" << bin.log;
    EXPECT_FALSE(bin.fromCache);
    EXPECT_EQ(bin.arch, arch);
    EXPECT_NE(bin.ptx.find(".target " + arch), std::string::npos);
    for (const CudaLaunch &l : launches) {
      if (!l.function.empty()) {
        EXPECT_NE(bin.ptx.find(".entry " + l.function + "("), std::string::npos) << l.function;
      }
    }
    expectCubinFor(bin.cubin, sm, launches);
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, CudaNvrtcArch,
                         ::testing::Values("sm_75", "sm_80", "sm_86", "sm_90"),
                         [](const auto &info) { return std::string(info.param); });

const char *const kTwoKernels = "extern \"C\" __global__ void k0_fine(float *y) { y[0] = 1.0f; }\n"
                                "\n"
                                "extern \"C\" __global__ void k1_bad(float *y) {\n"
                                "  y[0] = undefined_name;\n"
                                "}\n";

TEST(CudaNvrtc, CompileErrorNamesTheKernelAndKeepsTheLog) {
  SKIP_WITHOUT_NVRTC();
  CudaBinary bin;
  std::string error;
  ASSERT_FALSE(compileCuda(kTwoKernels, "sm_80", bin, error));
  EXPECT_NE(
      error.find("kernel 'k1_bad': dlc.cu(4): error: identifier \"undefined_name\" is undefined"),
      std::string::npos)
      << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_NE(bin.log.find("undefined_name"), std::string::npos) << bin.log;
}

TEST(CudaNvrtc, ArchsNvrtcCannotTargetAreErrors) {
  SKIP_WITHOUT_NVRTC();
  for (const char *arch : {"sm_61", "sm_52", "compute_80", "sm_86x", ""}) {
    CudaBinary bin;
    std::string error;
    EXPECT_FALSE(compileCuda("extern \"C\" __global__ void k(){}", arch, bin, error)) << arch;
    EXPECT_NE(error.find(std::string("cannot compile for '") + arch + "'"), std::string::npos)
        << error;
    EXPECT_NE(error.find("sm_75"), std::string::npos) << error;
  }
}

TEST(CudaNvrtc, ResultsAreCachedOnDisk) {
  SKIP_WITHOUT_NVRTC();
  const std::string src = "extern \"C\" __global__ void k0_cached(float *y) { y[0] = 2.0f; }\n";
  CudaBinary first, second, other;
  std::string error;
  ASSERT_TRUE(compileCuda(src, "sm_86", first, error)) << error;
  EXPECT_FALSE(first.fromCache);
  ASSERT_TRUE(compileCuda(src, "sm_86", second, error)) << error;
  EXPECT_TRUE(second.fromCache);
  EXPECT_EQ(second.ptx, first.ptx);
  EXPECT_EQ(second.cubin, first.cubin);
  // Another arch or another source is another entry.
  ASSERT_TRUE(compileCuda(src, "sm_90", other, error)) << error;
  EXPECT_FALSE(other.fromCache);
  ASSERT_TRUE(compileCuda(src + "\n", "sm_86", other, error)) << error;
  EXPECT_FALSE(other.fromCache);

  // A damaged entry is recompiled, not trusted.
  for (const auto &entry : std::filesystem::directory_iterator(cacheDir->path))
    std::filesystem::resize_file(entry.path(), std::filesystem::file_size(entry.path()) / 2);
  CudaBinary again;
  ASSERT_TRUE(compileCuda(src, "sm_86", again, error)) << error;
  EXPECT_FALSE(again.fromCache);
  EXPECT_EQ(again.cubin, first.cubin);
}

} // namespace
