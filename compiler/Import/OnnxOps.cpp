//===- OnnxOps.cpp - ONNX operators -> dl ops, one handler per op type -*- C++ -*-===//
//
// The op table: each ONNX op type's handler reads its inputs and attributes (opset 13-17
// spellings, and the older ones where only attributes moved) and either folds the node
// (every input a constant: the shape subgraphs torch.onnx.export writes) or builds dl ops.
// Whole-tensor ops of static shape (dl.unary, dl.binary, dl.reduce, dl.view, dl.permute)
// cover what the layer ops (dl.conv2d, dl.matmul, dl.softmax, ...) do not.
//
#include "compiler/Import/OnnxGraph.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <functional>
#include <numeric>

using namespace mlir;
using namespace dlc::onnximport;

namespace {
using Inputs = std::vector<OnnxValue *>;
using Outputs = std::vector<OnnxValue>;

int64_t product(const std::vector<int64_t> &s, size_t from = 0, size_t to = SIZE_MAX) {
  int64_t n = 1;
  for (size_t i = from; i < std::min(to, s.size()); ++i)
    n *= s[i];
  return n;
}

LogicalResult need(OnnxGraph &g, Inputs &in, size_t count) {
  if (in.size() < count || llvm::any_of(llvm::ArrayRef(in).take_front(count),
                                        [](OnnxValue *v) { return v == nullptr; }))
    return g.error("needs " + std::to_string(count) + " inputs");
  return success();
}
LogicalResult floatInput(OnnxGraph &g, OnnxValue *v) {
  if (!v->isFloat && !v->data)
    return g.error("takes float tensors only");
  return success();
}

/// A constant result: the node folded.
OnnxValue constant(std::vector<int64_t> shape, std::vector<double> data, bool isFloat) {
  OnnxValue v;
  v.shape = std::move(shape);
  v.data = std::move(data);
  v.isFloat = isFloat;
  return v;
}

/// `x` viewed as `shape` (a dl.view, or the same constant).
FailureOr<OnnxValue> view(OnnxGraph &g, OnnxValue &x, const std::vector<int64_t> &shape) {
  if (product(shape) != x.elements())
    return g.error("cannot view " + std::to_string(x.elements()) + " elements as " +
                   std::to_string(product(shape)));
  if (x.data && !x.value)
    return constant(shape, *x.data, x.isFloat);
  if (failed(floatInput(g, &x)))
    return failure();
  auto t = g.tensor(x);
  if (failed(t))
    return failure();
  if (std::vector<int64_t>(x.shape) == shape)
    return g.wrap(*t);
  auto y = g.typed(g.b.create<dl::ViewOp>(g.loc(), g.unknown(), *t, shape));
  if (failed(y))
    return failure();
  return g.wrap(*y);
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

/// The dialect's own op for a function it has one for (differentiable, fusable), else
/// dl.unary.
Operation *unaryOpFor(OnnxGraph &g, Value x, StringRef fn, float a, float b) {
  if (fn == "relu")
    return g.b.create<dl::ReluOp>(g.loc(), g.unknown(), x);
  if (fn == "sigmoid")
    return g.b.create<dl::SigmoidOp>(g.loc(), g.unknown(), x);
  if (fn == "tanh")
    return g.b.create<dl::TanhOp>(g.loc(), g.unknown(), x);
  if (fn == "hard_swish")
    return g.b.create<dl::HardswishOp>(g.loc(), g.unknown(), x);
  if (fn == "clip" && a == 0.f && b == 6.f)
    return g.b.create<dl::Relu6Op>(g.loc(), g.unknown(), x);
  return g.b.create<dl::UnaryOp>(g.loc(), g.unknown(), x, fn, llvm::APFloat(a), llvm::APFloat(b));
}

FailureOr<OnnxValue> unary(OnnxGraph &g, OnnxValue &x, StringRef fn, float a = 0, float b = 0) {
  if (failed(floatInput(g, &x)))
    return failure();
  auto t = g.tensor(x);
  if (failed(t))
    return failure();
  auto y = g.typed(unaryOpFor(g, *t, fn, a, b));
  if (failed(y))
    return failure();
  return g.wrap(*y);
}

/// Broadcast shape of two shapes (NumPy rules).
std::optional<std::vector<int64_t>> broadcast(const std::vector<int64_t> &x,
                                              const std::vector<int64_t> &z) {
  size_t rank = std::max(x.size(), z.size());
  std::vector<int64_t> out(rank);
  for (size_t j = 0; j < rank; ++j) {
    int64_t dx = j < rank - x.size() ? 1 : x[j - (rank - x.size())];
    int64_t dz = j < rank - z.size() ? 1 : z[j - (rank - z.size())];
    if (dx != dz && dx != 1 && dz != 1)
      return std::nullopt;
    out[j] = dx == 1 ? dz : dx;
  }
  return out;
}

/// Folds fn(x, z) for constants with broadcasting.
std::vector<double> foldBinary(const OnnxValue &x, const OnnxValue &z,
                               const std::vector<int64_t> &shape,
                               const std::function<double(double, double)> &fn) {
  int64_t n = product(shape);
  std::vector<double> out(n);
  size_t rank = shape.size();
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, xi = 0, zi = 0, xs = 1, zs = 1;
    for (int64_t j = int64_t(rank) - 1; j >= 0; --j) {
      int64_t c = rest % shape[j];
      rest /= shape[j];
      int64_t ax = j - int64_t(rank - x.shape.size()), az = j - int64_t(rank - z.shape.size());
      if (ax >= 0) {
        if (x.shape[ax] != 1)
          xi += c * xs;
        xs *= x.shape[ax];
      }
      if (az >= 0) {
        if (z.shape[az] != 1)
          zi += c * zs;
        zs *= z.shape[az];
      }
    }
    out[i] = fn((*x.data)[xi], (*z.data)[zi]);
  }
  return out;
}

double applyBinary(StringRef fn, double x, double z, bool isFloat) {
  if (fn == "add") return x + z;
  if (fn == "sub") return x - z;
  if (fn == "mul") return x * z;
  if (fn == "div") return isFloat ? x / z : (z == 0 ? 0 : double(int64_t(x) / int64_t(z)));
  if (fn == "pow") return std::pow(x, z);
  if (fn == "max") return std::max(x, z);
  if (fn == "min") return std::min(x, z);
  if (fn == "fmod") return std::fmod(x, z);
  return x < 0 ? z * x : x; // prelu
}

FailureOr<OnnxValue> binary(OnnxGraph &g, OnnxValue &x, OnnxValue &z, StringRef fn) {
  auto shape = broadcast(x.shape, z.shape);
  if (!shape)
    return g.error("operand shapes do not broadcast");
  if (x.data && z.data && !x.value && !z.value) {
    bool isFloat = x.isFloat || z.isFloat;
    return constant(*shape, foldBinary(x, z, *shape, [&](double a, double b) {
                      return applyBinary(fn, a, b, isFloat);
                    }),
                    isFloat);
  }
  if (failed(floatInput(g, &x)) || failed(floatInput(g, &z)))
    return failure();
  auto a = g.tensor(x);
  auto b = succeeded(a) ? g.tensor(z) : FailureOr<Value>(failure());
  if (failed(b))
    return failure();
  // Operands of one shape: the dialect's differentiable add, sub and mul.
  Operation *op = nullptr;
  if (x.shape == z.shape && fn == "add")
    op = g.b.create<dl::AddOp>(g.loc(), g.unknown(), *a, *b);
  else if (x.shape == z.shape && fn == "sub")
    op = g.b.create<dl::SubOp>(g.loc(), g.unknown(), *a, *b);
  else if (x.shape == z.shape && fn == "mul")
    op = g.b.create<dl::MulOp>(g.loc(), g.unknown(), *a, *b);
  else
    op = g.b.create<dl::BinaryOp>(g.loc(), g.unknown(), *a, *b, fn);
  auto y = g.typed(op);
  if (failed(y))
    return failure();
  return g.wrap(*y);
}

/// Op types that are one dl.unary function, with their attributes' defaults.
struct UnarySpec {
  const char *fn;
  const char *alphaName;
  float alpha;
  const char *betaName;
  float beta;
};
const std::map<std::string, UnarySpec> kUnary = {
    {"Abs", {"abs", nullptr, 0, nullptr, 0}},
    {"Neg", {"neg", nullptr, 0, nullptr, 0}},
    {"Exp", {"exp", nullptr, 0, nullptr, 0}},
    {"Log", {"log", nullptr, 0, nullptr, 0}},
    {"Sqrt", {"sqrt", nullptr, 0, nullptr, 0}},
    {"Reciprocal", {"reciprocal", nullptr, 0, nullptr, 0}},
    {"Floor", {"floor", nullptr, 0, nullptr, 0}},
    {"Ceil", {"ceil", nullptr, 0, nullptr, 0}},
    {"Round", {"round", nullptr, 0, nullptr, 0}},
    {"Sign", {"sign", nullptr, 0, nullptr, 0}},
    {"Erf", {"erf", nullptr, 0, nullptr, 0}},
    {"Sin", {"sin", nullptr, 0, nullptr, 0}},
    {"Cos", {"cos", nullptr, 0, nullptr, 0}},
    {"Tan", {"tan", nullptr, 0, nullptr, 0}},
    {"Asin", {"asin", nullptr, 0, nullptr, 0}},
    {"Acos", {"acos", nullptr, 0, nullptr, 0}},
    {"Atan", {"atan", nullptr, 0, nullptr, 0}},
    {"Sinh", {"sinh", nullptr, 0, nullptr, 0}},
    {"Cosh", {"cosh", nullptr, 0, nullptr, 0}},
    {"Asinh", {"asinh", nullptr, 0, nullptr, 0}},
    {"Acosh", {"acosh", nullptr, 0, nullptr, 0}},
    {"Atanh", {"atanh", nullptr, 0, nullptr, 0}},
    {"Relu", {"relu", nullptr, 0, nullptr, 0}},
    {"Sigmoid", {"sigmoid", nullptr, 0, nullptr, 0}},
    {"Tanh", {"tanh", nullptr, 0, nullptr, 0}},
    {"Softplus", {"softplus", nullptr, 0, nullptr, 0}},
    {"Softsign", {"softsign", nullptr, 0, nullptr, 0}},
    {"Elu", {"elu", "alpha", 1.f, nullptr, 0}},
    {"Selu", {"selu", "alpha", 1.67326319217681884765625f, "gamma", 1.05070102214813232421875f}},
    {"LeakyRelu", {"leaky_relu", "alpha", 0.01f, nullptr, 0}},
    {"HardSigmoid", {"hard_sigmoid", "alpha", 0.2f, "beta", 0.5f}},
    {"ThresholdedRelu", {"thresholded_relu", "alpha", 1.f, nullptr, 0}},
    {"Celu", {"celu", "alpha", 1.f, nullptr, 0}},
    {"HardSwish", {"hard_swish", nullptr, 0, nullptr, 0}},
    {"Mish", {"mish", nullptr, 0, nullptr, 0}},
    {"Shrink", {"shrink", "lambd", 0.5f, "bias", 0.f}},
};

LogicalResult unaryOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  const UnarySpec &s = kUnary.at(g.node->op_type());
  float a = s.alphaName ? g.attrFloat(s.alphaName, s.alpha) : 0.f;
  float b = s.betaName ? g.attrFloat(s.betaName, s.beta) : 0.f;
  auto y = unary(g, *in[0], s.fn, a, b);
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

const std::map<std::string, const char *> kBinary = {
    {"Add", "add"}, {"Sub", "sub"}, {"Mul", "mul"}, {"Div", "div"},
    {"Pow", "pow"}, {"PRelu", "prelu"},
};

LogicalResult binaryOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 2)))
    return failure();
  if (g.attrInt("broadcast", 0))
    return g.error("the legacy broadcast attribute (opset 6 and older) is not supported");
  auto y = binary(g, *in[0], *in[1], kBinary.at(g.node->op_type()));
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

