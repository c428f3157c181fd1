//===- Parallel.cpp - the CPU kernels' thread pool ----------------*- C++ -*-===//
//
// Kernels are short (tens of microseconds), so waking a thread through the OS for each one
// would cost as much as the work: idle workers spin for a while on a generation counter and
// only then sleep on a condition variable. Chunks are claimed from one atomic word holding
// (job generation, chunk count, next chunk), so a worker that wakes late can never claim a
// chunk of a job other than the one it saw, and the calling thread simply does whatever no
// worker has claimed.
//
#include "runtime/cpu/Parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DLC_PAUSE() _mm_pause()
#else
#define DLC_PAUSE() std::this_thread::yield()
#endif

extern "C" void openblas_set_num_threads(int);
// OpenBLAS's pthread build starts its own worker threads when it loads, and they spin on
// their queues for a while (~0.1 s) before sleeping: beside the pool's threads on few
// cores, they took a core from the first steps or evaluation batches (LeNet's inference at
// 2 threads: 0.8 ms a batch instead of 0.27, in about half the runs). Weak: other BLAS
// builds lack it.
extern "C" int blas_thread_shutdown_(void) __attribute__((weak));

namespace dlc::cpu {
namespace {

/// How long an idle worker spins before sleeping: long enough to bridge the gap between
/// two kernels of a step, short enough not to burn a core between steps for long.
constexpr std::chrono::microseconds kSpin(300);
/// Ranges parallelFor makes per thread: more balance against a busy core, more overhead.
constexpr int64_t kChunksPerThread = 4;

/// Set while this thread runs a chunk: the pool is busy with the job, so work started from
/// inside it runs inline.
thread_local bool tlsInChunk = false;

/// Sets tlsInChunk for a scope.
struct InChunk {
  bool before = tlsInChunk;
  InChunk() { tlsInChunk = true; }
  ~InChunk() { tlsInChunk = before; }
};

/// The claim word: generation (32 bits) | chunk count (16) | next unclaimed chunk (16).
uint64_t claimWord(uint64_t gen, uint64_t chunks, uint64_t next) {
  return gen << 32 | chunks << 16 | next;
}

struct FreeDeleter {
  void operator()(float *p) const { std::free(p); }
};
struct Scratch {
  std::unique_ptr<float, FreeDeleter> data;
  size_t floats = 0;

  float *get(size_t n) {
    if (floats < n) {
      size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
      data.reset(static_cast<float *>(std::aligned_alloc(64, bytes)));
      if (!data)
        std::abort(); // out of memory for a few MiB of scratch: nothing sensible to do
      floats = n;
    }
    return data.get();
  }
};

class Pool {
public:
  ~Pool() { resize(1); }

  int size() const { return int(workers.size()) + 1; }

  void resize(int n) {
    if (!workers.empty()) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        stop = true;
        generation.fetch_add(1, std::memory_order_release);
      }
      wake.notify_all();
      for (std::thread &t : workers)
        t.join();
      workers.clear();
      stop = false;
    }
    scratch.resize(std::max(n, 1));
    // Read here, not in the worker: a worker that started late would otherwise take the
    // first job's generation as already seen and never run it.
    const uint64_t current = generation.load(std::memory_order_acquire);
    for (int i = 1; i < n; ++i)
      workers.emplace_back([this, i, current] { workerLoop(i, current); });
  }

  void run(int chunks, const std::function<void(int, int)> &task) {
    const uint64_t gen = generation.load(std::memory_order_relaxed) + 1;
    job = &task;
    done.store(0, std::memory_order_relaxed);
    claim.store(claimWord(gen & 0xffffffffu, chunks, 0), std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(mutex);
      generation.store(gen, std::memory_order_release);
    }
    wake.notify_all();
    work(gen & 0xffffffffu, 0);
    for (int spins = 0; done.load(std::memory_order_acquire) != chunks; ++spins) {
      // A worker holding the last chunk may have been descheduled by a busy machine: let the
      // OS run it rather than spin against it.
      if (spins > 4096)
        std::this_thread::yield();
      else
        DLC_PAUSE();
    }
  }

