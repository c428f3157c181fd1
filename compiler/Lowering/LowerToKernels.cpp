//===- LowerToKernels.cpp - dl functions -> kernel programs -----*- C++ -*-===//
//
// One dl op becomes one kernel call (views become none). Each SSA value gets a buffer whose
// lifetime is the span of kernel indices that touch it; parameters and optimizer state are
// persistent buffers shared by all programs. The resulting kernel list is the project's
// kernel-level IR: the CPU runtime executes it and the CUDA target lowers the same list.
//
#include "compiler/Lowering/LowerToKernels.h"

#include "dialects/dl/DLOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace dlc;
using plan::BufferKind;
using plan::KernelKind;

namespace {
int64_t numElements(Value v) { return cast<RankedTensorType>(v.getType()).getNumElements(); }
ArrayRef<int64_t> shapeOf(Value v) { return cast<RankedTensorType>(v.getType()).getShape(); }

class ProgramLowering {
public:
  ProgramLowering(plan::Plan &plan, int32_t programIndex, llvm::StringMap<int32_t> &paramBuffers)
      : plan(plan), programIndex(programIndex), paramBuffers(paramBuffers) {}

  LogicalResult lower(func::FuncOp fn, plan::Program &prog);

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
  /// Emits one kernel; `results` get fresh buffers, `scratchBytes` a workspace buffer.
  /// `trailing` operands (a fused bias) come after the results and the workspace.
  void emit(Operation *op, KernelKind kind, ArrayRef<Value> operands, std::vector<int64_t> ints,
            double flops, uint64_t scratchBytes = 0, std::vector<float> floats = {},
            ArrayRef<Value> trailing = {}, ArrayRef<int32_t> stateArgs = {}) {
    int32_t step = prog->kernels.size();
    plan::Kernel k;
    k.kind = kind;
    k.name = nameOf(op);
    k.ints = std::move(ints);
    k.floats = std::move(floats);
    k.flops = flops;
    for (Value v : operands) {
      k.args.push_back(buffers.lookup(v));
      touch(k.args.back(), step);
    }
    // Module state the op reads or writes through symbols (batch norm running statistics).
    k.args.insert(k.args.end(), stateArgs.begin(), stateArgs.end());
    bool isGrad = isa<dl::Conv2dGradInputOp, dl::Conv2dGradFilterOp, dl::MaxPool2dGradOp,
                      dl::ReluGradOp, dl::BiasAddGradOp, dl::SoftmaxXentGradOp,
                      dl::AvgPool2dGradOp, dl::BatchNormGradOp, dl::LrnGradOp,
                      dl::LstmCellGradOp>(op) ||
                  llvm::any_of(operands, [&](Value v) { return gradients.contains(v); });
    for (Value r : op->getResults()) {
      BufferKind bk = isGrad ? BufferKind::Gradient : BufferKind::Activation;
      if (isGrad)
        gradients.insert(r);
      int32_t id = newBuffer(k.name, bk, numElements(r) * 4);
      buffers[r] = id;
      k.args.push_back(id);
      touch(id, step);
    }
    if (scratchBytes) {
      k.args.push_back(newBuffer(k.name + ".workspace", BufferKind::Workspace, scratchBytes));
      touch(k.args.back(), step);
    }
    for (Value v : trailing) {
      k.args.push_back(buffers.lookup(v));
      touch(k.args.back(), step);
    }
    prog->kernels.push_back(std::move(k));
  }

