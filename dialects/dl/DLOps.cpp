//===- DLOps.cpp - dl dialect ops: shape rules and verifiers ----*- C++ -*-===//
//
// Each op's shape rule lives in its inferReturnTypes. The same rule verifies parsed IR (the
// InferType trait compares inferred and written types), types ops as the importer creates them,
// and re-types whole functions in --dl-infer-shapes. Messages are written for model authors:
// the importer shows them at the YAML layer that caused them.
//
#include "dialects/dl/DLOps.h"

#include "runtime/plan/KernelCheck.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

using namespace mlir;
using namespace mlir::dl;

static constexpr int64_t kDyn = ShapedType::kDynamic;

namespace {
/// Checks and unpacks operand types for one shape rule, reporting the first problem.
struct ShapeCtx {
  MLIRContext *ctx;
  std::optional<Location> loc;
  StringRef op;

  LogicalResult fail(const Twine &msg) const {
    return emitOptionalError(loc, op, ": ", msg);
  }
  /// The operand's shape, which must be ranked with `rank` dimensions (-1: any rank).
  FailureOr<ArrayRef<int64_t>> shape(Value v, int rank, StringRef what) const {
    auto t = dyn_cast<RankedTensorType>(v.getType());
    if (!t) {
      (void)fail(Twine(what) + " has unknown shape");
      return failure();
    }
    if (rank >= 0 && t.getRank() != rank) {
      std::string s;
      llvm::raw_string_ostream os(s);
      os << what << " must be " << rank << "-D, got " << t.getRank() << "-D (" << t << ")";
      (void)fail(os.str());
      return failure();
    }
    return t.getShape();
  }
  LogicalResult pair(ArrayRef<int64_t> a, StringRef what, int64_t min) const {
    if (a.size() != 2)
      return fail(Twine(what) + " must have 2 values, got " + Twine(a.size()));
    if (a[0] < min || a[1] < min)
      return fail(Twine(what) + " must be >= " + Twine(min));
    return success();
  }
  Type f32(ArrayRef<int64_t> shape) const {
    return RankedTensorType::get(shape, FloatType::getF32(ctx));
  }
};

bool dimsAgree(int64_t a, int64_t b) { return a == kDyn || b == kDyn || a == b; }

std::string dimStr(int64_t d) { return d == kDyn ? "?" : std::to_string(d); }

/// Output extent of a window sliding over `in` (kDyn stays kDyn).
int64_t windowOut(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  if (in == kDyn)
    return kDyn;
  if (in + 2 * pad < k)
    return 0; // the window does not fit even once
  return (in + 2 * pad - k) / stride + 1;
}

/// A convolution's padding (2 values [h, w], or 4 [top, left, bottom, right]), dilation and
/// groups, checked and unpacked.
struct ConvGeometry {
  int64_t top = 0, left = 0, bottom = 0, right = 0, dilH = 1, dilW = 1, groups = 1;
  bool symmetric() const { return top == bottom && left == right; }
};
FailureOr<ConvGeometry> convGeometry(const ShapeCtx &c, ArrayRef<int64_t> pad,
                                     std::optional<ArrayRef<int64_t>> dilation,
                                     std::optional<uint64_t> groups) {
  ConvGeometry g;
  if (pad.size() == 2)
    g = {pad[0], pad[1], pad[0], pad[1]};
  else if (pad.size() == 4)
    g = {pad[0], pad[1], pad[2], pad[3]};
  else
    return (void)c.fail("padding must have 2 or 4 values, got " + Twine(pad.size())), failure();
  if (llvm::any_of(pad, [](int64_t p) { return p < 0; }))
    return (void)c.fail("padding must be >= 0"), failure();
  if (dilation) {
    if (failed(c.pair(*dilation, "dilation", 1)))
      return failure();
    g.dilH = (*dilation)[0], g.dilW = (*dilation)[1];
  }
  if (groups) {
    if (int64_t(*groups) < 1)
      return (void)c.fail("groups must be >= 1, got " + Twine(int64_t(*groups))), failure();
    g.groups = int64_t(*groups);
  }
  return g;
}

/// Output extent of a dilated window over `in` padded by `a` and `b` (kDyn stays kDyn; 0
/// when the window does not fit).
int64_t convOut(int64_t in, int64_t k, int64_t stride, int64_t a, int64_t b, int64_t dil) {
  if (in == kDyn)
    return kDyn;
  int64_t extent = dil * (k - 1) + 1;
  if (in + a + b < extent)
    return 0;
  return (in + a + b - extent) / stride + 1;
}

/// The output [n, k, oh, ow] of a convolution of x with a filter of `k` output channels and
/// an r x s window.
LogicalResult inferConv(const ShapeCtx &c, ArrayRef<int64_t> x, int64_t k, int64_t r, int64_t s,
                        ArrayRef<int64_t> stride, const ConvGeometry &g,
                        SmallVectorImpl<Type> &out) {
  if (failed(c.pair({r, s}, "kernel", 1)) || failed(c.pair(stride, "stride", 1)))
    return failure();
  int64_t oh = convOut(x[2], r, stride[0], g.top, g.bottom, g.dilH);
  int64_t ow = convOut(x[3], s, stride[1], g.left, g.right, g.dilW);
  if ((oh != kDyn && oh < 1) || (ow != kDyn && ow < 1)) {
    std::string pad = g.symmetric() ? std::to_string(g.top) + "x" + std::to_string(g.left)
                                    : std::to_string(g.top) + "," + std::to_string(g.left) +
                                          "," + std::to_string(g.bottom) + "," +
                                          std::to_string(g.right);
    std::string window = g.dilH == 1 && g.dilW == 1 ? "window" : "dilated window";
    return c.fail("a " + Twine(r) + "x" + Twine(s) + " " + window + " does not fit a " +
                  dimStr(x[2]) + "x" + dimStr(x[3]) + " input with padding " + pad);
  }
  out.push_back(c.f32({x[0], k, oh, ow}));
  return success();
}

LogicalResult inferWindowed(const ShapeCtx &c, ArrayRef<int64_t> x, int64_t channels,
                            ArrayRef<int64_t> k, ArrayRef<int64_t> stride,
                            ArrayRef<int64_t> pad, SmallVectorImpl<Type> &out) {
  if (failed(c.pair(k, "kernel", 1)) || failed(c.pair(stride, "stride", 1)) ||
      failed(c.pair(pad, "padding", 0)))
    return failure();
  int64_t oh = windowOut(x[2], k[0], stride[0], pad[0]);
  int64_t ow = windowOut(x[3], k[1], stride[1], pad[1]);
  if ((oh != kDyn && oh < 1) || (ow != kDyn && ow < 1))
    return c.fail("a " + Twine(k[0]) + "x" + Twine(k[1]) + " window does not fit a " +
                  dimStr(x[2]) + "x" + dimStr(x[3]) + " input with padding " + Twine(pad[0]) +
                  "x" + Twine(pad[1]));
  out.push_back(c.f32({x[0], channels, oh, ow}));
  return success();
}
} // namespace

