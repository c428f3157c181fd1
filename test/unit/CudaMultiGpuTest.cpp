//===- CudaMultiGpuTest.cpp - NCCL and data placement on real GPUs ------------===//
//
// Without a GPU (this project's machines and CI): NCCL's entry points resolve from
// libnccl.so.2, and making the NCCL communicator of two GPUs fails with one line (or says that
// NCCL is missing). With one GPU: a data-parallel replica of one (the GPU's pack in device
// memory; averaged by NCCL, and staged through host memory) trains like the plain device.
// With two: LeNet placed on cuda:0 and cuda:1 trains like LeNet on one GPU at the full batch,
// the replicas bit-identical, as dlrun --device cuda:0,cuda:1 runs it. The GPU cases skip here
// with that reason; scripts/gpu-check.sh runs them (ctest -R Cuda).
//
#include "compiler/Target/Cuda/CudaCodegen.h"
#include "compiler/Target/Cuda/Nvrtc.h"
#include "runtime/cuda/CudaDevice.h"
#include "runtime/cuda/CudaDeviceRunner.h"
#include "runtime/dist/DataParallel.h"
#include "runtime/dist/NcclCommunicator.h"
#include "runtime/dist/ThreadGroup.h"
#include "runtime/train/Init.h"
#include "test/unit/TinyPlan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <thread>

using namespace dlc;

namespace {

const std::string kTestData = DLC_CUDA_TESTDATA;

/// GPUs the driver sees; 0 without one.
int gpuCount() {
  int count = 0;
  std::string error;
  return cuda::countCudaDevices(count, error) ? count : 0;
}

/// `name` from the test data, with what dlc compile --target cuda attaches for GPU 0.
void loadForGpu(const std::string &name, plan::Plan &plan) {
  std::string error;
  ASSERT_TRUE(plan::readPlan(kTestData + "/" + name, plan, error)) << error;
  cuda::CudaDevice probe;
  ASSERT_TRUE(cuda::openCudaDevice(0, probe, error)) << error;
  for (plan::Program &prog : plan.programs) {
    std::vector<cuda::CudaLaunch> launches;
    prog.cudaSource = cuda::emitCudaSource(plan, prog, launches, error);
    ASSERT_FALSE(prog.cudaSource.empty()) << error;
    cuda::CudaBinary binary;
    ASSERT_TRUE(cuda::compileCuda(prog.cudaSource, probe.arch(), binary, error)) << error;
    prog.cudaPtx = binary.ptx;
    prog.cudaCubin.assign(binary.cubin.begin(), binary.cubin.end());
    prog.cudaLaunches = cuda::encodeLaunches(launches);
  }
  plan.target = "cuda";
  plan.arch = probe.arch();
}

#if DLC_HAVE_NCCL_HEADER
TEST(Nccl, EveryEntryPointIsExported) {
  std::string error;
  if (!cuda::loadCudaLibrary(cuda::CudaLibrary::Nccl, error) &&
      error.find("cannot open shared object file") != std::string::npos)
    GTEST_SKIP() << "NCCL is not installed: " << error;
  EXPECT_EQ(error, "");
#define DLC_TEST_RESOLVED(library, name) EXPECT_NE(cuda::cudaSymbols().name, nullptr) << #name;
  DLC_NCCL_SYMBOLS(DLC_TEST_RESOLVED)
#undef DLC_TEST_RESOLVED
}
#endif

TEST(Nccl, ConnectingTwoGpusWithoutThemFailsWithOneLine) {
  if (gpuCount() > 0)
    GTEST_SKIP() << "a CUDA device is present";
  auto group = makeThreadGroup(2);
  std::string notes[2], errors[2];
  std::unique_ptr<Communicator> made[2];
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] { made[r] = connectNccl(*group[r], r, notes[r], errors[r]); });
  for (std::thread &t : threads)
    t.join();
  std::printf("rank 0: %s\n", (errors[0].empty() ? notes[0] : errors[0]).c_str());
  for (int r = 0; r < 2; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    EXPECT_FALSE(made[r]);
    if (!notes[r].empty()) { // no NCCL: the caller averages through host memory
      EXPECT_EQ(errors[r], "");
      EXPECT_TRUE(notes[r].rfind("NCCL not found (", 0) == 0 ||
                  notes[r].rfind("this dlrun was built without", 0) == 0)
          << notes[r];
      continue;
    }
    // NCCL is there but sees no GPU: every rank gets rank 0's one line.
    EXPECT_EQ(errors[r].rfind("ncclCommInitAll over cuda:0,cuda:1: ", 0), 0u) << errors[r];
    EXPECT_EQ(errors[r].find('\n'), std::string::npos) << errors[r];
    EXPECT_EQ(errors[r], errors[0]);
  }
}

