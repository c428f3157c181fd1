//===- CudaDataParallelTest.cpp - data placement on two emulated GPUs vs one ---------===//
//
// The multi-GPU data-parallel step without a GPU: LeNet placed on two devices (dlc compile
// --batch 4 --devices 2, batch 2 each) runs on two emulated GPUs (test/cuda/EmulatedDevice.h:
// the plan's generated CUDA C compiled as host C++), one thread each, joined by the
// in-process communicator as dlrun --device cuda:0,cuda:1 joins them (the emulated device has
// no PackedStep of its own, so the pack is staged through Device::read and write, as NCCL's
// fallback stages a GPU's). Against LeNet at batch 4 on one emulated GPU, fed the same
// examples: every step's loss within 1e-5 relative and the same correct count, the replicas'
// parameters and optimizer state bit-identical after every step, and close to the single
// device's.
//
#include "EmulationSource.h"
#include "runtime/dist/DataParallel.h"
#include "runtime/dist/ThreadGroup.h"
#include "runtime/train/Init.h"
#include "test/unit/TinyPlan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iterator>
#include <random>
#include <thread>
#include <vector>

// Last: they define CUDA's keywords as macros.
#include "CudaEmulation.h"
#include "EmulatedDevice.h"

#include "dp_one.inc"
#include "dp_two.inc"

using namespace dlc;

namespace {

const std::string kTestData = DLC_CUDA_TESTDATA;
constexpr int kSteps = 4;
constexpr int kReplicas = 2;

/// A global batch of 4: images and labels for every step, seeded.
struct Batches {
  std::vector<std::vector<float>> images;
  std::vector<std::vector<int32_t>> labels;
};

Batches makeBatches(size_t pixelsPerExample, int64_t classes, int64_t batch) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  Batches b;
  for (int s = 0; s < kSteps; ++s) {
    b.images.emplace_back(pixelsPerExample * size_t(batch));
    for (float &x : b.images.back())
      x = normal(rng);
    b.labels.emplace_back(size_t(batch));
    for (int32_t &y : b.labels.back())
      y = int32_t(rng() % uint32_t(classes));
  }
  return b;
}

/// The persistent bytes of every parameter of `plan` in `arena`, in parameter order (the two
/// plans lay their arenas out alike, but need not).
std::vector<float> parameters(const plan::Plan &plan, const std::vector<uint8_t> &arena) {
  std::vector<float> out;
  for (const plan::Parameter &p : plan.params) {
    const plan::Buffer &b = plan.buffers[p.buffer];
    const float *x = reinterpret_cast<const float *>(arena.data() + b.offset);
    out.insert(out.end(), x, x + b.bytes / 4);
  }
  return out;
}