/// A fused bias must be 1-D with one value per output channel (conv) or column (matmul).
static LogicalResult checkEpilogueBias(const ShapeCtx &c, Value bias, int64_t want,
                                       StringRef what) {
  if (!bias)
    return success();
  auto b = c.shape(bias, 1, "bias");
  if (failed(b))
    return failure();
  if (!dimsAgree((*b)[0], want))
    return c.fail("bias has " + dimStr((*b)[0]) + " elements but there are " + dimStr(want) +
                  " " + what);
  return success();
}

LogicalResult mlir::dl::refineResultTypes(Operation *op) {
  auto iface = dyn_cast<InferTypeOpInterface>(op);
  if (!iface)
    return success();
  SmallVector<Type> types;
  if (failed(iface.inferReturnTypes(op->getContext(), op->getLoc(), op->getOperands(),
                                    op->getAttrDictionary(), op->getPropertiesStorage(),
                                    op->getRegions(), types)))
    return failure();
  for (auto [res, t] : llvm::zip(op->getResults(), types))
    res.setType(t);
  return success();
}

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

LogicalResult ParameterOp::verify() {
  auto t = dyn_cast<RankedTensorType>(getType());
  if (!t || !t.hasStaticShape() || !t.getElementType().isF32())
    return emitOpError("type must be a statically shaped f32 tensor, got ") << getType();
  // "values": the plan carries the starting tensor (an imported model's initializer).
  if (!llvm::is_contained({"he_normal", "glorot_uniform", "normal", "zeros", "ones", "values"},
                          getInit()))
    return emitOpError("unknown init '") << getInit()
           << "' (expected he_normal, glorot_uniform, normal, zeros, ones or values)";
  if (!llvm::is_contained({"weight", "state", "buffer"}, getRole()))
    return emitOpError("role must be 'weight', 'state' or 'buffer', got '") << getRole() << "'";
  return success();
}

static FailureOr<ParameterOp> lookupParameter(Operation *user, SymbolTableCollection &tables,
                                              FlatSymbolRefAttr name) {
  auto p = tables.lookupNearestSymbolFrom<ParameterOp>(user, name);
  if (!p)
    return user->emitOpError("refers to unknown parameter ") << name;
  return p;
}

LogicalResult ParamOp::verifySymbolUses(SymbolTableCollection &tables) {
  auto p = lookupParameter(*this, tables, getNameAttr());
  if (failed(p))
    return failure();
  if (p->getType() != getType())
    return emitOpError("result type ") << getType() << " does not match parameter type "
                                       << p->getType();
  return success();
}

LogicalResult SGDUpdateOp::verifySymbolUses(SymbolTableCollection &tables) {
  auto p = lookupParameter(*this, tables, getParamAttr());
  auto s = lookupParameter(*this, tables, getStateAttr());
  if (failed(p) || failed(s))
    return failure();
  if (p->getType() != getGrad().getType() || s->getType() != getGrad().getType())
    return emitOpError("parameter, state and gradient types must match: ")
           << p->getType() << ", " << s->getType() << ", " << getGrad().getType();
  return success();
}

/// The scheduled optimizers' state: kOptStateFloats floats.
static LogicalResult verifyOptState(Operation *op, SymbolTableCollection &tables,
                                    FlatSymbolRefAttr name) {
  auto s = lookupParameter(op, tables, name);
  if (failed(s))
    return failure();
  auto t = cast<RankedTensorType>(s->getType());
  if (t.getNumElements() != int64_t(dlc::plan::kOptStateFloats))
    return op->emitOpError("optimizer state ")
           << name << " must have " << dlc::plan::kOptStateFloats << " elements, has type " << t;
  return success();
}

/// A parameter and its per-element optimizer states all have the gradient's type.
static LogicalResult verifyUpdate(Operation *op, SymbolTableCollection &tables, Value grad,
                                  ArrayRef<FlatSymbolRefAttr> names) {
  for (FlatSymbolRefAttr name : names) {
    auto p = lookupParameter(op, tables, name);
    if (failed(p))
      return failure();
    if (p->getType() != grad.getType())
      return op->emitOpError("parameter ")
             << name << " has type " << p->getType() << ", the gradient " << grad.getType();
  }
  return success();
}

LogicalResult LrScheduleOp::verifySymbolUses(SymbolTableCollection &tables) {
  return verifyOptState(*this, tables, getStateAttr());
}
LogicalResult GradSumSqOp::verifySymbolUses(SymbolTableCollection &tables) {
  return verifyOptState(*this, tables, getStateAttr());
}
LogicalResult ClipScaleOp::verifySymbolUses(SymbolTableCollection &tables) {
  return verifyOptState(*this, tables, getStateAttr());
}
LogicalResult SGDStepOp::verifySymbolUses(SymbolTableCollection &tables) {
  if (failed(verifyOptState(*this, tables, getOptStateAttr())))
    return failure();
  return verifyUpdate(*this, tables, getGrad(), {getParamAttr(), getMomentumBufferAttr()});
}
LogicalResult AdamUpdateOp::verifySymbolUses(SymbolTableCollection &tables) {
  if (failed(verifyOptState(*this, tables, getOptStateAttr())))
    return failure();
  return verifyUpdate(*this, tables, getGrad(),
                      {getParamAttr(), getExpAvgAttr(), getExpAvgSqAttr()});
}

//===----------------------------------------------------------------------===//
// Forward ops
//===----------------------------------------------------------------------===//