  std::vector<int64_t> convInts(ArrayRef<int64_t> x, ArrayRef<int64_t> w, ArrayRef<int64_t> s,
                                ArrayRef<int64_t> p) {
    return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], s[0], s[1], p[0], p[1]};
  }
  static std::vector<int64_t> poolInts(ArrayRef<int64_t> x, ArrayRef<int64_t> k,
                                       ArrayRef<int64_t> s, ArrayRef<int64_t> p) {
    return {x[0], x[1], x[2], x[3], k[0], k[1], s[0], s[1], p[0], p[1]};
  }
  /// {outer, channels, inner}: the dimensions before `axis`, at it, and after it.
  static std::vector<int64_t> aroundAxis(Value v, int64_t axis) {
    auto x = shapeOf(v);
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i)
      outer *= x[i];
    for (size_t i = axis + 1; i < x.size(); ++i)
      inner *= x[i];
    return {outer, x[axis], inner};
  }
  static uint64_t convScratch(ArrayRef<int64_t> x, ArrayRef<int64_t> w, ArrayRef<int64_t> y) {
    return uint64_t(x[1] * w[2] * w[3] * y[2] * y[3]) * 4; // one image's im2col matrix
  }
  LogicalResult lowerOp(Operation *op);

  /// n, c and the product of the remaining dimensions, for per-channel kernels.
  static std::vector<int64_t> normInts(Value x) {
    auto s = shapeOf(x);
    int64_t hw = 1;
    for (size_t i = 2; i < s.size(); ++i)
      hw *= s[i];
    return {s[0], s[1], hw};
  }

  /// n, c, h*w and the window radius of local response normalisation.
  static std::vector<int64_t> lrnInts(Value x, int64_t radius) {
    auto v = normInts(x);
    v.push_back(radius);
    return v;
  }

  /// The epilogue bits of a fused conv/matmul; a fused bias is appended to `trailing`.
  static int64_t epilogue(Value bias, bool relu, SmallVectorImpl<Value> &trailing) {
    int64_t bits = 0;
    if (bias) {
      bits |= plan::kEpilogueBias;
      trailing.push_back(bias);
    }
    if (relu)
      bits |= plan::kEpilogueRelu;
    return bits;
  }
};
} // namespace

