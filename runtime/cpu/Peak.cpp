//===- Peak.cpp - measured FMA throughput ----------------------------*- C++ -*-===//
#include "runtime/cpu/Peak.h"

#include "runtime/cpu/Isa.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/Simd.h"

#include <atomic>
#include <chrono>
#include <vector>

#if DLC_AVX512_KERNELS
#include <immintrin.h>
#endif

using namespace dlc::cpu;
using simd::v8;

namespace {
/// `rounds` x 10 independent accumulator chains (enough to cover the FMA latency times two
/// ports) of a = a * m + c; returns a value that depends on all of them.
DLC_VECTORIZED float fmaChains(long rounds) {
  v8 a0 = simd::splat(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
     a8 = a0, a9 = a0;
  const v8 m = simd::splat(0.999999f), c = simd::splat(1e-7f);
  for (long r = 0; r < rounds; ++r) {
    a0 = a0 * m + c, a1 = a1 * m + c, a2 = a2 * m + c, a3 = a3 * m + c, a4 = a4 * m + c;
    a5 = a5 * m + c, a6 = a6 * m + c, a7 = a7 * m + c, a8 = a8 * m + c, a9 = a9 * m + c;
  }
  v8 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9;
  return s[0] + s[7];
}
constexpr double kFlopsPerRound = 10 * 8 * 2;

#if DLC_AVX512_KERNELS
// The same chains in 16-wide AVX-512 vectors: a core with a 512-bit FMA datapath (Zen 5,
// Intel server cores) does twice the 8-wide peak, and the AVX-512 kernels are measured
// against that. Compiled for x86-64-v4 alone; called only when wideVectors().
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
float fmaChains16(long rounds) {
  __m512 a[10];
  for (__m512 &v : a)
    v = _mm512_set1_ps(1.0f);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (long r = 0; r < rounds; ++r)
    for (__m512 &v : a)
      v = _mm512_fmadd_ps(v, m, c);
  __m512 s = a[0];
  for (int i = 1; i < 10; ++i)
    s = _mm512_add_ps(s, a[i]);
  return _mm512_cvtss_f32(s);
}
#pragma GCC pop_options
#endif

/// `rounds` rounds of the chains of the vectors the kernels use; the FLOPs they did.
float chains(long rounds, double &flops) {
#if DLC_AVX512_KERNELS
  if (wideVectors()) {
    flops = double(rounds) * kFlopsPerRound * 2;
    return fmaChains16(rounds);
  }
#endif
  flops = double(rounds) * kFlopsPerRound;
  return fmaChains(rounds);
}
} // namespace

double dlc::cpu::measureFmaPeakGflops(double seconds) {
  using Clock = std::chrono::steady_clock;
  // Calibrate one thread's rounds per second, then run every thread for `seconds`.
  long rounds = 1 << 16;
  volatile float sink = 0;
  for (;;) {
    auto t0 = Clock::now();
    double flops;
    sink = sink + chains(rounds, flops);
    double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (dt > seconds / 10 || rounds > (1L << 40))
      break;
    rounds *= 4;
  }
  auto t0 = Clock::now();
  auto t1 = t0 + std::chrono::duration<double>(seconds);
  const int n = threads();
  std::vector<double> flops(size_t(n), 0.0);
  std::atomic<float> total{0};
  parallelChunks(n, [&](int chunk, int) {
    double done = 0;
    float s = 0;
    while (Clock::now() < t1) {
      double flops;
      s += chains(rounds / 16 + 1, flops);
      done += flops;
    }
    flops[size_t(chunk)] = done;
    total = total + s;
  });
  double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  double sum = 0;
  for (double f : flops)
    sum += f;
  sink = sink + total;
  return dt > 0 ? sum / dt / 1e9 : 0;
}