LogicalResult Conv2dOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                         Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "conv2d"};
  auto x = c.shape(a.getInput(), 4, "input (NCHW)");
  auto w = c.shape(a.getFilter(), 4, "filter (KCRS)");
  if (failed(x) || failed(w))
    return failure();
  auto g = convGeometry(c, a.getPadding(), a.getDilation(), a.getGroups());
  if (failed(g))
    return failure();
  int64_t expected = (*w)[1] == kDyn ? kDyn : (*w)[1] * g->groups;
  if (!dimsAgree((*x)[1], expected))
    return c.fail("input has " + dimStr((*x)[1]) + " channels but the filter expects " +
                  dimStr((*w)[1]) + (g->groups > 1 ? " x " + Twine(g->groups) + " groups" : ""));
  if ((*w)[0] != kDyn && (*w)[0] % g->groups != 0)
    return c.fail(Twine(g->groups) + " groups do not divide the " + dimStr((*w)[0]) +
                  " output channels");
  if (failed(checkEpilogueBias(c, a.getBias(), (*w)[0], "output channels")))
    return failure();
  return inferConv(c, *x, (*w)[0], (*w)[2], (*w)[3], a.getStride(), *g, out);
}

LogicalResult MaxPool2dOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                            Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "maxpool2d"};
  auto x = c.shape(a.getInput(), 4, "input (NCHW)");
  if (failed(x))
    return failure();
  return inferWindowed(c, *x, (*x)[1], a.getKernel(), a.getStride(), a.getPadding(), out);
}

LogicalResult mlir::dl::inferElementwise(MLIRContext *ctx, std::optional<Location> loc,
                                         StringRef opName, ValueRange operands,
                                         SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, opName.split('.').second};
  SmallVector<ArrayRef<int64_t>> shapes;
  for (auto [i, v] : llvm::enumerate(operands)) {
    std::string what = operands.size() == 1 ? "input" : "operand #" + std::to_string(i);
    auto s = c.shape(v, -1, what);
    if (failed(s))
      return failure();
    shapes.push_back(*s);
  }
  for (ArrayRef<int64_t> s : shapes)
    if (s.size() != shapes[0].size() || !llvm::all_of(llvm::zip(s, shapes[0]), [](auto p) {
          return dimsAgree(std::get<0>(p), std::get<1>(p));
        }))
      return c.fail("operands must have the same shape");
  out.push_back(c.f32(shapes[0]));
  return success();
}

LogicalResult BiasAddOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                          Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "bias_add"};
  auto x = c.shape(a.getInput(), -1, "input");
  auto b = c.shape(a.getBias(), 1, "bias");
  if (failed(x) || failed(b))
    return failure();
  int64_t axis = a.getAxis();
  if (axis < 0 || axis >= (int64_t)x->size())
    return c.fail("axis " + Twine(axis) + " is out of range for a " + Twine(x->size()) +
                  "-D input");
  if (!dimsAgree((*x)[axis], (*b)[0]))
    return c.fail("bias has " + dimStr((*b)[0]) + " elements but input axis " + Twine(axis) +
                  " has " + dimStr((*x)[axis]));
  out.push_back(c.f32(*x));
  return success();
}

LogicalResult AddOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                      Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "add"};
  auto l = c.shape(a.getLhs(), -1, "lhs");
  auto r = c.shape(a.getRhs(), -1, "rhs");
  if (failed(l) || failed(r))
    return failure();
  if (l->size() != r->size() ||
      !llvm::all_of(llvm::zip(*l, *r), [](auto p) {
        return dimsAgree(std::get<0>(p), std::get<1>(p));
      }))
    return c.fail("lhs and rhs must have the same shape");
  out.push_back(c.f32(*l));
  return success();
}

/// The rows of `s` viewed as a matrix [rows, last] (the product of every dimension but the
/// last; dynamic if any of them is).
static int64_t leadingProduct(ArrayRef<int64_t> s) {
  int64_t n = 1;
  for (int64_t d : s.drop_back())
    n = (d == kDyn || n == kDyn) ? kDyn : n * d;
  return n;
}

LogicalResult MatmulOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                         Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "matmul"};
  auto l = c.shape(a.getLhs(), -1, "lhs");
  auto r = c.shape(a.getRhs(), -1, "rhs");
  if (failed(l) || failed(r))
    return failure();
  if (l->size() < 2 || r->size() < 2)
    return c.fail("operands must have rank 2 or more, got " + Twine(l->size()) + " and " +
                  Twine(r->size()));
  // An operand of rank > 2 is the matrix [product of its leading dims, last dim]: a linear
  // layer on [B, T, K] multiplies B*T rows. Untransposed, lhs keeps its leading dims in the
  // result ([B, T, K] x [K, N] -> [B, T, N]); transposed it contracts over them (the weight
  // gradient [N, B*T] x [B*T, K] -> [N, K]).
  bool ta = a.getTransposeA(), tb = a.getTransposeB();
  int64_t k1 = ta ? leadingProduct(*l) : l->back();
  int64_t k2 = tb ? r->back() : leadingProduct(*r);
  int64_t n = tb ? leadingProduct(*r) : r->back();
  if (!dimsAgree(k1, k2))
    return c.fail("inner dimensions differ: " + dimStr(k1) + " vs " + dimStr(k2));
  if (failed(checkEpilogueBias(c, a.getBias(), n, "columns")))
    return failure();
  SmallVector<int64_t> shape;
  if (ta)
    shape.push_back(l->back());
  else
    shape.append(l->begin(), l->end() - 1);
  shape.push_back(n);
  out.push_back(c.f32(shape));
  return success();
}

LogicalResult FlattenOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                          Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "flatten"};
  auto x = c.shape(a.getInput(), -1, "input");
  if (failed(x))
    return failure();
  if (x->size() < 2)
    return c.fail("input must have a batch dimension and at least one more");
  int64_t n = 1;
  for (int64_t d : x->drop_front())
    n = (d == kDyn || n == kDyn) ? kDyn : n * d;
  out.push_back(c.f32({(*x)[0], n}));
  return success();
}

LogicalResult ReshapeOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                          Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "reshape"};
  auto x = c.shape(a.getInput(), -1, "input");
  if (failed(x))
    return failure();
  int64_t in = 1, want = 1;
  for (int64_t d : x->drop_front())
    in = (d == kDyn || in == kDyn) ? kDyn : in * d;
  for (int64_t d : a.getShape()) {
    if (d < 1)
      return c.fail("shape entries must be positive");
    want *= d;
  }
  if (in != kDyn && in != want)
    return c.fail("cannot reshape " + Twine(in) + " elements per example into " + Twine(want));
  SmallVector<int64_t> shape{(*x)[0]};
  llvm::append_range(shape, a.getShape());
  out.push_back(c.f32(shape));
  return success();
}

