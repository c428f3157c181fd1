//===- OnnxImporter.cpp - ONNX model file -> dl dialect ---------*- C++ -*-===//
//
// Reads a ModelProto with the protobuf classes of Debian's libonnx-dev (bounded by
// --max-model-bytes; a file that does not parse is one line), then walks the graph's nodes in
// their (topological) order: graph inputs become the arguments of @infer (named, whole
// tensors: `dl.whole`), initializers and Constant nodes constants, and each node goes
// through its op type's handler (OnnxOps.cpp), which folds it when its inputs are constants
// (shape subgraphs) or builds dl ops. The graph's outputs are @infer's results, named.
// Coverage and conformance: docs/onnx.md.
//
#include "compiler/Import/OnnxGraph.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cstring>
#include <fstream>

using namespace mlir;
using namespace dlc;
using namespace dlc::onnximport;

//===----------------------------------------------------------------------===//
// OnnxGraph
//===----------------------------------------------------------------------===//

Location OnnxGraph::loc() const {
  if (!node)
    return FileLineColLoc::get(&ctx, path, 0, 0);
  std::string name = node->name().empty() ? node->op_type() + "#" + std::to_string(nodeIndex)
                                           : node->name();
  return NameLoc::get(StringAttr::get(&ctx, name), FileLineColLoc::get(&ctx, path, 0, 0));
}

LogicalResult OnnxGraph::error(const Twine &message) const {
  std::string where;
  if (node)
    where = llvm::formatv("node {0} ({1}, opset {2}): ",
                          node->name().empty() ? "#" + std::to_string(nodeIndex)
                                               : "'" + node->name() + "'",
                          node->op_type(), opset);
  std::string text = where + message.str();
  // One line whatever the file's names hold.
  for (char &c : text)
    if (c == '\n' || c == '\r')
      c = ' ';
  if (text.size() > 2000)
    text = text.substr(0, 2000) + " [...]";
  llvm::errs() << path << ": error: " << text << "\n";
  return failure();
}

std::string OnnxGraph::declare(const std::string &name, const std::vector<int64_t> &shape,
                               const std::vector<double> &data, bool trainable) {
  OpBuilder mb(module.getBodyRegion());
  mb.setInsertionPointToStart(module.getBody());
  std::string sym = name;
  // Names are the initializers'; a clash (a constant named like one) gets a suffix.
  for (int n = 1; module.lookupSymbol(sym); ++n)
    sym = name + "." + std::to_string(n);
  int64_t fanIn = shape.size() > 1 ? shape[1] : 1;
  mb.create<dl::ParameterOp>(FileLineColLoc::get(&ctx, path, 0, 0), sym,
                             RankedTensorType::get(shape, mb.getF32Type()), "values", fanIn,
                             shape.empty() ? 1 : shape[0], trainable ? "weight" : "buffer");
  config.values[sym].assign(data.begin(), data.end());
  return sym;
}

FailureOr<Value> OnnxGraph::tensor(OnnxValue &v) {
  if (v.value)
    return v.value;
  if (!v.data)
    return error("an input has no value (an omitted input the op needs?)");
  if (!v.initializer.empty() && v.param.empty()) {
    auto it = params.find(v.initializer);
    if (it != params.end())
      return v.value = it->second;
  }
  if (v.param.empty())
    v.param = v.initializer.empty()
                  ? declare("constant" + std::to_string(constants++), v.shape, *v.data, false)
                  : declare(v.initializer, v.shape, *v.data, true);
  auto type = RankedTensorType::get(v.shape, b.getF32Type());
  // Reads of a parameter go at the start of @infer, so that every later node sees them.
  OpBuilder::InsertionGuard guard(b);
  auto fn = module.lookupSymbol<func::FuncOp>("infer");
  b.setInsertionPointToStart(&fn.getBody().front());
  v.value = b.create<dl::ParamOp>(loc(), type, v.param);
  if (!v.initializer.empty())
    params[v.initializer] = v.value;
  return v.value;
}

FailureOr<Value> OnnxGraph::typed(Operation *op, unsigned result) {
  if (failed(dl::refineResultTypes(op))) {
    op->erase();
    return failure();
  }
  for (Value r : op->getResults()) {
    auto t = cast<RankedTensorType>(r.getType());
    std::optional<int64_t> bytes = tensorBytes(t.getShape(), ShapedType::kDynamic);
    if (!bytes || *bytes > config.limits.maxTensorBytes) {
      op->erase();
      return error("a result of " + std::to_string(t.getNumElements()) +
                   " elements is above --max-tensor-bytes");
    }
  }
  return op->getResult(result);
}

