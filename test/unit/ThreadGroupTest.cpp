//===- ThreadGroupTest.cpp - collectives between threads (dlrun --device cpu:0,...) -===//
//
// The in-process communicator must sum in one fixed order (every rank gets the same bits,
// whatever the thread timing), gather in rank order, survive many back-to-back collectives,
// and turn one rank's failure into an error on the others instead of a hang.
//
#include "runtime/dist/ThreadGroup.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

using namespace dlc;

namespace {

/// Runs fn(rank, communicator) on `ranks` threads of one group and waits for them.
template <typename Fn> void onThreads(int ranks, Fn fn) {
  auto group = makeThreadGroup(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] { fn(r, *group[size_t(r)]); });
  for (std::thread &t : threads)
    t.join();
}

TEST(ThreadGroupTest, SumsInRankOrderAndEveryRankGetsTheSameBits) {
  for (int ranks : {1, 2, 3, 4}) {
    const size_t n = 1001; // not a multiple of the rank count: uneven slices
    std::vector<std::vector<float>> data(static_cast<size_t>(ranks));
    // Values whose float sum depends on the order: 1e8 + 1 - 1e8 is 0 or 1.
    for (int r = 0; r < ranks; ++r)
      for (size_t i = 0; i < n; ++i)
        data[size_t(r)].push_back(r % 2 ? 1.0f + float(i) : (r == 0 ? 1e8f : -1e8f));
    std::vector<float> expected(n);
    for (size_t i = 0; i < n; ++i) {
      float s = data[0][i];
      for (int r = 1; r < ranks; ++r)
        s += data[size_t(r)][i];
      expected[i] = s;
    }
    onThreads(ranks, [&](int r, Communicator &c) {
      EXPECT_EQ(c.rank(), r);
      EXPECT_EQ(c.size(), ranks);
      std::string error;
      for (int round = 0; round < 50; ++round) { // the barrier is reused: phases must not mix
        std::vector<float> mine = data[size_t(r)];
        ASSERT_TRUE(c.allreduceSum(mine.data(), n, error)) << error;
        ASSERT_EQ(std::memcmp(mine.data(), expected.data(), n * sizeof(float)), 0)
            << "rank " << r << " round " << round;
      }
      double d = r + 0.5;
      ASSERT_TRUE(c.allreduceSum(&d, 1, error)) << error;
      EXPECT_EQ(d, ranks * (ranks - 1) / 2.0 + 0.5 * ranks);
      int64_t mine = 100 + r;
      std::vector<int64_t> all(static_cast<size_t>(ranks));
      ASSERT_TRUE(c.allgather(&mine, sizeof mine, all.data(), error)) << error;
      for (int q = 0; q < ranks; ++q)
        EXPECT_EQ(all[size_t(q)], 100 + q);
    });
  }
}

TEST(ThreadGroupTest, AFailedRankEndsTheOthersCollectives) {
  std::vector<std::string> errors(3);
  onThreads(3, [&](int r, Communicator &c) {
    if (r == 2) { // fails before its first collective, as a rank whose data will not load
      c.finish(1);
      return;
    }
    float x = 1.0f;
    EXPECT_FALSE(c.allreduceSum(&x, 1, errors[size_t(r)]));
    EXPECT_FALSE(c.allreduceSum(&x, 1, errors[size_t(r)])); // and every later one
  });
  for (int r : {0, 1})
    EXPECT_EQ(errors[size_t(r)], "another device of this run failed (its error is above)");
}

} // namespace