/// Logits [N, classes] against labels [N] (a class per example), or [N, T, classes] against
/// [N, T] (a class per position of a sequence): a row of logits per label.
static LogicalResult inferLossLike(const ShapeCtx &c, Value logits, Value labels,
                                   FailureOr<ArrayRef<int64_t>> &l) {
  l = c.shape(logits, -1, "logits");
  auto y = c.shape(labels, -1, "labels");
  if (failed(l) || failed(y))
    return failure();
  if (l->size() != 2 && l->size() != 3)
    return c.fail("logits must be 2-D or 3-D (per position), got " + Twine(l->size()) + "-D");
  if (y->size() + 1 != l->size())
    return c.fail("labels must be " + Twine(l->size() - 1) + "-D for " + Twine(l->size()) +
                  "-D logits, got " + Twine(y->size()) + "-D");
  for (size_t i = 0; i < y->size(); ++i)
    if (!dimsAgree((*l)[i], (*y)[i]))
      return c.fail("logits have " + dimStr((*l)[i]) + " rows but there are " +
                    dimStr((*y)[i]) + " labels (dimension " + Twine(i) + ")");
  return success();
}

LogicalResult SoftmaxXentOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                              Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "softmax_xent"};
  FailureOr<ArrayRef<int64_t>> l;
  if (failed(inferLossLike(c, a.getLogits(), a.getLabels(), l)))
    return failure();
  out.push_back(c.f32({}));
  return success();
}

LogicalResult AccuracyOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                           Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "accuracy"};
  FailureOr<ArrayRef<int64_t>> l;
  if (failed(inferLossLike(c, a.getLogits(), a.getLabels(), l)))
    return failure();
  out.push_back(c.f32({}));
  return success();
}

/// mse, bce_with_logits: input and target of one shape, a scalar loss.
static LogicalResult inferRegressionLoss(MLIRContext *ctx, std::optional<Location> loc,
                                         StringRef opName, ValueRange operands,
                                         SmallVectorImpl<Type> &out) {
  SmallVector<Type> same;
  if (failed(inferElementwise(ctx, loc, opName, operands, same)))
    return failure();
  out.push_back(RankedTensorType::get({}, Float32Type::get(ctx)));
  return success();
}

LogicalResult MseOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc, Adaptor a,
                                      SmallVectorImpl<Type> &out) {
  return inferRegressionLoss(ctx, loc, getOperationName(), a.getOperands(), out);
}

LogicalResult BceWithLogitsOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                Adaptor a, SmallVectorImpl<Type> &out) {
  return inferRegressionLoss(ctx, loc, getOperationName(), a.getOperands(), out);
}

//===----------------------------------------------------------------------===//
// Gradient ops
//===----------------------------------------------------------------------===//

LogicalResult Conv2dGradInputOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                  Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "conv2d_grad_input"};
  auto dy = c.shape(a.getGrad(), 4, "grad");
  auto w = c.shape(a.getFilter(), 4, "filter");
  if (failed(dy) || failed(w) || failed(c.pair(a.getInputSize(), "input_size", 1)) ||
      failed(c.pair(a.getStride(), "stride", 1)))
    return failure();
  auto g = convGeometry(c, a.getPadding(), a.getDilation(), a.getGroups());
  if (failed(g))
    return failure();
  auto hw = a.getInputSize();
  auto st = a.getStride();
  if (!dimsAgree((*dy)[1], (*w)[0]) ||
      ((*w)[0] != kDyn && (*w)[0] % g->groups != 0) ||
      !dimsAgree((*dy)[2], convOut(hw[0], (*w)[2], st[0], g->top, g->bottom, g->dilH)) ||
      !dimsAgree((*dy)[3], convOut(hw[1], (*w)[3], st[1], g->left, g->right, g->dilW)))
    return c.fail("grad shape does not match a convolution of the given input size and filter");
  out.push_back(c.f32({(*dy)[0], (*w)[1] == kDyn ? kDyn : (*w)[1] * g->groups, hw[0], hw[1]}));
  return success();
}

LogicalResult Conv2dGradFilterOp::inferReturnTypes(MLIRContext *ctx,
                                                   std::optional<Location> loc, Adaptor a,
                                                   SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "conv2d_grad_filter"};
  auto dy = c.shape(a.getGrad(), 4, "grad");
  auto x = c.shape(a.getInput(), 4, "input");
  if (failed(dy) || failed(x) || failed(c.pair(a.getKernel(), "kernel", 1)) ||
      failed(c.pair(a.getStride(), "stride", 1)))
    return failure();
  auto g = convGeometry(c, a.getPadding(), a.getDilation(), a.getGroups());
  if (failed(g))
    return failure();
  auto k = a.getKernel();
  auto st = a.getStride();
  if (!dimsAgree((*dy)[0], (*x)[0]) ||
      ((*x)[1] != kDyn && (*x)[1] % g->groups != 0) ||
      ((*dy)[1] != kDyn && (*dy)[1] % g->groups != 0) ||
      !dimsAgree((*dy)[2], convOut((*x)[2], k[0], st[0], g->top, g->bottom, g->dilH)) ||
      !dimsAgree((*dy)[3], convOut((*x)[3], k[1], st[1], g->left, g->right, g->dilW)))
    return c.fail("grad shape does not match a convolution of the input with this kernel");
  out.push_back(c.f32({(*dy)[1], (*x)[1] == kDyn ? kDyn : (*x)[1] / g->groups, k[0], k[1]}));
  return success();
}

LogicalResult MaxPool2dGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "maxpool2d_grad"};
  auto dy = c.shape(a.getGrad(), 4, "grad");
  auto x = c.shape(a.getInput(), 4, "input");
  if (failed(dy) || failed(x))
    return failure();
  SmallVector<Type> fwd;
  if (failed(inferWindowed(c, *x, (*x)[1], a.getKernel(), a.getStride(), a.getPadding(), fwd)))
    return failure();
  auto fshape = cast<RankedTensorType>(fwd[0]).getShape();
  for (int i = 0; i < 4; ++i)
    if (!dimsAgree(fshape[i], (*dy)[i]))
      return c.fail("grad shape does not match the pooled input");
  out.push_back(c.f32(*x));
  return success();
}

