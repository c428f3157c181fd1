//===- LowerToKernels.cpp - dl functions -> kernel programs -----*- C++ -*-===//
//
// One dl op becomes one kernel call (views become none): each op says which through its
// KernelOpInterface (dialects/dl/DLInterfaces.td, implemented per op family in
// dialects/dl/*Rules.cpp); this file owns the buffers. Each SSA value gets a buffer whose
// lifetime is the span of kernel indices that touch it; parameters and optimizer state are
// persistent buffers shared by all programs. The resulting kernel list is the project's
// kernel-level IR: the CPU runtime executes it and the CUDA target lowers the same list.
//
#include "compiler/Lowering/LowerToKernels.h"

#include "dialects/dl/DLOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "runtime/plan/KernelCheck.h"

using namespace mlir;
using namespace dlc;
using plan::BufferKind;
using plan::KernelKind;

namespace {
using dl::KernelBuilder;

class ProgramLowering : public KernelBuilder {
public:
  ProgramLowering(plan::Plan &plan, int32_t programIndex, llvm::StringMap<int32_t> &paramBuffers)
      : plan(plan), programIndex(programIndex), paramBuffers(paramBuffers) {}

  LogicalResult lower(func::FuncOp fn, plan::Program &prog);

  void call(Operation *op, const Call &c) override;
  void view(Value result, Value source) override {
    buffers[result] = buffers.lookup(source);
    if (gradients.contains(source))
      gradients.insert(result);
  }
  void parameter(Value result, StringRef name) override {
    buffers[result] = paramBuffers.lookup(name);
  }

private:
  plan::Plan &plan;
  int32_t programIndex;
  llvm::StringMap<int32_t> &paramBuffers;
  DenseMap<Value, int32_t> buffers;
  DenseSet<Value> gradients;
  plan::Program *prog = nullptr;

  int32_t newBuffer(const std::string &name, BufferKind kind, uint64_t bytes) {
    plan::Buffer buf;
    buf.name = name;
    buf.kind = kind;
    buf.bytes = bytes;
    buf.program = programIndex;
    buf.first = INT32_MAX;
    buf.last = -1;
    plan.buffers.push_back(buf);
    return plan.buffers.size() - 1;
  }
  void touch(int32_t id, int32_t step) {
    plan::Buffer &b = plan.buffers[id];
    if (b.program < 0)
      return;
    b.first = std::min(b.first, step);
    b.last = std::max(b.last, step);
  }
  std::string nameOf(Operation *op) {
    std::string layer;
    if (auto n = dyn_cast<NameLoc>(op->getLoc()))
      layer = n.getName().str();
    return (op->getName().stripDialect() + (layer.empty() ? "" : "@" + layer)).str();
  }
};
} // namespace

void ProgramLowering::call(Operation *op, const Call &c) {
  int32_t step = prog->kernels.size();
  plan::Kernel k;
  k.kind = c.kind;
  k.name = c.name.empty() ? nameOf(op) : c.name;
  k.ints = c.ints;
  k.floats = c.floats;
  bool isGrad = op->hasTrait<dl::GradientResults>();
  for (const Arg &a : c.inputs) {
    // Module state is read or written through symbols (batch norm's running statistics).
    k.args.push_back(a.value ? buffers.lookup(a.value) : paramBuffers.lookup(a.symbol));
    touch(k.args.back(), step);
    isGrad |= a.value && gradients.contains(a.value);
  }
  for (Value r : op->getResults()) {
    BufferKind bk = isGrad ? BufferKind::Gradient : BufferKind::Activation;
    if (isGrad)
      gradients.insert(r);
    int32_t id = newBuffer(k.name, bk, dl::numElements(r) * 4);
    buffers[r] = id;
    k.args.push_back(id);
    touch(id, step);
  }
  if (c.workspaceBytes) {
    k.args.push_back(newBuffer(k.name + ".workspace", BufferKind::Workspace, c.workspaceBytes));
    touch(k.args.back(), step);
  }
  for (Value v : c.trailing) {
    k.args.push_back(buffers.lookup(v));
    touch(k.args.back(), step);
  }
  k.flops = plan::kernelFlops(k);
  prog->kernels.push_back(std::move(k));
}

