//===- HalfTypes.cpp - 2-byte storage types of the generated CUDA C -------===//
#include "compiler/Target/Cuda/HalfTypes.h"

using namespace dlc;

const char *cuda::halfStorageType(plan::DType t) {
  switch (t) {
  case plan::DType::F16:
    return "dlc_half";
  case plan::DType::BF16:
    return "dlc_bf16";
  case plan::DType::F32:
  case plan::DType::I32:
  case plan::DType::NumKinds:
    break;
  }
  return nullptr;
}

// Conversions (round to nearest even, as __float2half_rn and __float2bfloat16_rn):
//   bf16: the top half of the float's bits, rounded on the bottom half; NaN kept quiet.
//   half: NaN and infinity kept, values from 65520 up (the first that rounds past 65504) to
//   infinity, below 2^-14 to subnormals (the 24-bit significand shifted right, rounded on
//   the bits shifted out; below 2^-25 to zero), the others by rebiasing the exponent and
//   rounding away 13 bits of the significand (a carry may step into the exponent, which is
//   the right result).
const char *cuda::halfTypesSource() {
  return R"(
#ifndef DLC_HALF_TYPES
#define DLC_HALF_TYPES
static __device__ __forceinline__ unsigned short dlc_f32_to_bf16(float f) {
  unsigned u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (unsigned short)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}
static __device__ __forceinline__ unsigned short dlc_f32_to_f16(float f) {
  unsigned x = __float_as_uint(f);
  const unsigned sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u)
    return (unsigned short)(sign | (x > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (x >= 0x477ff000u)
    return (unsigned short)(sign | 0x7c00u);
  if (x < 0x38800000u) {
    if (x < 0x33000000u)
      return (unsigned short)sign;
    const unsigned shift = 126u - (x >> 23), m = (x & 0x7fffffu) | 0x800000u;
    unsigned r = m >> shift;
    const unsigned rest = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (r & 1u)))
      ++r;
    return (unsigned short)(sign | r);
  }
  x -= 0x38000000u;
  x += 0xfffu + ((x >> 13) & 1u);
  return (unsigned short)(sign | (x >> 13));
}
static __device__ __forceinline__ float dlc_f16_to_f32(unsigned short h) {
  const unsigned sign = (unsigned)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1fu)
    return __uint_as_float(sign | 0x7f800000u | (m << 13));
  if (e == 0u) {
    const float v = (float)m * 5.9604644775390625e-8f; // m x 2^-24, exact
    return sign ? -v : v;
  }
  return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
}
// Storage only: reading gives a float, storing a float rounds; no arithmetic of their own.
struct dlc_bf16 {
  unsigned short bits;
  __device__ __forceinline__ operator float() const { return __uint_as_float((unsigned)bits << 16); }
  __device__ __forceinline__ dlc_bf16 &operator=(float v) { bits = dlc_f32_to_bf16(v); return *this; }
  __device__ __forceinline__ dlc_bf16 &operator+=(float v) { return *this = (float)*this + v; }
  __device__ __forceinline__ dlc_bf16 &operator-=(float v) { return *this = (float)*this - v; }
  __device__ __forceinline__ dlc_bf16 &operator*=(float v) { return *this = (float)*this * v; }
};
struct dlc_half {
  unsigned short bits;
  __device__ __forceinline__ operator float() const { return dlc_f16_to_f32(bits); }
  __device__ __forceinline__ dlc_half &operator=(float v) { bits = dlc_f32_to_f16(v); return *this; }
  __device__ __forceinline__ dlc_half &operator+=(float v) { return *this = (float)*this + v; }
  __device__ __forceinline__ dlc_half &operator-=(float v) { return *this = (float)*this - v; }
  __device__ __forceinline__ dlc_half &operator*=(float v) { return *this = (float)*this * v; }
};
#endif
)";
}
