//===- Isa.h - which vector width the CPU kernels use -------------*- C++ -*-===//
//
// Most kernels are written once in 8-lane GCC vectors and cloned per ISA (Simd.h). A few
// also have a 16-lane AVX-512 form, worth it on cores with a 512-bit FMA datapath (AMD
// Zen 5, Intel server cores), where one instruction does twice the work: those are
// compiled for x86-64-v4 alone and called only when the CPU has it. Internal header.
//
#pragma once

// The AVX-512 forms need GCC's target pragma on x86-64.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DLC_AVX512_KERNELS 1
#else
#define DLC_AVX512_KERNELS 0
#endif

namespace dlc::cpu {

/// Whether kernels with a 16-lane AVX-512 form use it: the CPU has x86-64-v4 (AVX-512 F,
/// BW, CD, DQ, VL) and the environment does not say DLC_AVX512=0 (a measurement switch).
bool wideVectors();
/// Overrides wideVectors (tests run both forms; `on` is ignored where the CPU lacks
/// AVX-512). Not to be called while a kernel runs.
void setWideVectors(bool on);

} // namespace dlc::cpu
