//===- Compile.h - the dlc pipeline: YAML -> plan file -----------*- C++ -*-===//
#pragma once

#include "compiler/Import/Limits.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>

namespace dlc {

/// Where `dlc compile` stops and what it prints instead of writing a plan.
enum class EmitStage { Import, Shapes, Autodiff, Fused, Kernels, Memory, Cuda, Plan };

struct CompileOptions {
  std::string input;
  std::string output; // default: <model stem>.plan in the current directory
  int64_t batch = 0;  // 0: the model file's training.batch
  EmitStage emit = EmitStage::Plan;
  bool quiet = false;
  bool fuse = true; // --dl-fuse-epilogues
  /// --gpu NAME: refuse a batch whose training step does not fit that GPU.
  std::string gpu, hardware, memoryModel = "plan";
  int64_t maskElements = 0;
  std::string target = "cpu"; // cpu | cuda
  std::string precision;      // fp32 | mixed-fp16 | mixed-bf16 ("": the model file's)
  std::string arch;           // cuda: sm_XX (default: from --gpu, else sm_75)
  ModelLimits limits;         // --max-steps, --max-ops, --max-tensor-bytes, --max-plan-bytes, ...
  /// --devices K --placement auto|data|pipeline: data places the whole step on every device
  /// at batch/K, pipeline splits the layers into K stages (docs/architecture.md, "Placement").
  int64_t devices = 1;
  std::string placement = "auto";
  /// --microbatches M (pipeline placement): the step as M GPipe micro-batches of batch/M
  /// (compiler/Planning/MicroBatch.h); 1 runs the whole batch through the stages in turn.
  int64_t microbatches = 1;
  /// --stages S (pipeline placement): the layers in S stages (S divides K), K/S data-parallel
  /// replicas of that pipeline; 0: K stages, one replica.
  int64_t stages = 0;
  /// --recompute: activation checkpointing per block (compiler/Planning/Recompute.h).
  bool recompute = false;
  std::string loss; // --loss for an ONNX model (docs/onnx.md)
};

/// Runs the whole pipeline: import, --dl-infer-shapes, --dl-autodiff, lowering to kernels,
/// memory planning, plan writing (atomically). Errors go to stderr as one line each,
/// `file:line:col: error: ...`. Returns the process exit code.
int compile(const CompileOptions &opts, llvm::raw_ostream &out);

} // namespace dlc