LogicalResult ProgramLowering::lowerOp(Operation *op) {
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](dl::ParamOp p) {
        buffers[p.getResult()] = paramBuffers.lookup(p.getName());
        return success();
      })
      .Case<dl::FlattenOp, dl::ReshapeOp>([&](Operation *view) {
        buffers[view->getResult(0)] = buffers.lookup(view->getOperand(0));
        if (gradients.contains(view->getOperand(0)))
          gradients.insert(view->getResult(0));
        return success();
      })
      .Case([&](dl::Conv2dOp c) {
        auto x = shapeOf(c.getInput()), w = shapeOf(c.getFilter()), y = shapeOf(c.getResult());
        auto ints = convInts(x, w, c.getStride(), c.getPadding());
        SmallVector<Value> bias;
        if (int64_t e = epilogue(c.getBias(), c.getRelu(), bias))
          ints.push_back(e);
        emit(op, KernelKind::Conv2dFwd, {c.getInput(), c.getFilter()}, ints,
             2.0 * numElements(c.getResult()) * w[1] * w[2] * w[3], convScratch(x, w, y), {},
             bias);
        return success();
      })
      .Case([&](dl::Conv2dGradInputOp c) {
        auto dy = shapeOf(c.getGrad()), w = shapeOf(c.getFilter()), x = shapeOf(c.getResult());
        emit(op, KernelKind::Conv2dBwdData, {c.getGrad(), c.getFilter()},
             convInts(x, w, c.getStride(), c.getPadding()),
             2.0 * numElements(c.getGrad()) * w[1] * w[2] * w[3], convScratch(x, w, dy));
        return success();
      })
      .Case([&](dl::Conv2dGradFilterOp c) {
        auto dy = shapeOf(c.getGrad()), x = shapeOf(c.getInput()), w = shapeOf(c.getResult());
        emit(op, KernelKind::Conv2dBwdFilter, {c.getGrad(), c.getInput()},
             convInts(x, w, c.getStride(), c.getPadding()),
             2.0 * numElements(c.getGrad()) * w[1] * w[2] * w[3], convScratch(x, w, dy));
        return success();
      })
      .Case([&](dl::MaxPool2dOp p) {
        auto x = shapeOf(p.getInput());
        auto k = p.getKernel();
        emit(op, KernelKind::MaxPoolFwd, {p.getInput()},
             poolInts(x, k, p.getStride(), p.getPadding()),
             double(numElements(p.getResult())) * k[0] * k[1]);
        return success();
      })
      .Case([&](dl::AvgPool2dOp p) {
        auto x = shapeOf(p.getInput());
        auto k = p.getKernel();
        emit(op, KernelKind::AvgPoolFwd, {p.getInput()},
             poolInts(x, k, p.getStride(), p.getPadding()),
             double(numElements(p.getResult())) * k[0] * k[1]);
        return success();
      })
      .Case([&](dl::AvgPool2dGradOp p) {
        auto x = shapeOf(p.getResult());
        auto k = p.getKernel();
        emit(op, KernelKind::AvgPoolBwd, {p.getGrad()},
             poolInts(x, k, p.getStride(), p.getPadding()),
             double(numElements(p.getGrad())) * k[0] * k[1]);
        return success();
      })
      .Case([&](dl::BatchNormOp bn) {
        emit(op, KernelKind::BatchNormEval, {bn.getInput(), bn.getGamma(), bn.getBeta()},
             normInts(bn.getInput()), 4.0 * numElements(bn.getInput()),
             0, {bn.getEps().convertToFloat()}, {},
             {paramBuffers.lookup(bn.getRunningMean()), paramBuffers.lookup(bn.getRunningVar())});
        return success();
      })
      .Case([&](dl::BatchNormTrainOp bn) {
        emit(op, KernelKind::BatchNormTrain, {bn.getInput(), bn.getGamma(), bn.getBeta()},
             normInts(bn.getInput()), 8.0 * numElements(bn.getInput()), 0,
             {bn.getEps().convertToFloat(), bn.getMomentum().convertToFloat()}, {},
             {paramBuffers.lookup(bn.getRunningMean()), paramBuffers.lookup(bn.getRunningVar())});
        return success();
      })
      .Case([&](dl::BatchNormGradOp g) {
        emit(op, KernelKind::BatchNormBwd,
             {g.getInput(), g.getGrad(), g.getGamma(), g.getMean(), g.getInvStd()},
             normInts(g.getInput()), 10.0 * numElements(g.getInput()));
        return success();
      })
      .Case([&](dl::LrnOp l) {
        emit(op, KernelKind::LrnFwd, {l.getInput()}, lrnInts(l.getInput(), l.getDepthRadius()),
             (2.0 * (2 * l.getDepthRadius() + 1) + 6) * numElements(l.getInput()), 0,
             {l.getBias().convertToFloat(), l.getAlpha().convertToFloat(),
              l.getBeta().convertToFloat()});
        return success();
      })
      .Case([&](dl::LrnGradOp l) {
        emit(op, KernelKind::LrnBwd, {l.getInput(), l.getOutput(), l.getGrad()},
             lrnInts(l.getInput(), l.getDepthRadius()),
             (4.0 * (2 * l.getDepthRadius() + 1) + 12) * numElements(l.getInput()), 0,
             {l.getBias().convertToFloat(), l.getAlpha().convertToFloat(),
              l.getBeta().convertToFloat()});
        return success();
      })
      .Case([&](dl::ZerosOp z) {
        // `like` only gives the batch size: it is not an argument, so it need not stay alive.
        emit(op, KernelKind::Zeros, {}, {numElements(z.getResult())}, 0);
        return success();
      })
      .Case([&](dl::TimeStepOp t) {
        auto x = shapeOf(t.getInput());
        emit(op, KernelKind::TimeStep, {t.getInput()}, {x[0], x[1], x[2], int64_t(t.getStep())}, 0);
        return success();
      })
      .Case([&](dl::LstmCellOp c) {
        auto s = shapeOf(c.getCPrev());
        emit(op, KernelKind::LstmCellFwd, {c.getGates(), c.getCPrev()}, {s[0], s[1]},
             30.0 * s[0] * s[1], 0, {c.getForgetBias().convertToFloat()});
        return success();
      })
      .Case([&](dl::LstmCellGradOp c) {
        auto s = shapeOf(c.getCPrev());
        emit(op, KernelKind::LstmCellBwd,
             {c.getGates(), c.getCPrev(), c.getGradH(), c.getGradC()}, {s[0], s[1]},
             50.0 * s[0] * s[1], 0, {c.getForgetBias().convertToFloat()});
        return success();
      })
      .Case([&](dl::MaxPool2dGradOp p) {
        auto x = shapeOf(p.getInput());
        auto k = p.getKernel();
        auto ints = poolInts(x, k, p.getStride(), p.getPadding());
        if (p.getRelu())
          ints.push_back(plan::kEpilogueRelu);
        emit(op, KernelKind::MaxPoolBwd, {p.getInput(), p.getGrad()}, ints,
             double(numElements(p.getGrad())) * k[0] * k[1]);
        return success();
      })
      .Case([&](dl::ReluOp r) {
        emit(op, KernelKind::Relu, {r.getInput()}, {numElements(r.getInput())},
             numElements(r.getInput()));
        return success();
      })
      .Case([&](dl::ReluGradOp r) {
        emit(op, KernelKind::ReluBwd, {r.getGrad(), r.getOutput()}, {numElements(r.getGrad())},
             numElements(r.getGrad()));
        return success();
      })
      .Case([&](dl::BiasAddOp b) {
        emit(op, KernelKind::BiasAdd, {b.getInput(), b.getBias()},
             aroundAxis(b.getInput(), b.getAxis()), numElements(b.getInput()));
        return success();
      })
      .Case([&](dl::BiasAddGradOp b) {
        emit(op, KernelKind::BiasAddBwd, {b.getGrad()}, aroundAxis(b.getGrad(), b.getAxis()),
             numElements(b.getGrad()));
        return success();
      })
      .Case([&](dl::MatmulOp m) {
        auto a = shapeOf(m.getLhs()), c = shapeOf(m.getResult());
        int64_t k = m.getTransposeA() ? a[0] : a[1];
        std::vector<int64_t> ints{c[0], c[1], k, m.getTransposeA() ? 1 : 0,
                                  m.getTransposeB() ? 1 : 0};
        SmallVector<Value> bias;
        if (int64_t e = epilogue(m.getBias(), m.getRelu(), bias))
          ints.push_back(e);
        emit(op, KernelKind::Matmul, {m.getLhs(), m.getRhs()}, ints, 2.0 * c[0] * c[1] * k, 0, {},
             bias);
        return success();
      })
      .Case([&](dl::AddOp a) {
        emit(op, KernelKind::Add, {a.getLhs(), a.getRhs()}, {numElements(a.getLhs())},
             numElements(a.getLhs()));
        return success();
      })
      .Case([&](dl::SoftmaxXentOp s) {
        auto l = shapeOf(s.getLogits());
        emit(op, KernelKind::SoftmaxXent, {s.getLogits(), s.getLabels()}, {l[0], l[1]},
             4.0 * l[0] * l[1]);
        return success();
      })
      .Case([&](dl::SoftmaxXentGradOp s) {
        auto l = shapeOf(s.getLogits());
        emit(op, KernelKind::SoftmaxXentBwd, {s.getLogits(), s.getLabels()}, {l[0], l[1]},
             4.0 * l[0] * l[1]);
        return success();
      })
      .Case([&](dl::AccuracyOp s) {
        auto l = shapeOf(s.getLogits());
        emit(op, KernelKind::Accuracy, {s.getLogits(), s.getLabels()}, {l[0], l[1]},
             double(l[0]) * l[1]);
        return success();
      })
      .Case([&](dl::SGDUpdateOp u) {
        int32_t step = prog->kernels.size();
        plan::Kernel k;
        k.kind = KernelKind::SgdMomentum;
        k.name = "sgd_update@" + u.getParam().str();
        k.args = {paramBuffers.lookup(u.getParam()), buffers.lookup(u.getGrad()),
                  paramBuffers.lookup(u.getState())};
        touch(k.args[1], step);
        k.ints = {numElements(u.getGrad())};
        k.floats = {u.getLr().convertToFloat(), u.getMomentum().convertToFloat(),
                    u.getWeightDecay().convertToFloat()};
        k.flops = 4.0 * k.ints[0];
        prog->kernels.push_back(std::move(k));
        return success();
      })
      .Default([&](Operation *other) {
        return other->emitOpError("has no CPU kernel lowering");
      });
}

