//===- YamlImporter.cpp - YAML model file -> dl dialect ---------*- C++ -*-===//
//
// The importer reads the whole file with yaml-cpp, checks every section's keys and value
// types, orders the layers by their inputs (rejecting undefined names and cycles), and builds
// one op per layer, typing each op with its own shape rule as it goes; the parameter shapes
// follow from the typed inputs, so model files never spell out weight shapes. Format:
// docs/model-format.md.
//
#include "compiler/Import/YamlImporter.h"

#include "dialects/dl/DLOps.h"
#include "runtime/plan/KernelCheck.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <set>

using namespace mlir;
using dlc::ModelConfig;

namespace {

/// Ops one unrolled LSTM step builds: time_step, matmul, bias_add, matmul, add, lstm_cell.
constexpr int64_t kLstmOpsPerStep = 6;

/// The ops a layer may name and the keys each accepts (besides name, op, input, inputs).
const std::map<std::string, std::vector<std::string>> kLayerKeys = {
    {"conv2d", {"filters", "kernel", "stride", "padding", "dilation", "groups", "bias", "init"}},
    {"maxpool2d", {"kernel", "stride", "padding"}},
    {"relu", {}},
    {"sigmoid", {}},
    {"tanh", {}},
    {"silu", {}},
    {"gelu", {"approximate"}},
    {"leaky_relu", {"slope"}},
    {"relu6", {}},
    {"hardswish", {}},
    {"softmax", {}},
    {"dropout", {"rate"}},
    {"concat", {"axis"}},
    {"mul", {}},
    {"sub", {}},
    {"linear", {"units", "bias", "init", "tie"}},
    {"flatten", {}},
    {"add", {}},
    {"batch_norm", {"eps", "momentum"}},
    {"avgpool2d", {"kernel", "stride", "padding"}},
    {"global_avgpool", {}},
    {"lrn", {"depth_radius", "bias", "alpha", "beta"}},
    {"lstm", {"units", "return", "forget_bias", "init"}},
    {"layer_norm", {"eps"}},
    {"reshape", {"shape"}},
    {"transpose", {"perm"}},
    {"attention", {"heads", "causal", "dropout", "mask"}},
    {"embedding", {"vocab", "dim"}},
    {"position_embedding", {"positions"}},
};

/// Names longer than this get no "did you mean" and are cut short in messages: a typo is
/// made in a name someone typed, and edit distance costs the product of the two lengths.
constexpr size_t kMaxSuggestLength = 64;

/// The option closest to `word` by edit distance, if close enough to be a likely typo. A
/// candidate whose length differs from `word`'s by at least the best distance so far cannot
/// beat it and is skipped, and each distance is computed only up to that bound, so a file of
/// many layers with a misspelled input is refused in time linear in its size.
std::string nearest(const std::string &word, const std::vector<std::string> &options) {
  if (word.size() > kMaxSuggestLength)
    return "";
  const size_t limit = std::max<size_t>(2, word.size() / 2); // farther is no typo
  std::string best;
  size_t bestDist = limit + 1;
  for (const std::string &o : options) {
    size_t lengthGap = o.size() > word.size() ? o.size() - word.size() : word.size() - o.size();
    if (o.size() > kMaxSuggestLength || lengthGap >= bestDist)
      continue;
    // edit_distance stops at MaxEditDistance and returns more than it.
    size_t d = llvm::StringRef(o).edit_distance(word, true, unsigned(bestDist - 1));
    if (d < bestDist) {
      bestDist = d;
      best = o;
    }
  }
  return best;
}

/// `name` quoted for a message; one longer than kMaxSuggestLength is cut there, with its
/// length: "'aaaa...' (4000000 characters)".
std::string quoted(const std::string &name) {
  if (name.size() <= kMaxSuggestLength)
    return "'" + name + "'";
  return "'" + name.substr(0, kMaxSuggestLength) + "...' (" + std::to_string(name.size()) +
         " characters)";
}

/// Lines longer than this are refused before YAML parsing (see importModel).
constexpr size_t kMaxLineLength = 1 << 16;

/// The largest magnitude a float field may have: plans store 32-bit floats.
constexpr double kFloatMax = std::numeric_limits<float>::max();

/// A number as %g writes it: "0.9", "1e+06", "-3".
std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

/// A list of sizes as written in YAML: "[4, -1, 7]".
std::string shapeText(ArrayRef<int64_t> v) {
  std::string s = "[";
  for (size_t j = 0; j < v.size(); ++j)
    s += (j ? ", " : "") + std::to_string(v[j]);
  return s + "]";
}

std::string joined(const std::vector<std::string> &v) {
  std::string s;
  for (const std::string &x : v)
    s += (s.empty() ? "" : ", ") + x;
  return s;
}

class Importer {
public:
  Importer(MLIRContext &ctx, std::string path, ModelConfig &config)
      : ctx(ctx), path(std::move(path)), config(config), b(&ctx) {}

  OwningOpRef<ModuleOp> run(const YAML::Node &root);

private:
  MLIRContext &ctx;
  std::string path;
  ModelConfig &config;
  OpBuilder b;
  /// The optimizer, schedule and clipping settings: the module's `dl.optimizer`.
  NamedAttrList optimizer;
  ModuleOp module;
  std::string layerName; // non-empty while building a layer: errors name it

  // --- locations and errors -------------------------------------------------------------
  Location loc(const YAML::Node &n) {
    YAML::Mark m = n.Mark();
    Location l = FileLineColLoc::get(&ctx, path, m.line + 1, m.column + 1);
    return layerName.empty() ? l : NameLoc::get(StringAttr::get(&ctx, layerName), l);
  }
  LogicalResult error(const YAML::Node &n, const Twine &msg) {
    emitError(loc(n)) << msg;
    return failure();
  }