LogicalResult modOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 2)))
    return failure();
  if (g.attrInt("fmod", 0) != 1 && (in[0]->isFloat || in[1]->isFloat))
    return g.error("float Mod needs fmod = 1");
  auto y = binary(g, *in[0], *in[1], "fmod");
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

/// Max, Min, Sum, Mean: any number of operands, folded left to right.
LogicalResult variadicOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  const std::string &type = g.node->op_type();
  const char *fn = type == "Max" ? "max" : type == "Min" ? "min" : "add";
  if (in.empty() || !in[0])
    return g.error("needs at least one input");
  OnnxValue acc = *in[0];
  if (in.size() == 1) {
    auto y = unary(g, acc, "identity");
    if (failed(y))
      return failure();
    acc = *y;
  }
  for (size_t i = 1; i < in.size(); ++i) {
    auto y = binary(g, acc, *in[i], fn);
    if (failed(y))
      return failure();
    acc = *y;
  }
  if (type == "Mean" && in.size() > 1) {
    auto y = unary(g, acc, "affine", 1.f / float(in.size()), 0.f);
    if (failed(y))
      return failure();
    acc = *y;
  }
  out[0] = acc;
  return success();
}

LogicalResult clipOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  // Kernel attributes are finite: an absent bound is the largest float.
  float lo = -FLT_MAX, hi = FLT_MAX;
  if (g.opset < 11) {
    lo = g.attrFloat("min", lo);
    hi = g.attrFloat("max", hi);
  }
  OnnxValue x = *in[0];
  for (size_t i = 1; i < 3 && i < in.size(); ++i) {
    if (!in[i])
      continue;
    if (in[i]->elements() != 1)
      return g.error("min and max must be scalars");
    if (in[i]->data && !in[i]->value) {
      (i == 1 ? lo : hi) = float((*in[i]->data)[0]);
      continue;
    }
    // A bound computed by the graph: max(x, min), then min(., max), broadcast.
    auto b = binary(g, x, *in[i], i == 1 ? "max" : "min");
    if (failed(b))
      return failure();
    x = *b;
  }
  auto y = unary(g, x, "clip", lo, hi);
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

/// Identity, Dropout (inference: the identity; no mask output).
LogicalResult identityOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  if (out.size() > 1 && !g.node->output(1).empty())
    return g.error("the dropout mask output is not supported (bool)");
  out[0] = *in[0];
  return success();
}

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

LogicalResult constantOp(OnnxGraph &g, Inputs &, Outputs &out) {
  if (const onnx::AttributeProto *a = g.attr("value")) {
    OnnxValue v;
    std::vector<double> data;
    std::string error;
    if (!readTensor(a->t(), "", v.shape, data, v.isFloat, error))
      return g.error(error);
    v.data = std::move(data);
    out[0] = std::move(v);
    return success();
  }
  if (const onnx::AttributeProto *a = g.attr("value_float"))
    return out[0] = constant({}, {a->f()}, true), success();
  if (const onnx::AttributeProto *a = g.attr("value_floats"))
    return out[0] = constant({a->floats_size()}, {a->floats().begin(), a->floats().end()}, true),
           success();
  if (const onnx::AttributeProto *a = g.attr("value_int"))
    return out[0] = constant({}, {double(a->i())}, false), success();
  if (const onnx::AttributeProto *a = g.attr("value_ints"))
    return out[0] = constant({a->ints_size()}, {a->ints().begin(), a->ints().end()}, false),
           success();
  return g.error("only tensor, float and int values are supported");
}

LogicalResult shapeOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  int64_t rank = in[0]->shape.size();
  int64_t start = g.attrInt("start", 0), end = g.attrInt("end", rank);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
  std::vector<double> dims(in[0]->shape.begin() + start, in[0]->shape.begin() + std::max(start, end));
  out[0] = constant({int64_t(dims.size())}, dims, false);
  return success();
}

LogicalResult castOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  int64_t to = g.attrInt("to", onnx::TensorProto::FLOAT);
  bool toFloat = to == onnx::TensorProto::FLOAT || to == onnx::TensorProto::DOUBLE;
  OnnxValue v = *in[0];
  if (v.data && !v.value) {
    if (!toFloat)
      for (double &d : *v.data)
        d = to == onnx::TensorProto::BOOL ? double(d != 0) : std::trunc(d);
    v.isFloat = toFloat;
    v.param.clear();
    out[0] = std::move(v);
    return success();
  }
  if (!toFloat || !v.isFloat)
    return g.error("casts between float tensors only (or of constants)");
  out[0] = v;
  return success();
}

LogicalResult reshapeOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, g.opset < 5 ? 1 : 2)))
    return failure();
  std::vector<int64_t> target;
  if (g.opset < 5) {
    target = g.attrInts("shape").value_or(std::vector<int64_t>{});
  } else {
    auto t = g.constInts(*in[1], "the target shape");
    if (failed(t))
      return failure();
    target = *t;
  }
  bool allowZero = g.attrInt("allowzero", 0) != 0;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !allowZero) {
      if (i >= in[0]->shape.size())
        return g.error("a 0 in the target shape has no input dimension to copy");
      target[i] = in[0]->shape[i];
    }
    if (target[i] == -1) {
      if (infer >= 0)
        return g.error("the target shape has two -1 entries");
      infer = int64_t(i);
    } else if (target[i] < 0) {
      return g.error("the target shape has an entry of " + std::to_string(target[i]));
    } else {
      known *= target[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || in[0]->elements() % known)
      return g.error("cannot infer the -1 of the target shape");
    target[infer] = in[0]->elements() / known;
  }
  auto y = view(g, *in[0], target);
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

