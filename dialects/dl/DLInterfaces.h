//===- DLInterfaces.h - per-op rules: gradients and kernel lowering -*- C++ -*-===//
//
// The classes the per-op rules of DLInterfaces.td are written against: GradientBuilder (what
// a gradient rule may ask of --dl-autodiff) and KernelBuilder (what a kernel lowering may ask
// of compiler/Lowering), and the GradientResults trait.
//
#pragma once

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "runtime/plan/Plan.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::dl {

/// Marks ops whose results are gradients (ODS: DL_GradientResults).
template <typename ConcreteType>
class GradientResults : public OpTrait::TraitBase<ConcreteType, GradientResults> {};

/// The gradients of one function under reverse-mode differentiation.
class GradientBuilder {
public:
  /// `needsGrad`: the values that depend on a parameter (the only ones given gradients).
  GradientBuilder(OpBuilder &b, const DenseSet<Value> &needsGrad) : b(b), needsGrad(needsGrad) {}

  /// Where gradient ops go.
  OpBuilder &builder() { return b; }
  /// The gradient of `v` so far: complete once `v`'s producer is visited; null if none.
  Value grad(Value v) const { return grads.lookup(v); }
  /// Whether `v` needs a gradient at all.
  bool wants(Value v) const { return needsGrad.contains(v); }
  /// Adds `g` to the gradient of `v` (a dl.add after the first; ignored when `v` needs none).
  void accumulate(Value v, Value g);

private:
  OpBuilder &b;
  const DenseSet<Value> &needsGrad;
  DenseMap<Value, Value> grads;
};

/// What an op's kernel lowering may ask of the program being built.
class KernelBuilder {
public:
  /// A kernel argument: an SSA value's buffer, or a module parameter's (by symbol name).
  struct Arg {
    Arg(Value value) : value(value) {}
    Arg(StringRef symbol) : symbol(symbol) {}
    Value value;
    StringRef symbol;
  };
  /// One kernel call. Its arguments are `inputs`, then a fresh buffer for each result of the
  /// op, then a workspace of `workspaceBytes` (if non-zero), then `trailing` (a fused bias).
  struct Call {
    ::dlc::plan::KernelKind kind;
    SmallVector<Arg> inputs;
    std::vector<int64_t> ints;
    std::vector<float> floats = {};
    uint64_t workspaceBytes = 0;
    SmallVector<Value> trailing = {};
    /// The call's name in profiles; empty: the op's name and its layer's.
    std::string name = {};
  };

  virtual ~KernelBuilder() = default;
  /// Emits `call` for `op`; the call's FLOPs come from the kernel table.
  virtual void call(Operation *op, const Call &call) = 0;
  /// `result` shares the buffer of `source` (views such as flatten and reshape).
  virtual void view(Value result, Value source) = 0;
  /// `result` is the buffer of module parameter `name`.
  virtual void parameter(Value result, StringRef name) = 0;
};

/// Shape helpers for the rules.
inline ArrayRef<int64_t> shapeOf(Value v) { return cast<RankedTensorType>(v.getType()).getShape(); }
inline int64_t numElements(Value v) { return cast<RankedTensorType>(v.getType()).getNumElements(); }

} // namespace mlir::dl

#include "dialects/dl/DLInterfaces.h.inc"
