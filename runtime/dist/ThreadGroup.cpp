//===- ThreadGroup.cpp - collectives between the threads of one process -===//
#include "runtime/dist/ThreadGroup.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>

using namespace dlc;

namespace {

/// What the ranks share: a reusable barrier, each rank's posted buffer, and the abort flag.
struct Group {
  explicit Group(int n) : ranks(n), posted(size_t(n)) {}
  const int ranks;
  std::mutex mutex;
  std::condition_variable cv;
  int arrived = 0;
  uint64_t phase = 0;
  bool aborted = false;
  std::vector<void *> posted;

  /// Waits until every rank has arrived; false once any rank has given up.
  bool barrier() {
    std::unique_lock<std::mutex> lock(mutex);
    if (aborted)
      return false;
    const uint64_t mine = phase;
    if (++arrived == ranks) {
      arrived = 0;
      ++phase;
      cv.notify_all();
      return true;
    }
    cv.wait(lock, [&] { return phase != mine || aborted; });
    return !aborted;
  }

  void abort() {
    std::lock_guard<std::mutex> lock(mutex);
    aborted = true;
    cv.notify_all();
  }
};

class ThreadRank final : public Communicator {
public:
  ThreadRank(std::shared_ptr<Group> g, int r) : group(std::move(g)), rank_(r) {}
  int rank() const override { return rank_; }
  int size() const override { return group->ranks; }
  int localSize() const override { return group->ranks; }
  bool allreduceSum(float *data, size_t count, std::string &error) override {
    return sum(data, count, error);
  }
  bool allreduceSum(double *data, size_t count, std::string &error) override {
    return sum(data, count, error);
  }
  bool allgather(const void *mine, size_t bytes, void *all, std::string &error) override {
    group->posted[size_t(rank_)] = const_cast<void *>(mine);
    if (!group->barrier())
      return failed(error);
    for (int r = 0; r < group->ranks; ++r)
      std::memcpy(static_cast<char *>(all) + size_t(r) * bytes, group->posted[size_t(r)], bytes);
    // Nobody may reuse its buffer before every rank has copied it.
    return group->barrier() || failed(error);
  }
  bool broadcast(void *data, size_t bytes, int root, std::string &error) override {
    if (rank_ == root)
      group->posted[size_t(root)] = data;
    if (!group->barrier())
      return failed(error);
    if (rank_ != root)
      std::memcpy(data, group->posted[size_t(root)], bytes);
    // The root's buffer must outlive every copy.
    return group->barrier() || failed(error);
  }
  void finish(int exitCode) override {
    if (exitCode != 0)
      group->abort();
  }
  const char *kind() const override { return "devices"; }
  const char *members() const override { return "devices"; }
  const char *allreduceName() const override { return "allreduce"; }
  bool oneProcess() const override { return true; }

private:
  /// Rank r sums the r-th slice of every rank's buffer in rank order and writes the sum
  /// into all of them; three barriers: posted, slices summed, everyone's copy complete.
  template <typename T> bool sum(T *data, size_t count, std::string &error) {
    group->posted[size_t(rank_)] = data;
    if (!group->barrier())
      return failed(error);
    const int n = group->ranks;
    const size_t lo = count * size_t(rank_) / size_t(n), hi = count * size_t(rank_ + 1) / size_t(n);
    std::vector<T> total(hi - lo);
    for (int r = 0; r < n; ++r) {
      const T *src = static_cast<const T *>(group->posted[size_t(r)]) + lo;
      if (r == 0)
        std::copy(src, src + (hi - lo), total.begin());
      else
        for (size_t i = 0; i < hi - lo; ++i)
          total[i] += src[i];
    }
    // Every rank must have read its inputs before any slice is overwritten.
    if (!group->barrier())
      return failed(error);
    for (int r = 0; r < n; ++r)
      std::copy(total.begin(), total.end(), static_cast<T *>(group->posted[size_t(r)]) + lo);
    return group->barrier() || failed(error);
  }

  static bool failed(std::string &error) {
    error = "another device of this run failed (its error is above)";
    return false;
  }

  std::shared_ptr<Group> group;
  int rank_;
};

} // namespace

std::vector<std::unique_ptr<Communicator>> dlc::makeThreadGroup(int ranks) {
  auto group = std::make_shared<Group>(ranks);
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < ranks; ++r)
    out.push_back(std::make_unique<ThreadRank>(group, r));
  return out;
}