LogicalResult ReluGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                           Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "relu_grad"};
  auto dy = c.shape(a.getGrad(), -1, "grad");
  auto y = c.shape(a.getOutput(), -1, "output");
  if (failed(dy) || failed(y))
    return failure();
  if (dy->size() != y->size())
    return c.fail("grad and output ranks differ");
  out.push_back(c.f32(*y));
  return success();
}

LogicalResult BiasAddGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                              Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "bias_add_grad"};
  auto dy = c.shape(a.getGrad(), -1, "grad");
  if (failed(dy))
    return failure();
  int64_t axis = a.getAxis();
  if (axis < 0 || axis >= (int64_t)dy->size())
    return c.fail("axis " + Twine(axis) + " is out of range");
  out.push_back(c.f32({(*dy)[axis]}));
  return success();
}

LogicalResult SoftmaxXentGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                  Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "softmax_xent_grad"};
  FailureOr<ArrayRef<int64_t>> l;
  if (failed(inferLossLike(c, a.getLogits(), a.getLabels(), l)))
    return failure();
  out.push_back(c.f32(*l));
  return success();
}

//===----------------------------------------------------------------------===//
// ResNet ops: average pooling and batch normalisation
//===----------------------------------------------------------------------===//

LogicalResult AvgPool2dOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                            Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "avgpool2d"};
  auto x = c.shape(a.getInput(), 4, "input (NCHW)");
  if (failed(x))
    return failure();
  return inferWindowed(c, *x, (*x)[1], a.getKernel(), a.getStride(), a.getPadding(), out);
}

LogicalResult AvgPool2dGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "avgpool2d_grad"};
  auto dy = c.shape(a.getGrad(), 4, "grad");
  if (failed(dy) || failed(c.pair(a.getInputSize(), "input_size", 1)))
    return failure();
  auto hw = a.getInputSize();
  SmallVector<int64_t> x{(*dy)[0], (*dy)[1], hw[0], hw[1]};
  SmallVector<Type> fwd;
  if (failed(inferWindowed(c, x, x[1], a.getKernel(), a.getStride(), a.getPadding(), fwd)))
    return failure();
  auto fshape = cast<RankedTensorType>(fwd[0]).getShape();
  if (!dimsAgree(fshape[2], (*dy)[2]) || !dimsAgree(fshape[3], (*dy)[3]))
    return c.fail("grad shape does not match pooling an input of the given size");
  out.push_back(c.f32(x));
  return success();
}

/// Shared by both batch norm forms: x is [N, C, ...], gamma and beta are [C].
static FailureOr<ArrayRef<int64_t>> inferBatchNorm(const ShapeCtx &c, Value x, Value gamma,
                                                   Value beta) {
  auto xs = c.shape(x, -1, "input");
  auto g = c.shape(gamma, 1, "gamma");
  auto bt = c.shape(beta, 1, "beta");
  if (failed(xs) || failed(g) || failed(bt))
    return failure();
  if (xs->size() < 2) {
    (void)c.fail("input must have a channel dimension");
    return failure();
  }
  if (!dimsAgree((*xs)[1], (*g)[0]) || !dimsAgree((*xs)[1], (*bt)[0])) {
    (void)c.fail("gamma and beta must have one value per channel (" + dimStr((*xs)[1]) + ")");
    return failure();
  }
  return *xs;
}

template <typename BatchNormOpT>
static LogicalResult verifyRunningStats(BatchNormOpT op, SymbolTableCollection &tables) {
  for (FlatSymbolRefAttr name : {op.getRunningMeanAttr(), op.getRunningVarAttr()}) {
    auto p = lookupParameter(op, tables, name);
    if (failed(p))
      return failure();
    if (p->getType() != op.getGamma().getType())
      return op.emitOpError("running statistic ")
             << name << " must have the type of gamma, " << op.getGamma().getType();
  }
  return success();
}

LogicalResult BatchNormOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                            Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "batch_norm"};
  auto x = inferBatchNorm(c, a.getInput(), a.getGamma(), a.getBeta());
  if (failed(x))
    return failure();
  out.push_back(c.f32(*x));
  return success();
}

LogicalResult BatchNormOp::verifySymbolUses(SymbolTableCollection &tables) {
  return verifyRunningStats(*this, tables);
}

LogicalResult BatchNormTrainOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                 Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "batch_norm_train"};
  auto x = inferBatchNorm(c, a.getInput(), a.getGamma(), a.getBeta());
  if (failed(x))
    return failure();
  out.push_back(c.f32(*x));
  out.push_back(c.f32({(*x)[1]}));
  out.push_back(c.f32({(*x)[1]}));
  return success();
}

LogicalResult BatchNormTrainOp::verifySymbolUses(SymbolTableCollection &tables) {
  return verifyRunningStats(*this, tables);
}

LogicalResult BatchNormGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "batch_norm_grad"};
  auto x = inferBatchNorm(c, a.getInput(), a.getGamma(), a.getGamma());
  auto dy = c.shape(a.getGrad(), -1, "grad");
  if (failed(x) || failed(dy))
    return failure();
  if (x->size() != dy->size())
    return c.fail("grad and input ranks differ");
  out.push_back(c.f32(*x));
  out.push_back(c.f32({(*x)[1]}));
  out.push_back(c.f32({(*x)[1]}));
  return success();
}

//===----------------------------------------------------------------------===//
// CIFAR-10 ops: local response normalisation
//===----------------------------------------------------------------------===//

/// LRN's input is NCHW and its attributes keep the base of the power positive.
static FailureOr<ArrayRef<int64_t>> inferLrn(const ShapeCtx &c, Value x, int64_t radius,
                                             float bias, float alpha, float beta) {
  auto xs = c.shape(x, 4, "input (NCHW)");
  if (failed(xs))
    return failure();
  if (radius < 0) {
    (void)c.fail("depth_radius must be >= 0, got " + Twine(radius));
    return failure();
  }
  if (!(bias > 0.0f) || !std::isfinite(bias)) {
    (void)c.fail("bias must be positive, got " + llvm::formatv("{0}", bias).str());
    return failure();
  }
  if (!(alpha >= 0.0f) || !std::isfinite(alpha) || !(beta >= 0.0f) || !std::isfinite(beta)) {
    (void)c.fail("alpha and beta must be finite and >= 0, got " +
                 llvm::formatv("{0} and {1}", alpha, beta).str());
    return failure();
  }
  return *xs;
}

