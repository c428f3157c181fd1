//===- Plan.cpp - reading and writing plan files ----------------------------------------===//
//
// The binary plan format. A plan file is a fixed 32-byte header followed by a payload:
//
//   offset  size  field
//        0     8  magic "DLCPLAN\0"
//        8     4  version (kPlanVersion), little-endian u32
//       12     4  reserved, 0
//       16     8  payload length in bytes, u64
//       24     8  FNV-1a 64 checksum of the payload, u64
//       32     -  payload
//
// The payload lists every field of Plan in declaration order, little-endian, with strings
// and vectors prefixed by a u32 count. There are no per-field tags: the version number is
// the only compatibility mechanism, so any change to the layout must bump kPlanVersion.
//
// dlrun trusts the buffer ids and offsets in a plan when it indexes its arena, so the
// decoder validates everything it can (bounds of every read, enum ranges, buffer ids,
// buffer extents against the arena) and turns a damaged or hostile file into a one-line
// error instead of an out-of-bounds access.
//
//===------------------------------------------------------------------------------------===//

#include "runtime/plan/Plan.h"

#include "runtime/plan/AtomicFile.h"
#include "runtime/plan/CudaLaunch.h"
#include "runtime/plan/KernelCheck.h"

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <sys/stat.h>
#include <unistd.h>

