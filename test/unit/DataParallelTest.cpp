//===- DataParallelTest.cpp - the data-parallel step without MPI -------===//
//
// One rank of a data-parallel run defers the optimizer kernels to the end of the step and
// feeds them gradients from the allreduced pack (runtime/dist/DataParallel.h). With one rank the
// allreduce is the identity, so its steps must match the plain CPU device's bit for bit;
// with a communicator that doubles the pack (two ranks holding the same gradients) too,
// since the 1/N scale undoes it exactly. Needs no MPI: mpirun runs are in e2e/mpi_train.test.
//
#include "runtime/cpu/CpuDevice.h"
#include "runtime/dist/DataParallel.h"
#include "runtime/train/Init.h"
#include "test/unit/TinyPlan.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

using namespace dlc;

namespace {
const std::string kTestData = DLC_CUDA_TESTDATA;

/// `ranks` ranks that all hold this process's data: a sum is a multiplication.
class Mirror final : public Communicator {
public:
  explicit Mirror(int ranks) : ranks(ranks) {}
  int rank() const override { return 0; }
  int size() const override { return ranks; }
  int localSize() const override { return ranks; }
  bool allreduceSum(float *data, size_t count, std::string &) override {
    for (size_t i = 0; i < count; ++i)
      data[i] *= float(ranks);
    ++calls;
    return true;
  }
  bool allreduceSum(double *data, size_t count, std::string &) override {
    for (size_t i = 0; i < count; ++i)
      data[i] *= ranks;
    return true;
  }
  bool allgather(const void *mine, size_t bytes, void *all, std::string &) override {
    for (int r = 0; r < ranks; ++r)
      std::memcpy(static_cast<char *>(all) + r * bytes, mine, bytes);
    return true;
  }
  bool broadcast(void *, size_t, int, std::string &) override { return true; }
  void finish(int) override {}
  int ranks, calls = 0;
};

/// Mirror whose `failAt`-th float allreduce (counted from 1) fails, as a broken link would.
class Failing final : public Communicator {
public:
  explicit Failing(int failAt) : failAt(failAt) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  int localSize() const override { return 2; }
  bool allreduceSum(float *data, size_t count, std::string &error) override {
    if (++calls == failAt) {
      error = "link down";
      return false;
    }
    for (size_t i = 0; i < count; ++i)
      data[i] *= 2;
    return true;
  }
  bool allreduceSum(double *, size_t, std::string &) override { return true; }
  bool allgather(const void *, size_t, void *, std::string &) override { return true; }
  bool broadcast(void *, size_t, int, std::string &) override { return true; }
  void finish(int) override {}
  int failAt, calls = 0;
};

/// Runs `steps` train steps of `plan` on `device` over `arena` with seeded random batches;
/// returns the losses.
std::vector<float> train(const plan::Plan &plan, std::vector<uint8_t> &arena, Device &device,
                         int steps) {
  const plan::Program &prog = *plan.program("train");
  const plan::Buffer &x = plan.buffers[dlc::test::imagesOf(prog)],
                     &y = plan.buffers[dlc::test::labelsOf(prog)];
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> losses;
  for (int s = 0; s < steps; ++s) {
    float *images = reinterpret_cast<float *>(arena.data() + x.offset);
    for (size_t i = 0; i < x.bytes / 4; ++i)
      images[i] = normal(rng);
    int32_t *labels = reinterpret_cast<int32_t *>(arena.data() + y.offset);
    for (size_t i = 0; i < y.bytes / 4; ++i)
      labels[i] = int32_t(rng() % uint32_t(plan.classes));
    std::string error;
    EXPECT_TRUE(device.run(prog, nullptr, nullptr, error)) << error;
    losses.push_back(*reinterpret_cast<float *>(arena.data() + plan.buffers[prog.loss].offset));
  }
  return losses;
}

void expectSameSteps(int ranks) {
  plan::Plan plan;
  std::string error;
  ASSERT_TRUE(plan::readPlan(kTestData + "/lenet4.plan", plan, error)) << error;
  std::vector<uint8_t> plain(plan.arenaBytes), parallel(plan.arenaBytes);
  initParameters(plan, plain.data());
  initParameters(plan, parallel.data());
  Mirror comm(ranks);
  auto reference = makeCpuDevice(plan, plain.data());
  auto device = makeDataParallelCpuDevice(plan, parallel.data(), comm, error);
  ASSERT_TRUE(device) << error;
  std::vector<float> a = train(plan, plain, *reference, 4);
  std::vector<float> b = train(plan, parallel, *device, 4);
  EXPECT_EQ(a, b);
  EXPECT_EQ(comm.calls, 4); // one allreduce per step
  // Every gradient, the loss and the correct count go through it.
  size_t gradients = 0;
  for (const plan::Kernel &k : plan.program("train")->kernels)
    if (k.kind == plan::KernelKind::SgdMomentum)
      gradients += plan.buffers[k.args[1]].bytes / 4;
  EXPECT_EQ(device->allreduceFloats(), gradients + 2);
  EXPECT_EQ(0, std::memcmp(plain.data(), parallel.data(), plan.persistentBytes))
      << "parameters or optimizer state differ";
  uint64_t hash = 0;
  EXPECT_TRUE(checkRanksAgree(plan, parallel.data(), comm, hash, error)) << error;
}
} // namespace

