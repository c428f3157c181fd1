//===- Peak.h - the machine's measured floating-point peak --------*- C++ -*-===//
//
// dlrun --profile shows each kernel's GFLOP/s as a share of what this CPU can do, so the
// distance to the limit is visible. The peak is measured, not looked up: a VM's vCPUs, turbo
// and a second core busy with something else all change it.
//
#pragma once

namespace dlc::cpu {

/// Single-precision GFLOP/s of fused multiply-adds on all of the pool's threads (threads()),
/// measured for about `seconds` with independent FMA chains of the widest vectors the
/// kernels use (Isa.h: 16-wide AVX-512 where the CPU has it, 8-wide AVX2+FMA or the
/// baseline vectors elsewhere).
double measureFmaPeakGflops(double seconds = 0.05);

} // namespace dlc::cpu