OnnxValue OnnxGraph::wrap(Value v) const {
  OnnxValue o;
  o.value = v;
  auto s = cast<RankedTensorType>(v.getType()).getShape();
  o.shape.assign(s.begin(), s.end());
  return o;
}

const onnx::AttributeProto *OnnxGraph::attr(const std::string &name) const {
  for (const onnx::AttributeProto &a : node->attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}
int64_t OnnxGraph::attrInt(const std::string &name, int64_t dflt) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->i() : dflt;
}
float OnnxGraph::attrFloat(const std::string &name, float dflt) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->f() : dflt;
}
std::optional<std::vector<int64_t>> OnnxGraph::attrInts(const std::string &name) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return std::nullopt;
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}
std::string OnnxGraph::attrString(const std::string &name, const std::string &dflt) const {
  const onnx::AttributeProto *a = attr(name);
  return a ? a->s() : dflt;
}

FailureOr<std::vector<int64_t>> OnnxGraph::constInts(const OnnxValue &v, const char *what) {
  if (!v.data)
    return error(std::string(what) + " must be a constant (an initializer or a folded shape "
                                     "computation), not computed from the graph's inputs");
  std::vector<int64_t> out;
  for (double d : *v.data)
    out.push_back(int64_t(d));
  return out;
}

FailureOr<int64_t> OnnxGraph::axis(int64_t a, int64_t rank) {
  if (a < -rank || a >= std::max<int64_t>(rank, 1))
    return error("axis " + std::to_string(a) + " is outside a " + std::to_string(rank) +
                 "-D tensor");
  return a < 0 ? a + rank : a;
}

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

bool onnximport::readTensor(const onnx::TensorProto &t, const std::string &dir,
                            std::vector<int64_t> &shape, std::vector<double> &data,
                            bool &isFloat, std::string &error) {
  shape.assign(t.dims().begin(), t.dims().end());
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && n > (uint64_t(1) << 40) / uint64_t(d))) {
      error = "tensor '" + t.name() + "' has a bad shape";
      return false;
    }
    n *= uint64_t(d);
  }
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    (void)dir;
    error = "tensor '" + t.name() + "' keeps its data in an external file, which dlc does not "
            "read yet (save the model with its weights inside)";
    return false;
  }
  data.clear();
  isFloat = true;
  const std::string &raw = t.raw_data();
  auto fromRaw = [&](size_t bytes, auto convert) {
    if (raw.size() != n * bytes) {
      error = "tensor '" + t.name() + "' has " + std::to_string(raw.size()) + " bytes of data for " +
              std::to_string(n) + " elements";
      return false;
    }
    data.resize(n);
    for (uint64_t i = 0; i < n; ++i)
      data[i] = convert(raw.data() + i * bytes);
    return true;
  };
  auto fromField = [&](const auto &field) {
    if (uint64_t(field.size()) != n) {
      error = "tensor '" + t.name() + "' has " + std::to_string(field.size()) +
              " values for " + std::to_string(n) + " elements";
      return false;
    }
    data.assign(field.begin(), field.end());
    return true;
  };
  auto load = [](const char *p, auto zero) {
    decltype(zero) v;
    std::memcpy(&v, p, sizeof v);
    return double(v);
  };
  switch (t.data_type()) {
  case onnx::TensorProto::FLOAT:
    return raw.empty() ? fromField(t.float_data())
                       : fromRaw(4, [&](const char *p) { return load(p, 0.f); });
  case onnx::TensorProto::DOUBLE:
    return raw.empty() ? fromField(t.double_data())
                       : fromRaw(8, [&](const char *p) { return load(p, 0.0); });
  case onnx::TensorProto::INT64:
    isFloat = false;
    return raw.empty() ? fromField(t.int64_data())
                       : fromRaw(8, [&](const char *p) { return load(p, int64_t(0)); });
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::INT16:
  case onnx::TensorProto::INT8:
  case onnx::TensorProto::UINT8:
  case onnx::TensorProto::BOOL: {
    isFloat = false;
    if (raw.empty())
      return fromField(t.int32_data());
    switch (t.data_type()) {
    case onnx::TensorProto::INT32:
      return fromRaw(4, [&](const char *p) { return load(p, int32_t(0)); });
    case onnx::TensorProto::INT16:
      return fromRaw(2, [&](const char *p) { return load(p, int16_t(0)); });
    case onnx::TensorProto::INT8:
      return fromRaw(1, [&](const char *p) { return load(p, int8_t(0)); });
    default:
      return fromRaw(1, [&](const char *p) { return load(p, uint8_t(0)); });
    }
  }
  default:
    error = "tensor '" + t.name() + "' has element type " + std::to_string(t.data_type()) +
            " (" + onnx::TensorProto::DataType_Name(onnx::TensorProto::DataType(t.data_type())) +
            "), which dlc does not read";
    return false;
  }
}

