//===- Arena.h - a plan's arena in host memory --------------------*- C++ -*-===//
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace dlc {

/// `bytes` of zeroed host memory, 64-byte aligned for the kernels' vector loads; `data` is
/// null when the allocation failed.
struct AlignedArena {
  uint8_t *data = nullptr;
  explicit AlignedArena(uint64_t bytes) {
    data = static_cast<uint8_t *>(
        std::aligned_alloc(64, std::max<uint64_t>(64, (bytes + 63) / 64 * 64)));
    if (data)
      std::memset(data, 0, bytes);
  }
  ~AlignedArena() { std::free(data); }
  AlignedArena(const AlignedArena &) = delete;
  AlignedArena &operator=(const AlignedArena &) = delete;
};

} // namespace dlc
