// dlrun's set-up on plans that pass the loader's checks but cannot run on this machine.
#include "runtime/train/Trainer.h"
#include "test/unit/TinyPlan.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <unistd.h>

using namespace dlc;

namespace {
std::string writeTemp(const plan::Plan &p) {
  char path[] = "/tmp/dlc-trainer-test-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::string error;
  EXPECT_TRUE(plan::writePlan(p, path, error)) << error;
  return path;
}
} // namespace

TEST(Trainer, TinyPlanTrainsOnSyntheticData) {
  std::string path = writeTemp(dlc::test::tinyClassifierPlan());
  RunOptions opts;
  opts.planPath = path;
  opts.steps = 3;
  opts.quiet = true;
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(runPlan(opts), 0);
  ::testing::internal::GetCapturedStdout();
  unlink(path.c_str());
}

TEST(Trainer, ArenaLargerThanTheMachineIsRefused) {
  // An arena of 2^62 bytes: every buffer still lies inside it, so the loader accepts it; the
  // allocation must be refused by name, not attempted (once it wrapped around to 64 bytes and
  // zeroing 2^62 of them crashed).
  plan::Plan p = dlc::test::tinyClassifierPlan();
  p.arenaBytes = uint64_t(1) << 62;
  std::string path = writeTemp(p);
  RunOptions opts;
  opts.planPath = path;
  opts.steps = 1;
  opts.quiet = true;
  ::testing::internal::CaptureStderr();
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(runPlan(opts), 1);
  ::testing::internal::GetCapturedStdout();
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(path + ": the 4398046511104.0 MiB arena is more than this machine's"), std::string::npos)
      << err;
  unlink(path.c_str());
}

namespace {
/// runPlan's exit code and standard output (errors go to stderr, returned in `err`).
int run(const plan::Plan &p, std::string &out, std::string &err) {
  std::string path = writeTemp(p);
  RunOptions opts;
  opts.planPath = path;
  opts.steps = 3;
  ::testing::internal::CaptureStderr();
  ::testing::internal::CaptureStdout();
  int rc = runPlan(opts);
  out = ::testing::internal::GetCapturedStdout();
  err = ::testing::internal::GetCapturedStderr();
  unlink(path.c_str());
  return rc;
}
} // namespace

TEST(Trainer, RegressionPlanReportsTheLossAlone) {
  std::string out, err;
  ASSERT_EQ(run(dlc::test::tinyRegressionPlan(), out, err), 0) << err;
  EXPECT_EQ(out.find("acc"), std::string::npos) << out;
  EXPECT_NE(out.find("; test loss "), std::string::npos) << out;
}

TEST(Trainer, ProgramsWithoutLabelsInputTrainAlike) {
  // A regression plan declares no labels input: the data set's labels go nowhere, and it
  // trains exactly as with a labels input that no kernel reads.
  plan::Plan without = dlc::test::tinyRegressionPlan(), with = without;
  for (plan::Program &prog : with.programs)
    prog.inputs = dlc::test::tinyClassifierPlan().programs[0].inputs;
  std::string a, b, err;
  ASSERT_EQ(run(with, a, err), 0) << err;
  ASSERT_EQ(run(without, b, err), 0) << err;
  auto losses = [](const std::string &s) { return s.substr(s.find("epoch 1 done")); };
  EXPECT_EQ(losses(a).substr(0, 50), losses(b).substr(0, 50));
}

TEST(Trainer, InputsTheDataCannotFeedOrNoLossAreRefused) {
  plan::Plan p = dlc::test::tinyRegressionPlan();
  p.programs[0].inputs.clear();
  std::string out, err;
  EXPECT_EQ(run(p, out, err), 1);
  EXPECT_NE(err.find(": data: program 'train' has no input for the images of format synthetic"),
            std::string::npos) << err;
  p = dlc::test::tinyClassifierPlan();
  p.programs[1].inputs[1].shape = {1}; // a class per position: synthetic data has one
  p.buffers[p.programs[1].inputs[1].buffer].bytes = 64;
  EXPECT_EQ(run(p, out, err), 1);
  EXPECT_NE(err.find(": data: format synthetic cannot feed input 'labels' of program 'eval'"),
            std::string::npos) << err;
  p = dlc::test::tinyRegressionPlan();
  p.programs[1].loss = -1;
  EXPECT_EQ(run(p, out, err), 1);
  EXPECT_NE(err.find(": program 'eval' has no loss buffer"), std::string::npos) << err;
}