LogicalResult LrnOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc, Adaptor a,
                                      SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "lrn"};
  auto x = inferLrn(c, a.getInput(), a.getDepthRadius(), a.getBias().convertToFloat(),
                    a.getAlpha().convertToFloat(), a.getBeta().convertToFloat());
  if (failed(x))
    return failure();
  out.push_back(c.f32(*x));
  return success();
}

LogicalResult LrnGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                          Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "lrn_grad"};
  auto x = inferLrn(c, a.getInput(), a.getDepthRadius(), a.getBias().convertToFloat(),
                    a.getAlpha().convertToFloat(), a.getBeta().convertToFloat());
  auto dy = c.shape(a.getGrad(), 4, "grad");
  auto y = c.shape(a.getOutput(), 4, "output");
  if (failed(x) || failed(dy) || failed(y))
    return failure();
  for (int i = 0; i < 4; ++i)
    if (!dimsAgree((*x)[i], (*dy)[i]) || !dimsAgree((*x)[i], (*y)[i]))
      return c.fail("grad, input and output must have the same shape");
  out.push_back(c.f32(*x));
  return success();
}

//===----------------------------------------------------------------------===//
// Recurrent ops
//===----------------------------------------------------------------------===//

LogicalResult ZerosOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc, Adaptor a,
                                        SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "zeros"};
  auto like = c.shape(a.getLike(), -1, "like");
  if (failed(like))
    return failure();
  if (like->empty())
    return c.fail("like must have a batch dimension");
  SmallVector<int64_t> shape{like->front()};
  for (int64_t d : a.getShape()) {
    if (d < 1)
      return c.fail("shape entries must be positive");
    shape.push_back(d);
  }
  out.push_back(c.f32(shape));
  return success();
}

LogicalResult TimeStepOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                           Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "time_step"};
  auto x = c.shape(a.getInput(), 3, "input ([batch, steps, features])");
  if (failed(x))
    return failure();
  int64_t step = a.getStep(), steps = (*x)[1];
  if (step < 0 || (steps != kDyn && step >= steps))
    return c.fail("step " + Twine(step) + " is outside [0, " + dimStr(steps) + ")");
  out.push_back(c.f32({(*x)[0], (*x)[2]}));
  return success();
}

/// gates [N, 4H] and a state [N, H] agree; returns the state's shape.
static FailureOr<ArrayRef<int64_t>> inferCell(const ShapeCtx &c, Value gates, Value state,
                                              StringRef stateName) {
  auto g = c.shape(gates, 2, "gates");
  auto s = c.shape(state, 2, stateName);
  if (failed(g) || failed(s))
    return failure();
  int64_t h = (*s)[1];
  if (!dimsAgree((*g)[0], (*s)[0]) ||
      (h != kDyn && (*g)[1] != kDyn && (*g)[1] != 4 * h)) {
    (void)c.fail("gates must be [N, 4H] for a state [N, H], got [" + dimStr((*g)[0]) + ", " +
                 dimStr((*g)[1]) + "] and [" + dimStr((*s)[0]) + ", " + dimStr(h) + "]");
    return failure();
  }
  return *s;
}

LogicalResult LstmCellOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                           Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "lstm_cell"};
  auto s = inferCell(c, a.getGates(), a.getCPrev(), "c_prev");
  if (failed(s))
    return failure();
  out.push_back(c.f32(*s));
  out.push_back(c.f32(*s));
  return success();
}

LogicalResult LstmCellGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                               Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "lstm_cell_grad"};
  auto s = inferCell(c, a.getGates(), a.getCPrev(), "c_prev");
  auto dh = inferCell(c, a.getGates(), a.getGradH(), "grad_h");
  auto dc = inferCell(c, a.getGates(), a.getGradC(), "grad_c");
  if (failed(s) || failed(dh) || failed(dc))
    return failure();
  out.push_back(cast<RankedTensorType>(a.getGates().getType()));
  out.push_back(c.f32(*s));
  return success();
}

/// The weights of a whole LSTM layer over `input` [N, T, I]: weight_hh [4H, H] gives H;
/// weight_ih must be [4H, I] and (when given) the bias [4H]; T, I and H must be known.
/// Returns {N, T, I, H}.
static FailureOr<SmallVector<int64_t, 4>> inferLstm(const ShapeCtx &c, Value input, Value wih,
                                                    Value whh, Value bias) {
  auto x = c.shape(input, 3, "input ([batch, steps, features])");
  auto u = c.shape(whh, 2, "weight_hh");
  if (failed(x) || failed(u))
    return failure();
  const int64_t n = (*x)[0], t = (*x)[1], in = (*x)[2], h = (*u)[1];
  if (t == kDyn || in == kDyn || h == kDyn || (*u)[0] == kDyn)
    return (void)c.fail("the steps, features and units must be known"), failure();
  if (t < 1 || h < 1 || (*u)[0] != 4 * h)
    return (void)c.fail("weight_hh must be [4H, H] and the sequence at least one step, got [" +
                        dimStr((*u)[0]) + ", " + dimStr(h) + "] over " + dimStr(t) + " steps"),
           failure();
  if (wih) {
    auto w = c.shape(wih, 2, "weight_ih");
    if (failed(w))
      return failure();
    if ((*w)[0] != 4 * h || (*w)[1] != in)
      return (void)c.fail("weight_ih must be [" + Twine(4 * h) + ", " + Twine(in) + "], got [" +
                          dimStr((*w)[0]) + ", " + dimStr((*w)[1]) + "]"),
             failure();
  }
  if (bias) {
    auto b = c.shape(bias, 1, "bias");
    if (failed(b))
      return failure();
    if ((*b)[0] != 4 * h)
      return (void)c.fail("bias must be [" + Twine(4 * h) + "], got [" + dimStr((*b)[0]) + "]"),
             failure();
  }
  return SmallVector<int64_t, 4>{n, t, in, h};
}

/// Floats per example of an LSTM's reserve (runtime/plan/KernelCheck.h), as a dimension.
static int64_t lstmReserveWidth(int64_t steps, int64_t units) {
  return int64_t(std::min<uint64_t>(dlc::plan::lstmReserveWidth(steps, units), INT64_MAX));
}

LogicalResult LstmOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc, Adaptor a,
                                       SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "lstm"};
  auto s = inferLstm(c, a.getInput(), a.getWeightIh(), a.getWeightHh(), a.getBias());
  if (failed(s))
    return failure();
  const int64_t n = (*s)[0], t = (*s)[1], h = (*s)[3];
  out.push_back(c.f32({n, h}));
  out.push_back(c.f32({n, lstmReserveWidth(t, h)}));
  return success();
}