LogicalResult flattenOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  int64_t rank = in[0]->shape.size();
  auto axis = g.axis(g.attrInt("axis", 1), rank + 1);
  if (failed(axis))
    return failure();
  if (*axis == 1 && rank >= 2 && !(in[0]->data && !in[0]->value)) {
    // The dialect's flatten (a view too, and differentiable).
    auto t = g.tensor(*in[0]);
    if (failed(t))
      return failure();
    auto y = g.typed(g.b.create<dl::FlattenOp>(g.loc(), g.unknown(), *t));
    if (failed(y))
      return failure();
    out[0] = g.wrap(*y);
    return success();
  }
  auto y = view(g, *in[0], {product(in[0]->shape, 0, *axis), product(in[0]->shape, *axis)});
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

/// The axes of Squeeze/Unsqueeze/Reduce*: an attribute before opset 13 (18 for the
/// reductions), then an optional input.
FailureOr<std::optional<std::vector<int64_t>>> axesOf(OnnxGraph &g, Inputs &in, size_t index) {
  if (auto a = g.attrInts("axes"))
    return std::optional<std::vector<int64_t>>(*a);
  if (in.size() > index && in[index]) {
    auto a = g.constInts(*in[index], "the axes");
    if (failed(a))
      return failure();
    return std::optional<std::vector<int64_t>>(*a);
  }
  return std::optional<std::vector<int64_t>>();
}

LogicalResult squeezeOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  auto axes = axesOf(g, in, 1);
  if (failed(axes))
    return failure();
  const std::vector<int64_t> &s = in[0]->shape;
  std::vector<bool> drop(s.size(), false);
  if (*axes) {
    for (int64_t a : **axes) {
      auto ax = g.axis(a, s.size());
      if (failed(ax))
        return failure();
      if (s[*ax] != 1)
        return g.error("cannot squeeze axis " + std::to_string(a) + " of size " +
                       std::to_string(s[*ax]));
      drop[*ax] = true;
    }
  } else {
    for (size_t i = 0; i < s.size(); ++i)
      drop[i] = s[i] == 1;
  }
  std::vector<int64_t> shape;
  for (size_t i = 0; i < s.size(); ++i)
    if (!drop[i])
      shape.push_back(s[i]);
  auto y = view(g, *in[0], shape);
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

LogicalResult unsqueezeOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  auto axes = axesOf(g, in, 1);
  if (failed(axes))
    return failure();
  if (!*axes)
    return g.error("needs axes");
  int64_t rank = in[0]->shape.size() + (*axes)->size();
  std::vector<bool> added(rank, false);
  for (int64_t a : **axes) {
    auto ax = g.axis(a, rank);
    if (failed(ax))
      return failure();
    added[*ax] = true;
  }
  std::vector<int64_t> shape;
  size_t next = 0;
  for (int64_t i = 0; i < rank; ++i)
    shape.push_back(added[i] ? 1 : next < in[0]->shape.size() ? in[0]->shape[next++] : 1);
  auto y = view(g, *in[0], shape);
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

FailureOr<OnnxValue> permute(OnnxGraph &g, OnnxValue &x, const std::vector<int64_t> &perm) {
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i)
    identity &= perm[i] == int64_t(i);
  if (identity)
    return x;
  std::vector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(x.shape[p]);
  if (x.data && !x.value) {
    // Folded: a constant's elements reordered.
    std::vector<double> data(x.elements());
    std::vector<int64_t> strides(x.shape.size(), 1);
    for (int64_t j = int64_t(x.shape.size()) - 2; j >= 0; --j)
      strides[j] = strides[j + 1] * x.shape[j + 1];
    for (int64_t i = 0; i < int64_t(data.size()); ++i) {
      int64_t rest = i, src = 0;
      for (int64_t j = int64_t(perm.size()) - 1; j >= 0; --j) {
        src += (rest % shape[j]) * strides[perm[j]];
        rest /= shape[j];
      }
      data[i] = (*x.data)[src];
    }
    return constant(shape, data, x.isFloat);
  }
  if (failed(floatInput(g, &x)))
    return failure();
  auto t = g.tensor(x);
  if (failed(t))
    return failure();
  auto y = g.typed(g.b.create<dl::PermuteOp>(g.loc(), g.unknown(), *t, perm));
  if (failed(y))
    return failure();
  return g.wrap(*y);
}

LogicalResult transposeOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  int64_t rank = in[0]->shape.size();
  std::vector<int64_t> perm(rank);
  for (int64_t i = 0; i < rank; ++i)
    perm[i] = rank - 1 - i;
  if (auto p = g.attrInts("perm"))
    perm = *p;
  if (int64_t(perm.size()) != rank)
    return g.error("perm has " + std::to_string(perm.size()) + " entries for a " +
                   std::to_string(rank) + "-D input");
  for (int64_t &p : perm) {
    auto a = g.axis(p, rank);
    if (failed(a))
      return failure();
    p = *a;
  }
  auto y = permute(g, *in[0], perm);
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

LogicalResult concatAlong(OnnxGraph &g, Inputs &in, int64_t a, Outputs &out);

LogicalResult concatOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (in.empty() || llvm::is_contained(in, nullptr))
    return g.error("needs its inputs");
  auto axis = g.axis(g.attrInt("axis", 0), int64_t(in[0]->shape.size()));
  if (failed(axis))
    return failure();
  return concatAlong(g, in, *axis, out);
}

/// The inputs joined along `a`: folded for constants, else dl.concat two at a time.
LogicalResult concatAlong(OnnxGraph &g, Inputs &in, int64_t a, Outputs &out) {
  int64_t rank = in[0]->shape.size();
  std::optional<int64_t> axis = a;
  for (OnnxValue *v : in) {
    if (int64_t(v->shape.size()) != rank)
      return g.error("inputs of different ranks");
    for (int64_t j = 0; j < rank; ++j)
      if (j != *axis && v->shape[j] != in[0]->shape[j])
        return g.error("inputs differ outside the concatenation axis");
  }
  std::vector<int64_t> shape = in[0]->shape;
  shape[*axis] = 0;
  for (OnnxValue *v : in)
    shape[*axis] += v->shape[*axis];
  if (llvm::all_of(in, [](OnnxValue *v) { return v->data && !v->value; })) {
    // Folded: rows of each input in turn.
    int64_t outer = product(shape, 0, *axis);
    std::vector<double> data;
    bool isFloat = false;
    for (int64_t o = 0; o < outer; ++o)
      for (OnnxValue *v : in) {
        int64_t inner = product(v->shape, *axis);
        data.insert(data.end(), v->data->begin() + o * inner, v->data->begin() + (o + 1) * inner);
        isFloat |= v->isFloat;
      }
    out[0] = constant(shape, data, isFloat);
    return success();
  }
  // dl.concat joins two at a time along an axis that is not the first: a leading 1 makes
  // every axis one.
  std::vector<int64_t> lifted{1};
  lifted.insert(lifted.end(), in[0]->shape.begin(), in[0]->shape.end());
  Value acc;
  for (OnnxValue *v : in) {
    if (v->elements() == 0)
      continue;
    std::vector<int64_t> s{1};
    s.insert(s.end(), v->shape.begin(), v->shape.end());
    auto x = view(g, *v, s);
    if (failed(x))
      return failure();
    auto t = g.tensor(*x);
    if (failed(t))
      return failure();
    if (!acc) {
      acc = *t;
      continue;
    }
    auto y = g.typed(g.b.create<dl::ConcatOp>(g.loc(), g.unknown(), acc, *t, *axis + 1));
    if (failed(y))
      return failure();
    acc = *y;
  }
  if (!acc)
    return g.error("all inputs are empty");
  OnnxValue joined = g.wrap(acc);
  if (in.size() == 1) {
    auto y = unary(g, joined, "identity");
    if (failed(y))
      return failure();
    joined = *y;
  }
  auto y = view(g, joined, shape);
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

LogicalResult constantOfShapeOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  auto shape = g.constInts(*in[0], "the shape");
  if (failed(shape))
    return failure();
  double value = 0;
  bool isFloat = true;
  if (const onnx::AttributeProto *a = g.attr("value")) {
    std::vector<int64_t> s;
    std::vector<double> d;
    std::string error;
    if (!readTensor(a->t(), "", s, d, isFloat, error) || d.size() != 1)
      return g.error(error.empty() ? "value must have one element" : error);
    value = d[0];
  }
  if (product(*shape) > (int64_t(1) << 26))
    return g.error("the constant is too large to fold");
  out[0] = constant(*shape, std::vector<double>(product(*shape), value), isFloat);
  return success();
}

