//===- TensorRules.cpp - rules of the general ops of imported graphs -*- C++ -*-===//
//
// Shape rules, verifier and kernel lowering of dl.unary, dl.binary, dl.reduce, dl.view,
// dl.permute and dl.slice (issue 14). Their functions are named in the IR and numbered in the plan, both
// from runtime/plan/TensorFunctions.def. Inference only for now: they have no gradient rule,
// so --dl-autodiff refuses a graph that trains through one, naming it.
//
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;
using dlc::plan::KernelKind;

namespace {

/// The position of `fn` in the list, or -1.
int64_t indexOf(ArrayRef<StringRef> names, StringRef fn) {
  auto it = llvm::find(names, fn);
  return it == names.end() ? -1 : int64_t(it - names.begin());
}
const StringRef kUnaryNames[] = {
#define DLC_UNARY_FN(Enum, name, expr) name,
#include "runtime/plan/TensorFunctions.def"
};
const StringRef kBinaryNames[] = {
#define DLC_BINARY_FN(Enum, name, expr) name,
#include "runtime/plan/TensorFunctions.def"
};
const StringRef kReduceNames[] = {
#define DLC_REDUCE_FN(Enum, name, first, step, finish) name,
#include "runtime/plan/TensorFunctions.def"
};

LogicalResult fail(std::optional<Location> loc, StringRef op, const Twine &msg) {
  return emitOptionalError(loc, "dl.", op, ": ", msg);
}
FailureOr<ArrayRef<int64_t>> staticShape(std::optional<Location> loc, StringRef op, Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!t || !t.hasStaticShape()) {
    (void)fail(loc, op, "needs operands of static shape");
    return failure();
  }
  return t.getShape();
}
Type f32(MLIRContext *ctx, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, FloatType::getF32(ctx));
}
std::string list(ArrayRef<StringRef> names) {
  std::string s;
  for (StringRef n : names)
    s += (s.empty() ? "" : ", ") + n.str();
  return s;
}
} // namespace

//===----------------------------------------------------------------------===//
// unary
//===----------------------------------------------------------------------===//

LogicalResult UnaryOp::verify() {
  if (indexOf(kUnaryNames, getFn()) < 0)
    return emitOpError("unknown function '") << getFn() << "'; known: " << list(kUnaryNames);
  return success();
}
LogicalResult UnaryOp::lowerToKernels(KernelBuilder &k) {
  k.call(*this, {KernelKind::Unary, {getInput()},
                 {numElements(getInput()), indexOf(kUnaryNames, getFn())},
                 {getAlpha().convertToFloat(), getBeta().convertToFloat()}});
  return success();
}

//===----------------------------------------------------------------------===//
// binary
//===----------------------------------------------------------------------===//

LogicalResult BinaryOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                         Adaptor a, SmallVectorImpl<Type> &out) {
  if (indexOf(kBinaryNames, a.getFn()) < 0)
    return fail(loc, "binary", "unknown function '" + a.getFn() + "'; known: " +
                                   list(kBinaryNames));
  auto x = staticShape(loc, "binary", a.getLhs()), z = staticShape(loc, "binary", a.getRhs());
  if (failed(x) || failed(z))
    return failure();
  size_t rank = std::max(x->size(), z->size());
  if (rank > 6)
    return fail(loc, "binary", "at most 6 axes, got " + Twine(rank));
  SmallVector<int64_t> shape(rank);
  for (size_t j = 0; j < rank; ++j) {
    int64_t dx = j < rank - x->size() ? 1 : (*x)[j - (rank - x->size())];
    int64_t dz = j < rank - z->size() ? 1 : (*z)[j - (rank - z->size())];
    if (dx != dz && dx != 1 && dz != 1)
      return fail(loc, "binary", "cannot broadcast dimension " + Twine(dx) + " with " + Twine(dz));
    shape[j] = dx == 1 ? dz : dx;
  }
  out.push_back(f32(ctx, shape));
  return success();
}
LogicalResult BinaryOp::lowerToKernels(KernelBuilder &k) {
  ArrayRef<int64_t> y = shapeOf(getResult());
  std::vector<int64_t> ints(21, 0);
  ints[0] = indexOf(kBinaryNames, getFn());
  const int64_t pad = 6 - int64_t(y.size());
  for (int64_t j = 0; j < 6; ++j)
    ints[1 + j] = j < pad ? 1 : y[j - pad];
  // Row-major strides of each operand aligned at the last axis; 0 where it broadcasts.
  for (auto [op, v] : llvm::enumerate(SmallVector<Value>{getLhs(), getRhs()})) {
    ArrayRef<int64_t> s = shapeOf(v);
    int64_t stride = 1;
    for (int64_t j = 5; j >= 0; --j) {
      int64_t axis = j - (6 - int64_t(s.size()));
      int64_t d = axis < 0 ? 1 : s[axis];
      ints[7 + 6 * op + j] = d == 1 ? 0 : stride;
      stride *= d;
    }
  }
  k.call(*this, {KernelKind::BroadcastBinary, {getLhs(), getRhs()}, ints});
  return success();
}

//===----------------------------------------------------------------------===//
// reduce
//===----------------------------------------------------------------------===//

