//===- Heuristic.h - the design's GPU-memory heuristic ----------*- C++ -*-===//
//
//   bytes = (N_weights + N_nodes) * 4 * batch * mask_elements
//
// implemented exactly as the design states it, and always shown next to the real plan.
//
#pragma once

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>

namespace dlc::advisor {

struct HeuristicCounts {
  int64_t weights = 0;      ///< trainable parameter values
  int64_t nodes = 0;        ///< activation elements per example (layer outputs)
  int64_t maskElements = 1; ///< elements of the convolution window the model uses most
};

/// Counts N_weights, N_nodes and mask_elements on the imported module (@forward, before
/// autodiff). N_nodes sums the per-example outputs of the layers that make new values (conv2d,
/// matmul, pooling, residual add); elementwise copies of a layer's output (relu, bias_add,
/// batch_norm) and views are not counted. That reproduces the published figures: 8,094 for
/// LeNet and ~16M (16,837,096) for ResNet-50. mask_elements is the window (kh*kw) used by the most
/// convolutions, ignoring 1x1 ones, which need no im2col expansion; a tie goes to the larger
/// window, and a model without such convolutions gets 1.
HeuristicCounts countForHeuristic(mlir::ModuleOp imported);

/// The heuristic's bytes at `batch`.
inline uint64_t heuristicBytes(const HeuristicCounts &c, int64_t batch) {
  return uint64_t(c.weights + c.nodes) * 4 * uint64_t(batch) * uint64_t(c.maskElements);
}

} // namespace dlc::advisor
