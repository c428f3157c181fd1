//===- DLOps.h - dl dialect ops ---------------------------------*- C++ -*-===//
#pragma once

#include "dialects/dl/DLDialect.h"
#include "dialects/dl/DLInterfaces.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::dl {
/// The shape rule of elementwise ops (DL_ElementwiseOp): every operand ranked and of the same
/// shape, which the result takes.
LogicalResult inferElementwise(MLIRContext *ctx, std::optional<Location> loc, StringRef opName,
                               ValueRange operands, SmallVectorImpl<Type> &out);
} // namespace mlir::dl

#define GET_OP_CLASSES
#include "dialects/dl/DLOps.h.inc"

namespace mlir::dl {
/// Re-infers the result types of `op` from its operands (InferTypeOpInterface) and sets them.
/// Ops without the interface are left alone. Diagnostics go to `op`'s location.
LogicalResult refineResultTypes(Operation *op);
} // namespace mlir::dl