//===----------------------------------------------------------------------===//
// The model
//===----------------------------------------------------------------------===//

namespace {
class Importer {
public:
  Importer(MLIRContext &ctx, const std::string &path, ModelConfig &config, int64_t batch)
      : ctx(ctx), path(path), config(config), batch(batch > 0 ? batch : 1) {}
  OwningOpRef<ModuleOp> run();

private:
  MLIRContext &ctx;
  std::string path;
  ModelConfig &config;
  int64_t batch;
  onnx::ModelProto model;

  LogicalResult fail(const Twine &message) {
    // One line whatever the file's names hold (a graph input named "x\n" is a fuzzer's find).
    std::string text = message.str();
    for (char &c : text)
      if (c == '\n' || c == '\r')
        c = ' ';
    if (text.size() > 2000)
      text = text.substr(0, 2000) + " [...]";
    llvm::errs() << path << ": error: " << text << "\n";
    return failure();
  }
  LogicalResult parse();
  LogicalResult graphInputs(OnnxGraph &g, func::FuncOp &fn);
  LogicalResult nodes(OnnxGraph &g);
  LogicalResult graphOutputs(OnnxGraph &g, func::FuncOp fn);
  LogicalResult trainingStep(OnnxGraph &g, func::FuncOp infer);
};
} // namespace

LogicalResult Importer::parse() {
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!file)
    return fail("cannot read the model: " + file.getError().message());
  const llvm::MemoryBuffer &buf = **file;
  if (int64_t(buf.getBufferSize()) > config.limits.maxModelBytes)
    return fail(llvm::formatv("the model has {0} bytes, more than the limit of {1} "
                              "(--max-model-bytes)",
                              buf.getBufferSize(), config.limits.maxModelBytes));
  if (buf.getBufferSize() > size_t(INT32_MAX) ||
      !model.ParseFromArray(buf.getBufferStart(), int(buf.getBufferSize())))
    return fail("not an ONNX model: the file does not parse as an onnx.ModelProto");
  if (!model.has_graph())
    return fail("the model has no graph");
  return success();
}

LogicalResult Importer::graphInputs(OnnxGraph &g, func::FuncOp &fn) {
  const onnx::GraphProto &graph = model.graph();
  std::string dir = llvm::sys::path::parent_path(path).str();
  // Initializers first: an input that has one is a weight with a default, taken as a weight.
  for (const onnx::TensorProto &t : graph.initializer()) {
    OnnxValue v;
    std::vector<double> data;
    std::string error;
    if (!readTensor(t, dir, v.shape, data, v.isFloat, error))
      return fail(error);
    v.data = std::move(data);
    if (v.isFloat)
      v.initializer = t.name();
    g.values[t.name()] = std::move(v);
  }
  SmallVector<Type> types;
  std::vector<std::string> names;
  for (const onnx::ValueInfoProto &in : graph.input()) {
    if (g.values.count(in.name()))
      continue;
    const onnx::TypeProto &type = in.type();
    if (!type.has_tensor_type())
      return fail("graph input '" + in.name() + "' is not a tensor");
    // Double inputs are computed in float32, as dlc computes everything.
    int32_t elem = type.tensor_type().elem_type();
    if (elem != onnx::TensorProto::FLOAT && elem != onnx::TensorProto::DOUBLE)
      return fail("graph input '" + in.name() + "' has element type " +
                  onnx::TensorProto::DataType_Name(onnx::TensorProto::DataType(elem)) +
                  "; dlc takes float inputs only");
    if (!type.tensor_type().has_shape())
      return fail("graph input '" + in.name() + "' has no shape");
    OnnxValue v;
    for (const auto &d : type.tensor_type().shape().dim()) {
      // A symbolic dimension (the batch, by torch.onnx.export's dynamic_axes) is --batch.
      int64_t size = d.has_dim_value() ? d.dim_value() : batch;
      if (size < 1 || size > kMaxFieldValue)
        return fail("graph input '" + in.name() + "' has a dimension of " + std::to_string(size));
      v.shape.push_back(size);
    }
    if (v.shape.size() > 6)
      return fail("graph input '" + in.name() + "' has " + std::to_string(v.shape.size()) +
                  " dimensions; dlc takes at most 6");
    std::optional<int64_t> bytes = tensorBytes(v.shape, ShapedType::kDynamic);
    if (!bytes || *bytes > config.limits.maxTensorBytes)
      return fail("graph input '" + in.name() + "' is above --max-tensor-bytes");
    // The batch dlc mem and the summary report: the first input's first dimension.
    if (types.empty() && !v.shape.empty())
      config.train.batch = v.shape[0];
    v.isArg = true;
    types.push_back(RankedTensorType::get(v.shape, g.b.getF32Type()));
    names.push_back(in.name());
    g.values[in.name()] = std::move(v);
  }
  g.b.setInsertionPointToEnd(g.module.getBody());
  fn = g.b.create<func::FuncOp>(g.loc(), "infer", g.b.getFunctionType(types, {}));
  Block *body = fn.addEntryBlock();
  for (size_t i = 0; i < names.size(); ++i) {
    fn.setArgAttr(i, "dl.name", g.b.getStringAttr(names[i]));
    fn.setArgAttr(i, "dl.whole", g.b.getUnitAttr());
    g.values[names[i]].value = body->getArgument(i);
  }
  g.b.setInsertionPointToEnd(body);
  return success();
}

