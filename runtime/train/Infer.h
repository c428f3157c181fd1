//===- Infer.h - dlrun --infer: named tensors in, named tensors out -*- C++ -*-===//
//
// Runs a plan's `infer` program once: every program input from the tensor of its name in a
// safetensors file, every named output into another, written atomically. The inputs are the
// graph's (an ONNX model's input names, a YAML model's `inputs:`), the outputs its results
// (an ONNX model's output names, a YAML model's final layer).
//
#pragma once

#include <string>

namespace dlc {

struct InferOptions {
  std::string planPath, input, output, load;
  int cudaOrdinal = -1; // -1: the CPU
  int64_t threads = 0;  // 0: the default
};

/// Loads the plan, its starting weights (or `load`'s checkpoint), the inputs, runs the
/// program, writes the outputs. One-line errors `dlrun: error: ...`; returns the exit code.
int inferPlan(const InferOptions &opts);

} // namespace dlc