LogicalResult expandOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 2)))
    return failure();
  auto target = g.constInts(*in[1], "the shape");
  if (failed(target))
    return failure();
  auto shape = broadcast(in[0]->shape, *target);
  if (!shape)
    return g.error("the shape does not broadcast with the input's");
  if (in[0]->data && !in[0]->value) {
    OnnxValue ones = constant(*shape, std::vector<double>(product(*shape), 0), false);
    auto y = binary(g, *in[0], ones, "add");
    if (failed(y))
      return failure();
    out[0] = *y;
    return success();
  }
  if (failed(floatInput(g, in[0])))
    return failure();
  auto x = g.tensor(*in[0]);
  if (failed(x))
    return failure();
  // The pair (x, one element of x) broadcast to the target: "first" keeps x.
  auto one = view(g, *in[0], std::vector<int64_t>(shape->size(), 1));
  OnnxValue big = constant(*shape, {}, true);
  (void)big;
  std::vector<int64_t> ones(shape->size(), 1);
  if (in[0]->elements() != 1) {
    // A 1-element constant of the target's rank would not widen the result: use a zero
    // tensor of the target shape instead (added, exact).
    OnnxValue zeros = constant(*shape, std::vector<double>(product(*shape), 0.0), true);
    auto y = binary(g, *in[0], zeros, "add");
    if (failed(y))
      return failure();
    out[0] = *y;
    return success();
  }
  (void)one;
  OnnxValue zeros = constant(*shape, std::vector<double>(product(*shape), 0.0), true);
  auto y = binary(g, *in[0], zeros, "add");
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions and normalization
//===----------------------------------------------------------------------===//

/// Reduces `axes` (normalized, any order) of x with fn: one dl.reduce over consecutive axes,
/// after a permutation that makes them so when they are not.
FailureOr<OnnxValue> reduce(OnnxGraph &g, OnnxValue &x, std::vector<int64_t> axes, StringRef fn,
                            bool keepdims) {
  int64_t rank = x.shape.size();
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  std::vector<int64_t> keptShape;
  for (int64_t j = 0; j < rank; ++j)
    keptShape.push_back(llvm::is_contained(axes, j) ? 1 : x.shape[j]);
  if (axes.empty()) {
    auto y = unary(g, x, "identity");
    return y;
  }
  OnnxValue src = x;
  int64_t first = axes.front(), count = int64_t(axes.size());
  if (axes.back() - first + 1 != count) {
    std::vector<int64_t> perm;
    for (int64_t j = 0; j < rank; ++j)
      if (!llvm::is_contained(axes, j))
        perm.push_back(j);
    perm.insert(perm.end(), axes.begin(), axes.end());
    auto p = permute(g, src, perm);
    if (failed(p))
      return failure();
    src = *p;
    first = rank - count;
  }
  if (failed(floatInput(g, &src)))
    return failure();
  auto t = g.tensor(src);
  if (failed(t))
    return failure();
  auto y = g.typed(g.b.create<dl::ReduceOp>(g.loc(), g.unknown(), *t, fn, first, count, false));
  if (failed(y))
    return failure();
  OnnxValue r = g.wrap(*y);
  if (keepdims)
    return view(g, r, keptShape);
  return r;
}

const std::map<std::string, const char *> kReduce = {
    {"ReduceSum", "sum"},           {"ReduceMean", "mean"},        {"ReduceMax", "max"},
    {"ReduceMin", "min"},           {"ReduceProd", "prod"},        {"ReduceSumSquare", "sum_square"},
    {"ReduceL1", "l1"},             {"ReduceL2", "l2"},            {"ReduceLogSum", "log_sum"},
    {"ReduceLogSumExp", "log_sum_exp"},
};

LogicalResult reduceOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  auto axes = axesOf(g, in, 1);
  if (failed(axes))
    return failure();
  int64_t rank = in[0]->shape.size();
  std::vector<int64_t> list;
  if (*axes && !(*axes)->empty()) {
    for (int64_t a : **axes) {
      auto ax = g.axis(a, rank);
      if (failed(ax))
        return failure();
      list.push_back(*ax);
    }
  } else if (!g.attrInt("noop_with_empty_axes", 0)) {
    for (int64_t j = 0; j < rank; ++j)
      list.push_back(j);
  }
  auto y = reduce(g, *in[0], list, kReduce.at(g.node->op_type()), g.attrInt("keepdims", 1));
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

LogicalResult globalPoolOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  if (in[0]->shape.size() == 4 && g.node->op_type() == "GlobalAveragePool") {
    // A window as large as the image: the dialect's average pooling (differentiable).
    auto t = g.tensor(*in[0]);
    if (failed(t))
      return failure();
    auto y = g.typed(g.b.create<dl::AvgPool2dOp>(
        g.loc(), g.unknown(), *t, g.b.getDenseI64ArrayAttr({in[0]->shape[2], in[0]->shape[3]}),
        g.b.getDenseI64ArrayAttr({1, 1}), g.b.getDenseI64ArrayAttr({0, 0})));
    if (failed(y))
      return failure();
    out[0] = g.wrap(*y);
    return success();
  }
  std::vector<int64_t> axes;
  for (int64_t j = 2; j < int64_t(in[0]->shape.size()); ++j)
    axes.push_back(j);
  auto y = reduce(g, *in[0], axes, g.node->op_type() == "GlobalMaxPool" ? "max" : "mean", true);
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

/// Softmax or LogSoftmax over `axis`: dl.softmax works on the last axis, so other axes are
/// permuted there and back (opset 13); before opset 13 the input is coerced to 2-D at axis.
LogicalResult softmaxOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)) || failed(floatInput(g, in[0])))
    return failure();
  OnnxValue x = *in[0];
  int64_t rank = x.shape.size();
  if (rank == 0)
    return g.error("needs a tensor of rank 1 or more");
  auto axis = g.axis(g.attrInt("axis", g.opset < 13 ? 1 : -1), rank);
  if (failed(axis))
    return failure();
  std::vector<int64_t> perm;
  if (g.opset < 13) {
    auto v = view(g, x, {product(x.shape, 0, *axis), product(x.shape, *axis)});
    if (failed(v))
      return failure();
    x = *v;
  } else if (*axis != rank - 1) {
    for (int64_t j = 0; j < rank; ++j)
      perm.push_back(j == *axis ? rank - 1 : j == rank - 1 ? *axis : j);
    auto p = permute(g, x, perm);
    if (failed(p))
      return failure();
    x = *p;
  }
  auto t = g.tensor(x);
  if (failed(t))
    return failure();
  auto y = g.typed(g.b.create<dl::SoftmaxOp>(g.loc(), g.unknown(), *t));
  if (failed(y))
    return failure();
  OnnxValue r = g.wrap(*y);
  if (g.node->op_type() == "LogSoftmax") {
    auto l = unary(g, r, "log");
    if (failed(l))
      return failure();
    r = *l;
  }
  if (!perm.empty()) {
    auto p = permute(g, r, perm);
    if (failed(p))
      return failure();
    r = *p;
  }
  auto v = view(g, r, in[0]->shape);
  if (failed(v))
    return failure();
  out[0] = *v;
  return success();
}