  Scratch &threadScratch(int thread) { return scratch[thread]; }

private:
  /// Claims and runs chunks of job `gen` until none is left (or a newer job has begun).
  void work(uint64_t gen, int thread) {
    uint64_t word = claim.load(std::memory_order_acquire);
    for (;;) {
      const uint64_t chunks = word >> 16 & 0xffff, next = word & 0xffff;
      if (word >> 32 != gen || next >= chunks)
        return;
      if (!claim.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel))
        continue;
      // Chunk `next` is ours and unfinished, so run() is still waiting and `job` is gen's.
      {
        InChunk in;
        (*job)(int(next), thread);
      }
      done.fetch_add(1, std::memory_order_acq_rel);
      word = claim.load(std::memory_order_acquire);
    }
  }

  void workerLoop(int index, uint64_t seen) {
    for (;;) {
      auto start = std::chrono::steady_clock::now();
      uint64_t g;
      for (int spins = 0; (g = generation.load(std::memory_order_acquire)) == seen; ++spins) {
        if ((spins & 255) == 255 && std::chrono::steady_clock::now() - start > kSpin) {
          std::unique_lock<std::mutex> lock(mutex);
          wake.wait(lock, [&] { return generation.load(std::memory_order_acquire) != seen; });
        } else {
          DLC_PAUSE();
        }
      }
      seen = g;
      if (stop)
        return;
      work(g & 0xffffffffu, index);
    }
  }

  std::vector<std::thread> workers;
  std::vector<Scratch> scratch = std::vector<Scratch>(1);
  std::mutex mutex;
  std::condition_variable wake;
  std::atomic<uint64_t> generation{0};
  std::atomic<uint64_t> claim{0};
  std::atomic<int> done{0};
  const std::function<void(int, int)> *job = nullptr;
  bool stop = false;
};

Pool &pool() {
  static Pool p;
  return p;
}

} // namespace

void setThreads(int n) {
  openblas_set_num_threads(1);
  // With one BLAS thread its workers are never used again: stop them (once).
  static const bool stopped = blas_thread_shutdown_ && (blas_thread_shutdown_(), true);
  (void)stopped;
  pool().resize(std::max(n, 1));
}

int threads() { return tlsInChunk ? 1 : pool().size(); }

void serially(const std::function<void()> &fn) {
  InChunk in;
  fn();
}

void parallelChunks(int chunks, const std::function<void(int, int)> &fn) {
  if (chunks <= 0)
    return;
  if (chunks == 1 || threads() == 1) {
    for (int c = 0; c < chunks; ++c)
      fn(c, 0);
    return;
  }
  // The claim word counts chunks in 16 bits.
  for (int base = 0; base < chunks; base += 0xffff)
    pool().run(std::min(chunks - base, 0xffff), [&](int c, int thread) { fn(base + c, thread); });
}

void parallelFor(int64_t n, int64_t grain,
                 const std::function<void(int64_t, int64_t, int)> &fn) {
  if (n <= 0)
    return;
  const int64_t chunks = std::min<int64_t>(threads() > 1 ? threads() * kChunksPerThread : 1,
                                           n / std::max<int64_t>(grain, 1));
  if (chunks <= 1)
    return fn(0, n, 0);
  parallelChunks(int(chunks), [&](int c, int thread) {
    fn(n * c / chunks, n * (c + 1) / chunks, thread);
  });
}

// The calling thread's scratch (thread 0 of a parallelFor) and the shared scratch are
// per OS thread: the devices of `dlrun --device cpu:0,cpu:1` are threads that each run
// their own kernels (with a one-thread pool) at the same time.
float *threadScratch(int thread, size_t floats) {
  thread_local Scratch caller;
  return (thread == 0 ? caller : pool().threadScratch(thread)).get(floats);
}

float *sharedScratch(size_t floats) {
  thread_local Scratch shared;
  return shared.get(floats);
}

} // namespace dlc::cpu