  // --- typed field access ---------------------------------------------------------------
  LogicalResult checkMap(const YAML::Node &n, const Twine &what) {
    if (!n.IsMap())
      return error(n, what + " must be a mapping");
    return success();
  }
  LogicalResult checkKeys(const YAML::Node &map, const std::vector<std::string> &allowed,
                          const Twine &what) {
    for (const auto &kv : map) {
      std::string key = kv.first.as<std::string>();
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end())
        continue;
      std::string hint = nearest(key, allowed);
      return error(kv.first, "unknown field " + quoted(key) + " in " + what +
                                 (hint.empty() ? " (expected one of: " + joined(allowed) + ")"
                                               : " (did you mean '" + hint + "'?)"));
    }
    return success();
  }
  FailureOr<int64_t> getInt(const YAML::Node &map, const char *key, std::optional<int64_t> dflt,
                            int64_t min, int64_t max = dlc::kMaxFieldValue) {
    YAML::Node v = map[key];
    if (!v) {
      if (dflt)
        return *dflt;
      (void)error(map, Twine("missing required field '") + key + "'");
      return failure();
    }
    int64_t x;
    if (!v.IsScalar() || !YAML::convert<int64_t>::decode(v, x)) {
      (void)error(v, Twine("field '") + key + "' must be an integer");
      return failure();
    }
    if (x < min) {
      (void)error(v, Twine("field '") + key + "' must be " +
                         (min == 1 ? "positive" : ">= " + Twine(min)) + ", got " + Twine(x));
      return failure();
    }
    if (x > max) {
      (void)error(v, Twine("field '") + key + "' is " + Twine(x) + ", more than the limit of " +
                         Twine(max));
      return failure();
    }
    return x;
  }
  /// An integer or a list [h, w]: kernel sizes, strides and paddings.
  FailureOr<SmallVector<int64_t>> getPair(const YAML::Node &map, const char *key,
                                          std::optional<int64_t> dflt, int64_t min) {
    YAML::Node v = map[key];
    if (v && v.IsSequence()) {
      auto list = listInts(v, key, min);
      if (failed(list))
        return failure();
      SmallVector<int64_t> out = *list;
      if (out.size() != 2) {
        (void)error(v, Twine("field '") + key + "' must be an integer or a list of 2");
        return failure();
      }
      return out;
    }
    auto x = getInt(map, key, dflt, min);
    if (failed(x))
      return failure();
    return SmallVector<int64_t>{*x, *x};
  }
  /// A window's padding: an integer, a list [h, w], `valid` (none) or `same` (the output as
  /// large as the input: PyTorch's padding='same', stride 1 only, as PyTorch requires; a
  /// total of dilation * (kernel - 1) per axis, half before, the odd one after, so [top,
  /// left, bottom, right] when a total is odd). `pool` is for pooling, which PyTorch pads
  /// only symmetrically: there `same` needs an odd kernel.
  FailureOr<SmallVector<int64_t>> getPadding(const YAML::Node &map, ArrayRef<int64_t> kernel,
                                             ArrayRef<int64_t> stride,
                                             ArrayRef<int64_t> dilation, bool pool) {
    YAML::Node v = map["padding"];
    int64_t dummy;
    if (!v || !v.IsScalar() || YAML::convert<int64_t>::decode(v, dummy))
      return getPair(map, "padding", 0, 0);
    const std::string &word = v.Scalar();
    if (word == "valid")
      return SmallVector<int64_t>{0, 0};
    if (word != "same") {
      (void)error(v, "field 'padding' must be an integer, a list [h, w], 'same' or 'valid', "
                     "got '" + word + "'");
      return failure();
    }
    if (stride[0] != 1 || stride[1] != 1) {
      (void)error(v, "padding 'same' needs stride 1 (as PyTorch's padding='same'), got stride " +
                         Twine(stride[0]) + "x" + Twine(stride[1]));
      return failure();
    }
    int64_t th = dilation[0] * (kernel[0] - 1), tw = dilation[1] * (kernel[1] - 1);
    if (pool && (th % 2 || tw % 2)) {
      (void)error(v, "padding 'same' for pooling needs an odd kernel (pooling pads both sides "
                     "alike), got " + Twine(kernel[0]) + "x" + Twine(kernel[1]));
      return failure();
    }
    if (th % 2 == 0 && tw % 2 == 0)
      return SmallVector<int64_t>{th / 2, tw / 2};
    return SmallVector<int64_t>{th / 2, tw / 2, th - th / 2, tw - tw / 2};
  }
  /// A number that is finite, fits a 32-bit float (plans store floats) and lies in
  /// [min, max]. YAML spells infinity and NaN .inf and .nan, which would otherwise reach the
  /// plan and surface only as a diverged run.
  FailureOr<double> getFloat(const YAML::Node &map, const char *key, double dflt, double min,
                             double max = kFloatMax) {
    YAML::Node v = map[key];
    if (!v)
      return dflt;
    double x;
    if (!v.IsScalar() || !YAML::convert<double>::decode(v, x)) {
      (void)error(v, Twine("field '") + key + "' must be a number");
      return failure();
    }
    if (!std::isfinite(x)) {
      (void)error(v, Twine("field '") + key + "' must be a finite number, got '" + v.Scalar() +
                         "'");
      return failure();
    }
    if (std::fabs(x) > kFloatMax) {
      (void)error(v, Twine("field '") + key + "' is beyond the range of a 32-bit float, got " +
                         number(x));
      return failure();
    }
    if (x < min || x > max) {
      (void)error(v, Twine("field '") + key + "' must be " +
                         (max == kFloatMax    ? ">= " + number(min)
                          : min == -kFloatMax ? "<= " + number(max)
                                              : "between " + number(min) + " and " + number(max)) +
                         ", got " + number(x));
      return failure();
    }
    return x;
  }
  /// A required non-empty list of integers in [min, kMaxFieldValue]: reshape's shape,
  /// transpose's perm.
  FailureOr<SmallVector<int64_t>> getIntList(const YAML::Node &map, const char *key,
                                             int64_t min) {
    YAML::Node v = map[key];
    if (!v) {
      (void)error(map, Twine("missing required field '") + key + "'");
      return failure();
    }
    if (!v.IsSequence() || v.size() == 0) {
      (void)error(v, Twine("field '") + key + "' must be a non-empty list of integers");
      return failure();
    }
    return listInts(v, key, min);
  }
  /// The elements of the list `v` (field `key`), each an integer in [min, kMaxFieldValue].
  FailureOr<SmallVector<int64_t>> listInts(const YAML::Node &v, const char *key, int64_t min) {
    SmallVector<int64_t> out;
    for (const YAML::Node &e : v) {
      int64_t x;
      if (!e.IsScalar() || !YAML::convert<int64_t>::decode(e, x) || x < min ||
          x > dlc::kMaxFieldValue) {
        (void)error(e, Twine("field '") + key + "' must hold integers from " + Twine(min) +
                           " to " + Twine(dlc::kMaxFieldValue));
        return failure();
      }
      out.push_back(x);
    }
    return out;
  }
  FailureOr<std::string> getString(const YAML::Node &map, const char *key,
                                   std::optional<std::string> dflt) {
    YAML::Node v = map[key];
    if (!v) {
      if (dflt)
        return *dflt;
      (void)error(map, Twine("missing required field '") + key + "'");
      return failure();
    }
    if (!v.IsScalar()) {
      (void)error(v, Twine("field '") + key + "' must be a string");
      return failure();
    }
    return v.as<std::string>();
  }
  FailureOr<bool> getBool(const YAML::Node &map, const char *key, bool dflt) {
    YAML::Node v = map[key];
    if (!v)
      return dflt;
    bool x;
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, x)) {
      (void)error(v, Twine("field '") + key + "' must be true or false");
      return failure();
    }
    return x;
  }
  std::string resolvePath(const std::string &p) {
    if (p.empty() || llvm::sys::path::is_absolute(p))
      return p;
    llvm::SmallString<256> dir(llvm::sys::path::parent_path(path));
    llvm::sys::path::append(dir, p);
    return std::string(dir);
  }

  // --- sections -------------------------------------------------------------------------
  LogicalResult parseTraining(const YAML::Node &n);
  LogicalResult parseOptimizer(const YAML::Node &opt);
  LogicalResult parseSchedule(const YAML::Node &n);
  LogicalResult parseData(const YAML::Node &n);
  LogicalResult buildGraph(const YAML::Node &root, func::FuncOp fn);
  /// The `loss` section of an mse or bce_with_logits model: its input (default: `last`) and
  /// target layers, of one shape; builds the loss and @forward's return.
  LogicalResult buildRegressionLoss(const YAML::Node &loss, const std::string &op,
                                    const std::string &last,
                                    llvm::StringMap<Value> &values);
  FailureOr<Value> buildLayer(const YAML::Node &layer, const std::string &op,
                              ArrayRef<Value> inputs, ArrayRef<YAML::Node> inputNodes);
  /// Declares a module-level parameter (`role`: weight, state or buffer).
  void declare(const YAML::Node &at, const std::string &name, ArrayRef<int64_t> shape,
               const std::string &init, int64_t fanIn, int64_t fanOut, StringRef role);
  /// Declares a trainable parameter and reads it.
  Value param(const YAML::Node &at, const std::string &name, ArrayRef<int64_t> shape,
              const std::string &init, int64_t fanIn, int64_t fanOut);
  FailureOr<Value> typed(Operation *op);
  /// Refuses a tensor (per example: the batch is not known yet) above --max-tensor-bytes.
  LogicalResult checkTensor(Location at, ArrayRef<int64_t> shape, const Twine &what);
  /// Counts `n` more ops against --max-ops.
  LogicalResult countOps(Location at, int64_t n);
  FailureOr<Value> buildLstm(const YAML::Node &layer, Value x, const YAML::Node &inputNode);

  /// A declared input (an argument of @forward).
  struct Input {
    std::string name;
    YAML::Node node;               // its key in 'inputs'
    SmallVector<int64_t> shape;    // per example
    bool isInt = false;            // int32: token indices or class indices
    int64_t classes = 0;           // > 0: class indices in [0, classes)
    Value value;
  };
  /// Reads 'inputs' into `inputs`.
  LogicalResult parseInputs(const YAML::Node &node);
  /// Inputs whose first axis --seq-len set.
  int sequenceInputs = 0;
  /// The data section's format can feed the inputs: image formats one float CHW input and at
  /// most one class input per example; text and tokens one int32 input [seq_len] and at most
  /// one class input [seq_len]. Also sizes the synthetic sets and checks the crop.
  LogicalResult checkInputsFitData(const YAML::Node &node);
  const Input *findInput(const std::string &name) const {
    for (const Input &in : inputs)
      if (in.name == name)
        return &in;
    return nullptr;
  }

  std::vector<Input> inputs;
  YAML::Node cropNode; // data.crop, checked against the image input once that is known
  YAML::Node dataNode; // data, whose synthetic set is sized once the image input is known
  int64_t ops = 0;     // ops built so far, against config.limits.maxOps
};

OwningOpRef<ModuleOp> Importer::run(const YAML::Node &root) {
  if (failed(checkMap(root, "a model file")) ||
      failed(checkKeys(root, {"name", "inputs", "layers", "loss", "training", "data"},
                       "the model file")))
    return nullptr;
  auto name = getString(root, "name", llvm::sys::path::stem(path).str());
  if (failed(name))
    return nullptr;
  config.name = *name;
  if (failed(parseTraining(root["training"] ? root["training"] : YAML::Node(YAML::NodeType::Map))))
    return nullptr;
  if (root["data"] && failed(parseData(root["data"])))
    return nullptr;

  OwningOpRef<ModuleOp> owned = ModuleOp::create(loc(root), config.name);
  module = *owned;
  module->setAttr("dl.optimizer", optimizer.getDictionary(b.getContext()));

  // Inputs: any number, named, in declaration order: float tensors of any rank, int32
  // sequences, class indices (one per example or per position).
  YAML::Node inputsNode = root["inputs"];
  if (!inputsNode)
    return (void)error(root, "missing required section 'inputs'"), nullptr;
  if (failed(checkMap(inputsNode, "'inputs'")) || failed(parseInputs(inputsNode)) ||
      failed(checkInputsFitData(inputsNode)))
    return nullptr;

  SmallVector<Type> argTypes;
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  for (const Input &in : inputs) {
    SmallVector<int64_t> shape{ShapedType::kDynamic};
    llvm::append_range(shape, in.shape);
    argTypes.push_back(RankedTensorType::get(shape, in.isInt ? i32 : f32));
  }
  auto scalar = RankedTensorType::get({}, f32);
  b.setInsertionPointToEnd(module.getBody());
  auto fn = b.create<func::FuncOp>(loc(root), "forward",
                                   b.getFunctionType(argTypes, {scalar, scalar}));
  Block *body = fn.addEntryBlock();
  for (size_t i = 0; i < inputs.size(); ++i) {
    fn.setArgAttr(i, "dl.name", b.getStringAttr(inputs[i].name));
    if (inputs[i].classes > 0)
      fn.setArgAttr(i, "dl.classes", b.getI64IntegerAttr(inputs[i].classes));
    inputs[i].value = body->getArgument(i);
  }
  b.setInsertionPointToEnd(body);
  if (failed(buildGraph(root, fn)))
    return nullptr;
  return owned;
}