/// Inference batch norm: y = x * s + (B - mean * s), s = scale / sqrt(var + eps), per channel
/// (axis 1); folded into two constants when the statistics are (exports: initializers).
LogicalResult batchNormOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 5)))
    return failure();
  if (out.size() > 1 && llvm::any_of(llvm::drop_begin(g.node->output()),
                                     [](const std::string &o) { return !o.empty(); }))
    return g.error("training mode (running statistics as outputs) is not supported");
  OnnxValue &x = *in[0];
  if (x.shape.size() < 2)
    return g.error("needs an input of rank 2 or more");
  int64_t c = x.shape[1];
  float eps = g.attrFloat("epsilon", 1e-5f);
  std::vector<int64_t> chan{c};
  for (size_t j = 2; j < x.shape.size(); ++j)
    chan.push_back(1);
  for (int i = 1; i < 5; ++i)
    if (in[i]->elements() != c)
      return g.error("scale, bias, mean and var need " + std::to_string(c) + " elements");
  // A CNN's batch norm (4-D, its statistics initializers): dl.batch_norm, as a YAML model's,
  // so that the running statistics are model state and training uses batch statistics.
  if (x.shape.size() == 4 && !in[3]->initializer.empty() && !in[4]->initializer.empty() &&
      in[1]->isFloat && in[2]->isFloat) {
    auto xt = g.tensor(x), gamma = g.tensor(*in[1]), beta = g.tensor(*in[2]);
    if (failed(xt) || failed(gamma) || failed(beta))
      return failure();
    std::string mean = g.declare(in[3]->initializer, {c}, *in[3]->data, false);
    std::string var = g.declare(in[4]->initializer, {c}, *in[4]->data, false);
    auto y = g.typed(g.b.create<dl::BatchNormOp>(
        g.loc(), g.unknown(), *xt, *gamma, *beta, FlatSymbolRefAttr::get(&g.ctx, mean),
        FlatSymbolRefAttr::get(&g.ctx, var), g.b.getF32FloatAttr(eps),
        g.b.getF32FloatAttr(1.f - g.attrFloat("momentum", 0.9f)), UnitAttr()));
    if (failed(y))
      return failure();
    out[0] = g.wrap(*y);
    return success();
  }
  if (llvm::all_of(llvm::ArrayRef(in).slice(1, 4), [](OnnxValue *v) { return bool(v->data); })) {
    std::vector<double> s(c), t(c);
    for (int64_t k = 0; k < c; ++k) {
      s[k] = (*in[1]->data)[k] / std::sqrt((*in[4]->data)[k] + double(eps));
      t[k] = (*in[2]->data)[k] - (*in[3]->data)[k] * s[k];
    }
    OnnxValue sv = constant(chan, s, true), tv = constant(chan, t, true);
    auto m = binary(g, x, sv, "mul");
    if (failed(m))
      return failure();
    auto y = binary(g, *m, tv, "add");
    if (failed(y))
      return failure();
    out[0] = *y;
    return success();
  }
  OnnxValue mean = *in[3], var = *in[4], scale = *in[1], bias = *in[2];
  auto vm = view(g, mean, chan), vv = view(g, var, chan), vs = view(g, scale, chan),
       vb = view(g, bias, chan);
  if (failed(vm) || failed(vv) || failed(vs) || failed(vb))
    return failure();
  auto centered = binary(g, x, *vm, "sub");
  if (failed(centered))
    return failure();
  auto sd = unary(g, *vv, "affine", 1.f, eps);
  if (failed(sd))
    return failure();
  sd = unary(g, *sd, "sqrt");
  if (failed(sd))
    return failure();
  auto y = binary(g, *centered, *sd, "div");
  if (failed(y))
    return failure();
  y = binary(g, *y, *vs, "mul");
  if (failed(y))
    return failure();
  y = binary(g, *y, *vb, "add");
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

/// LayerNormalization over the axes from `axis` on: dl.layer_norm on the rows of the input
/// viewed as [rows, d]; its mean and rstd are the optional outputs (keeping 1s).
LogicalResult layerNormOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 2)))
    return failure();
  OnnxValue &x = *in[0];
  int64_t rank = x.shape.size();
  auto axis = g.axis(g.attrInt("axis", -1), rank);
  if (failed(axis))
    return failure();
  if (g.attrInt("stash_type", 1) != 1)
    return g.error("stash_type other than float is not supported");
  int64_t rows = product(x.shape, 0, *axis), d = product(x.shape, *axis);
  if (in[1]->elements() != d || (in.size() > 2 && in[2] && in[2]->elements() != d))
    return g.error("scale and bias must have the normalized axes' shape (broadcasting them "
                   "is not supported)");
  auto xv = view(g, x, {rows, d});
  auto sv = view(g, *in[1], {d});
  if (failed(xv) || failed(sv))
    return failure();
  OnnxValue bias = in.size() > 2 && in[2] ? *in[2] : constant({d}, std::vector<double>(d, 0.0), true);
  auto bv = view(g, bias, {d});
  if (failed(bv))
    return failure();
  auto xt = g.tensor(*xv), st = g.tensor(*sv), bt = g.tensor(*bv);
  if (failed(xt) || failed(st) || failed(bt))
    return failure();
  auto op = g.b.create<dl::LayerNormOp>(g.loc(), TypeRange{g.unknown(), g.unknown(), g.unknown()},
                                        *xt, *st, *bt, g.b.getF32FloatAttr(g.attrFloat("epsilon", 1e-5f)));
  auto y = g.typed(op);
  if (failed(y))
    return failure();
  OnnxValue yv = g.wrap(op.getResult());
  auto r = view(g, yv, x.shape);
  if (failed(r))
    return failure();
  out[0] = *r;
  std::vector<int64_t> statShape(x.shape.begin(), x.shape.begin() + *axis);
  statShape.resize(rank, 1);
  for (int k = 1; k < 3 && k < int(out.size()); ++k) {
    OnnxValue s = g.wrap(k == 1 ? op.getMean() : op.getRstd());
    auto sv2 = view(g, s, statShape);
    if (failed(sv2))
      return failure();
    out[k] = *sv2;
  }
  return success();
}

/// InstanceNormalization: per example and channel over the spatial axes,
/// (x - mean) / sqrt(var + eps) * scale + B, from reductions and broadcast ops.
LogicalResult instanceNormOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 3)))
    return failure();
  OnnxValue &x = *in[0];
  int64_t rank = x.shape.size();
  if (rank < 3)
    return g.error("needs an input of rank 3 or more");
  std::vector<int64_t> axes, chan{x.shape[1]};
  for (int64_t j = 2; j < rank; ++j) {
    axes.push_back(j);
    chan.push_back(1);
  }
  float eps = g.attrFloat("epsilon", 1e-5f);
  auto mean = reduce(g, x, axes, "mean", true);
  if (failed(mean))
    return failure();
  auto centered = binary(g, x, *mean, "sub");
  if (failed(centered))
    return failure();
  auto sq = unary(g, *centered, "square");
  if (failed(sq))
    return failure();
  auto var = reduce(g, *sq, axes, "mean", true);
  if (failed(var))
    return failure();
  auto sd = unary(g, *var, "affine", 1.f, eps);
  if (failed(sd))
    return failure();
  sd = unary(g, *sd, "sqrt");
  if (failed(sd))
    return failure();
  auto y = binary(g, *centered, *sd, "div");
  auto scale = view(g, *in[1], chan), bias = view(g, *in[2], chan);
  if (failed(y) || failed(scale) || failed(bias))
    return failure();
  y = binary(g, *y, *scale, "mul");
  if (failed(y))
    return failure();
  y = binary(g, *y, *bias, "add");
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

//===----------------------------------------------------------------------===//
// Linear algebra, convolution, pooling
//===----------------------------------------------------------------------===//

/// MatMul: [..., M, K] x [K, N] (the weight 2-D) as dl.matmul; 1-D operands as NumPy.
LogicalResult matmulOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 2)))
    return failure();
  OnnxValue a = *in[0], b = *in[1];
  if (a.shape.empty() || b.shape.empty())
    return g.error("scalar operands");
  bool vecA = a.shape.size() == 1, vecB = b.shape.size() == 1;
  if (vecA) {
    auto v = view(g, a, {1, a.shape[0]});
    if (failed(v))
      return failure();
    a = *v;
  }
  if (vecB) {
    auto v = view(g, b, {b.shape[0], 1});
    if (failed(v))
      return failure();
    b = *v;
  }
  if (a.shape.back() != b.shape[b.shape.size() - 2])
    return g.error("inner dimensions differ");
  if (b.shape.size() > 2) {
    // A batched right operand (attention's q k^T): the products [..., M, N, K] of A viewed
    // [..., M, 1, K] and B^T viewed [..., 1, N, K], summed over K in double.
    int64_t k = a.shape.back(), n = b.shape.back();
    std::vector<int64_t> as(a.shape.begin(), a.shape.end() - 1);
    as.push_back(1);
    as.push_back(k);
    std::vector<int64_t> perm(b.shape.size());
    std::iota(perm.begin(), perm.end(), 0);
    std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
    auto bt = permute(g, b, perm);
    if (failed(bt))
      return failure();
    std::vector<int64_t> bs(b.shape.begin(), b.shape.end() - 2);
    bs.push_back(1);
    bs.push_back(n);
    bs.push_back(k);
    auto av = view(g, a, as);
    auto bv = succeeded(bt) ? view(g, *bt, bs) : FailureOr<OnnxValue>(failure());
    if (failed(av) || failed(bv))
      return failure();
    if (std::max(as.size(), bs.size()) > 6)
      return g.error("a batched product of more than 3 batch axes is not supported");
    auto prod = binary(g, *av, *bv, "mul");
    if (failed(prod))
      return failure();
    auto r = reduce(g, *prod, {int64_t(prod->shape.size()) - 1}, "sum", false);
    if (failed(r))
      return failure();
    std::vector<int64_t> shape = r->shape;
    if (vecA)
      shape.erase(shape.end() - 2);
    if (vecB)
      shape.pop_back();
    auto v = view(g, *r, shape);
    if (failed(v))
      return failure();
    out[0] = *v;
    return success();
  }
  auto at = g.tensor(a), bt = g.tensor(b);
  if (failed(at) || failed(bt))
    return failure();
  auto y = g.typed(g.b.create<dl::MatmulOp>(g.loc(), g.unknown(), *at, *bt, Value(), false,
                                            false, false));
  if (failed(y))
    return failure();
  OnnxValue r = g.wrap(*y);
  std::vector<int64_t> shape(in[0]->shape.begin(), in[0]->shape.end() - (vecA ? 1 : 1));
  if (vecA)
    shape.clear();
  if (!vecB)
    shape.push_back(b.shape[1]);
  if (vecA && !vecB)
    shape = {b.shape[1]};
  if (!vecA && vecB)
    shape = std::vector<int64_t>(in[0]->shape.begin(), in[0]->shape.end() - 1);
  if (vecA && vecB)
    shape = {};
  auto v = view(g, r, shape);
  if (failed(v))
    return failure();
  out[0] = *v;
  return success();
}

