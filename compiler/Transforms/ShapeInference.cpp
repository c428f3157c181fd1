//===- ShapeInference.cpp - fix the batch size, re-infer types --*- C++ -*-===//
//
// Algorithm: for each function, (1) rewrite dimension 0 of every argument to the batch size,
// (2) visit ops in order and re-infer their result types (each op's InferTypeOpInterface
// rule), (3) retype the function to the types its return op now yields. Functions are
// single-block dataflow graphs, so one forward sweep reaches a fixed point.
//
#include "compiler/Transforms/Passes.h"

namespace mlir::dl {
#define GEN_PASS_DEF_INFERSHAPES
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::dl

using namespace mlir;
using namespace mlir::dl;

namespace {
struct InferShapesPass : public dl::impl::InferShapesBase<InferShapesPass> {
  using InferShapesBase::InferShapesBase;

  void runOnOperation() override {
    if (batch < 0) {
      getOperation().emitError("batch must be positive, got ") << std::to_string(batch);
      return signalPassFailure();
    }
    for (auto fn : getOperation().getOps<func::FuncOp>())
      if (failed(inferFunction(fn)))
        return signalPassFailure();
  }

  LogicalResult inferFunction(func::FuncOp fn) {
    if (fn.isExternal())
      return success();
    Block &body = fn.getBody().front();
    if (batch > 0) {
      for (BlockArgument arg : body.getArguments()) {
        auto t = dyn_cast<RankedTensorType>(arg.getType());
        // dl.whole: an imported graph's input with its shape fixed at import.
        if (!t || t.getRank() == 0 || fn.getArgAttr(arg.getArgNumber(), "dl.whole"))
          continue;
        SmallVector<int64_t> shape(t.getShape());
        shape[0] = batch;
        arg.setType(t.clone(shape));
      }
    }
    for (Operation &op : body.without_terminator())
      if (failed(refineResultTypes(&op)))
        return failure();
    fn.setType(FunctionType::get(&getContext(), body.getArgumentTypes(),
                                 body.getTerminator()->getOperandTypes()));
    return success();
  }
};
} // namespace
