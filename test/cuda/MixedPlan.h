//===- MixedPlan.h - the CUDA plan of a mixed-precision CPU plan -*- C++ -*-===//
//
// dlc compile --target cpu keeps a mixed-precision model's buffers fp32 (the CPU runs it so);
// --target cuda stores its step buffers in 2 bytes (compiler/Planning/MixedPrecision.h). The
// mixed emulation test and its generator derive the second from the first the way the
// compiler does, without NVRTC, so that both come from one lowering and share the layout
// of the persistent region (parameters and state).
//
#pragma once

#include "compiler/Planning/ArenaLayout.h"
#include "compiler/Planning/MixedPrecision.h"

namespace dlc::cudatest {

inline plan::Plan mixedCudaPlan(plan::Plan p) {
  p.target = "cuda";
  p.arch = "sm_80";
  applyMixedPrecision(p);
  layoutArena(p);
  return p;
}

} // namespace dlc::cudatest