/// Gemm: alpha * op(A) op(B) + beta * C, C broadcast.
LogicalResult gemmOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 2)))
    return failure();
  OnnxValue &a = *in[0], &b = *in[1];
  if (a.shape.size() != 2 || b.shape.size() != 2)
    return g.error("A and B must be 2-D");
  bool ta = g.attrInt("transA", 0), tb = g.attrInt("transB", 0);
  float alpha = g.attrFloat("alpha", 1.f), beta = g.attrFloat("beta", 1.f);
  auto at = g.tensor(a), bt = g.tensor(b);
  if (failed(at) || failed(bt))
    return failure();
  auto y = g.typed(g.b.create<dl::MatmulOp>(g.loc(), g.unknown(), *at, *bt, Value(), ta, tb,
                                            false));
  if (failed(y))
    return failure();
  OnnxValue r = g.wrap(*y);
  if (alpha != 1.f) {
    auto s = unary(g, r, "affine", alpha, 0.f);
    if (failed(s))
      return failure();
    r = *s;
  }
  if (in.size() > 2 && in[2] && beta != 0.f) {
    OnnxValue c = *in[2];
    if (beta != 1.f) {
      auto s = unary(g, c, "affine", beta, 0.f);
      if (failed(s))
        return failure();
      c = *s;
    }
    // A bias per column: the matmul's own epilogue after fusion (dl.bias_add).
    if (c.shape.size() == 1 && c.shape[0] == r.shape[1] && c.isFloat) {
      auto ct = g.tensor(c);
      if (failed(ct))
        return failure();
      auto s = g.typed(g.b.create<dl::BiasAddOp>(g.loc(), g.unknown(), r.value, *ct, 1));
      if (failed(s))
        return failure();
      r = g.wrap(*s);
    } else {
      auto s = binary(g, r, c, "add");
      if (failed(s))
        return failure();
      r = *s;
    }
  }
  out[0] = r;
  return success();
}

/// Pads of a 2-D window op: explicit [top, left, bottom, right] or auto_pad.
FailureOr<std::vector<int64_t>> windowPads(OnnxGraph &g, const std::vector<int64_t> &in,
                                           const std::vector<int64_t> &kernel,
                                           const std::vector<int64_t> &stride,
                                           const std::vector<int64_t> &dilation) {
  std::string autoPad = g.attrString("auto_pad", "NOTSET");
  std::vector<int64_t> pads = g.attrInts("pads").value_or(std::vector<int64_t>(4, 0));
  if (pads.size() != 4)
    return g.error("pads must have 4 values (2-D only)");
  if (autoPad == "VALID") {
    pads.assign(4, 0);
  } else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
    for (int j = 0; j < 2; ++j) {
      int64_t outSize = (in[j] + stride[j] - 1) / stride[j];
      int64_t total = std::max<int64_t>(0, (outSize - 1) * stride[j] +
                                                 (kernel[j] - 1) * dilation[j] + 1 - in[j]);
      int64_t small = total / 2, large = total - small;
      pads[j] = autoPad == "SAME_UPPER" ? small : large;
      pads[j + 2] = autoPad == "SAME_UPPER" ? large : small;
    }
  } else if (autoPad != "NOTSET") {
    return g.error("auto_pad '" + autoPad + "' is not supported");
  }
  return pads;
}

LogicalResult convOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 2)))
    return failure();
  OnnxValue &x = *in[0], &w = *in[1];
  if (x.shape.size() != 4 || w.shape.size() != 4)
    return g.error("2-D convolutions only (4-D input and weight), got a " +
                   std::to_string(x.shape.size()) + "-D input");
  std::vector<int64_t> kernel{w.shape[2], w.shape[3]};
  std::vector<int64_t> stride = g.attrInts("strides").value_or(std::vector<int64_t>{1, 1});
  std::vector<int64_t> dilation = g.attrInts("dilations").value_or(std::vector<int64_t>{1, 1});
  if (stride.size() != 2 || dilation.size() != 2)
    return g.error("strides and dilations need 2 values");
  auto pads = windowPads(g, {x.shape[2], x.shape[3]}, kernel, stride, dilation);
  if (failed(pads))
    return failure();
  int64_t groups = g.attrInt("group", 1);
  auto xt = g.tensor(x), wt = g.tensor(w);
  if (failed(xt) || failed(wt))
    return failure();
  bool symmetric = (*pads)[0] == (*pads)[2] && (*pads)[1] == (*pads)[3];
  std::vector<int64_t> padding = symmetric ? std::vector<int64_t>{(*pads)[0], (*pads)[1]}
                                           : *pads;
  bool plainDilation = dilation[0] == 1 && dilation[1] == 1;
  auto op = g.b.create<dl::Conv2dOp>(
      g.loc(), g.unknown(), *xt, *wt, Value(), g.b.getDenseI64ArrayAttr(stride),
      g.b.getDenseI64ArrayAttr(padding), false,
      plainDilation ? DenseI64ArrayAttr() : g.b.getDenseI64ArrayAttr(dilation),
      groups == 1 ? IntegerAttr() : g.b.getI64IntegerAttr(groups));
  auto y = g.typed(op);
  if (failed(y))
    return failure();
  OnnxValue r = g.wrap(*y);
  if (in.size() > 2 && in[2]) {
    auto bt = g.tensor(*in[2]);
    if (failed(bt))
      return failure();
    auto s = g.typed(g.b.create<dl::BiasAddOp>(g.loc(), g.unknown(), *y, *bt, 1));
    if (failed(s))
      return failure();
    r = g.wrap(*s);
  }
  out[0] = r;
  return success();
}

LogicalResult poolOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  OnnxValue &x = *in[0];
  bool isMax = g.node->op_type() == "MaxPool";
  if (x.shape.size() != 4)
    return g.error("2-D pooling only (a 4-D input)");
  if (out.size() > 1 && !g.node->output(1).empty())
    return g.error("the indices output is not supported");
  auto kernel = g.attrInts("kernel_shape");
  if (!kernel || kernel->size() != 2)
    return g.error("kernel_shape must have 2 values");
  std::vector<int64_t> stride = g.attrInts("strides").value_or(std::vector<int64_t>{1, 1});
  std::vector<int64_t> dilation = g.attrInts("dilations").value_or(std::vector<int64_t>{1, 1});
  if (dilation != std::vector<int64_t>{1, 1})
    return g.error("dilated pooling is not supported");
  if (g.attrInt("ceil_mode", 0))
    return g.error("ceil_mode = 1 is not supported");
  if (isMax && g.attrInt("storage_order", 0))
    return g.error("storage_order = 1 is not supported");
  auto pads = windowPads(g, {x.shape[2], x.shape[3]}, *kernel, stride, dilation);
  if (failed(pads))
    return failure();
  if ((*pads)[0] != (*pads)[2] || (*pads)[1] != (*pads)[3])
    return g.error("asymmetric pooling pads are not supported");
  bool padded = (*pads)[0] || (*pads)[1];
  if (!isMax && padded && !g.attrInt("count_include_pad", 0))
    return g.error("padded average pooling needs count_include_pad = 1 (dlc divides by the "
                   "window size)");
  auto xt = g.tensor(x);
  if (failed(xt))
    return failure();
  auto k = g.b.getDenseI64ArrayAttr(*kernel), s = g.b.getDenseI64ArrayAttr(stride),
       p = g.b.getDenseI64ArrayAttr({(*pads)[0], (*pads)[1]});
  Operation *op = isMax ? g.b.create<dl::MaxPool2dOp>(g.loc(), g.unknown(), *xt, k, s, p).getOperation()
                        : g.b.create<dl::AvgPool2dOp>(g.loc(), g.unknown(), *xt, k, s, p).getOperation();
  auto y = g.typed(op);
  if (failed(y))
    return failure();
  out[0] = g.wrap(*y);
  return success();
}