namespace dlc::plan {

namespace {

constexpr char kMagic[8] = {'D', 'L', 'C', 'P', 'L', 'A', 'N', '\0'};
constexpr size_t kHeaderBytes = 32;

uint64_t fnv1a64(const uint8_t *data, size_t size) {
  uint64_t hash = 14695981039346656037ull;
  for (size_t i = 0; i < size; ++i) {
    hash ^= data[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

//===----------------------------------------------------------------------===//
// Encoding
//===----------------------------------------------------------------------===//

/// Appends little-endian fields to a byte vector, independent of the host's byte order.
class Writer {
public:
  explicit Writer(std::vector<uint8_t> &out) : out(out) {}

  void u8(uint8_t v) { out.push_back(v); }
  void u16(uint16_t v) { uint(v, 2); }
  void u32(uint32_t v) { uint(v, 4); }
  void u64(uint64_t v) { uint(v, 8); }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void f32(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    u32(bits);
  }
  void f64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    u64(bits);
  }
  void count(size_t n) { u32(static_cast<uint32_t>(n)); }
  void str(const std::string &s) {
    count(s.size());
    out.insert(out.end(), s.begin(), s.end());
  }
  void i64s(const std::vector<int64_t> &v) {
    count(v.size());
    for (int64_t x : v)
      i64(x);
  }
  void i32s(const std::vector<int32_t> &v) {
    count(v.size());
    for (int32_t x : v)
      i32(x);
  }
  void f32s(const std::vector<float> &v) {
    count(v.size());
    for (float x : v)
      f32(x);
  }
  void strs(const std::vector<std::string> &v) {
    count(v.size());
    for (const std::string &s : v)
      str(s);
  }

private:
  void uint(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
      out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }

  std::vector<uint8_t> &out;
};

void encodePayload(const Plan &plan, Writer &w) {
  w.str(plan.model);
  w.str(plan.source);
  w.str(plan.target);
  w.str(plan.arch);
  w.i64s(plan.inputShape);
  w.i64(plan.classes);

  const TrainConfig &t = plan.train;
  w.i64(t.batch);
  w.i64(t.epochs);
  w.i64(t.logEvery);
  w.u64(t.seed);
  w.f32(t.lr);
  w.f32(t.momentum);
  w.f32(t.weightDecay);

  const DataConfig &d = plan.data;
  w.str(d.format);
  w.strs(d.trainFiles);
  w.strs(d.testFiles);
  w.i64(d.syntheticTrain);
  w.i64(d.syntheticTest);
  w.boolean(d.normalize);
  w.f32(d.mean);
  w.f32(d.stddev);
  w.i64(d.cropH);
  w.i64(d.cropW);
  w.boolean(d.flip);
  w.boolean(d.standardize);
  w.i64(d.seqLen);
  w.f32(d.testFraction);

  w.count(plan.params.size());
  for (const Parameter &p : plan.params) {
    w.str(p.name);
    w.i64s(p.shape);
    w.str(p.init);
    w.i64(p.fanIn);
    w.i64(p.fanOut);
    w.boolean(p.trainable);
    w.i32(p.buffer);
  }

  w.count(plan.buffers.size());
  for (const Buffer &b : plan.buffers) {
    w.str(b.name);
    w.u8(static_cast<uint8_t>(b.kind));
    w.u8(static_cast<uint8_t>(b.dtype)); // version 7
    w.u64(b.bytes);
    w.u64(b.offset);
    w.i32(b.program);
    w.i32(b.first);
    w.i32(b.last);
  }

  w.count(plan.programs.size());
  for (const Program &p : plan.programs) {
    w.str(p.name);
    w.count(p.kernels.size());
    for (const Kernel &k : p.kernels) {
      w.u16(static_cast<uint16_t>(k.kind));
      w.str(k.name);
      w.i64s(k.ints);
      w.f32s(k.floats);
      w.i32s(k.args);
      w.f64(k.flops);
    }
    w.count(p.inputs.size());
    for (const ProgramInput &in : p.inputs) {
      w.str(in.name);
      w.i32(in.buffer);
      w.u8(static_cast<uint8_t>(in.dtype));
      w.i64s(in.shape);
      w.i64(in.classes);
    }
    w.i32(p.loss);
    w.i32(p.correct);
    w.u64(p.peakBytes);
    w.str(p.cudaSource);
    w.str(p.cudaPtx);
    w.str(p.cudaCubin);
    w.str(p.cudaLaunches);
  }

  w.u64(plan.persistentBytes);
  w.u64(plan.arenaBytes);
  w.str(plan.ir);

  // Version 4: the divergence checks of the training section.
  w.u8(static_cast<uint8_t>(plan.train.onNonfinite));
  w.f32(plan.train.maxLoss);

  // Version 5: batches in file order or shuffled; the optimizer's name (for the log).
  w.boolean(plan.train.shuffle);
  w.str(plan.train.optimizer);

  // Version 6: the number of devices of a data placement.
  w.i64(plan.train.devices);

  // Version 7: pipeline placement, the devices' regions and each kernel's stage.
  w.count(plan.stages.size());
  for (const StageRegion &s : plan.stages) {
    w.u64(s.persistentOffset);
    w.u64(s.persistentBytes);
    w.u64(s.offset);
    w.u64(s.bytes);
    w.str(s.first);
    w.str(s.last);
  }
  for (const Program &p : plan.programs)
    w.i32s(p.kernelStage);

  // Version 8: the precision (and each buffer's dtype, above).
  w.u8(static_cast<uint8_t>(plan.train.precision));

  // Version 9: parameters' starting values (init "values") and programs' named outputs.
  for (const Parameter &p : plan.params)
    w.f32s(p.values);
  for (const Program &p : plan.programs) {
    w.count(p.outputs.size());
    for (const ProgramOutput &o : p.outputs) {
      w.str(o.name);
      w.i32(o.buffer);
      w.i64s(o.shape);
    }
  }

  // Version 10: a pipeline's GPipe micro-batches per step.
  w.i64(plan.train.microbatches);
}

//===----------------------------------------------------------------------===//
// Decoding
//===----------------------------------------------------------------------===//

/// Bounds-checked little-endian reads from the payload. The first failure is sticky: later
/// reads return zeros, so decoding code can read a whole record and check once, and the
/// error names the first thing that went wrong rather than a consequence of it.
class Reader {
public:
  Reader(const uint8_t *data, size_t size) : data(data), size(size) {}

  bool ok() const { return error.empty(); }
  size_t remaining() const { return size - pos; }
  size_t position() const { return pos; }
  const std::string &failure() const { return error; }

  /// Names what is being read, so an early end of payload can say where it happened.
  void setContext(std::string what) { context = std::move(what); }

  void fail(const std::string &message) {
    if (ok())
      error = message;
  }

  uint8_t u8() { return static_cast<uint8_t>(uint(1)); }
  uint16_t u16() { return static_cast<uint16_t>(uint(2)); }
  uint32_t u32() { return static_cast<uint32_t>(uint(4)); }
  uint64_t u64() { return uint(8); }
  int32_t i32() { return static_cast<int32_t>(u32()); }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  bool boolean() {
    uint8_t v = u8();
    if (v > 1)
      fail("malformed plan: boolean field of " + context + " has value " + std::to_string(v));
    return v == 1;
  }
  float f32() {
    uint32_t bits = u32();
    float v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  double f64() {
    uint64_t bits = u64();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }

  /// Reads an element count and rejects counts that the remaining bytes cannot possibly
  /// hold, so a corrupt count cannot make the decoder allocate gigabytes before it notices
  /// the payload is too short.
  size_t count(size_t minElementBytes) {
    uint32_t n = u32();
    if (!ok())
      return 0;
    if (minElementBytes != 0 && n > remaining() / minElementBytes) {
      fail("malformed plan: " + context + " claims " + std::to_string(n) + " elements but only " +
           std::to_string(remaining()) + " bytes remain");
      return 0;
    }
    return n;
  }

  std::string str() {
    size_t n = count(1);
    if (!ok())
      return {};
    std::string s(reinterpret_cast<const char *>(data + pos), n);
    pos += n;
    return s;
  }
  std::vector<int64_t> i64s() { return vec<int64_t>(8, [this] { return i64(); }); }
  std::vector<int32_t> i32s() { return vec<int32_t>(4, [this] { return i32(); }); }
  std::vector<float> f32s() { return vec<float>(4, [this] { return f32(); }); }
  std::vector<std::string> strs() { return vec<std::string>(4, [this] { return str(); }); }

private:
  uint64_t uint(int bytes) {
    if (!ok())
      return 0;
    if (remaining() < static_cast<size_t>(bytes)) {
      fail("malformed plan: payload ends inside " + context + " (at byte " + std::to_string(pos) +
           " of " + std::to_string(size) + ")");
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i)
      v |= static_cast<uint64_t>(data[pos + i]) << (8 * i);
    pos += bytes;
    return v;
  }

  template <typename T, typename ReadOne> std::vector<T> vec(size_t minElementBytes, ReadOne readOne) {
    size_t n = count(minElementBytes);
    std::vector<T> v;
    v.reserve(n);
    for (size_t i = 0; i < n && ok(); ++i)
      v.push_back(readOne());
    return v;
  }

  const uint8_t *data;
  size_t size;
  size_t pos = 0;
  std::string context = "plan header fields";
  std::string error;
};

// Smallest encodings of the records, used to cap their counts (see Reader::count).
constexpr size_t kMinParameterBytes = 4 + 4 + 4 + 8 + 8 + 1 + 4;
constexpr size_t kMinBufferBytes = 4 + 1 + 1 + 8 + 8 + 4 + 4 + 4;
constexpr size_t kMinKernelBytes = 2 + 4 + 4 + 4 + 4 + 8;
constexpr size_t kMinProgramBytes = 4 + 4 + 4 + 2 * 4 + 8 + 4 * 4;
constexpr size_t kMinInputBytes = 4 + 4 + 1 + 4 + 8;
constexpr size_t kMinStageBytes = 4 * 8 + 4 + 4;
constexpr size_t kMinOutputBytes = 4 + 4 + 4;

void decodePayload(Reader &r, Plan &plan) {
  r.setContext("the plan header fields");
  plan.model = r.str();
  plan.source = r.str();
  plan.target = r.str();
  plan.arch = r.str();
  plan.inputShape = r.i64s();
  plan.classes = r.i64();

  r.setContext("the training configuration");
  TrainConfig &t = plan.train;
  t.batch = r.i64();
  t.epochs = r.i64();
  t.logEvery = r.i64();
  t.seed = r.u64();
  t.lr = r.f32();
  t.momentum = r.f32();
  t.weightDecay = r.f32();

  r.setContext("the data configuration");
  DataConfig &d = plan.data;
  d.format = r.str();
  d.trainFiles = r.strs();
  d.testFiles = r.strs();
  d.syntheticTrain = r.i64();
  d.syntheticTest = r.i64();
  d.normalize = r.boolean();
  d.mean = r.f32();
  d.stddev = r.f32();
  d.cropH = r.i64();
  d.cropW = r.i64();
  d.flip = r.boolean();
  d.standardize = r.boolean();
  d.seqLen = r.i64();
  d.testFraction = r.f32();
  if (r.ok() && (d.cropH < 0 || d.cropW < 0))
    r.fail("malformed plan: negative crop size");

  r.setContext("the parameter list");
  plan.params.resize(r.count(kMinParameterBytes));
  for (size_t i = 0; i < plan.params.size() && r.ok(); ++i) {
    r.setContext("parameter " + std::to_string(i));
    Parameter &p = plan.params[i];
    p.name = r.str();
    p.shape = r.i64s();
    p.init = r.str();
    p.fanIn = r.i64();
    p.fanOut = r.i64();
    p.trainable = r.boolean();
    p.buffer = r.i32();
  }

  r.setContext("the buffer list");
  plan.buffers.resize(r.count(kMinBufferBytes));
  for (size_t i = 0; i < plan.buffers.size() && r.ok(); ++i) {
    r.setContext("buffer " + std::to_string(i));
    Buffer &b = plan.buffers[i];
    b.name = r.str();
    uint8_t kind = r.u8();
    if (r.ok() && kind >= static_cast<uint8_t>(BufferKind::NumKinds))
      r.fail("malformed plan: buffer " + std::to_string(i) + " has unknown kind " + std::to_string(kind));
    b.kind = static_cast<BufferKind>(kind);
    uint8_t dtype = r.u8();
    if (r.ok() && dtype >= static_cast<uint8_t>(DType::NumKinds))
      r.fail("malformed plan: buffer " + std::to_string(i) + " has unknown dtype " + std::to_string(dtype));
    b.dtype = static_cast<DType>(dtype);
    b.bytes = r.u64();
    b.offset = r.u64();
    b.program = r.i32();
    b.first = r.i32();
    b.last = r.i32();
  }

  r.setContext("the program list");
  plan.programs.resize(r.count(kMinProgramBytes));
  for (size_t i = 0; i < plan.programs.size() && r.ok(); ++i) {
    r.setContext("program " + std::to_string(i));
    Program &p = plan.programs[i];
    p.name = r.str();
    p.kernels.resize(r.count(kMinKernelBytes));
    for (size_t j = 0; j < p.kernels.size() && r.ok(); ++j) {
      r.setContext("kernel " + std::to_string(j) + " of program " + std::to_string(i));
      Kernel &k = p.kernels[j];
      uint16_t kind = r.u16();
      if (r.ok() && kind >= static_cast<uint16_t>(KernelKind::NumKinds))
        r.fail("malformed plan: kernel " + std::to_string(j) + " of program '" + p.name +
               "' has unknown kind " + std::to_string(kind));
      k.kind = static_cast<KernelKind>(kind);
      k.name = r.str();
      k.ints = r.i64s();
      k.floats = r.f32s();
      k.args = r.i32s();
      k.flops = r.f64();
    }
    r.setContext("the inputs of program " + std::to_string(i));
    p.inputs.resize(r.count(kMinInputBytes));
    for (size_t j = 0; j < p.inputs.size() && r.ok(); ++j) {
      ProgramInput &in = p.inputs[j];
      in.name = r.str();
      in.buffer = r.i32();
      uint8_t dtype = r.u8();
      if (r.ok() && dtype >= static_cast<uint8_t>(DType::NumKinds))
        r.fail("malformed plan: input " + std::to_string(j) + " of program '" + p.name +
               "' has unknown dtype " + std::to_string(dtype));
      in.dtype = static_cast<DType>(dtype);
      in.shape = r.i64s();
      in.classes = r.i64();
    }
    r.setContext("program " + std::to_string(i));
    p.loss = r.i32();
    p.correct = r.i32();
    p.peakBytes = r.u64();
    p.cudaSource = r.str();
    p.cudaPtx = r.str();
    p.cudaCubin = r.str();
    p.cudaLaunches = r.str();
  }

  r.setContext("the arena sizes");
  plan.persistentBytes = r.u64();
  plan.arenaBytes = r.u64();
  r.setContext("the IR text");
  plan.ir = r.str();

  r.setContext("the divergence checks");
  uint8_t onNonfinite = r.u8();
  if (r.ok() && onNonfinite > static_cast<uint8_t>(OnNonfinite::Warn))
    r.fail("malformed plan: on_nonfinite " + std::to_string(onNonfinite) + " is not 0 (stop) or 1 (warn)");
  plan.train.onNonfinite = static_cast<OnNonfinite>(onNonfinite);
  plan.train.maxLoss = r.f32();

  r.setContext("the shuffle flag and optimizer name");
  uint8_t shuffle = r.u8();
  if (r.ok() && shuffle > 1)
    r.fail("malformed plan: shuffle " + std::to_string(shuffle) + " is not 0 or 1");
  plan.train.shuffle = shuffle == 1;
  plan.train.optimizer = r.str();
  r.setContext("the device count");
  plan.train.devices = r.i64();
  r.setContext("the pipeline stages");
  plan.stages.resize(r.count(kMinStageBytes));
  for (size_t i = 0; i < plan.stages.size() && r.ok(); ++i) {
    StageRegion &s = plan.stages[i];
    s.persistentOffset = r.u64();
    s.persistentBytes = r.u64();
    s.offset = r.u64();
    s.bytes = r.u64();
    s.first = r.str();
    s.last = r.str();
  }
  for (size_t i = 0; i < plan.programs.size() && r.ok(); ++i) {
    r.setContext("the kernel stages of program " + std::to_string(i));
    plan.programs[i].kernelStage = r.i32s();
  }

  r.setContext("the precision");
  uint8_t precision = r.u8();
  if (r.ok() && precision >= static_cast<uint8_t>(Precision::NumKinds))
    r.fail("malformed plan: unknown precision " + std::to_string(precision));
  plan.train.precision = static_cast<Precision>(precision);

  for (size_t i = 0; i < plan.params.size() && r.ok(); ++i) {
    r.setContext("the values of parameter " + std::to_string(i));
    plan.params[i].values = r.f32s();
  }
  for (size_t i = 0; i < plan.programs.size() && r.ok(); ++i) {
    r.setContext("the outputs of program " + std::to_string(i));
    Program &p = plan.programs[i];
    p.outputs.resize(r.count(kMinOutputBytes));
    for (size_t j = 0; j < p.outputs.size() && r.ok(); ++j) {
      p.outputs[j].name = r.str();
      p.outputs[j].buffer = r.i32();
      p.outputs[j].shape = r.i64s();
    }
  }
  r.setContext("the micro-batch count");
  plan.train.microbatches = r.i64();

  // Trailing bytes mean the writer and reader disagree about the layout; decoding them as
  // "nothing" would hide exactly the kind of mismatch the version number is meant to catch.
  if (r.ok() && r.remaining() != 0)
    r.fail("malformed plan: " + std::to_string(r.remaining()) + " unexpected bytes after the last field");
}

/// Products of sizes that saturate instead of wrapping.
uint64_t product(const std::vector<int64_t> &dims) {
  uint64_t r = 1;
  for (int64_t d : dims)
    if (d < 0 || __builtin_mul_overflow(r, uint64_t(d), &r))
      return UINT64_MAX;
  return r;
}

/// The configuration fields dlrun acts on: batch and example shape, class count, the data
/// set's crop, the loop's counts.
bool validateConfig(const Plan &plan, std::string &error) {
  const TrainConfig &t = plan.train;
  const DataConfig &d = plan.data;
  auto fail = [&](const std::string &message) {
    error = "malformed plan: " + message;
    return false;
  };
  if (t.batch < 1 || uint64_t(t.batch) > kMaxElements)
    return fail("batch " + std::to_string(t.batch) + " is not in [1, " + std::to_string(kMaxElements) + "]");
  // The image formats feed a CHW float input; the sequence formats need no float input, and
  // the named tensors of format safetensors feed inputs of any shape.
  const bool sequences = d.format == "text" || d.format == "tokens";
  const bool named = d.format == "safetensors";
  // "none": an inference-only plan (an imported ONNX graph), fed by dlrun --infer.
  const bool none = d.format == "none";
  if (!sequences && !named && !none && plan.inputShape.size() != 3)
    return fail("the input shape has " + std::to_string(plan.inputShape.size()) + " dimensions, not 3 (CHW)");
  if (plan.inputShape.size() > 8)
    return fail("the input shape has " + std::to_string(plan.inputShape.size()) + " dimensions");
  for (int64_t dim : plan.inputShape)
    if (dim < 1)
      return fail("the input shape has a dimension of " + std::to_string(dim));
  if (product(plan.inputShape) > kMaxElements / uint64_t(t.batch))
    return fail("a batch of inputs has more than " + std::to_string(kMaxElements) + " elements");
  // 0: a model without labels (a regression loss); no kernel may then read labels, which
  // the per-kernel check below enforces (their class count must equal this one).
  if (plan.classes < 0 || uint64_t(plan.classes) > kMaxElements)
    return fail("class count " + std::to_string(plan.classes) + " is negative or too large");
  if (t.devices < 1 || t.devices > kMaxDevices)
    return fail("device count " + std::to_string(t.devices) + " is not in [1, " +
                std::to_string(kMaxDevices) + "]");
  // GPipe micro-batches split a pipeline's step: each an equal share of the batch.
  if (t.microbatches < 1 || t.microbatches > t.batch || t.batch % t.microbatches != 0)
    return fail(std::to_string(t.microbatches) + " micro-batches do not divide the batch of " +
                std::to_string(t.batch));
  if (t.microbatches > 1 && plan.stages.empty())
    return fail(std::to_string(t.microbatches) +
                " micro-batches in a plan without pipeline stages");
  if (t.epochs < 0 || t.logEvery < 1)
    return fail("epochs " + std::to_string(t.epochs) + " and log interval " + std::to_string(t.logEvery) +
                " must be >= 0 and >= 1");
  if (!std::isfinite(t.lr) || !std::isfinite(t.momentum) || !std::isfinite(t.weightDecay))
    return fail("a training hyperparameter is not finite");
  if (d.format != "mnist" && d.format != "cifar10" && d.format != "synthetic" && !sequences &&
      !named && !none)
    return fail("unknown data format '" + d.format + "'");
  if (named && (d.trainFiles.size() != 1 || d.testFiles.size() != 1))
    return fail("format safetensors needs one train and one test file");
  if (sequences && (d.seqLen < 1 || uint64_t(d.seqLen) > kMaxElements / uint64_t(t.batch) ||
                    d.trainFiles.size() != 1 || d.testFiles.size() != 1))
    return fail("sequence data needs one file and a window length in [1, " +
                std::to_string(kMaxElements / uint64_t(t.batch)) + "], not " +
                std::to_string(d.seqLen));
  if (!(d.testFraction >= 0.f && d.testFraction < 1.f))
    return fail("the test fraction is not in [0, 1)");
  // Synthetic sets are for tests; a bound keeps a damaged count from allocating the machine.
  constexpr int64_t kMaxSynthetic = 1 << 20;
  if (d.syntheticTrain < 0 || d.syntheticTest < 0 || d.syntheticTrain > kMaxSynthetic ||
      d.syntheticTest > kMaxSynthetic)
    return fail("synthetic example counts must be in [0, " + std::to_string(kMaxSynthetic) + "]");
  if (!std::isfinite(d.mean) || !std::isfinite(d.stddev) || (d.normalize && d.stddev == 0))
    return fail("normalisation mean and spread must be finite, the spread non-zero");
  // The model sees the crop: a crop of another size would copy more or less than a batch.
  if ((d.cropH > 0) != (d.cropW > 0) ||
      (d.cropH > 0 && (d.cropH != plan.inputShape[1] || d.cropW != plan.inputShape[2])))
    return fail("crop " + std::to_string(d.cropH) + "x" + std::to_string(d.cropW) +
                " does not match the model's input " + std::to_string(plan.inputShape[1]) + "x" +
                std::to_string(plan.inputShape[2]));
  if (plan.persistentBytes > plan.arenaBytes)
    return fail("persistent region of " + std::to_string(plan.persistentBytes) +
                " bytes is larger than the arena of " + std::to_string(plan.arenaBytes));
  return true;
}

/// What dlrun copies into a program's inputs: a batch of each, `batch * elements * 4` bytes
/// (f32 or i32), under unique names; class counts only on integer inputs.
bool validateInputs(const Plan &plan, const Program &p, std::string &error) {
  const uint64_t batch = uint64_t(plan.train.batch);
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    const ProgramInput &in = p.inputs[i];
    const std::string which = "malformed plan: program '" + p.name + "' input '" + in.name + "'";
    for (size_t j = 0; j < i; ++j)
      if (p.inputs[j].name == in.name) {
        error = which + " is declared twice";
        return false;
      }
    for (size_t j = 0; j < i; ++j)
      if (p.inputs[j].buffer == in.buffer) {
        error = which + " shares its buffer with input '" + p.inputs[j].name + "'";
        return false;
      }
    if (in.shape.size() > 8) {
      error = which + " has " + std::to_string(in.shape.size()) + " dimensions";
      return false;
    }
    for (int64_t d : in.shape)
      if (d < 1) {
        error = which + " has a dimension of " + std::to_string(d);
        return false;
      }
    const uint64_t elements = product(in.shape);
    if (elements > kMaxElements / batch) {
      error = which + ": a batch has more than " + std::to_string(kMaxElements) + " elements";
      return false;
    }
    if (in.classes < 0 || uint64_t(in.classes) > kMaxElements ||
        (in.classes > 0 && in.dtype != DType::I32)) {
      error = which + " has " + std::to_string(in.classes) + " classes" +
              (in.classes > 0 ? " but is not int32" : "");
      return false;
    }
    const Buffer &b = plan.buffers[in.buffer];
    if (b.bytes < batch * elements * 4) {
      error = which + " needs " + std::to_string(batch * elements * 4) + " bytes, buffer '" +
              b.name + "' has " + std::to_string(b.bytes);
      return false;
    }
  }
  return true;
}

/// What each buffer may hold: parameters, optimizer and model state and the read-back scalars
/// are floats (dlrun initialises and reads them so); int32 is an input's; the half types are
/// the step buffers of a CUDA plan of the matching mixed precision (the CPU executor computes
/// on float buffers only).
bool validateDtypes(const Plan &plan, std::string &error) {
  const DType half = halfType(plan.train.precision);
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const Buffer &b = plan.buffers[i];
    std::string which = "malformed plan: buffer " + std::to_string(i) + " ('" + b.name + "') of kind " +
                        bufferKindName(b.kind) + " has dtype " + dtypeName(b.dtype);
    bool stepBuffer = b.kind == BufferKind::Activation || b.kind == BufferKind::Gradient ||
                      b.kind == BufferKind::Workspace || b.kind == BufferKind::WeightCopy;
    bool ok = b.dtype == DType::F32 || (b.dtype == DType::I32 && b.kind == BufferKind::Input) ||
              (b.dtype == half && half != DType::F32 && stepBuffer && plan.target == "cuda");
    if (!ok) {
      error = which + (b.dtype == DType::F16 || b.dtype == DType::BF16
                           ? std::string(" in a ") + plan.target + " plan of precision " +
                                 precisionName(plan.train.precision)
                           : std::string());
      return false;
    }
    if (b.kind == BufferKind::WeightCopy && b.dtype == DType::F32) {
      error = which + ": a weight copy is a half copy";
      return false;
    }
  }
  return true;
}

/// Checks the cross references that the runtime indexes with (buffer ids, program ids,
/// buffer extents), the configuration, and every kernel call against its kind
/// (KernelCheck.h): what each kernel touches lies inside its buffers.
/// Pipeline placement: the regions lie in the arena without overlapping, every kernel has a
/// stage, and touches only its own stage's buffers (a copy's source aside). So a device never
/// reads memory another device holds, which is what lets each hold only its region.
bool validateStages(const Plan &plan, std::string &error) {
  auto fail = [&](const std::string &message) {
    error = "malformed plan: " + message;
    return false;
  };
  const size_t n = plan.stages.size();
  if (n == 0) {
    for (const Program &p : plan.programs)
      if (!p.kernelStage.empty())
        return fail("program '" + p.name + "' has kernel stages but the plan has no pipeline");
    return true;
  }
  if (n < 2 || n > size_t(kMaxDevices))
    return fail(std::to_string(n) + " pipeline stages, not in [2, " + std::to_string(kMaxDevices) + "]");
  // Version 11: train.devices replicas of the pipeline, S x R devices in all.
  if (uint64_t(plan.train.devices) > uint64_t(kMaxDevices) / n)
    return fail("a pipeline of " + std::to_string(n) + " stages x " +
                std::to_string(plan.train.devices) + " replicas is more than " +
                std::to_string(kMaxDevices) + " devices");
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (size_t s = 0; s < n; ++s) {
    const StageRegion &r = plan.stages[s];
    if (r.persistentBytes > plan.persistentBytes ||
        r.persistentOffset > plan.persistentBytes - r.persistentBytes ||
        r.bytes > plan.arenaBytes || r.offset > plan.arenaBytes - r.bytes ||
        r.offset < plan.persistentBytes)
      return fail("stage " + std::to_string(s) + "'s regions lie outside the arena");
    spans.push_back({r.persistentOffset, r.persistentBytes});
    spans.push_back({r.offset, r.bytes});
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].first < spans[i - 1].first + spans[i - 1].second)
      return fail("two pipeline stages' regions overlap");
  auto inStage = [&](const Buffer &b, size_t s) {
    const StageRegion &r = plan.stages[s];
    uint64_t at = b.program < 0 ? r.persistentOffset : r.offset;
    uint64_t size = b.program < 0 ? r.persistentBytes : r.bytes;
    return b.offset >= at && b.bytes <= size && b.offset - at <= size - b.bytes;
  };
  for (const Program &p : plan.programs) {
    if (p.kernelStage.size() != p.kernels.size())
      return fail("program '" + p.name + "' has " + std::to_string(p.kernelStage.size()) +
                  " kernel stages for " + std::to_string(p.kernels.size()) + " kernels");
    for (size_t k = 0; k < p.kernels.size(); ++k) {
      const int32_t s = p.kernelStage[k];
      const Kernel &kernel = p.kernels[k];
      if (s < 0 || size_t(s) >= n)
        return fail("kernel " + std::to_string(k) + " of program '" + p.name + "' is on stage " +
                    std::to_string(s) + " of " + std::to_string(n));
      // Micro-batches run each device on its own thread, in plan order: no kernel may jump.
      if (kernel.kind == KernelKind::SkipIfNonfinite && plan.train.microbatches > 1)
        return fail("kernel " + std::to_string(k) + " of program '" + p.name +
                    "' skips kernels, which a pipeline of micro-batches cannot");
      for (size_t a = 0; a < kernel.args.size(); ++a) {
        if (kernel.kind == KernelKind::Copy && a == 0)
          continue; // the source: another stage's buffer
        const Buffer &b = plan.buffers[kernel.args[a]];
        if (!inStage(b, size_t(s)))
          return fail("kernel " + std::to_string(k) + " ('" + kernel.name + "') of program '" +
                      p.name + "' runs on stage " + std::to_string(s) + " but its buffer '" +
                      b.name + "' lies outside that stage's memory");
      }
    }
  }
  return true;
}

bool validatePlanImpl(const Plan &plan, std::string &error) {
  const int64_t numBuffers = static_cast<int64_t>(plan.buffers.size());
  const std::string ofBuffers = " of " + std::to_string(numBuffers);
  // -1 means "none" for optional references; anything else must name a real buffer.
  auto optionalOk = [&](int32_t id) { return id == -1 || (id >= 0 && id < numBuffers); };

  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const Buffer &b = plan.buffers[i];
    std::string which = "buffer " + std::to_string(i) + " ('" + b.name + "')";
    if (b.program < -1 || b.program >= static_cast<int64_t>(plan.programs.size())) {
      error = "malformed plan: " + which + " belongs to program " + std::to_string(b.program) + " of " +
              std::to_string(plan.programs.size());
      return false;
    }
    if (b.offset % kBufferAlignment != 0) {
      error = "malformed plan: " + which + " starts at offset " + std::to_string(b.offset) +
              ", not a multiple of " + std::to_string(kBufferAlignment);
      return false;
    }
    // Written without offset+bytes so that a huge offset cannot wrap around past the check.
    if (b.bytes > plan.arenaBytes || b.offset > plan.arenaBytes - b.bytes) {
      error = "malformed plan: " + which + " (" + std::to_string(b.bytes) + " bytes at offset " +
              std::to_string(b.offset) + ") lies outside the arena of " + std::to_string(plan.arenaBytes) +
              " bytes";
      return false;
    }
  }

