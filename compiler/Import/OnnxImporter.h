//===- OnnxImporter.h - ONNX model file -> dl dialect -----------*- C++ -*-===//
#pragma once

#include "compiler/Import/YamlImporter.h"

namespace dlc {

/// Parses the ONNX model at `path` (a ModelProto, opsets 13 to 17; docs/onnx.md) into a
/// module holding its initializers as `dl.parameter`s, their values as starting weights in
/// `config`, and `func.func @infer(graph inputs) -> (graph outputs)` named after the graph's
/// inputs and outputs. Shapes are static: a symbolic dimension (the batch) becomes `batch`
/// (1 when 0), and shape-only subgraphs are folded. Every problem is one line on stderr,
/// `FILE: error: node 'NAME' (OpType, opset N): ...`; returns null then.
mlir::OwningOpRef<mlir::ModuleOp> importOnnx(mlir::MLIRContext &ctx, const std::string &path,
                                             ModelConfig &config, int64_t batch);

/// The importer for `path`: ONNX for a `.onnx` file, else YAML.
mlir::OwningOpRef<mlir::ModuleOp> importAnyModel(mlir::MLIRContext &ctx, const std::string &path,
                                                 ModelConfig &config, int64_t batch);

} // namespace dlc