//===----------------------------------------------------------------------===//
// Slices, gathers, selections
//===----------------------------------------------------------------------===//

/// x[starts + i * steps] of `sizes` per axis (a dl.slice, or folded for a constant).
FailureOr<OnnxValue> slice(OnnxGraph &g, OnnxValue &x, const std::vector<int64_t> &starts,
                           const std::vector<int64_t> &steps, const std::vector<int64_t> &sizes) {
  if (llvm::any_of(sizes, [](int64_t d) { return d < 1; }))
    return g.error("an empty result (a dimension of 0) is not supported");
  if (x.data && !x.value) {
    std::vector<int64_t> strides(x.shape.size(), 1);
    for (int64_t j = int64_t(x.shape.size()) - 2; j >= 0; --j)
      strides[j] = strides[j + 1] * x.shape[j + 1];
    std::vector<double> data(product(sizes));
    for (int64_t i = 0; i < int64_t(data.size()); ++i) {
      int64_t rest = i, src = 0;
      for (int64_t j = int64_t(sizes.size()) - 1; j >= 0; --j) {
        src += (starts[j] + (rest % sizes[j]) * steps[j]) * strides[j];
        rest /= sizes[j];
      }
      data[i] = (*x.data)[src];
    }
    return constant(sizes, data, x.isFloat);
  }
  if (sizes == x.shape && llvm::all_of(starts, [](int64_t v) { return v == 0; }) &&
      llvm::all_of(steps, [](int64_t v) { return v == 1; }))
    return x;
  if (failed(floatInput(g, &x)))
    return failure();
  auto t = g.tensor(x);
  if (failed(t))
    return failure();
  auto y = g.typed(g.b.create<dl::SliceOp>(g.loc(), g.unknown(), *t, starts, steps, sizes));
  if (failed(y))
    return failure();
  return g.wrap(*y);
}

LogicalResult sliceOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, g.opset < 10 ? 1 : 3)))
    return failure();
  OnnxValue &x = *in[0];
  int64_t rank = x.shape.size();
  std::vector<int64_t> starts, ends, axes, steps;
  if (g.opset < 10) {
    starts = g.attrInts("starts").value_or(std::vector<int64_t>{});
    ends = g.attrInts("ends").value_or(std::vector<int64_t>{});
    axes = g.attrInts("axes").value_or(std::vector<int64_t>{});
  } else {
    auto s = g.constInts(*in[1], "starts"), e = g.constInts(*in[2], "ends");
    if (failed(s) || failed(e))
      return failure();
    starts = *s, ends = *e;
    if (in.size() > 3 && in[3]) {
      auto a = g.constInts(*in[3], "axes");
      if (failed(a))
        return failure();
      axes = *a;
    }
    if (in.size() > 4 && in[4]) {
      auto st = g.constInts(*in[4], "steps");
      if (failed(st))
        return failure();
      steps = *st;
    }
  }
  if (axes.empty())
    for (size_t j = 0; j < starts.size(); ++j)
      axes.push_back(int64_t(j));
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return g.error("starts, ends, axes and steps differ in length");
  std::vector<int64_t> st(rank, 0), sp(rank, 1), sz(x.shape);
  for (size_t k = 0; k < starts.size(); ++k) {
    auto ax = g.axis(axes[k], rank);
    if (failed(ax))
      return failure();
    int64_t d = x.shape[*ax], step = steps[k];
    if (step == 0)
      return g.error("a step of 0");
    int64_t b = starts[k] < 0 ? starts[k] + d : starts[k];
    int64_t e = ends[k] < 0 ? ends[k] + d : ends[k];
    if (step > 0) {
      b = std::clamp<int64_t>(b, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      sz[*ax] = e > b ? (e - b + step - 1) / step : 0;
    } else {
      b = std::clamp<int64_t>(b, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      sz[*ax] = b > e ? (b - e - step - 1) / -step : 0;
    }
    st[*ax] = b;
    sp[*ax] = step;
  }
  auto y = slice(g, x, st, sp, sz);
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

LogicalResult splitOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  OnnxValue &x = *in[0];
  int64_t rank = x.shape.size();
  auto axis = g.axis(g.attrInt("axis", 0), rank);
  if (failed(axis))
    return failure();
  std::vector<int64_t> parts;
  if (auto a = g.attrInts("split")) {
    parts = *a;
  } else if (in.size() > 1 && in[1]) {
    auto p = g.constInts(*in[1], "split");
    if (failed(p))
      return failure();
    parts = *p;
  } else {
    int64_t n = int64_t(out.size()), d = x.shape[*axis];
    int64_t each = (d + n - 1) / n;
    for (int64_t k = 0; k < n; ++k)
      parts.push_back(std::min(each, d - k * each));
  }
  if (parts.size() != out.size())
    return g.error("split sizes do not match the outputs");
  int64_t at = 0;
  for (size_t k = 0; k < parts.size(); ++k) {
    std::vector<int64_t> st(rank, 0), sp(rank, 1), sz(x.shape);
    st[*axis] = at;
    sz[*axis] = parts[k];
    at += parts[k];
    auto y = slice(g, x, st, sp, sz);
    if (failed(y))
      return failure();
    out[k] = *y;
  }
  if (at != x.shape[*axis])
    return g.error("split sizes do not add up to the axis");
  return success();
}

LogicalResult gatherOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 2)))
    return failure();
  OnnxValue &x = *in[0];
  if (!in[1]->data)
    return g.error("only constant indices are supported");
  int64_t rank = x.shape.size();
  auto axis = g.axis(g.attrInt("axis", 0), rank);
  if (failed(axis))
    return failure();
  int64_t n = x.shape[*axis];
  std::vector<int64_t> shape(x.shape.begin(), x.shape.begin() + *axis);
  shape.insert(shape.end(), in[1]->shape.begin(), in[1]->shape.end());
  shape.insert(shape.end(), x.shape.begin() + *axis + 1, x.shape.end());
  std::vector<int64_t> index;
  for (double di : *in[1]->data) {
    int64_t i = int64_t(di) < 0 ? int64_t(di) + n : int64_t(di);
    if (i < 0 || i >= n)
      return g.error("index " + std::to_string(int64_t(di)) + " outside " + std::to_string(n));
    index.push_back(i);
  }
  if (index.empty())
    return g.error("an empty result (no indices) is not supported");
  // Indices in arithmetic progression are one slice; others a slice each, joined.
  int64_t step = index.size() > 1 ? index[1] - index[0] : 1;
  bool progression = step != 0;
  for (size_t k = 1; k < index.size(); ++k)
    progression &= index[k] - index[k - 1] == step;
  std::vector<int64_t> st(rank, 0), sp(rank, 1), sz(x.shape);
  FailureOr<OnnxValue> joined = failure();
  if (progression) {
    st[*axis] = index[0];
    sp[*axis] = step;
    sz[*axis] = int64_t(index.size());
    joined = slice(g, x, st, sp, sz);
  } else {
    std::vector<OnnxValue> pieces;
    for (int64_t i : index) {
      st[*axis] = i;
      sz[*axis] = 1;
      auto p = slice(g, x, st, sp, sz);
      if (failed(p))
        return failure();
      pieces.push_back(*p);
    }
    std::vector<OnnxValue *> ptrs;
    for (OnnxValue &p : pieces)
      ptrs.push_back(&p);
    Outputs one(1);
    // Concat's handler reads the node's axis attribute: the same as Gather's.
    if (failed(concatAlong(g, ptrs, *axis, one)))
      return failure();
    joined = one[0];
  }
  if (failed(joined))
    return failure();
  auto y = view(g, *joined, shape);
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