  for (size_t i = 0; i < plan.params.size(); ++i) {
    const Parameter &p = plan.params[i];
    if (p.buffer < 0 || p.buffer >= numBuffers) {
      error = "malformed plan: parameter " + std::to_string(i) + " ('" + p.name + "') names buffer " +
              std::to_string(p.buffer) + ofBuffers;
      return false;
    }
    // Starting values fill the parameter's buffer exactly (Init.cpp copies them).
    if (!p.values.empty() && uint64_t(p.values.size()) * 4 != plan.buffers[p.buffer].bytes) {
      error = "malformed plan: parameter " + std::to_string(i) + " ('" + p.name + "') has " +
              std::to_string(p.values.size()) + " starting values for a buffer of " +
              std::to_string(plan.buffers[p.buffer].bytes) + " bytes";
      return false;
    }
  }

  for (const Program &p : plan.programs) {
    for (size_t j = 0; j < p.outputs.size(); ++j) {
      const ProgramOutput &o = p.outputs[j];
      const std::string which = "malformed plan: program '" + p.name + "' output '" + o.name + "'";
      if (o.buffer < 0 || o.buffer >= numBuffers) {
        error = which + " names buffer " + std::to_string(o.buffer) + ofBuffers;
        return false;
      }
      for (size_t k = 0; k < j; ++k)
        if (p.outputs[k].name == o.name) {
          error = which + " is declared twice";
          return false;
        }
      if (o.shape.size() > 8 || product(o.shape) > plan.buffers[o.buffer].bytes / 4) {
        error = which + " of shape " + std::to_string(o.shape.size()) +
                "-D does not fit buffer '" + plan.buffers[o.buffer].name + "'";
        return false;
      }
    }
    for (const ProgramInput &in : p.inputs)
      if (in.buffer < 0 || in.buffer >= numBuffers) {
        error = "malformed plan: program '" + p.name + "' input '" + in.name + "' names buffer " +
                std::to_string(in.buffer) + ofBuffers;
        return false;
      }
    const std::pair<const char *, int32_t> roles[] = {{"loss", p.loss}, {"correct", p.correct}};
    for (const auto &[role, id] : roles) {
      if (!optionalOk(id)) {
        error = "malformed plan: program '" + p.name + "' " + role + " names buffer " + std::to_string(id) +
                ofBuffers;
        return false;
      }
    }
    // Kernel arguments are mandatory: every kind's argument list is fixed, so a -1 here is
    // as wrong as any other out-of-range id.
    for (size_t k = 0; k < p.kernels.size(); ++k) {
      for (int32_t id : p.kernels[k].args) {
        if (id < 0 || id >= numBuffers) {
          error = "malformed plan: kernel " + std::to_string(k) + " of program '" + p.name + "' names buffer " +
                  std::to_string(id) + ofBuffers;
          return false;
        }
      }
    }
  }