/// With buckets (each allreduce on the communication thread while the backward goes on), the
/// same steps as one pack, bit for bit: the pack's layout and each float's sum are unchanged.
TEST(DataParallel, BucketsMatchOnePackBitForBit) {
  plan::Plan plan;
  std::string error;
  ASSERT_TRUE(plan::readPlan(kTestData + "/lenet4.plan", plan, error)) << error;
  std::vector<uint8_t> onePack(plan.arenaBytes), bucketed(plan.arenaBytes);
  initParameters(plan, onePack.data());
  initParameters(plan, bucketed.data());
  Mirror one(2), many(2);
  auto a = makeDataParallelCpuDevice(plan, onePack.data(), one, error, 0);
  ASSERT_TRUE(a) << error;
  auto b = makeDataParallelCpuDevice(plan, bucketed.data(), many, error, 0.001);
  ASSERT_TRUE(b) << error;
  EXPECT_EQ(a->allreduceBuckets(), 1u);
  EXPECT_FALSE(a->allreduceOverlaps());
  EXPECT_GT(b->allreduceBuckets(), 2u);
  EXPECT_TRUE(b->allreduceOverlaps());
  EXPECT_EQ(a->allreduceFloats(), b->allreduceFloats());
  EXPECT_EQ(train(plan, onePack, *a, 4), train(plan, bucketed, *b, 4));
  EXPECT_EQ(one.calls, 4);
  EXPECT_EQ(size_t(many.calls), 4 * b->allreduceBuckets());
  EXPECT_EQ(0, std::memcmp(onePack.data(), bucketed.data(), plan.persistentBytes))
      << "parameters or optimizer state differ";
}

/// A bucket's failed allreduce fails the step with its message; the step waits for the
/// communication thread (no use of the pack after it returns) and does not hang.
TEST(DataParallel, AFailedBucketFailsTheStep) {
  plan::Plan plan;
  std::string error;
  ASSERT_TRUE(plan::readPlan(kTestData + "/lenet4.plan", plan, error)) << error;
  std::vector<uint8_t> arena(plan.arenaBytes);
  initParameters(plan, arena.data());
  Failing comm(2);
  auto device = makeDataParallelCpuDevice(plan, arena.data(), comm, error, 0.001);
  ASSERT_TRUE(device) << error;
  ASSERT_GT(device->allreduceBuckets(), 2u);
  EXPECT_FALSE(device->run(*plan.program("train"), nullptr, nullptr, error));
  EXPECT_EQ(error, "link down");
}

TEST(DataParallel, OneRankMatchesTheCpuDeviceBitForBit) { expectSameSteps(1); }
TEST(DataParallel, IdenticalRanksAverageToTheSameUpdate) { expectSameSteps(2); }

TEST(DataParallel, RefusesAnUpdateThatALaterKernelReads) {
  plan::Plan plan;
  std::string error;
  ASSERT_TRUE(plan::readPlan(kTestData + "/lenet4.plan", plan, error)) << error;
  // Move the first optimizer kernel before its parameter's last reader.
  std::vector<plan::Kernel> &ks = plan.programs[0].name == "train" ? plan.programs[0].kernels
                                                                   : plan.programs[1].kernels;
  size_t sgd = 0;
  while (ks[sgd].kind != plan::KernelKind::SgdMomentum)
    ++sgd;
  plan::Kernel update = ks[sgd];
  ks.erase(ks.begin() + long(sgd));
  ks.insert(ks.begin(), update);
  std::vector<uint8_t> arena(plan.arenaBytes);
  Mirror comm(2);
  EXPECT_FALSE(makeDataParallelCpuDevice(plan, arena.data(), comm, error));
  EXPECT_NE(error.find("cannot average gradients across ranks: kernel '"), std::string::npos)
      << error;
}
