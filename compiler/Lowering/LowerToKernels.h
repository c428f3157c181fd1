//===- LowerToKernels.h - dl functions -> kernel programs -------*- C++ -*-===//
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "runtime/plan/Plan.h"

namespace dlc {
/// Lowers `@train_step` (as "train", when present) and `@forward` (as "eval") to kernel
/// programs in `plan`: parameters, every buffer with its kind, size and lifetime, and the
/// kernel calls in schedule order. Views (flatten, reshape) share their operand's buffer.
/// Arena offsets are left to the memory planner. Shapes must be static (run
/// --dl-infer-shapes with a batch size first).
mlir::LogicalResult lowerToKernels(mlir::ModuleOp module, plan::Plan &plan);
} // namespace dlc