TEST(CudaDataParallel, TwoEmulatedGpusTrainLikeOneAtTheFullBatch) {
  plan::Plan one, two;
  std::string error;
  ASSERT_TRUE(plan::readPlan(kTestData + "/lenet4.plan", one, error)) << error;
  ASSERT_TRUE(plan::readPlan(kTestData + "/lenet4x2.plan", two, error)) << error;
  ASSERT_EQ(one.train.batch, 4);
  ASSERT_EQ(two.train.batch, 2);
  ASSERT_EQ(two.train.devices, kReplicas);
  const plan::Program &train1 = *one.program("train"), &train2 = *two.program("train");
  const plan::Buffer &x1 = one.buffers[test::imagesOf(train1)],
                     &y1 = one.buffers[test::labelsOf(train1)];
  const plan::Buffer &x2 = two.buffers[test::imagesOf(train2)],
                     &y2 = two.buffers[test::labelsOf(train2)];
  const size_t pixels = x1.bytes / 4 / 4;
  const Batches data = makeBatches(pixels, one.classes, 4);

  // One emulated GPU at batch 4.
  std::vector<uint8_t> host1(one.arenaBytes, 0);
  initParameters(one, host1.data());
  cudatest::EmulatedDevice gpu(one, kEmulated_dp_one, std::size(kEmulated_dp_one), "dp_one_");
  gpu.arena = host1;
  std::vector<float> losses1, correct1;
  for (int s = 0; s < kSteps; ++s) {
    std::memcpy(gpu.arena.data() + x1.offset, data.images[s].data(), x1.bytes);
    std::memcpy(gpu.arena.data() + y1.offset, data.labels[s].data(), y1.bytes);
    ASSERT_TRUE(gpu.run(train1, nullptr, nullptr, error)) << error;
    float loss, correct;
    std::memcpy(&loss, gpu.arena.data() + one.buffers[train1.loss].offset, 4);
    std::memcpy(&correct, gpu.arena.data() + one.buffers[train1.correct].offset, 4);
    losses1.push_back(loss);
    correct1.push_back(correct);
  }

  // Two emulated GPUs at batch 2, replica r on examples [2r, 2r + 2) of each global batch,
  // each on its own thread as dlrun runs them.
  auto group = makeThreadGroup(kReplicas);
  std::vector<std::vector<uint8_t>> hosts(kReplicas, std::vector<uint8_t>(two.arenaBytes, 0));
  std::vector<cudatest::EmulatedDevice *> gpus(kReplicas);
  std::vector<std::unique_ptr<DataParallelDevice>> replicas(kReplicas);
  for (int r = 0; r < kReplicas; ++r) {
    initParameters(two, hosts[r].data());
    auto emulated = std::make_unique<cudatest::EmulatedDevice>(
        two, kEmulated_dp_two, std::size(kEmulated_dp_two), "dp_two_");
    emulated->arena = hosts[r];
    gpus[r] = emulated.get();
    replicas[r] = makeDataParallelDevice(two, hosts[r].data(), std::move(emulated), *group[r],
                                         error);
    ASSERT_TRUE(replicas[r]) << error;
  }
  // Every gradient, the loss and the correct count travel in the pack.
  size_t gradients = 0;
  for (const plan::Kernel &k : train2.kernels)
    if (k.kind == plan::KernelKind::SgdMomentum)
      gradients += two.buffers[k.args[1]].bytes / 4;
  EXPECT_EQ(replicas[0]->allreduceFloats(), gradients + 2);

  std::vector<std::vector<float>> losses(kReplicas), correct(kReplicas);
  std::vector<std::string> errors(kReplicas);
  std::vector<std::vector<uint8_t>> states(kReplicas * kSteps);
  std::vector<std::thread> threads;
  for (int r = 0; r < kReplicas; ++r)
    threads.emplace_back([&, r] {
      std::vector<uint8_t> &host = hosts[r];
      for (int s = 0; s < kSteps; ++s) {
        std::memcpy(host.data() + x2.offset, data.images[s].data() + r * pixels * 2, x2.bytes);
        std::memcpy(host.data() + y2.offset, data.labels[s].data() + r * 2, y2.bytes);
        if (!replicas[r]->run(train2, nullptr, nullptr, errors[r])) {
          group[r]->finish(1);
          return;
        }
        float loss, c;
        std::memcpy(&loss, host.data() + two.buffers[train2.loss].offset, 4);
        std::memcpy(&c, host.data() + two.buffers[train2.correct].offset, 4);
        losses[r].push_back(loss);
        correct[r].push_back(c);
        states[size_t(r * kSteps + s)].assign(gpus[r]->arena.begin(),
                                              gpus[r]->arena.begin() + two.persistentBytes);
      }
    });
  for (std::thread &t : threads)
    t.join();
  for (int r = 0; r < kReplicas; ++r)
    ASSERT_EQ(errors[r], "") << "replica " << r;

  for (int s = 0; s < kSteps; ++s) {
    SCOPED_TRACE("step " + std::to_string(s + 1));
    for (int r = 0; r < kReplicas; ++r) {
      EXPECT_NEAR(losses[r][s], losses1[s], 1e-5f * std::fabs(losses1[s])) << "replica " << r;
      EXPECT_EQ(correct[r][s], correct1[s]) << "replica " << r;
    }
    EXPECT_EQ(states[size_t(s)], states[size_t(kSteps + s)])
        << "the replicas' parameters or optimizer state differ";
  }
  // The single device's parameters, up to the sums' order.
  std::vector<float> a = parameters(one, gpu.arena), b = parameters(two, gpus[0]->arena);
  ASSERT_EQ(a.size(), b.size());
  float scale = 0.f, worst = 0.f;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::fabs(a[i]));
    worst = std::max(worst, std::fabs(a[i] - b[i]));
  }
  EXPECT_LE(worst, 1e-5f * scale) << "parameters after " << kSteps << " steps";
  // Training moved them: the comparison is not of untouched initial values.
  std::vector<float> initial = parameters(one, host1);
  float moved = 0.f;
  for (size_t i = 0; i < a.size(); ++i)
    moved = std::max(moved, std::fabs(a[i] - initial[i]));
  EXPECT_GT(moved, 1e-4f);
  std::printf("emulated data placement: max loss difference %.3g relative; max parameter "
              "difference %.3g of %.3g\n",
              [&] {
                double d = 0;
                for (int s = 0; s < kSteps; ++s)
                  d = std::max(d, std::fabs(double(losses[0][s]) - losses1[s]) /
                                      std::fabs(double(losses1[s])));
                return d;
              }(),
              double(worst), double(scale));
}

} // namespace
