//===- Mem.h - `dlc mem`: the memory plan against real GPUs ------*- C++ -*-===//
#pragma once

#include "compiler/Import/OnnxImporter.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>

namespace dlc {

struct MemOptions {
  std::string input;
  int64_t batch = 0;              // 0: the model file's training.batch
  std::string gpus = "all";       // "all" or a comma-separated list of names
  int64_t replicas = 1;           // --gpus K: data-parallel replicas, the batch split over them
  int64_t microbatches = 0;       // --microbatches M: the pipeline estimate's (0: its choice)
  std::string hardware;           // extra catalog file
  std::string memoryModel = "plan"; // which estimate decides "fits": plan | heuristic
  int64_t maskElements = 0;       // override of the heuristic's window (0: from the model)
  bool json = false;
  std::string svg;                // write the train step's plan as SVG here
  bool fuse = true;
  std::string precision;          // --precision: fp32 | mixed-fp16 | mixed-bf16 ("": the model's)
  int64_t seqLen = 0;             // --seq-len T: sequence inputs at length T (0: the model's)
  bool recompute = false;         // --recompute: activation checkpointing per block
  ModelLimits limits;             // --max-steps, --max-ops, --max-tensor-bytes, --max-plan-bytes, ...
  std::string loss;               // --loss for an ONNX model (docs/onnx.md)
};

/// Sets config.train.precision from a --precision value ("" keeps the model file's); false,
/// with a one-line `error`, for an unknown name.
bool overridePrecision(const std::string &name, ModelConfig &config, std::string &error);

/// Prints, for each GPU, whether the model's training step fits at the batch, by how much,
/// the largest batch that fits (by the plan and by the design heuristic), a roofline step
/// time and throughput per price; and for the model, parameters and the memory breakdown.
/// Returns the process exit code.
int memReport(const MemOptions &opts, llvm::raw_ostream &out);

/// What `dlc compile --gpu NAME` checks the plan against (by the GPU's storage: 2-byte step
/// buffers for a mixed precision, whatever the target).
struct FitCheck {
  std::string gpu, hardware, memoryModel = "plan";
  int64_t maskElements = 0;
};

/// `dlc compile --gpu`: succeeds when `plan` (compiled from `imported` at its batch) fits the
/// GPU by the chosen memory model; otherwise prints one line (need vs capacity, the largest
/// batch that fits, the three largest buffers at the peak) and fails. Runs before any plan
/// file is written.
mlir::LogicalResult checkFits(mlir::ModuleOp imported, const ModelConfig &config,
                              const std::string &source, const plan::Plan &plan,
                              const FitCheck &check, bool fuse);

} // namespace dlc