  // The references hold; now what the runtime does with them.
  if (!validateConfig(plan, error) || !validateDtypes(plan, error))
    return false;
  for (const Program &p : plan.programs) {
    if (!validateInputs(plan, p, error))
      return false;
    // What dlrun reads back (scalars).
    const struct {
      const char *role;
      int32_t id;
      uint64_t bytes;
    } roles[] = {{"loss", p.loss, 4}, {"correct", p.correct, 4}};
    for (const auto &r : roles) {
      if (r.id >= 0 && plan.buffers[r.id].bytes < r.bytes) {
        error = "malformed plan: program '" + p.name + "' " + r.role + " need " + std::to_string(r.bytes) +
                " bytes, buffer '" + plan.buffers[r.id].name + "' has " + std::to_string(plan.buffers[r.id].bytes);
        return false;
      }
    }
    for (size_t k = 0; k < p.kernels.size(); ++k) {
      const Kernel &kernel = p.kernels[k];
      std::string kernelError;
      bool ok = checkKernel(plan, kernel, kernelError);
      // The labels a loss reads are the data set's, checked against the plan's class count.
      bool readsLabels = kernel.kind == KernelKind::SoftmaxXent || kernel.kind == KernelKind::SoftmaxXentBwd ||
                         kernel.kind == KernelKind::Accuracy;
      if (ok && readsLabels && kernel.ints[1] != plan.classes) {
        ok = false;
        kernelError = "has " + std::to_string(kernel.ints[1]) + " classes, the model " + std::to_string(plan.classes);
      }
      // The executors jump to `resume`: after this kernel, at most one past the last.
      if (ok && kernel.kind == KernelKind::SkipIfNonfinite &&
          (kernel.ints[0] <= int64_t(k) || kernel.ints[0] > int64_t(p.kernels.size()))) {
        ok = false;
        kernelError = "resumes at kernel " + std::to_string(kernel.ints[0]) + ", not after it within the program's " +
                      std::to_string(p.kernels.size());
      }
      if (!ok) {
        error = "program '" + p.name + "' kernel " + std::to_string(k) + " (" + kernelKindName(kernel.kind) + " '" +
                kernel.name + "'): " + kernelError;
        return false;
      }
    }
    // A CUDA plan's launch records describe the same calls to cuDNN and cuBLAS.
    if (!p.cudaLaunches.empty()) {
      std::vector<cuda::CudaLaunch> launches;
      if (!cuda::decodeLaunches(p.cudaLaunches, launches, error) ||
          !cuda::checkLaunches(plan, p, launches, error)) {
        error = "malformed plan: " + error;
        return false;
      }
    }
  }
  return validateStages(plan, error);
}

void putU32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void putU64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t getU32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
uint64_t getU64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

std::string errnoText() { return std::strerror(errno); }

} // namespace

