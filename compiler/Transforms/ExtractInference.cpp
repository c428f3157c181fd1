//===- ExtractInference.cpp - @infer from @forward, for dlrun --infer -*- C++ -*-===//
//
// Algorithm: clone @forward into @infer; the loss (the first result) is an op whose first
// operand is the prediction; return that alone, named after the layer that made it; erase
// the ops nothing reads any more, in reverse order (the loss, the accuracy), then the
// arguments nothing reads (the labels).
//
#include "compiler/Transforms/Passes.h"

namespace mlir::dl {
#define GEN_PASS_DEF_EXTRACTINFERENCE
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::dl

using namespace mlir;
using namespace mlir::dl;

namespace {
struct ExtractInferencePass : public dl::impl::ExtractInferenceBase<ExtractInferencePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = module.lookupSymbol<func::FuncOp>("forward");
    if (!forward || forward.isExternal() || module.lookupSymbol("infer"))
      return;
    auto ret = cast<func::ReturnOp>(forward.getBody().front().getTerminator());
    Operation *loss = ret.getNumOperands() ? ret.getOperand(0).getDefiningOp() : nullptr;
    if (!loss || loss->getNumOperands() == 0)
      return; // nothing to predict from: no @infer
    auto infer = cast<func::FuncOp>(forward->clone());
    infer.setSymName("infer");
    module.push_back(infer);
    Block &body = infer.getBody().front();
    auto inferRet = cast<func::ReturnOp>(body.getTerminator());
    Value prediction = inferRet.getOperand(0).getDefiningOp()->getOperand(0);
    OpBuilder b(inferRet);
    // A prediction that is an input (a model of no layers) still gets its own buffer.
    if (isa<BlockArgument>(prediction))
      return infer.erase();
    b.create<func::ReturnOp>(inferRet.getLoc(), prediction);
    inferRet.erase();
    // Backwards, so that an op's operands lose their last use before they are visited.
    for (Operation *op = body.getTerminator()->getPrevNode(); op;) {
      Operation *prev = op->getPrevNode();
      if (op->use_empty() && isPure(op))
        op->erase();
      op = prev;
    }
    llvm::BitVector unused(body.getNumArguments());
    for (BlockArgument arg : body.getArguments())
      if (arg.use_empty())
        unused.set(arg.getArgNumber());
    (void)infer.eraseArguments(unused);
    infer.setType(FunctionType::get(&getContext(), body.getArgumentTypes(),
                                    TypeRange{prediction.getType()}));
    // The layer's name; a fused op's location holds its parts' (the layer's first).
    std::string name = "output";
    prediction.getDefiningOp()->getLoc()->walk([&](Location l) {
      if (auto n = dyn_cast<NameLoc>(l)) {
        name = n.getName().str();
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    infer.setResultAttr(0, "dl.name", b.getStringAttr(name));
  }
};
} // namespace
