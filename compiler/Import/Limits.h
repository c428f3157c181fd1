//===- Limits.h - bounds on the work one model file may ask for --*- C++ -*-===//
//
// A model file is untrusted input: one number in it (an LSTM's time steps, a layer's units)
// can ask for a graph or a tensor far beyond any machine, and without a bound dlc would run
// until killed. These limits turn such files into one-line errors before the work starts.
// Every size is multiplied with overflow checks, so a limit can never be passed by wrapping
// around. The defaults and the flags that raise them: docs/model-format.md, "Limits".
//
#pragma once

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/MathExtras.h"

#include <cstdint>
#include <optional>

namespace dlc {

struct ModelLimits {
  /// Time steps one recurrent layer may unroll over (`--max-steps`). Compile time grows faster
  /// than linearly with the unrolled graph: 1,000 steps take 0.3 s, 10,000 steps 12 s.
  int64_t maxSteps = 2048;
  /// Ops in the imported graph, before autodiff roughly triples it (`--max-ops`). ResNet-152
  /// has 1,764.
  int64_t maxOps = 50000;
  /// Bytes of any one tensor, parameters included, at the compiled batch (`--max-tensor-bytes`).
  int64_t maxTensorBytes = int64_t(16) << 30;
  /// Bytes of the plan's arena, everything dlrun allocates for a step (`--max-plan-bytes`).
  int64_t maxPlanBytes = int64_t(256) << 30;
  /// Bytes of the model file (`--max-model-bytes`): the YAML parser holds ~90 bytes per byte
  /// of it, and 50,000 layers take 1.5-3 MB.
  int64_t maxModelBytes = int64_t(4) << 20;
};

/// Largest value an integer field of a model file (units, kernel, stride, ...) may hold: it
/// keeps the shape rules' sums and products of a few such fields inside int64_t.
constexpr int64_t kMaxFieldValue = (int64_t(1) << 31) - 1;

/// Longest sequence of the text and tokens data formats (`seq_len`) and of `dlc mem --seq-len`.
constexpr int64_t kMaxSeqLen = int64_t(1) << 20;

/// Bytes of an f32 tensor of `shape`, dynamic dimensions counted as 1; nullopt on overflow.
inline std::optional<int64_t> tensorBytes(llvm::ArrayRef<int64_t> shape, int64_t dynamic) {
  int64_t bytes = 4;
  for (int64_t d : shape) {
    if (d == dynamic)
      continue;
    if (d < 0 || llvm::MulOverflow(bytes, d, bytes))
      return std::nullopt;
  }
  return bytes;
}

} // namespace dlc