/// Names in a damaged plan can hold any bytes: an error quoting them stays one printable line
/// of bounded length.
static std::string oneLine(const std::string &message) {
  constexpr size_t kMaxChars = 1000;
  std::string out;
  for (unsigned char c : message) {
    if (out.size() >= kMaxChars) {
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      static const char hex[] = "0123456789abcdef";
      out += c == '\n' ? std::string("\\n") : std::string("\\x") + hex[c >> 4] + hex[c & 15];
    } else {
      out += char(c);
    }
  }
  return out;
}

bool validatePlan(const Plan &plan, std::string &error) {
  if (validatePlanImpl(plan, error))
    return true;
  error = oneLine(error);
  return false;
}

const char *kernelKindName(KernelKind k) {
  static const char *const names[] = {
#define DLC_KERNEL_KIND(Enum, name, ...) name,
#include "runtime/plan/KernelKinds.def"
  };
  auto i = static_cast<size_t>(k);
  return i < static_cast<size_t>(KernelKind::NumKinds) ? names[i] : "?";
}

const char *dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::I32:
    return "i32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::NumKinds:
    break;
  }
  return "?";
}

const char *precisionName(Precision p) {
  switch (p) {
  case Precision::Fp32:
    return "fp32";
  case Precision::MixedFp16:
    return "mixed-fp16";
  case Precision::MixedBf16:
    return "mixed-bf16";
  case Precision::NumKinds:
    break;
  }
  return "?";
}

