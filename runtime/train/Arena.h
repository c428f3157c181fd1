//===- Arena.h - a plan's arena in host memory --------------------*- C++ -*-===//
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace dlc {

/// `bytes` of zeroed host memory, 64-byte aligned for the kernels' vector loads; `data` is
/// null when the allocation failed or `bytes` is more than this machine's physical memory
/// (zeroing more would only end in the kernel's out-of-memory killer).
struct AlignedArena {
  uint8_t *data = nullptr;
  explicit AlignedArena(uint64_t bytes) {
    if (bytes > physicalBytes())
      return;
    data = static_cast<uint8_t *>(
        std::aligned_alloc(64, std::max<uint64_t>(64, (bytes + 63) / 64 * 64)));
    if (data)
      std::memset(data, 0, bytes);
  }
  /// The machine's physical memory in bytes.
  static uint64_t physicalBytes() {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? uint64_t(pages) * uint64_t(size) : UINT64_MAX / 2;
  }
  ~AlignedArena() { std::free(data); }
  AlignedArena(const AlignedArena &) = delete;
  AlignedArena &operator=(const AlignedArena &) = delete;
};

} // namespace dlc