/// Runs `steps` training steps of `plan` on `device` (its host arena `host`) with the
/// examples [first, first + batch) of each of `steps` seeded global batches of `global`;
/// returns the losses.
std::vector<float> trainSteps(const plan::Plan &plan, std::vector<uint8_t> &host, Device &device,
                              int steps, int64_t global, int64_t first) {
  const plan::Program &prog = *plan.program("train");
  const plan::Buffer &x = plan.buffers[test::imagesOf(prog)], &y = plan.buffers[test::labelsOf(prog)];
  const size_t pixels = x.bytes / 4 / size_t(plan.train.batch);
  std::mt19937 rng(9);
  std::normal_distribution<float> normal;
  std::vector<float> losses;
  for (int s = 0; s < steps; ++s) {
    std::vector<float> images(pixels * size_t(global));
    std::vector<int32_t> labels(static_cast<size_t>(global));
    for (float &v : images)
      v = normal(rng);
    for (int32_t &v : labels)
      v = int32_t(rng() % uint32_t(plan.classes));
    std::memcpy(host.data() + x.offset, images.data() + size_t(first) * pixels, x.bytes);
    std::memcpy(host.data() + y.offset, labels.data() + first, y.bytes);
    std::string error;
    EXPECT_TRUE(device.run(prog, nullptr, nullptr, error)) << error;
    float loss;
    std::memcpy(&loss, host.data() + plan.buffers[prog.loss].offset, 4);
    losses.push_back(loss);
  }
  return losses;
}

TEST(CudaDataParallel, OneGpuReplicaTrainsLikeThePlainDevice) {
  if (gpuCount() < 1)
    GTEST_SKIP() << "needs a CUDA device";
  plan::Plan plan;
  loadForGpu("lenet4.plan", plan);
  std::string error;
  std::vector<uint8_t> plainHost(plan.arenaBytes, 0);
  initParameters(plan, plainHost.data());
  auto plain = makeCudaDevice(plan, plainHost.data(), 0, error);
  ASSERT_TRUE(plain) << error;
  const std::vector<float> want = trainSteps(plan, plainHost, *plain, 4, 4, 0);
  for (bool nccl : {false, true}) {
    SCOPED_TRACE(nccl ? "NCCL" : "host staging");
    auto group = makeThreadGroup(1);
    std::vector<uint8_t> host(plan.arenaBytes, 0);
    initParameters(plan, host.data());
    auto gpu = makeCudaDevice(plan, host.data(), 0, error);
    ASSERT_TRUE(gpu) << error;
    std::string note;
    std::unique_ptr<Communicator> ncclComm =
        nccl ? connectNccl(*group[0], 0, note, error) : nullptr;
    if (nccl && !ncclComm) {
      ASSERT_EQ(error, "");
      GTEST_SKIP() << note;
    }
    Communicator &comm = ncclComm ? *ncclComm : *group[0];
    auto replica = makeDataParallelDevice(plan, host.data(), std::move(gpu), comm, error);
    ASSERT_TRUE(replica) << error;
    const std::vector<float> got = trainSteps(plan, host, *replica, 4, 4, 0);
    for (size_t s = 0; s < want.size(); ++s)
      EXPECT_NEAR(got[s], want[s], 1e-5f * std::fabs(want[s])) << "step " << s + 1;
  }
}

TEST(CudaDataParallel, TwoGpusTrainLikeOneAtTheFullBatch) {
  if (int n = gpuCount(); n < 2)
    GTEST_SKIP() << "needs 2 CUDA devices, this machine has " << n;
  plan::Plan one, two;
  loadForGpu("lenet4.plan", one);
  loadForGpu("lenet4x2.plan", two);
  std::string error;
  std::vector<uint8_t> oneHost(one.arenaBytes, 0);
  initParameters(one, oneHost.data());
  auto single = makeCudaDevice(one, oneHost.data(), 0, error);
  ASSERT_TRUE(single) << error;
  const std::vector<float> want = trainSteps(one, oneHost, *single, 4, 4, 0);

  // As dlrun --device cuda:0,cuda:1: a thread per GPU, NCCL when it is there.
  auto group = makeThreadGroup(2);
  std::vector<std::vector<uint8_t>> hosts(2, std::vector<uint8_t>(two.arenaBytes, 0));
  std::vector<std::vector<float>> losses(2);
  std::string errors[2], notes[2];
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      initParameters(two, hosts[r].data());
      auto gpu = makeCudaDevice(two, hosts[r].data(), r, errors[r]);
      std::unique_ptr<Communicator> nccl =
          gpu ? connectNccl(*group[r], r, notes[r], errors[r]) : nullptr;
      auto replica = gpu && errors[r].empty()
                         ? makeDataParallelDevice(two, hosts[r].data(), std::move(gpu),
                                                  nccl ? *nccl : *group[r], errors[r])
                         : nullptr;
      if (!replica) {
        group[r]->finish(1);
        return;
      }
      losses[r] = trainSteps(two, hosts[r], *replica, 4, 4, 2 * r);
      if (!replica->syncToHost(errors[r]))
        group[r]->finish(1);
    });
  for (std::thread &t : threads)
    t.join();
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");
  if (!notes[0].empty())
    std::printf("NCCL unavailable (%s): averaged through host memory\n", notes[0].c_str());
  for (int r = 0; r < 2; ++r)
    for (size_t s = 0; s < want.size(); ++s)
      EXPECT_NEAR(losses[r][s], want[s], 1e-4f * std::fabs(want[s]))
          << "replica " << r << " step " << s + 1;
  EXPECT_EQ(0, std::memcmp(hosts[0].data(), hosts[1].data(), two.persistentBytes))
      << "the replicas' parameters or optimizer state differ";
}

} // namespace
