//===- Fit.h - does a plan fit a device? --------------------------*- C++ -*-===//
#pragma once

#include "compiler/Hardware/Catalog.h"
#include "runtime/plan/Plan.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace dlc::advisor {

/// Device memory a CUDA process cannot give to the plan: the CUDA context with cuDNN and
/// cuBLAS loaded (about 300-500 MiB on current drivers) plus the libraries' workspaces and
/// allocator slack. One documented figure (docs/memory.md), the same for every device.
constexpr uint64_t kDeviceReserveBytes = 768ull << 20;

/// Bytes of `gpu` a plan may use (memory minus the reserve; 0 if smaller).
uint64_t usableBytes(const hw::Gpu &gpu);

/// The device bytes a plan needs: its whole arena (parameters, state and the largest program).
inline uint64_t planBytes(const plan::Plan &p) { return p.arenaBytes; }

/// The `n` largest buffers live at the train program's peak (persistent ones included).
std::vector<const plan::Buffer *> largestAtPeak(const plan::Plan &p, size_t n);

/// Bytes live at the train program's peak step, by buffer kind (persistent ones included).
std::vector<uint64_t> breakdownAtPeak(const plan::Plan &p);

/// Bytes live at the train program's peak step (persistent ones included) in the terms of a
/// precision: weights (fp32 parameters), weight gradients (4-byte gradient buffers: the
/// optimizer's fp32 inputs in a mixed plan, every gradient in an fp32 one), optimizer and
/// model state, activations (the other step buffers: activations, 2-byte gradients,
/// workspaces, inputs, outputs) and the half copies of weights.
struct PrecisionBreakdown {
  uint64_t weights = 0, weightGradients = 0, optimizerState = 0, activations = 0,
           weightCopies = 0;
};
PrecisionBreakdown precisionBreakdown(const plan::Plan &p);

/// Largest batch b >= 1 with bytesAt(b) <= capacity, or 0 if even batch 1 does not fit.
/// bytesAt must be monotone; it is called O(log) times: the answer is predicted from b = 1
/// and 2 (memory grows about linearly with the batch), bracketed around the prediction with
/// growing steps, and bisected.
/// Returns nullopt when bytesAt fails.
std::optional<int64_t> largestBatch(const std::function<std::optional<uint64_t>(int64_t)> &bytesAt,
                                    uint64_t capacity);

} // namespace dlc::advisor
