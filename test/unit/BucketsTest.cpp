//===- BucketsTest.cpp - the gradient pack cut into allreduce buckets ----===//
//
// runtime/dist/Buckets.h: every gradient in exactly one bucket, in pack order, the buckets
// contiguous and covering the whole pack; the first closes at 1 MiB (or the cap if smaller),
// the others at the cap, a gradient over the cap alone; the tail joins the last; cap 0 is one
// bucket. And --bucket-mib's parser.
//
#include "runtime/dist/Buckets.h"

#include <gtest/gtest.h>

#include <random>

using namespace dlc;

namespace {
constexpr size_t kMiB = 1 << 20, kFloatsPerMiB = kMiB / 4;

/// The invariants of any assignment of `sizes` + `tail` under `cap`.
void expectWellFormed(const std::vector<PackBucket> &buckets, const std::vector<size_t> &sizes,
                      size_t tail, size_t cap) {
  ASSERT_FALSE(buckets.empty());
  size_t gradient = 0, at = 0;
  for (size_t b = 0; b < buckets.size(); ++b) {
    const PackBucket &k = buckets[b];
    EXPECT_EQ(k.firstGradient, gradient) << "bucket " << b;
    EXPECT_EQ(k.at, at) << "bucket " << b;
    EXPECT_LT(k.firstGradient, k.endGradient) << "bucket " << b << " holds no gradient";
    size_t floats = 0;
    for (size_t g = k.firstGradient; g < k.endGradient && g < sizes.size(); ++g)
      floats += sizes[g];
    const bool last = b + 1 == buckets.size();
    EXPECT_EQ(k.floats, floats + (last ? tail : 0)) << "bucket " << b;
    if (!last) {
      // Closed as soon as it reached its limit: without its last gradient it was below it.
      const size_t limit = b == 0 ? std::min(cap, kFirstBucketBytes) : cap;
      EXPECT_GE(floats * 4, limit) << "bucket " << b;
      EXPECT_LT((floats - sizes[k.endGradient - 1]) * 4, limit) << "bucket " << b;
    }
    gradient = k.endGradient;
    at += k.floats;
  }
  EXPECT_EQ(gradient, sizes.size()) << "every gradient in exactly one bucket";
  size_t total = tail;
  for (size_t s : sizes)
    total += s;
  EXPECT_EQ(at, total);
}
} // namespace

TEST(Buckets, CapZeroIsOnePack) {
  std::vector<size_t> sizes = {10, 20, 30};
  auto b = assignBuckets(sizes, 2, 0);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].firstGradient, 0u);
  EXPECT_EQ(b[0].endGradient, 3u);
  EXPECT_EQ(b[0].floats, 62u);
}

TEST(Buckets, FirstBucketIsOneMiBThenTheCap) {
  // Eight 0.5 MiB gradients, cap 2 MiB: 1 MiB (two), then 2 MiB (four), then the rest (two,
  // with the tail).
  std::vector<size_t> sizes(8, kFloatsPerMiB / 2);
  auto b = assignBuckets(sizes, 3, 2 * kMiB);
  expectWellFormed(b, sizes, 3, 2 * kMiB);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].endGradient, 2u);
  EXPECT_EQ(b[1].endGradient, 6u);
  EXPECT_EQ(b[2].endGradient, 8u);
  EXPECT_EQ(b[2].floats, kFloatsPerMiB + 3);
}

TEST(Buckets, AGradientOverTheCapIsABucketOfItsOwn) {
  std::vector<size_t> sizes = {100, 5 * kFloatsPerMiB, 100, 100};
  auto b = assignBuckets(sizes, 2, kMiB / 2);
  expectWellFormed(b, sizes, 2, kMiB / 2);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].endGradient, 2u); // 100 floats stay below 0.5 MiB: the big one closes it
  EXPECT_EQ(b[1].endGradient, 4u); // the last two and the tail
}

TEST(Buckets, TheLastGradientAlwaysTravelsWithTheTail) {
  std::vector<size_t> sizes(4, kFloatsPerMiB);
  auto b = assignBuckets(sizes, 2, kMiB);
  expectWellFormed(b, sizes, 2, kMiB);
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[3].floats, kFloatsPerMiB + 2);
}

TEST(Buckets, RandomPacksAreWellFormed) {
  std::mt19937 rng(12);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<size_t> sizes(1 + rng() % 40);
    for (size_t &s : sizes)
      s = 1 + rng() % (kFloatsPerMiB / 2);
    const size_t cap = (rng() % 4 == 0) ? 0 : 1 + rng() % (3 * kMiB);
    const size_t tail = rng() % 5;
    auto b = assignBuckets(sizes, tail, cap);
    expectWellFormed(b, sizes, tail, cap);
    if (cap == 0)
      EXPECT_EQ(b.size(), 1u);
  }
}

TEST(Buckets, ParsesBucketMiB) {
  double mib = -1;
  EXPECT_TRUE(parseBucketMiB("25", mib));
  EXPECT_EQ(mib, 25);
  EXPECT_TRUE(parseBucketMiB("0", mib));
  EXPECT_EQ(mib, 0);
  EXPECT_TRUE(parseBucketMiB("0.01", mib));
  EXPECT_EQ(mib, 0.01);
  for (const char *bad : {"", "-1", "abc", "1x", "nan", "inf", "1e300"})
    EXPECT_FALSE(parseBucketMiB(bad, mib)) << bad;
}
