//===- CudaDeviceTest.cpp - the CUDA runtime: opening a device, running a plan --===//
//
// Without a GPU (this project's machines and CI): every entry point of the symbol table is
// exported by cuDNN, cuBLAS and the driver (its link stub), and opening a device fails with
// the one-line message dlrun prints. With one: LeNet's training and evaluation steps compiled by
// NVRTC for that GPU, run through cuDNN, cuBLAS and the generated kernels, match the CPU executor,
// and dlrun --validate's comparison finds every kernel call within tolerance.
//
#include "compiler/Target/Cuda/CudaCodegen.h"
#include "compiler/Target/Cuda/Nvrtc.h"
#include "runtime/cuda/CudaDeviceRunner.h"
#include "runtime/cpu/CpuDevice.h"
#include "runtime/device/Device.h"
#include "runtime/train/Init.h"
#include "runtime/train/Validate.h"
#include "runtime/cpu/Executor.h"
#include "runtime/cuda/CudaExecutor.h"
#include "test/unit/TinyPlan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <dlfcn.h>
#include <random>

using namespace dlc;
using namespace dlc::cuda;

namespace {

#define DLC_TEST_STRINGIFY_EXPANDED(x) #x
#define DLC_TEST_STRINGIFY(x) DLC_TEST_STRINGIFY_EXPANDED(x)

TEST(CudaSymbols, EveryEntryPointIsExported) {
  for (auto [library, what] :
       {std::pair{CudaLibrary::Cudnn, "cuDNN"}, std::pair{CudaLibrary::Cublas, "cuBLAS"}}) {
    std::string error;
    if (!loadCudaLibrary(library, error) &&
        error.find("cannot open shared object file") != std::string::npos)
      GTEST_SKIP() << what << " is not installed: " << error;
    EXPECT_EQ(error, "") << what;
  }
  // The driver's names, in the library CMake found as CUDA::cuda_driver (a link stub here).
  void *driver = dlopen(DLC_CUDA_DRIVER_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(driver, nullptr) << dlerror();
#define DLC_TEST_EXPORTED(library, name)                                                           \
  if (CudaLibrary::library == CudaLibrary::Driver) {                                               \
    EXPECT_NE(dlsym(driver, DLC_TEST_STRINGIFY(name)), nullptr) << DLC_TEST_STRINGIFY(name);       \
  }
  DLC_CUDA_SYMBOLS(DLC_TEST_EXPORTED)
#undef DLC_TEST_EXPORTED
  dlclose(driver);
}

TEST(CudaDevice, OpeningWithoutAGpuFailsWithOneLine) {
  CudaDevice device;
  std::string error;
  if (openCudaDevice(0, device, error))
    GTEST_SKIP() << "a CUDA device is present";
  EXPECT_FALSE(device.isOpen());
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  if (void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    // A driver without a usable GPU (or without cuDNN): the reason varies, the form not.
    dlclose(driver);
    EXPECT_TRUE(error.rfind("no CUDA device found (", 0) == 0 ||
                error.rfind("CUDA device cuda:0: ", 0) == 0)
        << error;
  } else {
    EXPECT_EQ(error, "no CUDA device found (" + std::string(dlerror()) + "); use --device cpu");
  }
}

/// The device, or a skip.
#define OPEN_DEVICE_OR_SKIP(device)                                                                \
  std::string openError;                                                                           \
  if (!openCudaDevice(0, device, openError))                                                       \
    GTEST_SKIP() << "no CUDA device: " << openError;

TEST(CudaDevice, ReportsItsProperties) {
  CudaDevice device;
  OPEN_DEVICE_OR_SKIP(device);
  EXPECT_FALSE(device.name.empty());
  EXPECT_GE(device.ccMajor * 10 + device.ccMinor, 50);
  EXPECT_GT(device.multiprocessors, 0);
  EXPECT_GT(device.totalBytes, 0u);
  CudaDevice other;
  std::string error;
  EXPECT_FALSE(openCudaDevice(1000, other, error));
  EXPECT_EQ(error.rfind("no CUDA device cuda:1000 (this machine has cuda:0", 0), 0) << error;
}

TEST(CudaDevice, LeNetStepsMatchTheCpuExecutor) {
  CudaDevice device;
  OPEN_DEVICE_OR_SKIP(device);
  plan::Plan plan;
  std::string error;
  ASSERT_TRUE(plan::readPlan(std::string(DLC_CUDA_TESTDATA) + "/lenet4.plan", plan, error))
      << error;

  // Initialised parameters on both sides.
  std::vector<uint8_t> want(plan.arenaBytes, 0), got(plan.arenaBytes);
  initParameters(plan, want.data());
  CudaArena arena;
  ASSERT_TRUE(allocateArenaCuda(device, plan, arena, error)) << error;
  ASSERT_TRUE(device.upload(arena.base, want.data(), want.size(), error)) << error;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> pixel(-1.f, 1.f);
  std::uniform_int_distribution<int32_t> label(0, int32_t(plan.classes) - 1);

  for (const char *name : {"train", "eval"}) {
    SCOPED_TRACE(name);
    const plan::Program &prog = *plan.program(name);
    // A batch, copied in on both sides as dlrun does before each step.
    const int32_t images = dlc::test::imagesOf(prog), labels = dlc::test::labelsOf(prog);
    const plan::Buffer &in = plan.buffers[images], &lab = plan.buffers[labels];
    for (uint64_t i = 0; i < in.bytes; i += 4) {
      float v = pixel(rng);
      std::memcpy(&want[in.offset + i], &v, 4);
    }
    for (uint64_t i = 0; i < lab.bytes; i += 4) {
      int32_t v = label(rng);
      std::memcpy(&want[lab.offset + i], &v, 4);
    }
    ASSERT_TRUE(device.upload(arena.at(plan, images), &want[in.offset], in.bytes, error));
    ASSERT_TRUE(device.upload(arena.at(plan, labels), &want[lab.offset], lab.bytes, error));

    std::vector<CudaLaunch> launches;
    std::string src = emitCudaSource(plan, prog, launches, error);
    ASSERT_FALSE(src.empty()) << error;
    CudaBinary binary;
    ASSERT_TRUE(compileCuda(src, device.arch(), binary, error)) << error;
    CudaProgram loaded;
    ASSERT_TRUE(loadProgramCuda(device, plan, prog, launches, binary.cubin, loaded, error))
        << error;
    std::vector<double> seconds;
    ASSERT_TRUE(runProgramCuda(loaded, arena, error, &seconds)) << error;
    EXPECT_EQ(seconds.size(), prog.kernels.size());
    cpu::runProgram(plan, prog, want.data());
    ASSERT_TRUE(device.download(got.data(), arena.base, got.size(), error)) << error;

    auto scalar = [&](const std::vector<uint8_t> &a, int32_t id) {
      float v;
      std::memcpy(&v, &a[plan.buffers[id].offset], 4);
      return v;
    };
    EXPECT_NEAR(scalar(got, prog.loss), scalar(want, prog.loss),
                1e-4f * std::fabs(scalar(want, prog.loss)));
    EXPECT_EQ(scalar(got, prog.correct), scalar(want, prog.correct));
    for (const plan::Parameter &p : plan.params) {
      const float *g = reinterpret_cast<const float *>(&got[plan.buffers[p.buffer].offset]);
      const float *w = reinterpret_cast<const float *>(&want[plan.buffers[p.buffer].offset]);
      const size_t n = plan.buffers[p.buffer].bytes / 4;
      float scale = 1.f, worst = 0.f;
      for (size_t i = 0; i < n; ++i) {
        scale = std::max(scale, std::fabs(w[i]));
        worst = std::max(worst, std::fabs(g[i] - w[i]));
      }
      EXPECT_LE(worst, 1e-4f * scale) << p.name;
    }
  }
}

TEST(CudaDevice, ValidateFindsEveryLeNetKernelWithinTolerance) {
  CudaDevice probe;
  OPEN_DEVICE_OR_SKIP(probe);
  plan::Plan plan;
  std::string error;
  ASSERT_TRUE(plan::readPlan(std::string(DLC_CUDA_TESTDATA) + "/lenet4.plan", plan, error))
      << error;
  // What dlc compile --target cuda attaches, for this GPU.
  for (plan::Program &prog : plan.programs) {
    std::vector<CudaLaunch> launches;
    prog.cudaSource = emitCudaSource(plan, prog, launches, error);
    ASSERT_FALSE(prog.cudaSource.empty()) << error;
    CudaBinary binary;
    ASSERT_TRUE(compileCuda(prog.cudaSource, probe.arch(), binary, error)) << error;
    prog.cudaPtx = binary.ptx;
    prog.cudaCubin.assign(binary.cubin.begin(), binary.cubin.end());
    prog.cudaLaunches = encodeLaunches(launches);
  }
  plan.target = "cuda";
  plan.arch = probe.arch();
  probe.close();

  std::vector<uint8_t> host(plan.arenaBytes, 0), cpuArena(plan.arenaBytes, 0);
  initParameters(plan, host.data());
  std::unique_ptr<Device> gpu = makeCudaDevice(plan, host.data(), 0, error);
  ASSERT_TRUE(gpu) << error;
  std::unique_ptr<Device> cpu = makeCpuDevice(plan, cpuArena.data(), /*blockedLayouts=*/false);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> pixel(-1.f, 1.f);
  std::uniform_int_distribution<int32_t> label(0, int32_t(plan.classes) - 1);
  for (const char *name : {"train", "eval"}) {
    SCOPED_TRACE(name);
    const plan::Program &prog = *plan.program(name);
    const plan::Buffer &x = plan.buffers[dlc::test::imagesOf(prog)],
                       &y = plan.buffers[dlc::test::labelsOf(prog)];
    std::vector<float> images(x.bytes / 4);
    std::vector<int32_t> labels(y.bytes / 4);
    for (float &v : images)
      v = pixel(rng);
    for (int32_t &v : labels)
      v = label(rng);
    ASSERT_TRUE(gpu->write(x.offset, images.data(), images.size() * 4, error));
    ASSERT_TRUE(gpu->write(y.offset, labels.data(), labels.size() * 4, error));
    std::vector<KernelCheck> checks;
    ASSERT_TRUE(validateProgram(plan, prog, *gpu, *cpu, checks, error)) << error;
    ASSERT_EQ(checks.size(), prog.kernels.size());
    for (const KernelCheck &c : checks)
      EXPECT_TRUE(c.ok) << "kernel " << c.index << " '" << c.kernel->name << "': relative error "
                        << c.maxRel << " > " << c.tolerance;
  }
}

} // namespace
