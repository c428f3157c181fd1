//===- OnnxGraph.h - the ONNX importer's state, shared by its files -*- C++ -*-===//
//
// Every ONNX value the importer has seen: a dl value of static shape, or a constant known at
// import (an initializer, a Constant node, or what a shape-only subgraph folds to), or both.
// Float constants become dl.parameters when an op reads them as tensors (their values the
// plan's starting weights); integer ones only ever feed attributes (shapes, axes, indices).
// The op handlers (OnnxOps.cpp) read inputs and attributes through this class and report
// every problem through error(), one line naming the node.
//
#pragma once

#include "compiler/Import/OnnxImporter.h"
#include "dialects/dl/DLOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include <onnx/onnx_pb.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dlc::onnximport {

struct OnnxValue {
  mlir::Value value; // the dl value, once materialized
  std::vector<int64_t> shape;
  bool isFloat = true;              // float (vs integer or bool) elements
  std::optional<std::vector<double>> data; // the elements, when known at import
  std::string param;                // the dl.parameter holding a float constant
  std::string initializer;          // the graph initializer it is (its parameter's name)
  bool isArg = false;               // a graph input (an argument of @infer)
  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
};

class OnnxGraph {
public:
  OnnxGraph(mlir::MLIRContext &ctx, mlir::ModuleOp module, const std::string &path,
            ModelConfig &config)
      : ctx(ctx), b(&ctx), module(module), path(path), config(config) {}

  mlir::MLIRContext &ctx;
  mlir::OpBuilder b;
  mlir::ModuleOp module;
  std::string path;
  ModelConfig &config;
  int64_t opset = 13;
  std::map<std::string, OnnxValue> values;
  const onnx::NodeProto *node = nullptr;
  int64_t nodeIndex = 0; // of `node` in the graph, for nodes without a name
  int64_t constants = 0; // dl.parameters made for constants
  /// The dl.param read of each parameter declared so far: an initializer is declared (and
  /// becomes a plan parameter) only when an op reads it as a tensor, once however many do.
  std::map<std::string, mlir::Value> params;

  /// One line `FILE: error: node 'NAME' (OpType, opset N): message` (or without the node
  /// outside one); always failure().
  mlir::LogicalResult error(const llvm::Twine &message) const;
  mlir::Location loc() const;

  /// The dl value of `v`, declaring a dl.parameter for a constant.
  mlir::FailureOr<mlir::Value> tensor(OnnxValue &v);
  /// Types a freshly built op by its shape rule (its result type was left unranked);
  /// erases it and fails (the rule's error printed) when the rule refuses.
  mlir::FailureOr<mlir::Value> typed(mlir::Operation *op, unsigned result = 0);
  /// A float OnnxValue for a typed dl value.
  OnnxValue wrap(mlir::Value v) const;
  mlir::Type unknown() { return mlir::UnrankedTensorType::get(b.getF32Type()); }
  /// Declares a parameter of `shape` holding `data` (role: weight for initializers, buffer
  /// for constants the graph computes with).
  std::string declare(const std::string &name, const std::vector<int64_t> &shape,
                      const std::vector<double> &data, bool trainable);

  // Attributes of the current node.
  const onnx::AttributeProto *attr(const std::string &name) const;
  int64_t attrInt(const std::string &name, int64_t dflt) const;
  float attrFloat(const std::string &name, float dflt) const;
  std::optional<std::vector<int64_t>> attrInts(const std::string &name) const;
  std::string attrString(const std::string &name, const std::string &dflt) const;

  /// Integer constant `v` (a shape, axes): its values, or an error naming `what`.
  mlir::FailureOr<std::vector<int64_t>> constInts(const OnnxValue &v, const char *what);
  /// An axis in [-rank, rank) normalized to [0, rank).
  mlir::FailureOr<int64_t> axis(int64_t a, int64_t rank);
};

/// Elements of a TensorProto as doubles (float, double, the integer types, bool), checked
/// against its dims; an error string when it cannot be read.
bool readTensor(const onnx::TensorProto &t, const std::string &dir, std::vector<int64_t> &shape,
                std::vector<double> &data, bool &isFloat, std::string &error);

/// Builds the node `g.node` from its inputs (null for an omitted optional one) into
/// `outputs`, one per node output; false after g.error().
using OpHandler = mlir::LogicalResult (*)(OnnxGraph &g, std::vector<OnnxValue *> &inputs,
                                          std::vector<OnnxValue> &outputs);
/// The handler of an op type in the default domain, or null.
OpHandler findHandler(const std::string &opType);
/// The op types findHandler knows, sorted, comma-separated (for the unsupported error).
std::string supportedOps();

} // namespace dlc::onnximport
