//===- VecMath.h - exp and tanh that GCC vectorises, for the CPU kernels -*- C++ -*-===//
//
// Templates over V = float (I = int32_t) or 8 or 16 lanes (simd::v8, simd::vi8; v16, vi16): the same
// operations either way, so a loop's vector body and its scalar tail compute the same bits.
// libm's expf and tanhf are calls GCC cannot vectorise; these are inline, within a few ulp
// of them (the CUDA lowering calls expf and tanhf). Internal header.
//
#pragma once

#include "runtime/cpu/Simd.h"

#include <cstdint>
#include <cstring>

namespace dlc::cpu::simd {

typedef int32_t vi8 __attribute__((vector_size(32)));
/// 16 lanes: one AVX-512 register in the x86-64-v4 clone, two AVX2 ones in the v3 clone.
typedef float v16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));

template <class To, class From> DLC_INLINE To bitCast(From f) {
  static_assert(sizeof(To) == sizeof(From));
  To t;
  std::memcpy(&t, &f, sizeof t);
  return t;
}
/// The constant c in every lane of V (a float, a v8 or a v16).
template <class V> DLC_INLINE V lanes(float c) { return V{} + c; }

/// e^x by range reduction (x = n ln2 + r, |r| <= ln2/2) and a degree-6 Taylor polynomial for
/// e^r, with 2^n built in the exponent bits.
template <class V, class I> DLC_INLINE V expT(V x) {
  // Clamped so that 2^n stays a normal float; e^-87 ~ 1.6e-38 and e^88 ~ 1.7e38.
  const V lo = lanes<V>(-87.0f), hi = lanes<V>(88.0f);
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const V magic = lanes<V>(12582912.0f); // 1.5 * 2^23: adding it rounds to an integer
  const V t = x * 1.44269504f + magic;
  const V n = t - magic;
  const I ni = bitCast<I>(t) - 0x4B400000; // the integer n, from t's mantissa
  const V r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
  V p = lanes<V>(1.0f / 720.0f);
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return p * bitCast<V>((ni + 127) << 23);
}

/// tanh(x) with a small relative error everywhere (Cephes' tanhf): an odd polynomial below
/// |x| = 0.625, where 1 - 2 / (e^2|x| + 1) would lose the leading digits to cancellation,
/// and that formula with the sign of x above. NaN stays NaN.
template <class V, class I> DLC_INLINE V tanhPreciseT(V x) {
  const V ax = x < 0.0f ? -x : x;
  const V big = 1.0f - 2.0f / (expT<V, I>(2.0f * ax) + 1.0f);
  const V z = x * x;
  V p = lanes<V>(-5.70498872745e-3f);
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const V small = p * z * x + x;
  return ax > 0.625f ? (x < 0.0f ? -big : big) : small;
}

} // namespace dlc::cpu::simd
