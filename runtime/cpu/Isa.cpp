//===- Isa.cpp - which vector width the CPU kernels use -----------*- C++ -*-===//
#include "runtime/cpu/Isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace dlc::cpu {
namespace {

bool cpuHasAvx512() {
#if DLC_AVX512_KERNELS
  return __builtin_cpu_supports("x86-64-v4");
#else
  return false;
#endif
}

std::atomic<bool> &wide() {
  static std::atomic<bool> on([] {
    const char *e = std::getenv("DLC_AVX512");
    return cpuHasAvx512() && !(e && std::strcmp(e, "0") == 0);
  }());
  return on;
}

} // namespace

bool wideVectors() { return wide().load(std::memory_order_relaxed); }

void setWideVectors(bool on) { wide().store(on && cpuHasAvx512(), std::memory_order_relaxed); }

} // namespace dlc::cpu
