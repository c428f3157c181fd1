//===- Simd.h - 8-wide float vectors for the CPU kernels ----------*- C++ -*-===//
//
// GCC vector extensions rather than intrinsics: the same source compiles to AVX2+FMA in the
// x86-64-v3 clone of a DLC_VECTORIZED function and to SSE2 pairs in its baseline clone, so
// dlrun runs on any x86-64 and picks the fast code at load time (ifunc). Internal header.
//
#pragma once

#include <cstring>

namespace dlc::cpu::simd {

typedef float v8 __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DLC_VECTORIZED __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define DLC_VECTORIZED
#endif
#define DLC_INLINE inline __attribute__((always_inline))

DLC_INLINE v8 load(const float *p) {
  v8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
DLC_INLINE void store(float *p, v8 v) { std::memcpy(p, &v, sizeof v); }
DLC_INLINE v8 splat(float x) { return v8{} + x; }

} // namespace dlc::cpu::simd