bool parsePrecision(const std::string &name, Precision &p) {
  for (uint8_t i = 0; i < static_cast<uint8_t>(Precision::NumKinds); ++i)
    if (name == precisionName(static_cast<Precision>(i))) {
      p = static_cast<Precision>(i);
      return true;
    }
  return false;
}

const char *bufferKindName(BufferKind k) {
  static const char *const names[] = {
      "parameter", "optimizer_state", "input", "activation", "gradient", "workspace", "output",
      "model_state", "weight_copy",
  };
  static_assert(sizeof(names) / sizeof(names[0]) == static_cast<size_t>(BufferKind::NumKinds),
                "every buffer kind needs a name");
  auto i = static_cast<size_t>(k);
  return i < static_cast<size_t>(BufferKind::NumKinds) ? names[i] : "?";
}

std::vector<uint8_t> encodePlan(const Plan &plan) {
  std::vector<uint8_t> bytes(kHeaderBytes);
  Writer w(bytes);
  encodePayload(plan, w);

  uint64_t payloadBytes = bytes.size() - kHeaderBytes;
  std::memcpy(bytes.data(), kMagic, sizeof kMagic);
  putU32(bytes.data() + 8, kPlanVersion);
  putU32(bytes.data() + 12, 0);
  putU64(bytes.data() + 16, payloadBytes);
  putU64(bytes.data() + 24, fnv1a64(bytes.data() + kHeaderBytes, payloadBytes));
  return bytes;
}

