//===- YamlImporter.h - YAML model file -> dl dialect -----------*- C++ -*-===//
#pragma once

#include "compiler/Import/Limits.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "runtime/plan/Plan.h"

#include <map>
#include <string>
#include <vector>

namespace dlc {

/// What a model file says beyond the graph: its name and the training and data sections.
struct ModelConfig {
  std::string name;
  plan::TrainConfig train;
  plan::DataConfig data;
  /// Not from the file: the caller's bounds (dlc's --max-* flags), checked while importing
  /// and again once the batch is known.
  ModelLimits limits;
  /// Not from the file: `dlc mem --seq-len T` (0: none), the first axis of every int32 input
  /// and every per-position class input (and the data's seq_len) set to T.
  int64_t seqLen = 0;
  /// From the file: the fewest positions of any position_embedding (0: none), the longest
  /// sequence the model takes.
  int64_t maxSeqLen = 0;
  /// Not from the file either: --recompute (activation checkpointing per block,
  /// compiler/Planning/Recompute.h).
  bool recompute = false;
  /// Starting values of parameters by name (an imported ONNX model's initializers), which
  /// the plan carries (plan::Parameter::values) instead of an initialiser.
  std::map<std::string, std::vector<float>> values;
  /// Not from the file: dlc's --loss for an ONNX graph (softmax_cross_entropy or mse on its
  /// first output), which makes it a training step; empty: inference only.
  std::string loss;
};

/// Parses the model file at `path` into a module holding `dl.parameter` declarations and
/// `func.func @forward(images, labels) -> (loss, correct)`. Every problem is reported once
/// through `ctx`'s diagnostic engine at the YAML location that caused it (a NameLoc naming
/// the layer wraps the file:line:col); returns null then.
mlir::OwningOpRef<mlir::ModuleOp> importModel(mlir::MLIRContext &ctx, const std::string &path,
                                              ModelConfig &config);

} // namespace dlc