LogicalResult Importer::nodes(OnnxGraph &g) {
  const onnx::GraphProto &graph = model.graph();
  if (graph.node_size() > config.limits.maxOps)
    return fail(llvm::formatv("the graph has {0} nodes, more than --max-ops {1}",
                              graph.node_size(), config.limits.maxOps));
  OnnxValue omitted;
  for (int index = 0; index < graph.node_size(); ++index) {
    const onnx::NodeProto &node = graph.node(index);
    g.node = &node;
    g.nodeIndex = index;
    if (!node.domain().empty() && node.domain() != "ai.onnx")
      return g.error("operators of domain '" + node.domain() + "' are not supported");
    OpHandler handler = findHandler(node.op_type());
    if (!handler)
      return g.error("not supported; supported: " + supportedOps());
    std::vector<OnnxValue *> inputs;
    for (const std::string &name : node.input()) {
      if (name.empty()) {
        inputs.push_back(nullptr);
        continue;
      }
      auto it = g.values.find(name);
      if (it == g.values.end())
        return g.error("input '" + name + "' is not defined before the node (the graph must "
                       "be in topological order)");
      inputs.push_back(&it->second);
    }
    std::vector<OnnxValue> outputs(node.output_size());
    if (failed(handler(g, inputs, outputs)))
      return failure();
    for (int i = 0; i < node.output_size(); ++i)
      if (!node.output(i).empty())
        g.values[node.output(i)] = std::move(outputs[i]);
  }
  g.node = nullptr;
  return success();
}

LogicalResult Importer::graphOutputs(OnnxGraph &g, func::FuncOp fn) {
  SmallVector<Value> results;
  std::vector<std::string> names;
  for (const onnx::ValueInfoProto &out : model.graph().output()) {
    auto it = g.values.find(out.name());
    if (it == g.values.end())
      return fail("graph output '" + out.name() + "' is not computed by any node");
    OnnxValue &v = it->second;
    if (!v.isFloat)
      return fail("graph output '" + out.name() + "' is not a float tensor; dlc computes "
                  "float outputs only");
    auto t = g.tensor(v);
    if (failed(t))
      return failure();
    Value r = *t;
    // Each output its own buffer, written by a kernel: a copy of an input, a weight or an
    // output already listed.
    bool computed = r.getDefiningOp() && !isa<dl::ParamOp>(r.getDefiningOp()) &&
                    !llvm::is_contained(results, r);
    if (computed && isa<dl::ViewOp>(r.getDefiningOp())) {
      Value root = r;
      while (auto view = root.getDefiningOp<dl::ViewOp>())
        root = view.getInput();
      computed = root.getDefiningOp() && !isa<dl::ParamOp>(root.getDefiningOp());
    }
    if (!computed) {
      auto copy = g.typed(g.b.create<dl::UnaryOp>(g.loc(), g.unknown(), r, "identity",
                                                      llvm::APFloat(0.f), llvm::APFloat(0.f)));
      if (failed(copy))
        return failure();
      r = *copy;
    }
    results.push_back(r);
    names.push_back(out.name());
  }
  g.b.create<func::ReturnOp>(g.loc(), results);
  fn.setType(g.b.getFunctionType(fn.getArgumentTypes(), ValueRange(results).getTypes()));
  for (size_t i = 0; i < names.size(); ++i)
    fn.setResultAttr(i, "dl.name", g.b.getStringAttr(names[i]));
  return success();
}

