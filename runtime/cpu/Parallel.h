//===- Parallel.h - the CPU kernels' thread pool ------------------*- C++ -*-===//
//
// One process-wide pool that the kernels split their work over (intra-op parallelism: a
// kernel's images, rows or elements, never two kernels at once). Work that calls the pool
// from inside a chunk (an inference program's batch slices, each running whole kernels)
// runs inline there: threads() reads 1 inside a chunk. Work is cut into a fixed
// set of contiguous chunks that threads claim as they come free, so a thread the OS has
// descheduled (on a busy machine) delays only its current chunk, not a whole share; and
// since the cut never depends on which thread runs what, results are reproducible.
//
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace dlc::cpu {

/// Sets how many threads the kernels use (the caller included); n < 1 means 1. Not to be
/// called while a kernel runs. Also pins OpenBLAS to one thread: its own pool would
/// oversubscribe the cores ours already uses.
void setThreads(int n);
/// The current thread count (1 until setThreads is called); 1 inside parallelChunks,
/// parallelFor and serially, where kernels run on their caller's thread alone.
int threads();

/// Runs fn() as if inside a parallel region: threads() is 1 and kernels run inline. For
/// code that prepares what a kernel will do when it runs in one (runtime/cpu/BatchSplit.h).
void serially(const std::function<void()> &fn);

/// Runs fn(chunk, thread) for every chunk in [0, chunks) on the pool; `thread` (in
/// [0, threads())) names the thread running it, for threadScratch. Returns when all are done.
void parallelChunks(int chunks, const std::function<void(int chunk, int thread)> &fn);

/// Calls fn(begin, end, thread) on contiguous ranges covering [0, n), of at least `grain`
/// items each (all of it inline when n < 2 * grain), a few per thread.
void parallelFor(int64_t n, int64_t grain,
                 const std::function<void(int64_t begin, int64_t end, int thread)> &fn);

/// Scratch owned by pool thread `thread`: at least `floats` floats, 64-byte aligned, kept (and
/// grown only when asked for more) between calls, so steady-state kernels allocate nothing.
/// Valid until the next call for the same thread.
float *threadScratch(int thread, size_t floats);
/// Like threadScratch, for results shared between threads (per-chunk partial sums); only to
/// be called outside parallelChunks/parallelFor.
float *sharedScratch(size_t floats);

} // namespace dlc::cpu