LogicalResult ProgramLowering::lower(func::FuncOp fn, plan::Program &p) {
  prog = &p;
  Block &body = fn.getBody().front();
  for (BlockArgument arg : body.getArguments()) {
    auto t = cast<RankedTensorType>(arg.getType());
    if (!t.hasStaticShape())
      return fn.emitError("the batch size is not fixed; run --dl-infer-shapes with a batch");
    // One input per argument, named as the model file declares it (dl.name).
    plan::ProgramInput in;
    auto name = fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "dl.name");
    in.name = name ? name.str() : "input" + std::to_string(arg.getArgNumber());
    in.dtype = t.getElementType().isInteger(32) ? plan::DType::I32 : plan::DType::F32;
    // dl.whole: an imported graph's input, a whole tensor without a batch dimension (the
    // plan's batch is then 1).
    bool whole = fn.getArgAttr(arg.getArgNumber(), "dl.whole") != nullptr;
    in.shape.assign(t.getShape().begin() + (whole ? 0 : 1), t.getShape().end());
    if (auto classes = fn.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(), "dl.classes"))
      in.classes = classes.getInt();
    in.buffer = newBuffer(in.name, BufferKind::Input, t.getNumElements() * 4);
    plan.buffers[in.buffer].dtype = in.dtype;
    buffers[arg] = in.buffer;
    touch(in.buffer, 0);
    p.inputs.push_back(std::move(in));
  }
  for (Operation &op : body.without_terminator()) {
    auto rule = dyn_cast<dl::KernelOpInterface>(&op);
    if (!rule)
      return op.emitOpError("has no CPU kernel lowering");
    if (failed(rule.lowerToKernels(*this)))
      return failure();
  }
  // Results are read back after the last kernel, so they live to the end.
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  int32_t end = std::max<int32_t>(0, p.kernels.size() - 1);
  for (Value v : ret.getOperands()) {
    int32_t id = buffers.lookup(v);
    plan::Buffer &b = plan.buffers[id];
    if (b.program == programIndex && b.kind != BufferKind::Input)
      b.kind = BufferKind::Output;
    touch(id, end);
  }
  if (p.name == "infer") {
    // Named results, whole tensors (dlrun --infer writes them by name).
    for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
      plan::ProgramOutput o;
      auto name = fn.getResultAttrOfType<StringAttr>(i, "dl.name");
      o.name = name ? name.str() : "output" + std::to_string(i);
      o.buffer = buffers.lookup(v);
      ArrayRef<int64_t> shape = dl::shapeOf(v);
      o.shape.assign(shape.begin(), shape.end());
      p.outputs.push_back(std::move(o));
    }
  } else {
    p.loss = buffers.lookup(ret.getOperand(0));
    p.correct = ret.getNumOperands() > 1 ? buffers.lookup(ret.getOperand(1)) : -1;
  }
  for (BlockArgument arg : body.getArguments())
    touch(buffers.lookup(arg), 0);
  return success();
}

LogicalResult dlc::lowerToKernels(ModuleOp module, plan::Plan &plan) {
  llvm::StringMap<int32_t> paramBuffers;
  for (auto decl : module.getOps<dl::ParameterOp>()) {
    auto t = cast<RankedTensorType>(decl.getType());
    plan::Parameter p;
    p.name = decl.getSymName().str();
    p.shape.assign(t.getShape().begin(), t.getShape().end());
    p.init = decl.getInit().str();
    p.fanIn = decl.getFanIn();
    p.fanOut = decl.getFanOut();
    p.trainable = decl.getRole() == "weight";
    plan::Buffer buf;
    buf.name = p.name;
    buf.kind = p.trainable ? BufferKind::Parameter
               : decl.getRole() == "state" ? BufferKind::OptimizerState
                                           : BufferKind::ModelState;
    buf.bytes = t.getNumElements() * 4;
    buf.program = -1;
    plan.buffers.push_back(buf);
    p.buffer = plan.buffers.size() - 1;
    paramBuffers[p.name] = p.buffer;
    plan.params.push_back(p);
  }
  for (auto [fnName, progName] : {std::pair{"train_step", "train"}, std::pair{"forward", "eval"},
                                  std::pair{"infer", "infer"}}) {
    auto fn = module.lookupSymbol<func::FuncOp>(fnName);
    if (!fn)
      continue;
    plan::Program prog;
    prog.name = progName;
    ProgramLowering lowering(plan, plan.programs.size(), paramBuffers);
    if (failed(lowering.lower(fn, prog)))
      return failure();
    plan.programs.push_back(std::move(prog));
  }
  if (plan.programs.empty())
    return module.emitError("nothing to lower: no @train_step, @forward or @infer");
  return success();
}