LogicalResult Importer::parseInputs(const YAML::Node &node) {
  for (const auto &kv : node) {
    Input in;
    in.name = kv.first.as<std::string>();
    in.node = kv.first;
    const YAML::Node &spec = kv.second;
    const std::string what = "input '" + in.name + "'";
    if (failed(checkMap(spec, what)) ||
        failed(checkKeys(spec, {"shape", "classes", "dtype"}, what)))
      return failure();
    if (in.name.empty())
      return error(kv.first, "input names must not be empty");
    if (findInput(in.name))
      return error(kv.first, "duplicate input name '" + in.name + "'");
    auto dtype = getString(spec, "dtype", std::string(spec["classes"] ? "int32" : "float32"));
    if (failed(dtype))
      return failure();
    if (*dtype != "float32" && *dtype != "int32") {
      std::string hint = nearest(*dtype, {"float32", "int32"});
      return error(spec["dtype"], what + ": dtype must be float32 or int32, got " +
                                      quoted(*dtype) +
                                      (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
    in.isInt = *dtype == "int32";
    if (spec["classes"]) {
      if (!in.isInt)
        return error(spec["dtype"], what + ": class indices are int32, not " + *dtype);
      auto c = getInt(spec, "classes", std::nullopt, 2);
      if (failed(c))
        return failure();
      in.classes = *c;
    } else if (!spec["shape"]) {
      return error(spec, what + " needs 'shape' (a tensor per example) or 'classes' (a class "
                                "index per example)");
    }
    if (YAML::Node shape = spec["shape"]) {
      if (!shape.IsSequence() || shape.size() == 0 || shape.size() > 6)
        return error(shape, what + ": shape must be a list of 1 to 6 sizes (the batch "
                                   "dimension is implicit)");
      for (const YAML::Node &d : shape) {
        int64_t x;
        if (!d.IsScalar() || !YAML::convert<int64_t>::decode(d, x) || x < 1 ||
            x > dlc::kMaxFieldValue)
          return error(d, what + ": shape entries must be integers from 1 to " +
                              Twine(dlc::kMaxFieldValue));
        in.shape.push_back(x);
      }
      // dlc mem --seq-len: a sequence (int32 tokens, a class per position) at another length.
      if (config.seqLen > 0 && in.isInt) {
        in.shape[0] = config.seqLen;
        ++sequenceInputs;
      }
      SmallVector<int64_t> full{ShapedType::kDynamic};
      llvm::append_range(full, in.shape);
      if (failed(checkTensor(loc(shape), full, what)))
        return failure();
    }
    inputs.push_back(std::move(in));
  }
  if (inputs.empty())
    return error(node, "'inputs' must declare at least one input");
  if (config.seqLen > 0 && sequenceInputs == 0)
    return error(node, "--seq-len " + Twine(config.seqLen) + ": no input is a sequence (an "
                       "int32 input with a shape, or classes with a shape)");
  if (config.seqLen > 0 && config.data.seqLen > 0)
    config.data.seqLen = config.seqLen;
  return success();
}

LogicalResult Importer::checkInputsFitData(const YAML::Node &node) {
  const dlc::plan::DataConfig &d = config.data;
  const bool sequences = d.format == "text" || d.format == "tokens";
  if (d.format.empty())
    return success(); // no data section: dlc can still compile (dlrun then refuses to train)
  if (d.format == "safetensors")
    return success(); // every input by name; dlrun checks each against its tensor when loading
  const Input *main = nullptr, *classes = nullptr;
  for (const Input &in : inputs) {
    const std::string what = "input '" + in.name + "'";
    const std::string format = "data format " + d.format;
    if (in.classes > 0) {
      if (classes)
        return error(in.node, format + " feeds one class input, '" + classes->name +
                                  "' is already one");
      if (sequences ? in.shape != SmallVector<int64_t>{d.seqLen} : !in.shape.empty())
        return error(in.node, what + ": " + format + " gives " +
                                  (sequences ? "a class per position, shape [" +
                                                   std::to_string(d.seqLen) + "] (seq_len)"
                                             : std::string("one class per example (no "
                                                           "shape)")));
      classes = &in;
      continue;
    }
    if (!sequences && in.isInt)
      return error(in.node, what + ": " + format + " gives float images and one class per "
                                "example; nothing feeds an int32 input");
    if (main)
      return error(in.node, format + " feeds one " + (sequences ? "token" : "image") +
                                " input, '" + main->name + "' is already one");
    if (sequences && (!in.isInt || in.shape != SmallVector<int64_t>{d.seqLen}))
      return error(in.node, what + ": " + format + " gives windows of " +
                                std::to_string(d.seqLen) +
                                " tokens: declare {shape: [" + std::to_string(d.seqLen) +
                                "], dtype: int32}");
    if (!sequences && (in.isInt || in.shape.size() != 3))
      return error(in.node, what + ": " + format + " gives float images: declare {shape: "
                                "[channels, height, width]}");
    main = &in;
  }
  if (!main)
    return error(node, "data format " + d.format + " needs " +
                           (sequences ? "an int32 token input {shape: [seq_len], dtype: int32}"
                                      : "a float image input {shape: [channels, height, "
                                        "width]}"));
  if (sequences)
    return success();
  ArrayRef<int64_t> shape = main->shape;
  if (d.cropH && (d.cropH != shape[1] || d.cropW != shape[2]))
    return error(cropNode, "data: crop [" + Twine(d.cropH) + ", " + Twine(d.cropW) +
                               "] must equal the height and width of input '" + main->name +
                               "', which is [" + Twine(shape[0]) + ", " + Twine(shape[1]) +
                               ", " + Twine(shape[2]) + "]: the model sees the crops");
  // dlrun generates a synthetic set whole: it is a tensor as any other.
  for (const char *key : {"train_examples", "test_examples"}) {
    if (d.format != "synthetic")
      break;
    SmallVector<int64_t> set{0};
    llvm::append_range(set, shape);
    set[0] = std::string(key) == "train_examples" ? d.syntheticTrain : d.syntheticTest;
    YAML::Node at = dataNode[key] ? dataNode[key] : dataNode;
    if (failed(checkTensor(loc(at), set, Twine("data: the synthetic ") + key)))
      return failure();
  }
  return success();
}

LogicalResult Importer::parseTraining(const YAML::Node &n) {
  if (failed(checkMap(n, "'training'")) ||
      failed(checkKeys(n, {"batch", "epochs", "seed", "log_every", "optimizer", "on_nonfinite",
                           "max_loss", "schedule", "clip_grad_norm", "shuffle", "precision"},
                       "'training'")))
    return failure();
  auto onNonfinite = getString(n, "on_nonfinite", std::string("stop"));
  auto maxLoss = getFloat(n, "max_loss", 0.0, 0);
  if (failed(onNonfinite) || failed(maxLoss))
    return failure();
  if (*onNonfinite != "stop" && *onNonfinite != "warn") {
    std::string hint = nearest(*onNonfinite, {"stop", "warn"});
    return error(n["on_nonfinite"], "field 'on_nonfinite' must be stop or warn, got " +
                                        quoted(*onNonfinite) +
                                        (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  if (n["max_loss"] && *maxLoss <= 0)
    return error(n["max_loss"], "field 'max_loss' must be positive, got " + number(*maxLoss));
  config.train.onNonfinite =
      *onNonfinite == "stop" ? dlc::plan::OnNonfinite::Stop : dlc::plan::OnNonfinite::Warn;
  auto precision = getString(n, "precision", std::string("fp32"));
  if (failed(precision))
    return failure();
  if (!dlc::plan::parsePrecision(*precision, config.train.precision)) {
    std::string hint = nearest(*precision, {"fp32", "mixed-fp16", "mixed-bf16"});
    return error(n["precision"], "field 'precision' must be fp32, mixed-fp16 or mixed-bf16, got " +
                                     quoted(*precision) +
                                     (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  config.train.maxLoss = float(*maxLoss);
  auto batch = getInt(n, "batch", 32, 1);
  auto epochs = getInt(n, "epochs", 1, 1);
  auto seed = getInt(n, "seed", 0, 0, std::numeric_limits<int64_t>::max());
  auto logEvery = getInt(n, "log_every", 100, 1);
  if (failed(batch) || failed(epochs) || failed(seed) || failed(logEvery))
    return failure();
  config.train.batch = *batch;
  config.train.epochs = *epochs;
  config.train.seed = *seed;
  config.train.logEvery = *logEvery;
  auto shuffle = getBool(n, "shuffle", true);
  auto clip = getFloat(n, "clip_grad_norm", 0.0, 0);
  if (failed(shuffle) || failed(clip))
    return failure();
  if (n["clip_grad_norm"] && *clip <= 0)
    return error(n["clip_grad_norm"],
                 "field 'clip_grad_norm' must be positive, got " + number(*clip));
  config.train.shuffle = *shuffle;
  if (n["clip_grad_norm"])
    optimizer.set("clip_grad_norm", b.getF32FloatAttr(float(*clip)));
  if (failed(parseOptimizer(n["optimizer"])) || failed(parseSchedule(n["schedule"])))
    return failure();
  return success();
}

/// `training.optimizer`: sgd (momentum, nesterov, weight_decay), adam or adamw (betas, eps,
/// weight_decay), PyTorch's defaults. The settings go to the module's `dl.optimizer`
/// dictionary, which --dl-autodiff reads.
LogicalResult Importer::parseOptimizer(const YAML::Node &opt) {
  if (opt && (failed(checkMap(opt, "'optimizer'")) ||
              failed(checkKeys(opt, {"type", "lr", "momentum", "weight_decay", "nesterov", "betas",
                                     "eps"},
                               "'optimizer'"))))
    return failure();
  YAML::Node o = opt ? opt : YAML::Node(YAML::NodeType::Map);
  auto type = getString(o, "type", std::string("sgd"));
  if (failed(type))
    return failure();
  if (*type != "sgd" && *type != "adam" && *type != "adamw") {
    std::string hint = nearest(*type, {"sgd", "adam", "adamw"});
    return error(o["type"], "unknown optimizer " + quoted(*type) + " (supported: sgd, adam, adamw)" +
                                (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
  }
  const bool sgd = *type == "sgd";
  for (const char *key : {"momentum", "nesterov"})
    if (!sgd && o[key])
      return error(o[key], Twine("field '") + key + "' is an sgd setting, not " + *type + "'s");
  for (const char *key : {"betas", "eps"})
    if (sgd && o[key])
      return error(o[key], Twine("field '") + key + "' is an adam/adamw setting, not sgd's");
  // AdamW's default weight decay is PyTorch's 0.01; the others' 0.
  auto lr = getFloat(o, "lr", sgd ? 0.01 : 0.001, 0);
  // Momentum 1 or more never forgets a gradient: the step grows without bound. Without an
  // optimizer section, the historical default: sgd with momentum 0.9.
  auto momentum = getFloat(o, "momentum", opt ? 0.0 : 0.9, 0, 1);
  auto wd = getFloat(o, "weight_decay", *type == "adamw" ? 0.01 : 0.0, 0, 1);
  auto nesterov = getBool(o, "nesterov", false);
  auto eps = getFloat(o, "eps", 1e-8, 0);
  if (failed(lr) || failed(momentum) || failed(wd) || failed(nesterov) || failed(eps))
    return failure();
  if (o["lr"] && *lr <= 0)
    return error(o["lr"], "field 'lr' must be positive, got " + number(*lr));
  if (o["momentum"] && *momentum >= 1)
    return error(o["momentum"], "field 'momentum' must be below 1, got " + number(*momentum));
  if (*nesterov && !(*momentum > 0))
    return error(o["nesterov"], "field 'nesterov' needs a positive 'momentum' (PyTorch's rule)");
  if (o["eps"] && *eps <= 0)
    return error(o["eps"], "field 'eps' must be positive, got " + number(*eps));
  double betas[2] = {0.9, 0.999};
  if (YAML::Node bn = o["betas"]) {
    if (!bn.IsSequence() || bn.size() != 2)
      return error(bn, "field 'betas' must be a list of 2 numbers [beta1, beta2]");
    for (size_t j = 0; j < 2; ++j) {
      YAML::Node e = bn[j];
      double x;
      if (!e.IsScalar() || !YAML::convert<double>::decode(e, x) || !std::isfinite(x))
        return error(e, "field 'betas' must hold finite numbers");
      if (x < 0 || x >= 1)
        return error(e, "beta" + std::to_string(j + 1) + " must be in [0, 1), got " + number(x));
      betas[j] = x;
    }
  }
  config.train.lr = float(*lr);
  config.train.momentum = float(*momentum);
  config.train.weightDecay = float(*wd);
  config.train.optimizer = *type;
  optimizer.set("type", b.getStringAttr(*type));
  optimizer.set("lr", b.getF32FloatAttr(float(*lr)));
  optimizer.set("momentum", b.getF32FloatAttr(float(*momentum)));
  optimizer.set("weight_decay", b.getF32FloatAttr(float(*wd)));
  if (*nesterov)
    optimizer.set("nesterov", b.getUnitAttr());
  if (!sgd) {
    optimizer.set("beta1", b.getF32FloatAttr(float(betas[0])));
    optimizer.set("beta2", b.getF32FloatAttr(float(betas[1])));
    optimizer.set("eps", b.getF32FloatAttr(float(*eps)));
  }
  return success();
}

/// `training.schedule`: the learning rate per step (runtime/cpu/OptimizerKernels.h).
LogicalResult Importer::parseSchedule(const YAML::Node &n) {
  if (!n)
    return success();
  if (failed(checkMap(n, "'schedule'")) ||
      failed(checkKeys(n, {"type", "warmup_steps", "step_size", "gamma", "min_lr", "total_steps"},
                       "'schedule'")))
    return failure();
  auto type = getString(n, "type", std::string("constant"));
  if (failed(type))
    return failure();
  const std::vector<std::string> types = {"constant", "step", "cosine", "linear"};
  auto it = std::find(types.begin(), types.end(), *type);
  if (it == types.end()) {
    std::string hint = nearest(*type, types);
    return error(n["type"], "unknown schedule " + quoted(*type) +
                                " (supported: constant, step, cosine, linear)" +
                                (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
  }
  const int64_t kind = it - types.begin();
  const int64_t maxSteps = dlc::plan::kMaxSteps;
  auto warmup = getInt(n, "warmup_steps", 0, 0);
  auto stepSize = getInt(n, "step_size", kind == 1 ? std::nullopt : std::optional<int64_t>(1), 1);
  auto total = getInt(n, "total_steps",
                      kind >= 2 ? std::nullopt : std::optional<int64_t>(0), 1);
  auto gamma = getFloat(n, "gamma", 0.1, 0, 1);
  auto minLr = getFloat(n, "min_lr", 0.0, 0);
  if (failed(warmup) || failed(stepSize) || failed(total) || failed(gamma) || failed(minLr))
    return failure();
  for (const char *key : {"warmup_steps", "step_size", "total_steps"})
    if (n[key] && n[key].as<int64_t>() > maxSteps)
      return error(n[key], Twine("field '") + key + "' must be at most " + Twine(maxSteps) +
                               " (the step counter is a float)");
  if (n["gamma"] && *gamma <= 0)
    return error(n["gamma"], "field 'gamma' must be positive, got " + number(*gamma));
  if (*minLr > config.train.lr)
    return error(n["min_lr"], "field 'min_lr' must be at most the optimizer's lr " +
                                  number(config.train.lr) + ", got " + number(*minLr));
  if (kind >= 2 && *total <= *warmup)
    return error(n["total_steps"], "field 'total_steps' must exceed 'warmup_steps' (" +
                                       std::to_string(*warmup) + "), got " +
                                       std::to_string(*total));
  for (const char *key : {"step_size", "gamma"})
    if (kind != 1 && n[key])
      return error(n[key], Twine("field '") + key + "' belongs to the step schedule, not " +
                               *type);
  for (const char *key : {"total_steps", "min_lr"})
    if (kind < 2 && n[key])
      return error(n[key], Twine("field '") + key +
                               "' belongs to the cosine and linear schedules, not " + *type);
  optimizer.set("schedule", b.getI64IntegerAttr(kind));
  optimizer.set("warmup_steps", b.getI64IntegerAttr(*warmup));
  optimizer.set("step_size", b.getI64IntegerAttr(*stepSize));
  optimizer.set("total_steps", b.getI64IntegerAttr(*total));
  optimizer.set("gamma", b.getF32FloatAttr(float(*gamma)));
  optimizer.set("min_lr", b.getF32FloatAttr(float(*minLr)));
  return success();
}

LogicalResult Importer::parseData(const YAML::Node &n) {
  if (failed(checkMap(n, "'data'")) ||
      failed(checkKeys(n, {"format", "train", "test", "normalize", "train_examples",
                           "test_examples", "crop", "flip", "standardize", "file", "seq_len",
                           "test_fraction"},
                       "'data'")))
    return failure();
  auto format = getString(n, "format", std::nullopt);
  if (failed(format))
    return failure();
  dlc::plan::DataConfig &d = config.data;
  d.format = *format;
  dataNode = n;
  const bool sequences = d.format == "text" || d.format == "tokens";
  // Each format's own fields: a field of another format is a mistake, not something to ignore.
  for (const char *key : {"file", "seq_len", "test_fraction"})
    if (!sequences && n[key])
      return error(n[key], Twine("field '") + key + "' belongs to the text and tokens formats, "
                                                    "not " + d.format);
  for (const char *key : {"train", "test", "normalize", "train_examples", "test_examples", "crop",
                          "flip", "standardize"})
    if (sequences && n[key])
      return error(n[key], Twine("field '") + key + "' does not apply to format " + d.format +
                               " (it takes file, seq_len and test_fraction)");
  if (d.format == "safetensors") {
    // Named tensors, one per input (runtime/train/TensorData.h): only the two files.
    for (const auto &kv : n) {
      const std::string key = kv.first.as<std::string>("");
      if (key != "format" && key != "train" && key != "test")
        return error(kv.first, "field '" + key + "' does not apply to format safetensors (it "
                                                 "takes train and test files)");
    }
    auto train = getString(n, "train", std::nullopt);
    auto test = getString(n, "test", std::nullopt);
    if (failed(train) || failed(test))
      return failure();
    d.trainFiles = {resolvePath(*train)};
    d.testFiles = {resolvePath(*test)};
    return success();
  }
  if (sequences) {
    auto file = getString(n, "file", std::nullopt);
    auto seqLen = getInt(n, "seq_len", std::nullopt, 1, dlc::kMaxSeqLen);
    auto fraction = getFloat(n, "test_fraction", 0.1, 0);
    if (failed(file) || failed(seqLen) || failed(fraction))
      return failure();
    if (*fraction >= 1)
      return error(n["test_fraction"], "field 'test_fraction' must be below 1, got " +
                                           number(*fraction));
    d.trainFiles = d.testFiles = {resolvePath(*file)};
    d.seqLen = *seqLen;
    d.testFraction = float(*fraction);
    return success();
  }
  if (d.format == "synthetic") {
    // The plan format's bound on synthetic sets (runtime/plan/Plan.cpp checks it at load).
    constexpr int64_t kMaxSyntheticExamples = 1 << 20;
    auto tr = getInt(n, "train_examples", 6000, 1, kMaxSyntheticExamples);
    auto te = getInt(n, "test_examples", 1000, 1, kMaxSyntheticExamples);
    if (failed(tr) || failed(te))
      return failure();
    d.syntheticTrain = *tr;
    d.syntheticTest = *te;
  } else if (d.format == "mnist" || d.format == "cifar10") {
    for (const char *split : {"train", "test"}) {
      YAML::Node s = n[split];
      if (!s)
        return error(n, Twine("missing required field '") + split + "'");
      auto &files = std::string(split) == "train" ? d.trainFiles : d.testFiles;
      if (d.format == "mnist") {
        if (failed(checkMap(s, Twine("'") + split + "'")) ||
            failed(checkKeys(s, {"images", "labels"}, Twine("'") + split + "'")))
          return failure();
        auto images = getString(s, "images", std::nullopt);
        auto labels = getString(s, "labels", std::nullopt);
        if (failed(images) || failed(labels))
          return failure();
        files = {resolvePath(*images), resolvePath(*labels)};
      } else {
        if (!s.IsSequence() || s.size() == 0)
          return error(s, Twine("'") + split + "' must be a list of CIFAR-10 batch files");
        for (const YAML::Node &f : s)
          files.push_back(resolvePath(f.as<std::string>()));
      }
    }
  } else {
    std::string hint =
        nearest(d.format, {"mnist", "cifar10", "synthetic", "text", "tokens", "safetensors"});
    return error(n["format"], "unknown data format " + quoted(d.format) +
                                  (hint.empty() ? " (expected mnist, cifar10, synthetic, text, "
                                                  "tokens or safetensors)"
                                                : " (did you mean '" + hint + "'?)"));
  }
  if (YAML::Node norm = n["normalize"]) {
    if (failed(checkMap(norm, "'normalize'")) ||
        failed(checkKeys(norm, {"mean", "std"}, "'normalize'")))
      return failure();
    auto mean = getFloat(norm, "mean", 0.0, -kFloatMax);
    auto stddev = getFloat(norm, "std", 1.0, 1e-12);
    if (failed(mean) || failed(stddev))
      return failure();
    d.normalize = true;
    d.mean = *mean;
    d.stddev = *stddev;
  }
  // Augmentation (the TensorFlow CIFAR-10 tutorial's): crops, flips, per-image standardisation.
  if (YAML::Node crop = n["crop"]) {
    auto hw = getPair(n, "crop", std::nullopt, 1);
    if (failed(hw))
      return failure();
    d.cropH = (*hw)[0];
    d.cropW = (*hw)[1];
    cropNode = crop;
  }
  auto flip = getBool(n, "flip", false);
  auto standardize = getBool(n, "standardize", false);
  if (failed(flip) || failed(standardize))
    return failure();
  d.flip = *flip;
  d.standardize = *standardize;
  if (d.standardize && d.normalize)
    return error(n["standardize"], "give 'normalize' or 'standardize', not both (standardize "
                                   "replaces each image's own mean and spread)");
  return success();
}

void Importer::declare(const YAML::Node &at, const std::string &name, ArrayRef<int64_t> shape,
                       const std::string &init, int64_t fanIn, int64_t fanOut, StringRef role) {
  OpBuilder mb(&ctx);
  // Before @forward, which is the module's last op while layers are built.
  mb.setInsertionPoint(module.getBody(), std::prev(module.getBody()->end()));
  mb.create<dl::ParameterOp>(loc(at), name, RankedTensorType::get(shape, b.getF32Type()), init,
                             fanIn, fanOut, role);
}

Value Importer::param(const YAML::Node &at, const std::string &name, ArrayRef<int64_t> shape,
                      const std::string &init, int64_t fanIn, int64_t fanOut) {
  declare(at, name, shape, init, fanIn, fanOut, "weight");
  return b.create<dl::ParamOp>(loc(at), RankedTensorType::get(shape, b.getF32Type()), name);
}

/// Types a just-built op with its shape rule; on failure the rule has reported at the op's
/// location (the layer) and the op is erased.
FailureOr<Value> Importer::typed(Operation *op) {
  if (failed(dl::refineResultTypes(op)) || failed(countOps(op->getLoc(), 1))) {
    op->erase();
    return failure();
  }
  for (Value r : op->getResults())
    if (failed(checkTensor(op->getLoc(), cast<RankedTensorType>(r.getType()).getShape(),
                           op->getName().getStringRef() + " result"))) {
      op->erase();
      return failure();
    }
  return op->getResult(0);
}

LogicalResult Importer::checkTensor(Location at, ArrayRef<int64_t> shape, const Twine &what) {
  int64_t limit = config.limits.maxTensorBytes;
  std::optional<int64_t> bytes = dlc::tensorBytes(shape, ShapedType::kDynamic);
  if (bytes && *bytes <= limit)
    return success();
  std::string dims;
  for (int64_t d : shape)
    dims += (dims.empty() ? "" : "x") + (d == ShapedType::kDynamic ? "?" : std::to_string(d));
  emitError(at) << what << " [" << dims << "] needs "
                << (bytes ? std::to_string(*bytes) : std::string("more than 2^63"))
                << (llvm::is_contained(shape, ShapedType::kDynamic) ? " bytes per example"
                                                                    : " bytes")
                << ", more than the limit of " << limit
                << " (--max-tensor-bytes)";
  return failure();
}

LogicalResult Importer::countOps(Location at, int64_t n) {
  int64_t limit = config.limits.maxOps;
  if (n <= limit - ops) {
    ops += n;
    return success();
  }
  emitError(at) << "the graph would have " << (n > INT64_MAX - ops ? INT64_MAX : ops + n)
                << " ops, more than the limit of " << limit << " (--max-ops)";
  return failure();
}

/// An LSTM layer unrolled over its time steps (the sequence length is static): per step t,
/// gates = x_t W_ih^T + b + h_{t-1} W_hh^T (no recurrent matmul at t = 0, where h = 0), then
/// dl.lstm_cell. Autodiff differentiates the unrolled graph: backpropagation through time.
FailureOr<Value> Importer::buildLstm(const YAML::Node &layer, Value x,
                                     const YAML::Node &inputNode) {
  Location l = loc(layer);
  Type unknown = UnrankedTensorType::get(b.getF32Type());
  auto units = getInt(layer, "units", std::nullopt, 1);
  auto ret = getString(layer, "return", std::string("last"));
  auto forgetBias = getFloat(layer, "forget_bias", 1.0, -kFloatMax);
  auto init = getString(layer, "init", std::string("glorot_uniform"));
  if (failed(units) || failed(ret) || failed(forgetBias) || failed(init))
    return failure();
  if (*ret != "last")
    return (void)error(layer["return"], "field 'return' must be 'last' (the last hidden state; "
                                        "whole sequences are not supported), got '" +
                                            *ret + "'"),
           failure();
  auto xt = cast<RankedTensorType>(x.getType());
  Value seq = x;
  if (xt.getRank() == 4 && xt.getDimSize(1) == 1) {
    // A one-channel image is a sequence of its rows.
    auto r = typed(b.create<dl::ReshapeOp>(
        l, unknown, x, ArrayRef<int64_t>{xt.getDimSize(2), xt.getDimSize(3)}));
    if (failed(r))
      return failure();
    seq = *r;
  } else if (xt.getRank() != 3) {
    std::string s;
    llvm::raw_string_ostream os(s);
    os << xt;
    return (void)error(layer, "lstm expects a [batch, steps, features] sequence or a one-channel "
                              "image [batch, 1, steps, features], got " + os.str() + " from '" +
                                  inputNode.as<std::string>("") + "'"),
           failure();
  }
  auto st = cast<RankedTensorType>(seq.getType());
  int64_t steps = st.getDimSize(1), in = st.getDimSize(2), h = *units;
  // Bounded before unrolling: the unrolled graph is the compile's work and memory.
  if (steps > config.limits.maxSteps)
    return (void)(emitError(l) << "lstm unrolls over " << steps
                               << " time steps, more than the limit of "
                               << config.limits.maxSteps << " (--max-steps)"),
           failure();
  if (failed(countOps(l, kLstmOpsPerStep * steps)) ||
      failed(checkTensor(l, {4 * h, in}, "lstm weight_ih")) ||
      failed(checkTensor(l, {4 * h, h}, "lstm weight_hh")))
    return failure();
  ops -= kLstmOpsPerStep * steps; // a bound on the unrolled layer; typed() counts the op
  Value wih = param(layer, layerName + ".weight_ih", {4 * h, in}, *init, in, 4 * h);
  Value whh = param(layer, layerName + ".weight_hh", {4 * h, h}, *init, h, 4 * h);
  Value bias = param(layer, layerName + ".bias", {4 * h}, "zeros", in + h, 4 * h);
  // One op for the layer: the CPU runs it as one kernel each way, the CUDA target unrolls it
  // into its steps (--dl-unroll-lstm), which the op count above allowed for.
  return typed(b.create<dl::LstmOp>(l, TypeRange{unknown, unknown}, seq, wih, whh, bias,
                                    b.getF32FloatAttr(*forgetBias)));
}

FailureOr<Value> Importer::buildLayer(const YAML::Node &layer, const std::string &op,
                                      ArrayRef<Value> inputs, ArrayRef<YAML::Node> inputNodes) {
  Location l = loc(layer);
  Type unknown = UnrankedTensorType::get(b.getF32Type());
  size_t want = op == "add" || op == "mul" || op == "sub" || op == "concat" ? 2 : 1;
  if (inputs.size() != want)
    return (void)error(layer, op + " takes " + Twine(want) + " input" + (want > 1 ? "s" : "") +
                                  ", got " + Twine(inputs.size())),
           failure();
  Value x = inputs[0];
  auto xt = cast<RankedTensorType>(x.getType());
  auto initOf = [&](const char *dflt) { return getString(layer, "init", std::string(dflt)); };

  if (op == "relu")
    return typed(b.create<dl::ReluOp>(l, unknown, x));
  if (op == "sigmoid")
    return typed(b.create<dl::SigmoidOp>(l, unknown, x));
  if (op == "flatten")
    return typed(b.create<dl::FlattenOp>(l, unknown, x));
  if (op == "add")
    return typed(b.create<dl::AddOp>(l, unknown, x, inputs[1]));
  if (op == "mul")
    return typed(b.create<dl::MulOp>(l, unknown, x, inputs[1]));
  if (op == "sub")
    return typed(b.create<dl::SubOp>(l, unknown, x, inputs[1]));
  if (op == "tanh")
    return typed(b.create<dl::TanhOp>(l, unknown, x));
  if (op == "silu")
    return typed(b.create<dl::SiluOp>(l, unknown, x));
  if (op == "relu6")
    return typed(b.create<dl::Relu6Op>(l, unknown, x));
  if (op == "hardswish")
    return typed(b.create<dl::HardswishOp>(l, unknown, x));
  if (op == "softmax")
    return typed(b.create<dl::SoftmaxOp>(l, unknown, x));
  if (op == "gelu") {
    // PyTorch's nn.GELU(approximate=...): 'none' is the erf form.
    auto approximate = getString(layer, "approximate", std::string("none"));
    if (failed(approximate))
      return failure();
    if (*approximate != "none" && *approximate != "tanh")
      return (void)error(layer["approximate"], "field 'approximate' must be 'none' or 'tanh', got " +
                                                   quoted(*approximate)),
             failure();
    return typed(b.create<dl::GeluOp>(l, unknown, x, *approximate == "tanh"));
  }
  if (op == "embedding") {
    // nn.Embedding(vocab, dim): weight [vocab, dim] drawn from normal(0, 1) as PyTorch does.
    auto vocab = getInt(layer, "vocab", std::nullopt, 1, dlc::kMaxFieldValue);
    auto dim = getInt(layer, "dim", std::nullopt, 1, dlc::kMaxFieldValue);
    if (failed(vocab) || failed(dim))
      return failure();
    if (failed(checkTensor(l, {*vocab, *dim}, "embedding weight")))
      return failure();
    Value w = param(layer, layerName + ".weight", {*vocab, *dim}, "normal", *vocab, *dim);
    return typed(b.create<dl::EmbeddingOp>(l, unknown, x, w));
  }
  if (op == "position_embedding") {
    // GPT-2's wpe: x + nn.Embedding(positions, dim)(arange(T)) on x [B, T, dim]; a layer of
    // its own so that its table is NAME.weight, as Hugging Face names wte and wpe apart.
    auto positions = getInt(layer, "positions", std::nullopt, 1, dlc::kMaxFieldValue);
    if (failed(positions))
      return failure();
    if (xt.getRank() != 3)
      return (void)error(layer, "position_embedding expects [batch, steps, features], got " +
                                    Twine(xt.getRank()) + "-D from '" +
                                    inputNodes[0].as<std::string>("") + "'"),
             failure();
    const int64_t steps = xt.getShape()[1], dim = xt.getShape()[2];
    if (steps > *positions)
      return (void)error(layer["positions"], "the input '" + inputNodes[0].as<std::string>("") +
                                                 "' has " + Twine(steps) +
                                                 " steps, more than the table's " +
                                                 Twine(*positions) + " positions"),
             failure();
    if (failed(checkTensor(l, {*positions, dim}, "position table")))
      return failure();
    Value table = param(layer, layerName + ".weight", {*positions, dim}, "normal", *positions, dim);
    config.maxSeqLen = config.maxSeqLen ? std::min(config.maxSeqLen, *positions) : *positions;
    return typed(b.create<dl::PositionAddOp>(l, unknown, x, table));
  }
  if (op == "concat") {
    // torch.cat(dim=axis): axis counts the batch as 0 and may be negative (-1: the last);
    // the default joins channels (NCHW) or features.
    YAML::Node axisNode = layer["axis"];
    int64_t axis = 1, rank = xt.getRank();
    if (axisNode && (!axisNode.IsScalar() || !YAML::convert<int64_t>::decode(axisNode, axis)))
      return (void)error(axisNode, "field 'axis' must be an integer"), failure();
    if (axis < 0)
      axis += rank;
    if (axis < 1 || axis >= rank)
      return (void)error(axisNode ? axisNode : layer,
                         "field 'axis' must name a dimension of the " + Twine(rank) +
                             "-D inputs other than the batch: 1 to " + Twine(rank - 1) +
                             " or -" + Twine(rank - 1) + " to -1, got " +
                             (axisNode ? axisNode.Scalar() : std::string("1"))),
             failure();
    return typed(b.create<dl::ConcatOp>(l, unknown, x, inputs[1], b.getI64IntegerAttr(axis)));
  }
  if (op == "dropout") {
    // PyTorch's nn.Dropout(p=0.5). The mask's seed mixes the model's seed with the layer's
    // name (FNV-1a), so that layers draw different masks and a run repeats; the layer's step
    // counter, a one-float buffer, moves it on each training step.
    auto rate = getFloat(layer, "rate", 0.5, 0, 1);
    if (failed(rate))
      return failure();
    if (*rate >= 1)
      return (void)error(layer["rate"], "field 'rate' must be below 1, got " + number(*rate)),
             failure();
    uint32_t h = 2166136261u;
    for (unsigned char c : layerName)
      h = (h ^ c) * 16777619u;
    int64_t seed = int64_t((uint32_t(config.train.seed) * 2654435761u) ^ h);
    std::string counter = layerName + ".step";
    declare(layer, counter, {1}, "zeros", 0, 0, "buffer");
    return typed(b.create<dl::DropoutOp>(l, unknown, x, b.getF32FloatAttr(*rate),
                                         b.getI64IntegerAttr(seed),
                                         FlatSymbolRefAttr::get(&ctx, counter)));
  }
  if (op == "leaky_relu") {
    // PyTorch's nn.LeakyReLU(negative_slope=0.01); any finite slope.
    auto slope = getFloat(layer, "slope", 0.01, -kFloatMax);
    if (failed(slope))
      return failure();
    return typed(b.create<dl::LeakyReluOp>(l, unknown, x, b.getF32FloatAttr(*slope)));
  }
  if (op == "maxpool2d") {
    auto k = getPair(layer, "kernel", std::nullopt, 1);
    if (failed(k))
      return failure();
    auto s = getPair(layer, "stride", (*k)[0], 1);
    if (failed(s))
      return failure();
    auto p = getPadding(layer, *k, *s, {1, 1}, true);
    if (failed(p))
      return failure();
    return typed(b.create<dl::MaxPool2dOp>(l, unknown, x, *k, *s, *p));
  }
  if (op == "avgpool2d" || op == "global_avgpool") {
    SmallVector<int64_t> k, s{1, 1}, p{0, 0};
    if (op == "global_avgpool") {
      if (xt.getRank() != 4)
        return (void)error(layer, "global_avgpool expects a 4-D input"), failure();
      k = {xt.getDimSize(2), xt.getDimSize(3)};
    } else {
      auto kk = getPair(layer, "kernel", std::nullopt, 1);
      if (failed(kk))
        return failure();
      auto ss = getPair(layer, "stride", (*kk)[0], 1);
      if (failed(ss))
        return failure();
      auto pp = getPadding(layer, *kk, *ss, {1, 1}, true);
      if (failed(pp))
        return failure();
      k = *kk, s = *ss, p = *pp;
    }
    return typed(b.create<dl::AvgPool2dOp>(l, unknown, x, k, s, p));
  }
  if (op == "batch_norm") {
    auto eps = getFloat(layer, "eps", 1e-5, 0, 1);
    // The running statistics' update weight: new = (1 - momentum) old + momentum batch.
    auto momentum = getFloat(layer, "momentum", 0.1, 0, 1);
    if (failed(eps) || failed(momentum))
      return failure();
    if (xt.getRank() < 2)
      return (void)error(layer, "batch_norm expects an input with a channel dimension"),
             failure();
    int64_t c = xt.getDimSize(1);
    Value gamma = param(layer, layerName + ".weight", {c}, "ones", 0, 0);
    Value beta = param(layer, layerName + ".bias", {c}, "zeros", 0, 0);
    std::string mean = layerName + ".running_mean", var = layerName + ".running_var";
    // Running statistics are read and written only through the batch norm ops' symbols.
    declare(layer, mean, {c}, "zeros", 0, 0, "buffer");
    declare(layer, var, {c}, "ones", 0, 0, "buffer");
    return typed(b.create<dl::BatchNormOp>(l, unknown, x, gamma, beta,
                                           FlatSymbolRefAttr::get(&ctx, mean),
                                           FlatSymbolRefAttr::get(&ctx, var),
                                           b.getF32FloatAttr(*eps), b.getF32FloatAttr(*momentum),
                                           UnitAttr()));
  }
  if (op == "lrn") {
    // TensorFlow's tf.nn.lrn and its defaults; alpha is not divided by the window size.
    auto radius = getInt(layer, "depth_radius", 5, 0);
    auto bias = getFloat(layer, "bias", 1.0, 0);
    auto alpha = getFloat(layer, "alpha", 1.0, 0);
    auto beta = getFloat(layer, "beta", 0.5, 0);
    if (failed(radius) || failed(bias) || failed(alpha) || failed(beta))
      return failure();
    if (*bias <= 0)
      return (void)error(layer["bias"], "field 'bias' must be positive, got " +
                                             llvm::formatv("{0}", *bias).str()),
             failure();
    if (xt.getRank() != 4)
      return (void)error(layer, "lrn expects a 4-D [batch, channels, height, width] input, got " +
                                    Twine(xt.getRank()) + "-D from '" +
                                    inputNodes[0].as<std::string>("") + "'"),
             failure();
    return typed(b.create<dl::LrnOp>(l, unknown, x, b.getI64IntegerAttr(*radius),
                                     b.getF32FloatAttr(*bias),
                                     b.getF32FloatAttr(*alpha), b.getF32FloatAttr(*beta)));
  }
  if (op == "lstm")
    return buildLstm(layer, x, inputNodes[0]);
  if (op == "conv2d") {
    auto filters = getInt(layer, "filters", std::nullopt, 1);
    auto k = getPair(layer, "kernel", std::nullopt, 1);
    auto s = getPair(layer, "stride", 1, 1);
    auto d = getPair(layer, "dilation", 1, 1);
    auto groups = getInt(layer, "groups", 1, 1);
    auto bias = getBool(layer, "bias", true);
    auto init = initOf("he_normal");
    if (failed(filters) || failed(k) || failed(s) || failed(d) || failed(groups) ||
        failed(bias) || failed(init))
      return failure();
    auto p = getPadding(layer, *k, *s, *d, false);
    if (failed(p))
      return failure();
    if (xt.getRank() != 4)
      return (void)error(layer, "conv2d expects a 4-D [batch, channels, height, width] input, "
                                "got " + Twine(xt.getRank()) + "-D from '" +
                                    inputNodes[0].as<std::string>("") + "'"),
             failure();
    int64_t c = xt.getDimSize(1), area = (*k)[0] * (*k)[1];
    if (c % *groups != 0 || *filters % *groups != 0)
      return (void)error(layer["groups"], "field 'groups' (" + Twine(*groups) +
                                              ") must divide the input's channels (" + Twine(c) +
                                              ") and 'filters' (" + Twine(*filters) + ")"),
             failure();
    int64_t cg = c / *groups; // input channels each filter sees, as nn.Conv2d's weight
    // Checked first: the fan-in and fan-out products below are then bounded too.
    if (failed(checkTensor(l, {*filters, cg, (*k)[0], (*k)[1]}, "conv2d weight")))
      return failure();
    Value w = param(layer, layerName + ".weight", {*filters, cg, (*k)[0], (*k)[1]}, *init,
                    cg * area, *filters * area);
    // Absent unless used, so the IR (and plans) of plain convolutions stay as they were.
    DenseI64ArrayAttr dilation =
        (*d)[0] == 1 && (*d)[1] == 1 ? DenseI64ArrayAttr() : b.getDenseI64ArrayAttr(*d);
    IntegerAttr groupsAttr = *groups == 1 ? IntegerAttr() : b.getI64IntegerAttr(*groups);
    auto y = typed(b.create<dl::Conv2dOp>(l, unknown, x, w, Value(), *s, *p, false, dilation,
                                          groupsAttr));
    if (failed(y) || !*bias)
      return y;
    Value bv = param(layer, layerName + ".bias", {*filters}, "zeros", cg * area, *filters);
    return typed(b.create<dl::BiasAddOp>(l, unknown, *y, bv, 1));
  }
  if (op == "attention") {
    // GPT-2's attention block without its residual: c_attn (C -> 3C), the heads' scaled
    // dot-product attention (causal or not), c_proj (C -> C); x is [B, T, C].
    auto heads = getInt(layer, "heads", std::nullopt, 1);
    auto causal = getBool(layer, "causal", false);
    auto dropout = getFloat(layer, "dropout", 0.0, 0, 1);
    if (failed(heads) || failed(causal) || failed(dropout))
      return failure();
    if (*dropout != 0)
      return (void)error(layer["dropout"], "attention dropout is not implemented yet; use "
                                           "dropout: 0 (a dropout layer after the block "
                                           "works)"),
             failure();
    if (xt.getRank() != 3)
      return (void)error(layer, "attention expects [batch, steps, features], got " +
                                    Twine(xt.getRank()) + "-D from '" +
                                    inputNodes[0].as<std::string>("") + "'"),
             failure();
    const int64_t c = xt.getShape().back();
    if (c % *heads != 0)
      return (void)error(layer["heads"], Twine(*heads) +
                                             " heads do not divide the " + Twine(c) +
                                             " features"),
             failure();
    if (failed(checkTensor(l, {3 * c, c}, "attention c_attn weight")))
      return failure();
    auto linear = [&](Value in, const std::string &name, int64_t units) -> FailureOr<Value> {
      Value w = param(layer, layerName + "." + name + ".weight", {units, c}, "glorot_uniform", c,
                      units);
      auto y = typed(b.create<dl::MatmulOp>(l, unknown, in, w, Value(), false, true));
      if (failed(y))
        return failure();
      Value bv = param(layer, layerName + "." + name + ".bias", {units}, "zeros", c, units);
      return typed(b.create<dl::BiasAddOp>(l, unknown, *y, bv, 2));
    };
    // mask: INPUT, an int32 input [steps] per example (1 a token, 0 padding: BERT's
    // attention_mask); padding keys get -inf before the softmax.
    Value mask;
    if (YAML::Node m = layer["mask"]) {
      auto name = getString(layer, "mask", std::nullopt);
      if (failed(name))
        return failure();
      const Input *in = findInput(*name);
      if (!in) {
        std::vector<std::string> known;
        for (const Input &input : this->inputs)
          known.push_back(input.name);
        std::string hint = nearest(*name, known);
        return (void)error(m, "attention mask " + quoted(*name) + " is not a declared input" +
                                  (hint.empty() ? "" : " (did you mean '" + hint + "'?)")),
               failure();
      }
      if (in->classes > 0 || !in->isInt)
        return (void)error(m, "attention mask " + quoted(*name) + " must be an int32 input "
                                  "(dtype: int32; 1 a token, 0 padding), it is " +
                                  (in->classes > 0 ? "a label input" : "float")),
               failure();
      const int64_t steps = xt.getShape()[1];
      if (in->shape.size() != 1 || in->shape[0] != steps) {
        std::string got;
        for (int64_t d : in->shape)
          got += (got.empty() ? "" : ", ") + std::to_string(d);
        return (void)error(m, "attention mask " + quoted(*name) + " must have shape [" +
                                  Twine(steps) + "] per example (the attention's steps), got [" +
                                  got + "]"),
               failure();
      }
      mask = in->value;
    }
    auto qkv = linear(x, "c_attn", 3 * c);
    if (failed(qkv))
      return failure();
    auto att = typed(b.create<dl::AttentionOp>(l, TypeRange{unknown, unknown}, *qkv, mask,
                                               b.getI64IntegerAttr(*heads),
                                               *causal ? b.getUnitAttr() : UnitAttr()));
    if (failed(att))
      return failure();
    return linear(*att, "c_proj", c);
  }
  if (op == "layer_norm") {
    // nn.LayerNorm(features, eps) over the last axis, with its weight (ones) and bias (zeros).
    auto eps = getFloat(layer, "eps", 1e-5, 0, 1);
    if (failed(eps))
      return failure();
    if (!(*eps > 0))
      return (void)error(layer["eps"], "field 'eps' must be positive, got " + number(*eps)),
             failure();
    if (xt.getRank() < 2)
      return (void)error(layer, "layer_norm expects an input with a batch dimension and "
                                "features ([batch, ..., features]), got " +
                                    Twine(xt.getRank()) + "-D from '" +
                                    inputNodes[0].as<std::string>("") + "'"),
             failure();
    int64_t d = xt.getShape().back();
    Value w = param(layer, layerName + ".weight", {d}, "ones", 0, 0);
    Value bv = param(layer, layerName + ".bias", {d}, "zeros", 0, 0);
    return typed(b.create<dl::LayerNormOp>(l, TypeRange{unknown, unknown, unknown}, x, w, bv,
                                           b.getF32FloatAttr(*eps)));
  }
  if (op == "reshape") {
    // x.reshape(batch, *shape): the per-example shape, one entry may be -1 (inferred).
    auto shape = getIntList(layer, "shape", -1);
    if (failed(shape))
      return failure();
    YAML::Node sn = layer["shape"];
    int64_t in = 1, known = 1, wild = -1;
    for (int64_t d : xt.getShape().drop_front())
      in *= d; // bounded: the input passed checkTensor
    for (size_t j = 0; j < shape->size(); ++j) {
      int64_t d = (*shape)[j];
      if (d == 0)
        return (void)error(sn[j], "field 'shape' must hold positive sizes or one -1, got 0"),
               failure();
      if (d == -1) {
        if (wild >= 0)
          return (void)error(sn[j], "field 'shape' may hold only one -1"), failure();
        wild = int64_t(j);
        continue;
      }
      if (__builtin_mul_overflow(known, d, &known) || known > in)
        return (void)error(sn, "reshape to " + shapeText(*shape) + " needs more than the " +
                                   Twine(in) + " elements per example of the input"),
               failure();
    }
    if (wild >= 0) {
      if (in % known)
        return (void)error(sn, "reshape to " + shapeText(*shape) + ": " + Twine(in) +
                                   " elements per example are not a multiple of " +
                                   Twine(known)),
               failure();
      (*shape)[wild] = in / known;
    } else if (known != in) {
      return (void)error(sn, "reshape to " + shapeText(*shape) + " gives " + Twine(known) +
                                 " elements per example, the input has " + Twine(in)),
             failure();
    }
    return typed(b.create<dl::ReshapeOp>(l, unknown, x, *shape));
  }
  if (op == "transpose") {
    // x.permute(*perm): a permutation of every axis, the batch (0) staying first.
    auto perm = getIntList(layer, "perm", 0);
    if (failed(perm))
      return failure();
    YAML::Node pn = layer["perm"];
    int64_t rank = xt.getRank();
    if (int64_t(perm->size()) != rank)
      return (void)error(pn, "field 'perm' must list all " + Twine(rank) + " axes of the " +
                                 Twine(rank) + "-D input, got " + Twine(perm->size())),
             failure();
    if (rank > 6)
      return (void)error(pn, "transpose permutes at most 6 axes, the input has " +
                                 Twine(rank)),
             failure();
    SmallVector<bool> seen(rank, false);
    for (size_t j = 0; j < perm->size(); ++j) {
      int64_t p = (*perm)[j];
      if (p >= rank || seen[p])
        return (void)error(pn[j], "field 'perm' must be a permutation of 0 to " +
                                      Twine(rank - 1) + ", got " + shapeText(*perm)),
               failure();
      seen[p] = true;
    }
    if ((*perm)[0] != 0)
      return (void)error(pn[0], "field 'perm' must start with 0: the batch stays first, got " +
                                    shapeText(*perm)),
             failure();
    return typed(b.create<dl::TransposeOp>(l, unknown, x, *perm));
  }
  if (op == "linear") {
    auto units = getInt(layer, "units", std::nullopt, 1);
    auto bias = getBool(layer, "bias", true);
    auto init = initOf("he_normal");
    if (failed(units) || failed(bias) || failed(init))
      return failure();
    // nn.Linear: acts on the last axis, [B, ..., in] -> [B, ..., units].
    if (xt.getRank() < 2)
      return (void)error(layer, "linear expects an input with a batch dimension and features "
                                "([batch, ..., features]), got " +
                                    Twine(xt.getRank()) + "-D from '" +
                                    inputNodes[0].as<std::string>("") + "'"),
             failure();
    int64_t in = xt.getShape().back();
    if (failed(checkTensor(l, {*units, in}, "linear weight")))
      return failure();
    Value w;
    if (YAML::Node tie = layer["tie"]) {
      // Weight tying (GPT-2's LM head): read another layer's [units, in] weight, e.g. an
      // embedding's [vocab, dim]; autodiff sums the gradients of both reads into one update.
      auto tied = getString(layer, "tie", std::nullopt);
      if (failed(tied))
        return failure();
      const std::string name = *tied + ".weight";
      auto decl = module.lookupSymbol<dl::ParameterOp>(name);
      if (!decl)
        return (void)error(tie, "tie: layer '" + *tied + "' has no weight built before this "
                                "layer (tie to an embedding or linear this layer's input "
                                "comes from)"),
               failure();
      auto type = cast<RankedTensorType>(decl.getType());
      if (type.getShape() != ArrayRef<int64_t>{*units, in})
        return (void)error(tie, "tie: '" + name + "' is " + llvm::formatv("{0}", type).str() +
                                    " but this layer needs [" + Twine(*units) + ", " +
                                    Twine(in) + "] (units, input features)"),
               failure();
      w = b.create<dl::ParamOp>(l, type, name);
    } else {
      w = param(layer, layerName + ".weight", {*units, in}, *init, in, *units);
    }
    auto y = typed(b.create<dl::MatmulOp>(l, unknown, x, w, Value(), false, true));
    if (failed(y) || !*bias)
      return y;
    Value bv = param(layer, layerName + ".bias", {*units}, "zeros", in, *units);
    return typed(b.create<dl::BiasAddOp>(l, unknown, *y, bv, xt.getRank() - 1));
  }
  llvm_unreachable("op names are checked before building");
}

LogicalResult Importer::buildGraph(const YAML::Node &root, func::FuncOp fn) {
  YAML::Node layers = root["layers"];
  if (!layers)
    return error(root, "missing required section 'layers'");
  if (!layers.IsSequence() || layers.size() == 0)
    return error(layers, "'layers' must be a non-empty list");
  // Each layer builds at least one op: refuse a list over --max-ops before ordering it.
  if (int64_t(layers.size()) > config.limits.maxOps)
    return error(layers, "the graph would have at least " + Twine(uint64_t(layers.size())) +
                             " ops (one per layer), more than the limit of " +
                             Twine(config.limits.maxOps) + " (--max-ops)");

  // The first layer reads the first input that is not class indices, unless it says.
  std::string firstInput = inputs.front().name;
  for (const Input &in : inputs)
    if (in.classes == 0) {
      firstInput = in.name;
      break;
    }
  std::vector<std::string> opNames;
  for (auto &kv : kLayerKeys)
    opNames.push_back(kv.first);

  // Pass 1: names, ops, keys, and each layer's inputs (default: the layer before).
  struct LayerInfo {
    YAML::Node node;
    std::string op;
    std::vector<std::string> inputs;
    std::vector<YAML::Node> inputNodes;
  };
  std::vector<std::string> order;
  llvm::StringMap<LayerInfo> info;
  std::string previous = firstInput;
  for (const YAML::Node &layer : layers) {
    layerName.clear();
    if (failed(checkMap(layer, "a layer")))
      return failure();
    auto name = getString(layer, "name", std::nullopt);
    if (failed(name))
      return failure();
    if (name->empty())
      return error(layer["name"], "layer name must not be empty");
    if (info.count(*name) || findInput(*name))
      return error(layer["name"], "duplicate layer name '" + *name + "'");
    layerName = *name;
    auto op = getString(layer, "op", std::nullopt);
    if (failed(op))
      return failure();
    auto keys = kLayerKeys.find(*op);
    if (keys == kLayerKeys.end()) {
      std::string hint = nearest(*op, opNames);
      return error(layer["op"], "unknown op " + quoted(*op) +
                                    (hint.empty() ? " (expected one of: " + joined(opNames) + ")"
                                                  : " (did you mean '" + hint + "'?)"));
    }
    std::vector<std::string> allowed = keys->second;
    allowed.insert(allowed.end(), {"name", "op", "input", "inputs"});
    if (failed(checkKeys(layer, allowed, "layer '" + *name + "'")))
      return failure();
    LayerInfo li{layer, *op, {}, {}};
    if (layer["input"] && layer["inputs"])
      return error(layer, "give either 'input' or 'inputs', not both");
    if (YAML::Node in = layer["input"] ? layer["input"] : layer["inputs"]) {
      if (in.IsScalar()) {
        li.inputs.push_back(in.as<std::string>());
        li.inputNodes.push_back(in);
      } else if (in.IsSequence()) {
        for (const YAML::Node &e : in) {
          if (!e.IsScalar())
            return error(e, "inputs must be layer names");
          li.inputs.push_back(e.as<std::string>());
          li.inputNodes.push_back(e);
        }
      } else {
        return error(in, "'input' must be a layer name or a list of names");
      }
    } else {
      li.inputs.push_back(previous);
      li.inputNodes.push_back(YAML::Node(previous));
    }
    order.push_back(*name);
    info[*name] = li;
    previous = *name;
  }
  layerName.clear();

  // Pass 2: every referenced name exists; depth-first order rejects cycles.
  llvm::StringMap<Value> values;
  for (const Input &in : inputs)
    values[in.name] = in.value;
  for (const std::string &n : order)
    for (size_t i = 0; i < info[n].inputs.size(); ++i) {
      const std::string &in = info[n].inputs[i];
      if (!info.count(in) && !values.count(in)) {
        layerName = n;
        std::vector<std::string> known(order);
        for (const Input &input : inputs)
          known.push_back(input.name);
        std::string hint = nearest(in, known);
        return error(info[n].inputNodes[i], "undefined input " + quoted(in) +
                                                (hint.empty() ? "" : " (did you mean '" + hint +
                                                                         "'?)"));
      }
    }
  std::vector<std::string> sorted;
  std::map<std::string, int> state; // 1: on the DFS stack, 2: done
  std::vector<std::string> stack;
  std::function<LogicalResult(const std::string &)> visit = [&](const std::string &n) {
    if (!info.count(n) || state[n] == 2)
      return success();
    if (state[n] == 1) {
      auto from = std::find(stack.begin(), stack.end(), n);
      std::string cycle;
      for (auto it = from; it != stack.end(); ++it)
        cycle += *it + " -> ";
      layerName = n;
      return error(info[n].node, "layers form a cycle: " + cycle + n);
    }
    state[n] = 1;
    stack.push_back(n);
    for (const std::string &in : info[n].inputs)
      if (failed(visit(in)))
        return failure();
    stack.pop_back();
    state[n] = 2;
    sorted.push_back(n);
    return success();
  };
  for (const std::string &n : order)
    if (failed(visit(n)))
      return failure();

  // Pass 3: build.
  for (const std::string &n : sorted) {
    layerName = n;
    LayerInfo &li = info[n];
    SmallVector<Value> ins;
    for (size_t i = 0; i < li.inputs.size(); ++i) {
      const std::string &in = li.inputs[i];
      const Input *decl = findInput(in);
      if (decl && decl->classes > 0)
        return error(li.node,
                     "the label input '" + in + "' can only feed the loss");
      // Integer tensors (token indices) feed embeddings only; embeddings read nothing else.
      const bool isInt =
          cast<RankedTensorType>(values[in].getType()).getElementType().isInteger(32);
      if (isInt && li.op != "embedding")
        return error(li.node,
                     "input '" + in + "' is int32 (token indices); only embedding takes it");
      if (!isInt && li.op == "embedding")
        return error(li.node,
                     "embedding takes int32 token indices (an input with dtype: int32), '" + in +
                         "' is float");
      ins.push_back(values[in]);
    }
    auto v = buildLayer(li.node, li.op, ins, li.inputNodes);
    if (failed(v))
      return failure();
    values[n] = *v;
  }
  layerName.clear();

  // The loss: softmax cross-entropy of the logits layer (default: the last) against the
  // labels, or a regression loss of an input layer (default: the last) against a target
  // layer of its shape.
  YAML::Node loss = root["loss"];
  if (!loss)
    return error(root, "missing required section 'loss'");
  if (failed(checkMap(loss, "'loss'")))
    return failure();
  auto lossOp = getString(loss, "op", std::nullopt);
  if (failed(lossOp))
    return failure();
  const std::vector<std::string> lossOps{"softmax_cross_entropy", "mse", "bce_with_logits"};
  if (std::find(lossOps.begin(), lossOps.end(), *lossOp) == lossOps.end()) {
    std::string hint = nearest(*lossOp, lossOps);
    return error(loss["op"], "unknown loss " + quoted(*lossOp) +
                                 (hint.empty() ? " (supported: " + joined(lossOps) + ")"
                                               : " (did you mean '" + hint + "'?)"));
  }
  Location l = loc(loss);
  Type unknown = UnrankedTensorType::get(b.getF32Type());
  auto scalar = RankedTensorType::get({}, b.getF32Type());
  if (*lossOp != "softmax_cross_entropy")
    return buildRegressionLoss(loss, *lossOp, order.back(), values);

  if (failed(checkKeys(loss, {"op", "logits", "labels"}, "'loss'")))
    return failure();
  // The labels: the class input the loss names, or the only one.
  const Input *classInput = nullptr;
  int classInputs = 0;
  for (const Input &in : inputs)
    if (in.classes > 0 && ++classInputs == 1)
      classInput = &in;
  if (classInputs != 1 && !loss["labels"])
    return error(loss["op"], classInputs == 0 ? "loss 'softmax_cross_entropy' needs a label "
                                                "input (with 'classes') in 'inputs'"
                                              : "loss 'softmax_cross_entropy': name one of the "
                                                "class inputs with 'labels'");
  auto logitsName = getString(loss, "logits", order.back());
  auto labelsName = getString(loss, "labels", classInput ? classInput->name : "");
  if (failed(logitsName) || failed(labelsName))
    return failure();
  if (!info.count(*logitsName))
    return error(loss["logits"] ? loss["logits"] : loss,
                 "loss: undefined logits layer '" + *logitsName + "'");
  classInput = findInput(*labelsName);
  if (!classInput || classInput->classes == 0) {
    std::vector<std::string> names;
    for (const Input &in : inputs)
      names.push_back(in.name);
    std::string hint = classInput ? "" : nearest(*labelsName, names);
    return error(loss["labels"], "loss: " + quoted(*labelsName) +
                                     (classInput ? " is not a class input (declare it with "
                                                   "'classes')"
                                                 : " is not an input" +
                                                       (hint.empty() ? std::string()
                                                                     : " (did you mean '" +
                                                                           hint + "'?)")));
  }
  const int64_t classes = classInput->classes;
  Value logits = values[*logitsName], labels = classInput->value;
  auto lt = cast<RankedTensorType>(logits.getType());
  // One row of logits per label: [batch, classes] per example, [batch, T, classes] per position.
  SmallVector<int64_t> want{ShapedType::kDynamic};
  llvm::append_range(want, classInput->shape);
  want.push_back(classes);
  if (lt.getShape() != ArrayRef<int64_t>(want)) {
    std::string dims = "batch";
    for (int64_t d : ArrayRef<int64_t>(want).drop_front())
      dims += ", " + std::to_string(d);
    return error(loss, "loss: logits layer '" + *logitsName + "' gives " +
                           llvm::formatv("{0}", lt).str() + " but input '" +
                           classInput->name + "' has " + Twine(classes) +
                           " classes (expected [" + dims + "]" +
                           (lt.getRank() > int64_t(want.size()) ? "; linear acts on the last "
                                                                   "axis: add a flatten layer "
                                                                   "before the classifier"
                                                                 : "") +
                           ")");
  }
  auto xent = typed(b.create<dl::SoftmaxXentOp>(l, unknown, logits, labels));
  auto acc = typed(b.create<dl::AccuracyOp>(l, unknown, logits, labels));
  if (failed(xent) || failed(acc))
    return failure();
  b.create<func::ReturnOp>(l, ValueRange{*xent, *acc});
  fn.setFunctionType(b.getFunctionType(fn.getArgumentTypes(), {scalar, scalar}));
  return success();
}

LogicalResult Importer::buildRegressionLoss(const YAML::Node &loss, const std::string &op,
                                            const std::string &last,
                                            llvm::StringMap<Value> &values) {
  if (failed(checkKeys(loss, {"op", "input", "target"}, "'loss'")))
    return failure();
  if (!loss["target"])
    return error(loss, "loss '" + op + "' needs 'target': the layer (or the float input) "
                       "that the input should reproduce");
  auto inputName = getString(loss, "input", last);
  auto targetName = getString(loss, "target", std::nullopt);
  if (failed(inputName) || failed(targetName))
    return failure();
  // Each of input and target names a layer; the target may also be a float input (data).
  auto lookup = [&](const std::string &name, const char *field,
                    bool inputAllowed) -> FailureOr<Value> {
    YAML::Node at = loss[field] ? loss[field] : loss;
    const Input *in = findInput(name);
    if (in && in->isInt)
      return error(at, "loss: '" + name + "' is an int32 input (" +
                           (in->classes ? "class indices" : "token indices") + "); the " +
                           field + " of '" + op + "' must be a layer" +
                           (inputAllowed ? " or a float input" : ""));
    if (in && !inputAllowed)
      return error(at, "loss: the input of '" + op + "' must be a layer, not the input '" +
                           name + "'");
    auto it = values.find(name);
    if (name.empty() || it == values.end())
      return error(at, "loss: undefined " + std::string(field) + " layer " + quoted(name));
    return it->second;
  };
  auto input = lookup(*inputName, "input", false);
  if (failed(input))
    return failure();
  auto target = lookup(*targetName, "target", true);
  if (failed(target))
    return failure();
  auto it = cast<RankedTensorType>(input->getType());
  auto tt = cast<RankedTensorType>(target->getType());
  if (it.getShape() != tt.getShape())
    return error(loss["target"], "loss: target '" + *targetName + "' gives " +
                                     llvm::formatv("{0}", tt).str() + " but input '" +
                                     *inputName + "' gives " + llvm::formatv("{0}", it).str() +
                                     " (" + op + " needs one shape; add a flatten or reshape "
                                     "layer)");
  Location l = loc(loss);
  Type unknown = UnrankedTensorType::get(b.getF32Type());
  Operation *lossOp =
      op == "mse" ? b.create<dl::MseOp>(l, unknown, *input, *target).getOperation()
                  : b.create<dl::BceWithLogitsOp>(l, unknown, *input, *target).getOperation();
  auto value = typed(lossOp);
  if (failed(value))
    return failure();
  // No accuracy: the plan's evaluation reports the loss alone (Program::correct is -1).
  b.create<func::ReturnOp>(l, ValueRange{*value});
  auto fn = lossOp->getParentOfType<func::FuncOp>();
  fn.setFunctionType(
      b.getFunctionType(fn.getArgumentTypes(), {RankedTensorType::get({}, b.getF32Type())}));
  return success();
}

} // namespace

OwningOpRef<ModuleOp> dlc::importModel(MLIRContext &ctx, const std::string &path,
                                       ModelConfig &config) {
  ctx.loadDialect<dl::DLDialect, func::FuncDialect>();
  auto buf = llvm::MemoryBuffer::getFile(path);
  if (!buf) {
    emitError(UnknownLoc::get(&ctx)) << "cannot open '" << path << "': " << buf.getError().message();
    return nullptr;
  }
  if (int64_t((*buf)->getBufferSize()) > config.limits.maxModelBytes) {
    emitError(FileLineColLoc::get(&ctx, path, 1, 1))
        << "the model file has " << (*buf)->getBufferSize()
        << " bytes, more than the limit of " << config.limits.maxModelBytes
        << " (--max-model-bytes)";
    return nullptr;
  }
  // yaml-cpp takes about a second per 4 MB scalar before anything can be checked; no model
  // file needs a line this long, so refuse one before parsing.
  llvm::StringRef text = (*buf)->getBuffer();
  for (size_t start = 0, line = 1; start < text.size(); ++line) {
    size_t end = std::min(text.find('\n', start), text.size());
    if (end - start > kMaxLineLength) {
      emitError(FileLineColLoc::get(&ctx, path, line, kMaxLineLength + 1))
          << "line longer than " << kMaxLineLength << " characters ("
          << end - start << "); a model file has no use for one";
      return nullptr;
    }
    start = end + 1;
  }
  YAML::Node root;
  try {
    root = YAML::Load(text.str());
  } catch (const YAML::Exception &e) {
    emitError(FileLineColLoc::get(&ctx, path, e.mark.line + 1, e.mark.column + 1))
        << "invalid YAML: " << e.msg;
    return nullptr;
  }
  try {
    return Importer(ctx, path, config).run(root);
  } catch (const YAML::Exception &e) {
    // yaml-cpp throws on a few shape mismatches the checks above do not foresee.
    emitError(FileLineColLoc::get(&ctx, path, e.mark.line + 1, e.mark.column + 1))
        << "invalid model file: " << e.msg;
    return nullptr;
  }
}
