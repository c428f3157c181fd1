// Unit tests for checkpoints (runtime/train/Checkpoint.h): a round trip, and saves killed at
// random moments, which must leave the previous checkpoint or a complete new one under the
// path, never a prefix, and whose temp files the next save removes.
#include "runtime/train/Checkpoint.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

using namespace dlc;
namespace fs = std::filesystem;

namespace {

/// One parameter of `floats` floats at offset 0 of the arena.
plan::Plan onePlan(uint64_t floats) {
  plan::Plan p;
  plan::Buffer b;
  b.name = "w";
  b.kind = plan::BufferKind::Parameter;
  b.bytes = floats * 4;
  p.buffers.push_back(b);
  plan::Parameter w;
  w.name = "w";
  w.shape = {int64_t(floats)};
  w.buffer = 0;
  p.params.push_back(w);
  p.persistentBytes = p.arenaBytes = b.bytes;
  return p;
}

class CheckpointTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("dlc-checkpoint-test-" + std::to_string(getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  /// Files in the test's directory other than `keep`.
  std::vector<std::string> others(const std::string &keep) {
    std::vector<std::string> names;
    for (const auto &e : fs::directory_iterator(dir))
      if (e.path().filename() != keep)
        names.push_back(e.path().filename().string());
    return names;
  }
  fs::path dir;
};

TEST_F(CheckpointTest, RoundTrip) {
  plan::Plan p = onePlan(1000);
  std::vector<float> a(1000), b(1000, 0.f);
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = float(i) * 0.5f;
  std::string path = (dir / "c.ckpt").string(), error;
  ASSERT_TRUE(saveCheckpoint(p, reinterpret_cast<uint8_t *>(a.data()), path, error)) << error;
  ASSERT_TRUE(loadCheckpoint(p, reinterpret_cast<uint8_t *>(b.data()), path, error)) << error;
  EXPECT_EQ(a, b);
  EXPECT_TRUE(others("c.ckpt").empty());
}

// A child saves checkpoints of values 1, 2, 3, ... (every float of save k is k) in a loop and
// is killed with SIGKILL after a random delay; each time, the path must hold a checkpoint that
// loads, all of one value, not older than the last one seen. Temp files of killed saves pile
// up (that is what a kill leaves) until the parent's next save removes them.
TEST_F(CheckpointTest, KilledSavesLeaveOldOrNewAndNoTempFiles) {
  const uint64_t floats = 4 << 20; // 16 MiB: a save takes long enough to be hit mid-write
  plan::Plan p = onePlan(floats);
  std::vector<float> arena(floats, 0.f);
  const std::string path = (dir / "c.ckpt").string();
  std::string error;
  ASSERT_TRUE(saveCheckpoint(p, reinterpret_cast<uint8_t *>(arena.data()), path, error));
  std::mt19937 rng(12345);
  float lastSeen = 0;
  int tempsSeen = 0, kills = 0;
  // Until three kills have landed mid-save (a temp file left), at most 60.
  for (int k = 0; k < 60 && tempsSeen < 3; ++k, ++kills) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      std::string err;
      for (float v = lastSeen + 1;; v += 1) {
        std::fill(arena.begin(), arena.end(), v);
        if (!saveCheckpoint(p, reinterpret_cast<uint8_t *>(arena.data()), path, err))
          _exit(2);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20000 + rng() % 200000));
    ASSERT_EQ(kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the saving child failed: status " << status;
    // The child's saves removed the temp files of earlier killed children: at most its own.
    tempsSeen += int(others("c.ckpt").size());
    std::vector<float> back(floats, -1.f);
    ASSERT_TRUE(loadCheckpoint(p, reinterpret_cast<uint8_t *>(back.data()), path, error))
        << "after kill " << k << ": " << error;
    EXPECT_EQ(std::count(back.begin(), back.end(), back[0]), int64_t(floats))
        << "after kill " << k << ": a mixture of two saves";
    EXPECT_GE(back[0], lastSeen) << "after kill " << k << ": an older checkpoint came back";
    lastSeen = back[0];
  }
  // Kills must have landed mid-save, or the test proved nothing.
  EXPECT_GE(tempsSeen, 3) << "too few kills interrupted a save";
  std::fill(arena.begin(), arena.end(), -7.f);
  ASSERT_TRUE(saveCheckpoint(p, reinterpret_cast<uint8_t *>(arena.data()), path, error));
  EXPECT_EQ(others("c.ckpt"), std::vector<std::string>{})
      << "temp files of killed saves survived the next save";
  std::printf("%d kills, last complete save %g, %d temp files seen after kills\n", kills,
              double(lastSeen), tempsSeen);
}

// A temp file whose process is alive may be a save in progress: it is kept.
TEST_F(CheckpointTest, LiveProcessesTempFilesAreKept) {
  plan::Plan p = onePlan(10);
  std::vector<float> arena(10, 1.f);
  const std::string path = (dir / "c.ckpt").string();
  const std::string live = path + ".tmp.1"; // init: always alive
  const std::string notOurs = path + ".tmp.x";
  for (const std::string &f : {live, notOurs})
    std::fclose(std::fopen(f.c_str(), "w"));
  std::string error;
  ASSERT_TRUE(saveCheckpoint(p, reinterpret_cast<uint8_t *>(arena.data()), path, error));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(notOurs));
}

} // namespace
