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