/// Where(cond, x, y) with a constant condition: x * c + y * (1 - c), exact for finite
/// values; folded entirely when x and y are constants too.
LogicalResult whereOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 3)))
    return failure();
  OnnxValue &c = *in[0], &x = *in[1], &y = *in[2];
  if (!c.data || c.value)
    return g.error("only a constant condition is supported (masks)");
  auto shape = broadcast(c.shape, x.shape);
  if (shape)
    shape = broadcast(*shape, y.shape);
  if (!shape)
    return g.error("operand shapes do not broadcast");
  if (x.data && y.data && !x.value && !y.value) {
    OnnxValue xy = constant(*shape, foldBinary(x, y, *shape, [](double a, double) { return a; }),
                            x.isFloat || y.isFloat);
    OnnxValue yy = constant(*shape, foldBinary(y, x, *shape, [](double a, double) { return a; }),
                            x.isFloat || y.isFloat);
    OnnxValue cc = constant(*shape, foldBinary(c, x, *shape, [](double a, double) { return a; }), false);
    std::vector<double> data(product(*shape));
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = (*cc.data)[i] != 0 ? (*xy.data)[i] : (*yy.data)[i];
    out[0] = constant(*shape, data, xy.isFloat);
    return success();
  }
  std::vector<double> keep, drop;
  for (double v : *c.data) {
    keep.push_back(v != 0 ? 1.0 : 0.0);
    drop.push_back(v != 0 ? 0.0 : 1.0);
  }
  OnnxValue ck = constant(c.shape, keep, true), cd = constant(c.shape, drop, true);
  // A constant branch contributes its selected values directly: no 0 * inf.
  auto pick = [&](OnnxValue &v, OnnxValue &mask, bool kept) -> FailureOr<OnnxValue> {
    if (v.data && !v.value) {
      auto vs = broadcast(v.shape, c.shape);
      return constant(*vs, foldBinary(v, c, *vs, [&](double a, double cv) {
                        return (cv != 0) == kept ? a : 0.0;
                      }),
                      true);
    }
    return binary(g, v, mask, "mul");
  };
  auto a = pick(x, ck, true), b = pick(y, cd, false);
  if (failed(a) || failed(b))
    return failure();
  auto r = binary(g, *a, *b, "add");
  if (failed(r))
    return failure();
  if (r->shape != *shape) {
    OnnxValue zeros = constant(*shape, std::vector<double>(product(*shape), 0.0), true);
    r = binary(g, *r, zeros, "add");
    if (failed(r))
      return failure();
  }
  out[0] = *r;
  return success();
}

/// Comparisons and logic on constants (masks, shape checks), folded.
LogicalResult compareOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  const std::string &type = g.node->op_type();
  bool unaryNot = type == "Not";
  if (failed(need(g, in, unaryNot ? 1 : 2)))
    return failure();
  for (size_t k = 0; k < (unaryNot ? 1u : 2u); ++k)
    if (!in[k]->data || in[k]->value)
      return g.error("only constant operands are supported (the result is bool)");
  if (unaryNot) {
    std::vector<double> d;
    for (double v : *in[0]->data)
      d.push_back(v == 0);
    out[0] = constant(in[0]->shape, d, false);
    return success();
  }
  auto shape = broadcast(in[0]->shape, in[1]->shape);
  if (!shape)
    return g.error("operand shapes do not broadcast");
  out[0] = constant(*shape, foldBinary(*in[0], *in[1], *shape, [&](double a, double b) -> double {
                      if (type == "Equal") return a == b;
                      if (type == "Less") return a < b;
                      if (type == "LessOrEqual") return a <= b;
                      if (type == "Greater") return a > b;
                      if (type == "GreaterOrEqual") return a >= b;
                      if (type == "And") return a != 0 && b != 0;
                      if (type == "Or") return a != 0 || b != 0;
                      return (a != 0) != (b != 0); // Xor
                    }),
                    false);
  return success();
}

LogicalResult rangeOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 3)))
    return failure();
  for (int k = 0; k < 3; ++k)
    if (!in[k]->data || in[k]->value || in[k]->elements() != 1)
      return g.error("start, limit and delta must be constant scalars");
  double start = (*in[0]->data)[0], limit = (*in[1]->data)[0], delta = (*in[2]->data)[0];
  if (delta == 0)
    return g.error("delta is 0");
  int64_t n = std::max<int64_t>(0, int64_t(std::ceil((limit - start) / delta)));
  if (n > (int64_t(1) << 24))
    return g.error("the range is too long to fold");
  std::vector<double> d(n);
  for (int64_t i = 0; i < n; ++i)
    d[i] = start + double(i) * delta;
  out[0] = constant({n}, d, in[0]->isFloat);
  return success();
}

/// Size: the element count, known at import.
LogicalResult sizeOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  out[0] = constant({}, {double(in[0]->elements())}, false);
  return success();
}

/// CastLike: Cast to the second input's element type (float or integer).
LogicalResult castLikeOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 2)))
    return failure();
  OnnxValue v = *in[0];
  if (v.isFloat == in[1]->isFloat) {
    out[0] = v;
    return success();
  }
  if (!v.data || v.value)
    return g.error("casts between float tensors only (or of constants)");
  if (!in[1]->isFloat)
    for (double &d : *v.data)
      d = std::trunc(d);
  v.isFloat = in[1]->isFloat;
  v.param.clear();
  v.initializer.clear();
  out[0] = std::move(v);
  return success();
}

/// DepthToSpace and SpaceToDepth: a view to 6 axes, a permutation, a view back.
LogicalResult depthSpaceOp(OnnxGraph &g, Inputs &in, Outputs &out) {
  if (failed(need(g, in, 1)))
    return failure();
  OnnxValue &x = *in[0];
  if (x.shape.size() != 4)
    return g.error("needs a 4-D input");
  int64_t b = g.attrInt("blocksize", 0), n = x.shape[0], c = x.shape[1], h = x.shape[2],
          w = x.shape[3];
  if (b < 1)
    return g.error("blocksize must be positive");
  std::vector<int64_t> split, perm, shape;
  if (g.node->op_type() == "DepthToSpace") {
    if (c % (b * b))
      return g.error("the channels are not a multiple of blocksize^2");
    bool crd = g.attrString("mode", "DCR") == "CRD";
    split = crd ? std::vector<int64_t>{n, c / (b * b), b, b, h, w}
                : std::vector<int64_t>{n, b, b, c / (b * b), h, w};
    perm = crd ? std::vector<int64_t>{0, 1, 4, 2, 5, 3} : std::vector<int64_t>{0, 3, 4, 1, 5, 2};
    shape = {n, c / (b * b), h * b, w * b};
  } else {
    if (h % b || w % b)
      return g.error("height and width are not multiples of blocksize");
    split = {n, c, h / b, b, w / b, b};
    perm = {0, 3, 5, 1, 2, 4};
    shape = {n, c * b * b, h / b, w / b};
  }
  auto v = view(g, x, split);
  if (failed(v))
    return failure();
  auto p = permute(g, *v, perm);
  if (failed(p))
    return failure();
  auto y = view(g, *p, shape);
  if (failed(y))
    return failure();
  out[0] = *y;
  return success();
}

//===----------------------------------------------------------------------===//
// The table
//===----------------------------------------------------------------------===//

const std::map<std::string, OpHandler> &table() {
  static const std::map<std::string, OpHandler> t = [] {
    std::map<std::string, OpHandler> m = {
        {"Mod", modOp},
        {"Max", variadicOp},
        {"Min", variadicOp},
        {"Sum", variadicOp},
        {"Mean", variadicOp},
        {"Clip", clipOp},
        {"Identity", identityOp},
        {"Dropout", identityOp},
        {"Constant", constantOp},
        {"Shape", shapeOp},
        {"Cast", castOp},
        {"Reshape", reshapeOp},
        {"Flatten", flattenOp},
        {"Squeeze", squeezeOp},
        {"Unsqueeze", unsqueezeOp},
        {"Transpose", transposeOp},
        {"Concat", concatOp},
        {"Gather", gatherOp},
        {"Slice", sliceOp},
        {"Split", splitOp},
        {"Where", whereOp},
        {"Equal", compareOp},
        {"Less", compareOp},
        {"LessOrEqual", compareOp},
        {"Greater", compareOp},
        {"GreaterOrEqual", compareOp},
        {"And", compareOp},
        {"Or", compareOp},
        {"Xor", compareOp},
        {"Not", compareOp},
        {"Range", rangeOp},
        {"Size", sizeOp},
        {"CastLike", castLikeOp},
        {"DepthToSpace", depthSpaceOp},
        {"SpaceToDepth", depthSpaceOp},
        {"ConstantOfShape", constantOfShapeOp},
        {"Expand", expandOp},
        {"GlobalAveragePool", globalPoolOp},
        {"GlobalMaxPool", globalPoolOp},
        {"Softmax", softmaxOp},
        {"LogSoftmax", softmaxOp},
        {"BatchNormalization", batchNormOp},
        {"LayerNormalization", layerNormOp},
        {"InstanceNormalization", instanceNormOp},
        {"MatMul", matmulOp},
        {"Gemm", gemmOp},
        {"Conv", convOp},
        {"MaxPool", poolOp},
        {"AveragePool", poolOp},
    };
    for (const auto &u : kUnary)
      m[u.first] = unaryOp;
    for (const auto &b : kBinary)
      m[b.first] = binaryOp;
    for (const auto &r : kReduce)
      m[r.first] = reduceOp;
    return m;
  }();
  return t;
}
} // namespace

OpHandler dlc::onnximport::findHandler(const std::string &opType) {
  auto it = table().find(opType);
  return it == table().end() ? nullptr : it->second;
}

std::string dlc::onnximport::supportedOps() {
  std::string s;
  for (const auto &entry : table())
    s += (s.empty() ? "" : ", ") + entry.first;
  return s;
}