LogicalResult ProgramLowering::lower(func::FuncOp fn, plan::Program &p) {
  prog = &p;
  Block &body = fn.getBody().front();
  for (BlockArgument arg : body.getArguments()) {
    auto t = cast<RankedTensorType>(arg.getType());
    if (!t.hasStaticShape())
      return fn.emitError("the batch size is not fixed; run --dl-infer-shapes with a batch");
    int32_t id = newBuffer(arg.getArgNumber() == 0 ? "images" : "labels", BufferKind::Input,
                           t.getNumElements() * 4);
    buffers[arg] = id;
    touch(id, 0);
  }
  p.images = buffers.lookup(body.getArgument(0));
  p.labels = buffers.lookup(body.getArgument(1));
  for (Operation &op : body.without_terminator())
    if (failed(lowerOp(&op)))
      return failure();
  // Results are read back after the last kernel, so they live to the end.
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  int32_t end = std::max<int32_t>(0, p.kernels.size() - 1);
  for (Value v : ret.getOperands()) {
    int32_t id = buffers.lookup(v);
    plan.buffers[id].kind = BufferKind::Output;
    touch(id, end);
  }
  p.loss = buffers.lookup(ret.getOperand(0));
  p.correct = ret.getNumOperands() > 1 ? buffers.lookup(ret.getOperand(1)) : -1;
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
  for (auto [fnName, progName] : {std::pair{"train_step", "train"}, std::pair{"forward", "eval"}}) {
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
    return module.emitError("nothing to lower: no @train_step or @forward");
  return success();
}