LogicalResult ReduceOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                         Adaptor a, SmallVectorImpl<Type> &out) {
  if (indexOf(kReduceNames, a.getFn()) < 0)
    return fail(loc, "reduce", "unknown function '" + a.getFn() + "'; known: " +
                                   list(kReduceNames));
  auto x = staticShape(loc, "reduce", a.getInput());
  if (failed(x))
    return failure();
  int64_t axis = a.getAxis(), count = a.getCount(), rank = int64_t(x->size());
  if (axis < 0 || count < 1 || axis > rank - count)
    return fail(loc, "reduce", "axes " + Twine(axis) + " to " + Twine(axis + count - 1) +
                                   " are not axes of a " + Twine(rank) + "-D input");
  SmallVector<int64_t> shape;
  for (int64_t j = 0; j < rank; ++j)
    if (j < axis || j >= axis + count)
      shape.push_back((*x)[j]);
    else if (a.getKeepdims())
      shape.push_back(1);
  out.push_back(f32(ctx, shape));
  return success();
}
LogicalResult ReduceOp::lowerToKernels(KernelBuilder &k) {
  ArrayRef<int64_t> x = shapeOf(getInput());
  int64_t outer = 1, mid = 1, inner = 1, axis = getAxis(), count = getCount();
  for (int64_t j = 0; j < int64_t(x.size()); ++j)
    (j < axis ? outer : j < axis + count ? mid : inner) *= x[j];
  k.call(*this, {KernelKind::Reduce, {getInput()},
                 {indexOf(kReduceNames, getFn()), outer, mid, inner}});
  return success();
}

//===----------------------------------------------------------------------===//
// view, permute
//===----------------------------------------------------------------------===//

LogicalResult ViewOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                       Adaptor a, SmallVectorImpl<Type> &out) {
  auto x = staticShape(loc, "view", a.getInput());
  if (failed(x))
    return failure();
  int64_t in = 1, want = 1;
  for (int64_t d : *x)
    in *= d;
  for (int64_t d : a.getShape()) {
    if (d < 1)
      return fail(loc, "view", "shape entries must be positive");
    want *= d;
  }
  if (in != want)
    return fail(loc, "view", "cannot view " + Twine(in) + " elements as " + Twine(want));
  out.push_back(f32(ctx, a.getShape()));
  return success();
}
LogicalResult ViewOp::lowerToKernels(KernelBuilder &k) {
  k.view(getResult(), getInput());
  return success();
}

LogicalResult PermuteOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                          Adaptor a, SmallVectorImpl<Type> &out) {
  auto x = staticShape(loc, "permute", a.getInput());
  if (failed(x))
    return failure();
  ArrayRef<int64_t> perm = a.getPerm();
  if (perm.size() != x->size() || x->size() > 6)
    return fail(loc, "permute", "perm has " + Twine(perm.size()) + " entries for a " +
                                    Twine(x->size()) + "-D input (at most 6)");
  SmallVector<bool> seen(perm.size(), false);
  SmallVector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= int64_t(perm.size()) || seen[p])
      return fail(loc, "permute", "perm must be a permutation of 0 to " + Twine(perm.size() - 1));
    seen[p] = true;
    shape.push_back((*x)[p]);
  }
  out.push_back(f32(ctx, shape));
  return success();
}
LogicalResult PermuteOp::lowerToKernels(KernelBuilder &k) {
  auto x = shapeOf(getInput());
  ArrayRef<int64_t> perm = getPerm();
  const int64_t pad = 6 - int64_t(x.size());
  std::vector<int64_t> ints(12);
  for (int64_t j = 0; j < 6; ++j) {
    ints[j] = j < pad ? 1 : x[j - pad];
    ints[6 + j] = j < pad ? j : perm[j - pad] + pad;
  }
  k.call(*this, {KernelKind::Transpose, {getInput()}, ints});
  return success();
}

//===----------------------------------------------------------------------===//
// slice
//===----------------------------------------------------------------------===//

LogicalResult SliceOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                        Adaptor a, SmallVectorImpl<Type> &out) {
  auto x = staticShape(loc, "slice", a.getInput());
  if (failed(x))
    return failure();
  ArrayRef<int64_t> starts = a.getStarts(), steps = a.getSteps(), sizes = a.getSizes();
  if (starts.size() != x->size() || steps.size() != x->size() || sizes.size() != x->size() ||
      x->size() > 6)
    return fail(loc, "slice", "needs starts, steps and sizes for each of the input's " +
                                  Twine(x->size()) + " axes (at most 6)");
  for (size_t j = 0; j < x->size(); ++j) {
    int64_t last = starts[j] + (sizes[j] - 1) * steps[j];
    if (sizes[j] < 1 || steps[j] == 0 || starts[j] < 0 || starts[j] >= (*x)[j] || last < 0 ||
        last >= (*x)[j])
      return fail(loc, "slice", "axis " + Twine(j) + ": " + Twine(sizes[j]) +
                                    " elements from " + Twine(starts[j]) + " by " +
                                    Twine(steps[j]) + " do not lie within " + Twine((*x)[j]));
  }
  out.push_back(f32(ctx, sizes));
  return success();
}
LogicalResult SliceOp::lowerToKernels(KernelBuilder &k) {
  ArrayRef<int64_t> x = shapeOf(getInput()), sizes = getSizes();
  ArrayRef<int64_t> starts = getStarts(), steps = getSteps();
  std::vector<int64_t> ints(21, 0);
  ints[0] = indexOf(kBinaryNames, "first");
  const int64_t pad = 6 - int64_t(x.size());
  int64_t stride = 1, offset = 0;
  for (int64_t j = 5; j >= 0; --j) {
    int64_t axis = j - pad;
    ints[1 + j] = axis < 0 ? 1 : sizes[axis];
    if (axis >= 0) {
      ints[7 + j] = sizes[axis] == 1 ? 0 : stride * steps[axis];
      offset += stride * starts[axis];
      stride *= x[axis];
    }
  }
  ints[19] = offset; // the second operand is x's first element, never advanced
  k.call(*this, {KernelKind::BroadcastBinary, {getInput(), getInput()}, ints});
  return success();
}
