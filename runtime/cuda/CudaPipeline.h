//===- CudaPipeline.h - a pipeline plan's stages on several GPUs ----*- C++ -*-===//
//
// Only with the CUDA runtime (DLC_HAVE_CUDA_RUNTIME); makeCudaPipelineDevice says otherwise.
//
#pragma once

#include "runtime/device/Device.h"

#include <vector>

namespace dlc {

/// A pipeline plan (dlc compile --target cuda --devices K --placement pipeline) on the GPUs
/// `ordinals`, stage d on ordinals[d]: each GPU allocates only its stage's regions (what dlc
/// compile prints per device), a stream each; the step's kernels are queued in plan order on
/// their stage's stream, the copies between stages are device-to-device copies
/// (cuMemcpyPeerAsync), and the cross-device dependencies CUDA events
/// (device/StagedStep.h), so the host thread never waits inside a step. Uploads each stage's
/// share of the host arena. Null with a one-line `error` without the GPUs.
std::unique_ptr<Device> makeCudaPipelineDevice(const plan::Plan &plan, uint8_t *arena,
                                               const std::vector<int> &ordinals,
                                               std::string &error);

} // namespace dlc
