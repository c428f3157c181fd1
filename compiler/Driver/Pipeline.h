//===- Pipeline.h - the compile pipeline as reusable steps -------*- C++ -*-===//
//
// `dlc compile` runs these once; `dlc mem` runs them at several batch sizes on one imported
// module to find the largest batch that fits a device.
//
#pragma once

#include "compiler/Import/YamlImporter.h"
#include "compiler/Planning/Recompute.h"
#include "compiler/Import/OnnxImporter.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "runtime/plan/Plan.h"

namespace dlc {

/// Where the pass pipeline stops.
enum class PassStage { Shapes, Autodiff, Fused };

/// Prints diagnostics as one line each, `file:line:col: error: layer 'x': message`, and only
/// the first error (later ones are usually its consequences).
class OneLineDiagnostics {
public:
  explicit OneLineDiagnostics(mlir::MLIRContext &ctx);

private:
  bool firstError = true;
  mlir::ScopedDiagnosticHandler handler;
};

/// --dl-infer-shapes{batch}, --dl-unroll-lstm for a target without the whole-layer LSTM
/// kernels (CUDA), then --dl-autodiff and --dl-fuse-epilogues as `stop` allows.
mlir::LogicalResult runPasses(mlir::ModuleOp module, int64_t batch, bool fuse, PassStage stop,
                              bool unrollLstm = false);

/// Where a plan's buffers will live: the CPU executor computes on float buffers only, so a
/// mixed-precision model planned for it keeps them all fp32; a GPU stores its step buffers
/// in 2 bytes (compiler/Planning/MixedPrecision.h).
enum class Storage { Cpu, Gpu };

/// Lowers a module that went through runPasses (to Fused) into a complete plan: kernel
/// programs (train, eval, and infer from --dl-extract-inference), buffer dtypes for `storage`
/// and config.train.precision, arena layout, model and training configuration, and the IR
/// text if `withIR`. With config.recompute the training step recomputes each block's forward
/// in its backward (what was done goes to `recompute` when given).
mlir::FailureOr<plan::Plan> makePlan(mlir::ModuleOp module, const ModelConfig &config,
                                     const std::string &source, bool withIR,
                                     RecomputeReport *recompute = nullptr,
                                     Storage storage = Storage::Cpu);

/// Clones the imported module and compiles it at `batch` into a plan (no IR text); a GPU's
/// plan unrolls its LSTM layers.
mlir::FailureOr<plan::Plan> planAtBatch(mlir::ModuleOp imported, const ModelConfig &config,
                                        const std::string &source, int64_t batch, bool fuse,
                                        Storage storage = Storage::Cpu);

} // namespace dlc