bool decodePlan(const std::vector<uint8_t> &bytes, Plan &plan, std::string &error, bool check) {
  const size_t size = bytes.size();
  // A short file that starts like a plan is a truncated plan; one that does not is
  // something else entirely, and saying "truncated" would send the user the wrong way.
  if (size == 0) {
    error = "not a dlc plan (empty file)";
    return false;
  }
  size_t magicBytes = size < sizeof kMagic ? size : sizeof kMagic;
  if (std::memcmp(bytes.data(), kMagic, magicBytes) != 0) {
    error = "not a dlc plan (bad magic)";
    return false;
  }
  if (size < kHeaderBytes) {
    error = "truncated plan: file has " + std::to_string(size) + " bytes, less than the " +
            std::to_string(kHeaderBytes) + "-byte header";
    return false;
  }
  uint32_t version = getU32(bytes.data() + 8);
  if (version != kPlanVersion) {
    error = "plan version " + std::to_string(version) + " is not supported (this dlrun reads version " +
            std::to_string(kPlanVersion) + ")";
    return false;
  }
  uint64_t payloadBytes = getU64(bytes.data() + 16);
  uint64_t available = size - kHeaderBytes;
  if (payloadBytes > available) {
    error = "truncated plan: header says " + std::to_string(payloadBytes) + " bytes of payload, file has " +
            std::to_string(available);
    return false;
  }
  if (payloadBytes < available) {
    error = "malformed plan: " + std::to_string(available - payloadBytes) +
            " unexpected bytes after the payload";
    return false;
  }
  const uint8_t *payload = bytes.data() + kHeaderBytes;
  if (fnv1a64(payload, payloadBytes) != getU64(bytes.data() + 24)) {
    error = "plan checksum mismatch (file corrupt)";
    return false;
  }

  // Decode into a scratch plan so that the caller's plan is untouched on failure.
  Plan decoded;
  Reader r(payload, payloadBytes);
  decodePayload(r, decoded);
  if (!r.ok()) {
    error = oneLine(r.failure());
    return false;
  }
  if (check && !validatePlan(decoded, error))
    return false;
  plan = std::move(decoded);
  return true;
}

bool writePlan(const Plan &plan, const std::string &path, std::string &error) {
  return writeFileAtomically(path, encodePlan(plan), "", error);
}

bool readPlan(const std::string &path, Plan &plan, std::string &error) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open '" + path + "': " + errnoText();
    return false;
  }
  std::vector<uint8_t> bytes;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
    bytes.reserve(static_cast<size_t>(st.st_size));
  uint8_t chunk[1 << 16];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      error = "cannot read '" + path + "': " + errnoText();
      close(fd);
      return false;
    }
    if (n == 0)
      break;
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  close(fd);

  std::string decodeError;
  if (!decodePlan(bytes, plan, decodeError)) {
    error = path + ": " + decodeError;
    return false;
  }
  return true;
}

} // namespace dlc::plan