LogicalResult LstmGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                           Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "lstm_grad"};
  auto s = inferLstm(c, a.getInput(), Value(), a.getWeightHh(), Value());
  auto r = c.shape(a.getReserve(), 2, "reserve");
  auto dh = c.shape(a.getGradH(), 2, "grad_h");
  if (failed(s) || failed(r) || failed(dh))
    return failure();
  const int64_t n = (*s)[0], t = (*s)[1], in = (*s)[2], h = (*s)[3];
  if (!dimsAgree((*r)[0], n) || (*r)[1] != lstmReserveWidth(t, h))
    return c.fail("reserve must be [" + dimStr(n) + ", " + Twine(lstmReserveWidth(t, h)) +
                  "], got [" + dimStr((*r)[0]) + ", " + dimStr((*r)[1]) + "]");
  if (!dimsAgree((*dh)[0], n) || (*dh)[1] != h)
    return c.fail("grad_h must be [" + dimStr(n) + ", " + Twine(h) + "], got [" +
                  dimStr((*dh)[0]) + ", " + dimStr((*dh)[1]) + "]");
  out.push_back(c.f32({4 * h, in}));
  out.push_back(c.f32({4 * h, h}));
  out.push_back(c.f32({4 * h}));
  return success();
}

//===----------------------------------------------------------------------===//
// Concat (issue 10)
//===----------------------------------------------------------------------===//

/// `axis` names a dimension of a ranked shape other than the batch.
static LogicalResult checkConcatAxis(const ShapeCtx &c, int64_t axis, size_t rank) {
  if (axis < 1 || axis >= int64_t(rank))
    return c.fail("axis " + Twine(axis) + " is not a dimension of a " + Twine(rank) +
                  "-D tensor other than the batch (0)");
  return success();
}

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                         Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "concat"};
  auto x = c.shape(a.getLhs(), -1, "first operand");
  auto y = c.shape(a.getRhs(), -1, "second operand");
  if (failed(x) || failed(y))
    return failure();
  const int64_t axis = a.getAxis();
  if (failed(checkConcatAxis(c, axis, x->size())))
    return failure();
  auto str = [](ArrayRef<int64_t> s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i)
      r += (i ? ", " : "") + dimStr(s[i]);
    return r + "]";
  };
  bool agree = x->size() == y->size();
  for (size_t i = 0; agree && i < x->size(); ++i)
    agree = int64_t(i) == axis || dimsAgree((*x)[i], (*y)[i]);
  if (!agree)
    return c.fail("operands " + str(*x) + " and " + str(*y) +
                  " must agree on every dimension but axis " + Twine(axis));
  SmallVector<int64_t> shape(*x);
  int64_t p = (*x)[axis], q = (*y)[axis];
  shape[axis] = p == kDyn || q == kDyn ? kDyn : p + q;
  if (shape[0] == kDyn)
    shape[0] = (*y)[0];
  out.push_back(c.f32(shape));
  return success();
}

LogicalResult ConcatGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                             Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "concat_grad"};
  auto dy = c.shape(a.getGrad(), -1, "gradient");
  if (failed(dy))
    return failure();
  const int64_t axis = a.getAxis(), lhs = a.getLhsSize();
  if (failed(checkConcatAxis(c, axis, dy->size())))
    return failure();
  int64_t total = (*dy)[axis];
  if (lhs < 1 || (total != kDyn && lhs >= total))
    return c.fail("lhs_size " + Twine(lhs) + " must leave both parts of " + dimStr(total) +
                  " non-empty");
  SmallVector<int64_t> first(*dy), second(*dy);
  first[axis] = lhs;
  second[axis] = total == kDyn ? kDyn : total - lhs;
  out.push_back(c.f32(first));
  out.push_back(c.f32(second));
  return success();
}

//===----------------------------------------------------------------------===//
// Transformer shapes (issue 10): layer_norm, transpose
//===----------------------------------------------------------------------===//

/// x is [N, ..., D] and weight (and bias, when given) [D]; returns x's shape.
static FailureOr<ArrayRef<int64_t>> inferLayerNorm(const ShapeCtx &c, Value x, Value weight,
                                                   Value bias, float eps) {
  auto xs = c.shape(x, -1, "input");
  auto w = c.shape(weight, 1, "weight");
  if (failed(xs) || failed(w))
    return failure();
  if (xs->size() < 2) {
    (void)c.fail("input must have a batch dimension and features");
    return failure();
  }
  if (!(eps > 0)) {
    (void)c.fail("eps must be positive");
    return failure();
  }
  int64_t d = xs->back();
  if (!dimsAgree(d, (*w)[0])) {
    (void)c.fail("weight has " + dimStr((*w)[0]) + " elements but the last axis has " +
                 dimStr(d));
    return failure();
  }
  if (bias) {
    auto b = c.shape(bias, 1, "bias");
    if (failed(b))
      return failure();
    if (!dimsAgree(d, (*b)[0])) {
      (void)c.fail("bias has " + dimStr((*b)[0]) + " elements but the last axis has " +
                   dimStr(d));
      return failure();
    }
  }
  return *xs;
}

LogicalResult LayerNormOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                            Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "layer_norm"};
  auto x = inferLayerNorm(c, a.getInput(), a.getWeight(), a.getBias(),
                          a.getEps().convertToFloat());
  if (failed(x))
    return failure();
  out.push_back(c.f32(*x));
  out.push_back(c.f32(x->drop_back()));
  out.push_back(c.f32(x->drop_back()));
  return success();
}

