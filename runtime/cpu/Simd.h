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
typedef int v8i __attribute__((vector_size(32))); // comparison results: all ones or zero

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
// One vbroadcastss: v8{} + x would add (0 + x is not x for x = -0.0) before broadcasting,
// and v8{x, x, ...} makes GCC 12 insert the lanes one by one.
DLC_INLINE v8 splat(float x) {
  v8 v = {x};
  return __builtin_shufflevector(v, v, 0, 0, 0, 0, 0, 0, 0, 0);
}
/// std::max(a, b) lane by lane, with its exact semantics (a unless a < b).
DLC_INLINE v8 vmax(v8 a, v8 b) { return a < b ? b : a; }
/// even = p[0], p[2], ... p[14]; odd = p[1], p[3], ... p[15].
DLC_INLINE void deinterleave(const float *p, v8 &even, v8 &odd) {
  const v8 lo = load(p), hi = load(p + 8);
  even = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14);
  odd = __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15);
}
/// The inverse of deinterleave.
DLC_INLINE void interleave(float *p, v8 even, v8 odd) {
  store(p, __builtin_shufflevector(even, odd, 0, 8, 1, 9, 2, 10, 3, 11));
  store(p + 8, __builtin_shufflevector(even, odd, 4, 12, 5, 13, 6, 14, 7, 15));
}
/// v where mask is set, else 0.
DLC_INLINE v8 select(v8i mask, v8 v) { return (v8)(mask & (v8i)v); }

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