/// --loss: @forward is @infer with the loss on its first output and the loss's second input
/// (class labels 'label' or a float target 'target', whole tensors as the graph's inputs) as
/// one more argument; --dl-autodiff makes the training step from it.
LogicalResult Importer::trainingStep(OnnxGraph &g, func::FuncOp infer) {
  auto fn = cast<func::FuncOp>(infer->clone());
  fn.setSymName("forward");
  g.module.push_back(fn);
  for (unsigned i = 0; i < fn.getNumResults(); ++i)
    fn.removeResultAttr(i, g.b.getStringAttr("dl.name"));
  Block &body = fn.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  Value pred = ret.getOperand(0);
  auto shape = cast<RankedTensorType>(pred.getType()).getShape();
  bool xent = config.loss == "softmax_cross_entropy";
  if (xent && shape.size() != 2 && shape.size() != 3)
    return fail(llvm::formatv("--loss softmax_cross_entropy needs logits [batch, classes] (or "
                              "[batch, steps, classes]) as the first output, which is {0}-D",
                              shape.size()));
  Type target = xent ? Type(RankedTensorType::get(shape.drop_back(), g.b.getI32Type()))
                     : pred.getType();
  unsigned at = fn.getNumArguments();
  SmallVector<NamedAttribute> attrs{g.b.getNamedAttr("dl.name", g.b.getStringAttr(xent ? "label" : "target")),
                                    g.b.getNamedAttr("dl.whole", g.b.getUnitAttr())};
  if (xent)
    attrs.push_back(g.b.getNamedAttr("dl.classes", g.b.getI64IntegerAttr(shape.back())));
  fn.insertArgument(at, target, g.b.getDictionaryAttr(attrs), g.loc());
  Value labels = body.getArgument(at);
  g.b.setInsertionPoint(ret);
  SmallVector<Value> results;
  if (xent) {
    auto loss = g.typed(g.b.create<dl::SoftmaxXentOp>(g.loc(), g.unknown(), pred, labels));
    auto correct = g.typed(g.b.create<dl::AccuracyOp>(g.loc(), g.unknown(), pred, labels));
    if (failed(loss) || failed(correct))
      return failure();
    results = {*loss, *correct};
  } else {
    auto loss = g.typed(g.b.create<dl::MseOp>(g.loc(), g.unknown(), pred, labels));
    if (failed(loss))
      return failure();
    results = {*loss};
  }
  g.b.create<func::ReturnOp>(g.loc(), results);
  ret.erase();
  fn.setType(g.b.getFunctionType(body.getArgumentTypes(), ValueRange(results).getTypes()));
  fn.setAllResultAttrs(ArrayRef<DictionaryAttr>{});
  // The optimizer: PyTorch's SGD defaults with the training section's lr and momentum.
  g.module->setAttr("dl.optimizer",
                    g.b.getDictionaryAttr({g.b.getNamedAttr("lr", g.b.getF32FloatAttr(config.train.lr)),
                                           g.b.getNamedAttr("momentum", g.b.getF32FloatAttr(config.train.momentum))}));
  return success();
}

OwningOpRef<ModuleOp> Importer::run() {
  if (failed(parse()))
    return nullptr;
  OwningOpRef<ModuleOp> module = ModuleOp::create(FileLineColLoc::get(&ctx, path, 0, 0));
  OnnxGraph g(ctx, *module, path, config);
  for (const onnx::OperatorSetIdProto &o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx")
      g.opset = o.version();
  // Older opsets where only attributes differ; the handlers refuse what they cannot read.
  if (g.opset < 1 || g.opset > 17)
    return fail(llvm::formatv("opset {0} is not supported; dlc reads opsets 13 to 17 (and "
                              "older ones where only attributes differ)", g.opset)),
           nullptr;
  // The file's name: exporters name every graph alike (torch: "main_graph").
  config.name = llvm::sys::path::stem(path).str();
  config.data.format = "none";
  config.train.batch = batch; // the first input's first dimension once it is read
  func::FuncOp fn;
  if (failed(graphInputs(g, fn)) || failed(nodes(g)) || failed(graphOutputs(g, fn)))
    return nullptr;
  if (!config.loss.empty() && failed(trainingStep(g, fn)))
    return nullptr;
  return module;
}

OwningOpRef<ModuleOp> dlc::importOnnx(MLIRContext &ctx, const std::string &path,
                                      ModelConfig &config, int64_t batch) {
  ctx.loadDialect<dl::DLDialect, func::FuncDialect>();
  return Importer(ctx, path, config, batch).run();
}

OwningOpRef<ModuleOp> dlc::importAnyModel(MLIRContext &ctx, const std::string &path,
                                          ModelConfig &config, int64_t batch) {
  if (llvm::StringRef(path).ends_with(".onnx"))
    return importOnnx(ctx, path, config, batch);
  return importModel(ctx, path, config);
}
