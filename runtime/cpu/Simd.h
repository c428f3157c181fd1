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
typedef int i8 __attribute__((vector_size(32))); // lane masks of v8 comparisons, indices

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DLC_VECTORIZED \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
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
// One vbroadcastss: v8{} + x would add (0 + x is not x for x = -0.0) before broadcasting,
// and v8{x, x, ...} makes GCC 12 insert the lanes one by one.
DLC_INLINE v8 splat(float x) {
  v8 v = {x};
  return __builtin_shufflevector(v, v, 0, 0, 0, 0, 0, 0, 0, 0);
}
/// Stores the first n (0 <= n <= 8) lanes of v; p[n..8) is left untouched.
DLC_INLINE void storePartial(float *p, v8 v, int n) {
  float lanes[8];
  store(lanes, v);
  if (n >= 8)
    return store(p, v);
  int i = 0;
  if (n & 4) {
    std::memcpy(p, lanes, 4 * sizeof(float));
    i = 4;
  }
  if (n & 2) {
    std::memcpy(p + i, lanes + i, 2 * sizeof(float));
    i += 2;
  }
  if (n & 1)
    p[i] = lanes[i];
}

} // namespace dlc::cpu::simd
