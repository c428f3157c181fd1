//===- DLInterfaces.td - per-op rules of the dl dialect ---------*- tablegen -*-===//
//
// The behaviour each dl op brings with it, as MLIR Toy's ShapeInference interface does: its
// gradient rule (GradientOpInterface, run by --dl-autodiff) and its lowering to kernel calls
// (KernelOpInterface, run by compiler/Lowering). The passes only walk the ops and call these;
// adding an op means implementing them next to its family's other ops (dialects/dl/*Rules.cpp),
// not extending a list in a pass.
//
#ifndef DL_INTERFACES
#define DL_INTERFACES

include "mlir/IR/OpBase.td"

def DL_GradientOpInterface : OpInterface<"GradientOpInterface"> {
  let description = [{
    An op that reverse-mode automatic differentiation can differentiate. Autodiff visits the
    ops in reverse and calls `buildGradient` on each op at least one of whose results has a
    gradient; an op without this interface there is an error ("has no gradient rule").
  }];
  let cppNamespace = "::mlir::dl";
  let methods = [
    InterfaceMethod<[{
        Emits the gradient ops of this op at `grads.builder()`'s insertion point: reads the
        gradients of its results with `grads.grad(result)` (null where none reaches it) and
        adds the contributions to its operands' gradients with `grads.accumulate(operand, g)`
        (skip the work where `!grads.wants(operand)`).
      }], "::mlir::LogicalResult", "buildGradient",
      (ins "::mlir::dl::GradientBuilder &":$grads)>,
  ];
}

def DL_KernelOpInterface : OpInterface<"KernelOpInterface"> {
  let description = [{
    An op that becomes kernel calls of the plan (or a view of a buffer, or a parameter's
    buffer): the lowering walks a function's ops and calls `lowerToKernels` on each.
  }];
  let cppNamespace = "::mlir::dl";
  let methods = [
    InterfaceMethod<[{
        Emits this op's kernel call(s) through `kernels`: the kernel kind, its argument
        values and its attributes (runtime/plan/KernelKinds.def documents each kind).
      }], "::mlir::LogicalResult", "lowerToKernels",
      (ins "::mlir::dl::KernelBuilder &":$kernels)>,
  ];
}

/// The op's results are gradients: their buffers are planned as gradients.
def DL_GradientResults : NativeOpTrait<"GradientResults"> {
  let cppNamespace = "::mlir::dl";
}

#endif // DL_INTERFACES