LogicalResult LayerNormGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "layer_norm_grad"};
  auto x = inferLayerNorm(c, a.getInput(), a.getWeight(), Value(), 1.0f);
  auto dy = c.shape(a.getGrad(), -1, "grad");
  auto mean = c.shape(a.getMean(), -1, "mean");
  auto rstd = c.shape(a.getRstd(), -1, "rstd");
  if (failed(x) || failed(dy) || failed(mean) || failed(rstd))
    return failure();
  auto same = [](ArrayRef<int64_t> p, ArrayRef<int64_t> q) {
    return p.size() == q.size() && llvm::all_of(llvm::zip(p, q), [](auto d) {
             return dimsAgree(std::get<0>(d), std::get<1>(d));
           });
  };
  if (!same(*x, *dy))
    return c.fail("grad and input shapes differ");
  if (!same(x->drop_back(), *mean) || !same(x->drop_back(), *rstd))
    return c.fail("mean and rstd must have the input's shape without its last axis");
  out.push_back(c.f32(*x));
  out.push_back(c.f32({x->back()}));
  out.push_back(c.f32({x->back()}));
  return success();
}

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                            Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "transpose"};
  auto x = c.shape(a.getInput(), -1, "input");
  if (failed(x))
    return failure();
  ArrayRef<int64_t> perm = a.getPerm();
  if (perm.size() != x->size())
    return c.fail("perm has " + Twine(perm.size()) + " entries but the input has " +
                  Twine(x->size()) + " axes");
  if (x->size() > 6)
    return c.fail("at most 6 axes can be permuted, got " + Twine(x->size()));
  SmallVector<bool> seen(perm.size(), false);
  for (int64_t p : perm) {
    if (p < 0 || p >= int64_t(perm.size()) || seen[p])
      return c.fail("perm must be a permutation of 0 to " + Twine(perm.size() - 1));
    seen[p] = true;
  }
  if (perm[0] != 0)
    return c.fail("perm[0] must be 0: the batch stays first");
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back((*x)[p]);
  out.push_back(c.f32(shape));
  return success();
}

//===----------------------------------------------------------------------===//
// Embedding (issue 10)
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                            Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "embedding"};
  auto idx = c.shape(a.getIndices(), -1, "indices");
  auto w = c.shape(a.getWeight(), 2, "weight");
  if (failed(idx) || failed(w))
    return failure();
  if (idx->empty())
    return c.fail("indices must have a batch dimension");
  SmallVector<int64_t> shape(*idx);
  shape.push_back((*w)[1]);
  out.push_back(c.f32(shape));
  return success();
}

LogicalResult EmbeddingGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "embedding_grad"};
  auto idx = c.shape(a.getIndices(), -1, "indices");
  auto dy = c.shape(a.getGrad(), -1, "gradient");
  if (failed(idx) || failed(dy))
    return failure();
  if (dy->size() != idx->size() + 1)
    return c.fail("the gradient must have one dimension more than the indices");
  if (a.getVocab() < 1)
    return c.fail("vocab must be positive");
  out.push_back(c.f32({a.getVocab(), dy->back()}));
  return success();
}

//===----------------------------------------------------------------------===//
// Position embedding (issue 11)
//===----------------------------------------------------------------------===//

LogicalResult PositionAddOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                              Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "position_add"};
  auto x = c.shape(a.getInput(), 3, "input");
  auto t = c.shape(a.getTable(), 2, "table");
  if (failed(x) || failed(t))
    return failure();
  if (!dimsAgree((*x)[2], (*t)[1]))
    return c.fail("the table's rows have " + dimStr((*t)[1]) + " features, the input " +
                  dimStr((*x)[2]));
  if ((*x)[1] != kDyn && (*t)[0] != kDyn && (*x)[1] > (*t)[0])
    return c.fail("the input's " + Twine((*x)[1]) + " steps exceed the table's " +
                  Twine((*t)[0]) + " positions");
  out.push_back(c.f32(*x));
  return success();
}

LogicalResult PositionAddGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                  Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "position_add_grad"};
  auto dy = c.shape(a.getGrad(), 3, "gradient");
  if (failed(dy))
    return failure();
  if (a.getPositions() < 1 || ((*dy)[1] != kDyn && (*dy)[1] > a.getPositions()))
    return c.fail("positions (" + Twine(a.getPositions()) +
                  ") must be positive and cover the gradient's steps");
  out.push_back(c.f32({a.getPositions(), (*dy)[2]}));
  return success();
}

#define GET_OP_CLASSES
#include "dialects/dl/DLOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Attention (issue 11)
//===----------------------------------------------------------------------===//

/// qkv is [B, T, 3C] with C a multiple of heads; returns {B, T, C}.
static FailureOr<SmallVector<int64_t>> inferAttention(const ShapeCtx &c, Value qkv,
                                                       int64_t heads) {
  auto s = c.shape(qkv, 3, "qkv");
  if (failed(s))
    return failure();
  if (heads < 1) {
    (void)c.fail("heads must be >= 1, got " + Twine(heads));
    return failure();
  }
  int64_t packed = (*s)[2];
  if (packed == kDyn || packed % (3 * heads) != 0) {
    (void)c.fail("qkv's last axis (" + dimStr(packed) + ") must be 3 x heads x head size with " +
                 Twine(heads) + " heads");
    return failure();
  }
  return SmallVector<int64_t>{(*s)[0], (*s)[1], packed / 3};
}

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                            Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "attention"};
  auto y = inferAttention(c, a.getQkv(), a.getHeads());
  if (failed(y))
    return failure();
  if (Value mask = a.getMask()) {
    auto m = c.shape(mask, 2, "mask");
    if (failed(m))
      return failure();
    if (!dimsAgree((*m)[0], (*y)[0]) || !dimsAgree((*m)[1], (*y)[1]))
      return c.fail("mask must be [batch, steps] = [" + dimStr((*y)[0]) + ", " +
                    dimStr((*y)[1]) + "], got [" + dimStr((*m)[0]) + ", " + dimStr((*m)[1]) +
                    "]");
  }
  out.push_back(c.f32(*y));
  out.push_back(c.f32({(*y)[0], a.getHeads(), (*y)[1], (*y)[1]}));
  return success();
}

LogicalResult AttentionGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                Adaptor a, SmallVectorImpl<Type> &out) {
  ShapeCtx c{ctx, loc, "attention_grad"};
  auto y = inferAttention(c, a.getQkv(), a.getHeads());
  auto dy = c.shape(a.getGrad(), 3, "grad");
  auto p = c.shape(a.getProbs(), 4, "probs");
  auto o = c.shape(a.getOutput(), 3, "output");
  if (failed(y) || failed(dy) || failed(p) || failed(o))
    return failure();
  for (int j = 0; j < 3; ++j)
    if (!dimsAgree((*dy)[j], (*y)[j]) || !dimsAgree((*o)[j], (*y)[j]))
      return c.fail("grad and output must be [batch, steps, qkv's width / 3]");
  const int64_t want[4] = {(*y)[0], a.getHeads(), (*y)[1], (*y)[1]};
  for (int j = 0; j < 4; ++j)
    if (!dimsAgree((*p)[j], want[j]))
      return c.fail("probs must be [batch, heads, steps, steps]");
  out.push_back(a.getQkv().getType());
  return success();
}
