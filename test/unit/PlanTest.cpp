// Unit tests for the plan file: encode/decode round trips of every field, atomic writes, and
// the decoder's handling of damaged files (bad magic, wrong version, truncation, corruption,
// out-of-range references), including a mutation loop meant to be run under ASan/UBSan.
#include "runtime/plan/Plan.h"
#include "runtime/plan/KernelCheck.h"
#include "test/unit/TinyPlan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <cmath>
#include <string>
#include <vector>

#include <unistd.h>

using namespace dlc::plan;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

// Header layout, duplicated from Plan.cpp on purpose: the test pins the file format.
constexpr size_t kHeaderBytes = 32;
constexpr size_t kVersionAt = 8, kLengthAt = 16, kChecksumAt = 24;

uint64_t fnv1a64(const uint8_t *p, size_t n) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

void putU32(Bytes &b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
void putU64(Bytes &b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

/// Rewrites the header's length and checksum to match the payload, so that a deliberately
/// damaged payload gets past the checksum and reaches the field decoder.
void reseal(Bytes &b) {
  ASSERT_GE(b.size(), kHeaderBytes);
  putU64(b, kLengthAt, b.size() - kHeaderBytes);
  putU64(b, kChecksumAt, fnv1a64(b.data() + kHeaderBytes, b.size() - kHeaderBytes));
}

/// A header (valid magic, version, length and checksum) around `payload`.
Bytes sealed(const Bytes &payload) {
  Bytes b(kHeaderBytes + payload.size());
  const char magic[8] = {'D', 'L', 'C', 'P', 'L', 'A', 'N', '\0'};
  std::copy(magic, magic + 8, b.begin());
  putU32(b, kVersionAt, kPlanVersion);
  std::copy(payload.begin(), payload.end(), b.begin() + kHeaderBytes);
  reseal(b);
  return b;
}

/// A plan in which every field differs from its default, so a field the codec forgets to
/// write or read cannot pass the round trip by accident.
Plan makePlan() {
  Plan p;
  p.model = "lenet5";
  p.source = "models/lenet5.dl";
  p.target = "cuda";
  p.arch = "sm_86";
  p.inputShape = {1, 28, 28};
  p.classes = 10;
  p.train = {/*batch=*/64, /*epochs=*/3, /*logEvery=*/50, /*seed=*/0xdeadbeefcafef00dull,
             /*lr=*/0.05f, /*momentum=*/0.875f, /*weightDecay=*/5e-4f,
             /*onNonfinite=*/OnNonfinite::Warn, /*maxLoss=*/123.5f, /*shuffle=*/false,
             /*optimizer=*/"adamw"};
  p.train.precision = Precision::MixedFp16;
  p.train.microbatches = 4;
  p.data.format = "mnist";
  p.data.trainFiles = {"data/train-images-idx3-ubyte.gz", "data/train-labels-idx1-ubyte.gz"};
  p.data.testFiles = {"data/t10k-images-idx3-ubyte.gz", "data/t10k-labels-idx1-ubyte.gz", ""};
  p.data.syntheticTrain = 1000;
  p.data.syntheticTest = -7;
  p.data.normalize = true;
  p.data.mean = 0.1307f;
  p.data.stddev = 0.3081f;
  p.data.cropH = 24;
  p.data.cropW = 20;
  p.data.flip = true;
  p.data.standardize = true;

  auto buffer = [&](std::string name, BufferKind kind, uint64_t bytes, uint64_t offset, int32_t program,
                    int32_t first, int32_t last) {
    Buffer b;
    b.name = std::move(name);
    b.kind = kind;
    b.bytes = bytes;
    b.offset = offset;
    b.program = program;
    b.first = first;
    b.last = last;
    p.buffers.push_back(b);
  };
  buffer("conv1.w", BufferKind::Parameter, 600, 0, -1, 0, 5);
  buffer("conv1.w.m", BufferKind::OptimizerState, 600, 640, -1, 5, 5);
  buffer("images", BufferKind::Input, 3136, 1280, 0, 0, 0);
  buffer("labels", BufferKind::Input, 256, 4416, 0, 3, 4);
  buffer("conv1.y", BufferKind::Activation, 4096, 4672, 0, 0, 2);
  buffer("flat", BufferKind::Activation, 4096, 4672, 0, 1, 2);
  buffer("conv1.dw", BufferKind::Gradient, 600, 8768, 0, 4, 5);
  buffer("im2col", BufferKind::Workspace, 1 << 20, 9408, 0, 0, 0);
  p.buffers.back().dtype = DType::F16;
  buffer("loss", BufferKind::Output, 4, 9408 + (1 << 20), 0, 3, 3);
  buffer("correct", BufferKind::Output, 4, 9472 + (1 << 20), 1, 2, 2);

  Parameter w;
  w.name = "conv1.w";
  w.shape = {6, 1, 5, 5};
  w.init = "he_normal";
  w.fanIn = 25;
  w.fanOut = 150;
  w.trainable = true;
  w.buffer = 0;
  Parameter m = w;
  m.name = "conv1.w.m";
  m.init = "zeros";
  m.trainable = false;
  m.buffer = 1;
  Parameter unbound; // no shape or fans: initialised by its buffer's size alone
  unbound.name = "unused";
  unbound.init = "ones";
  unbound.buffer = 5;
  p.params = {w, m, unbound};

  Program train;
  train.name = "train";
  Kernel conv;
  conv.kind = KernelKind::Conv2dFwd;
  conv.name = "conv2d conv1";
  conv.ints = {64, 1, 28, 28, 6, 5, 5, 1, 1, 0, 0, -1, INT64_MIN, INT64_MAX};
  conv.args = {2, 0, 4, 7};
  conv.flops = 1.5e9 + 0.25;
  Kernel sgd;
  sgd.kind = KernelKind::SgdMomentum;
  sgd.name = "sgd conv1.w";
  sgd.ints = {150};
  sgd.floats = {0.05f, 0.875f, 5e-4f, -0.0f, 1e-38f};
  sgd.args = {0, 6, 1};
  sgd.flops = 600;
  train.kernels = {conv, sgd};
  train.inputs = {{"images", 2, DType::F32, {1, 28, 28}, 0}, {"labels", 3, DType::I32, {}, 10}};
  train.loss = 8;
  train.correct = -1;
  train.peakBytes = 123456789;
  train.cudaSource = "extern \"C\" __global__ void k0_relu() {}";
  train.cudaPtx = ".version 8.0";
  train.cudaCubin = std::string("\x7f" "ELF\0\x01\xff", 7); // binary, NULs included
  train.cudaLaunches = "k0_relu 1 1 1 256 1 1";

  Program eval;
  eval.name = "eval";
  Kernel acc;
  acc.kind = KernelKind::Accuracy;
  acc.name = "accuracy";
  acc.ints = {64, 10};
  acc.args = {4, 3, 9};
  eval.kernels = {acc};
  eval.inputs = {{"x", 2, DType::F32, {1, 28, 28}, 0}, {"tokens", 3, DType::I32, {3, 2}, 0}};
  eval.loss = -1;
  eval.correct = 9;
  eval.peakBytes = 42;
  p.programs = {train, eval};
  p.programs[0].kernelStage = {0, 1};
  p.programs[1].kernelStage = {1};
  p.stages = {{0, 640, 1280, 4096, "conv1", "pool1"}, {640, 640, 5376, 4160, "conv2", "fc3"}};

  p.persistentBytes = 1280;
  p.arenaBytes = 9536 + (1 << 20);
  p.ir = "func @train(%x: tensor<64x1x28x28xf32>) {\n  ...\n}\n";
  return p;
}

Plan makeValidPlan() { return dlc::test::tinyClassifierPlan(); }

void expectSamePlan(const Plan &a, const Plan &b) {
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.arch, b.arch);
  EXPECT_EQ(a.inputShape, b.inputShape);
  EXPECT_EQ(a.classes, b.classes);

  EXPECT_EQ(a.train.batch, b.train.batch);
  EXPECT_EQ(a.train.epochs, b.train.epochs);
  EXPECT_EQ(a.train.logEvery, b.train.logEvery);
  EXPECT_EQ(a.train.seed, b.train.seed);
  EXPECT_EQ(a.train.lr, b.train.lr);
  EXPECT_EQ(a.train.momentum, b.train.momentum);
  EXPECT_EQ(a.train.weightDecay, b.train.weightDecay);
  EXPECT_EQ(a.train.onNonfinite, b.train.onNonfinite);
  EXPECT_EQ(a.train.maxLoss, b.train.maxLoss);
  EXPECT_EQ(a.train.shuffle, b.train.shuffle);
  EXPECT_EQ(a.train.optimizer, b.train.optimizer);
  EXPECT_EQ(a.train.precision, b.train.precision);
  EXPECT_EQ(a.train.microbatches, b.train.microbatches);

  EXPECT_EQ(a.data.format, b.data.format);
  EXPECT_EQ(a.data.trainFiles, b.data.trainFiles);
  EXPECT_EQ(a.data.testFiles, b.data.testFiles);
  EXPECT_EQ(a.data.syntheticTrain, b.data.syntheticTrain);
  EXPECT_EQ(a.data.syntheticTest, b.data.syntheticTest);
  EXPECT_EQ(a.data.normalize, b.data.normalize);
  EXPECT_EQ(a.data.mean, b.data.mean);
  EXPECT_EQ(a.data.stddev, b.data.stddev);
  EXPECT_EQ(a.data.cropH, b.data.cropH);
  EXPECT_EQ(a.data.cropW, b.data.cropW);
  EXPECT_EQ(a.data.flip, b.data.flip);
  EXPECT_EQ(a.data.standardize, b.data.standardize);

  ASSERT_EQ(a.params.size(), b.params.size());
  for (size_t i = 0; i < a.params.size(); ++i) {
    SCOPED_TRACE("parameter " + std::to_string(i));
    EXPECT_EQ(a.params[i].name, b.params[i].name);
    EXPECT_EQ(a.params[i].shape, b.params[i].shape);
    EXPECT_EQ(a.params[i].init, b.params[i].init);
    EXPECT_EQ(a.params[i].fanIn, b.params[i].fanIn);
    EXPECT_EQ(a.params[i].fanOut, b.params[i].fanOut);
    EXPECT_EQ(a.params[i].trainable, b.params[i].trainable);
    EXPECT_EQ(a.params[i].buffer, b.params[i].buffer);
  }

  ASSERT_EQ(a.buffers.size(), b.buffers.size());
  for (size_t i = 0; i < a.buffers.size(); ++i) {
    SCOPED_TRACE("buffer " + std::to_string(i));
    EXPECT_EQ(a.buffers[i].name, b.buffers[i].name);
    EXPECT_EQ(a.buffers[i].kind, b.buffers[i].kind);
    EXPECT_EQ(a.buffers[i].dtype, b.buffers[i].dtype);
    EXPECT_EQ(a.buffers[i].bytes, b.buffers[i].bytes);
    EXPECT_EQ(a.buffers[i].offset, b.buffers[i].offset);
    EXPECT_EQ(a.buffers[i].program, b.buffers[i].program);
    EXPECT_EQ(a.buffers[i].first, b.buffers[i].first);
    EXPECT_EQ(a.buffers[i].last, b.buffers[i].last);
  }

  ASSERT_EQ(a.programs.size(), b.programs.size());
  for (size_t i = 0; i < a.programs.size(); ++i) {
    SCOPED_TRACE("program " + std::to_string(i));
    const Program &pa = a.programs[i], &pb = b.programs[i];
    EXPECT_EQ(pa.name, pb.name);
    ASSERT_EQ(pa.inputs.size(), pb.inputs.size());
    for (size_t j = 0; j < pa.inputs.size(); ++j) {
      EXPECT_EQ(pa.inputs[j].name, pb.inputs[j].name);
      EXPECT_EQ(pa.inputs[j].buffer, pb.inputs[j].buffer);
      EXPECT_EQ(pa.inputs[j].dtype, pb.inputs[j].dtype);
      EXPECT_EQ(pa.inputs[j].shape, pb.inputs[j].shape);
      EXPECT_EQ(pa.inputs[j].classes, pb.inputs[j].classes);
    }
    EXPECT_EQ(pa.loss, pb.loss);
    EXPECT_EQ(pa.correct, pb.correct);
    EXPECT_EQ(pa.peakBytes, pb.peakBytes);
    EXPECT_EQ(pa.cudaSource, pb.cudaSource);
    EXPECT_EQ(pa.cudaPtx, pb.cudaPtx);
    EXPECT_EQ(pa.cudaCubin, pb.cudaCubin);
    EXPECT_EQ(pa.cudaLaunches, pb.cudaLaunches);
    EXPECT_EQ(pa.kernelStage, pb.kernelStage);
    ASSERT_EQ(pa.kernels.size(), pb.kernels.size());
    for (size_t k = 0; k < pa.kernels.size(); ++k) {
      SCOPED_TRACE("kernel " + std::to_string(k));
      EXPECT_EQ(pa.kernels[k].kind, pb.kernels[k].kind);
      EXPECT_EQ(pa.kernels[k].name, pb.kernels[k].name);
      EXPECT_EQ(pa.kernels[k].ints, pb.kernels[k].ints);
      EXPECT_EQ(pa.kernels[k].args, pb.kernels[k].args);
      EXPECT_EQ(pa.kernels[k].flops, pb.kernels[k].flops);
      // Bitwise, so that -0.0 and denormals are known to survive too.
      ASSERT_EQ(pa.kernels[k].floats.size(), pb.kernels[k].floats.size());
      for (size_t f = 0; f < pa.kernels[k].floats.size(); ++f)
        EXPECT_EQ(0, std::memcmp(&pa.kernels[k].floats[f], &pb.kernels[k].floats[f], sizeof(float)));
    }
  }

  EXPECT_EQ(a.persistentBytes, b.persistentBytes);
  EXPECT_EQ(a.arenaBytes, b.arenaBytes);
  EXPECT_EQ(a.ir, b.ir);
  ASSERT_EQ(a.stages.size(), b.stages.size());
  for (size_t s = 0; s < a.stages.size(); ++s) {
    EXPECT_EQ(a.stages[s].persistentOffset, b.stages[s].persistentOffset);
    EXPECT_EQ(a.stages[s].persistentBytes, b.stages[s].persistentBytes);
    EXPECT_EQ(a.stages[s].offset, b.stages[s].offset);
    EXPECT_EQ(a.stages[s].bytes, b.stages[s].bytes);
    EXPECT_EQ(a.stages[s].first, b.stages[s].first);
    EXPECT_EQ(a.stages[s].last, b.stages[s].last);
  }
}

/// Decodes `bytes`, expecting failure, and returns the error (which must be one line).
std::string decodeError(const Bytes &bytes) {
  Plan plan;
  std::string error;
  EXPECT_FALSE(decodePlan(bytes, plan, error));
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  return error;
}

bool startsWith(const std::string &s, const std::string &prefix) { return s.rfind(prefix, 0) == 0; }

class PlanFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "dlc-plan-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  /// Names of everything in the temp dir, to spot leftover temp files.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto &entry : fs::directory_iterator(dir))
      names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  void writeRaw(const fs::path &path, const Bytes &bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good());
  }

  Bytes readRaw(const fs::path &path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir;
};

} // namespace

TEST(PlanNames, KernelAndBufferKinds) {
  EXPECT_STREQ(kernelKindName(KernelKind::Conv2dFwd), "conv2d_fwd");
  EXPECT_STREQ(kernelKindName(KernelKind::Conv2dBwdData), "conv2d_bwd_data");
  EXPECT_STREQ(kernelKindName(KernelKind::Conv2dBwdFilter), "conv2d_bwd_filter");
  EXPECT_STREQ(kernelKindName(KernelKind::MaxPoolFwd), "maxpool_fwd");
  EXPECT_STREQ(kernelKindName(KernelKind::MaxPoolBwd), "maxpool_bwd");
  EXPECT_STREQ(kernelKindName(KernelKind::Relu), "relu");
  EXPECT_STREQ(kernelKindName(KernelKind::ReluBwd), "relu_bwd");
  EXPECT_STREQ(kernelKindName(KernelKind::BiasAdd), "bias_add");
  EXPECT_STREQ(kernelKindName(KernelKind::BiasAddBwd), "bias_add_bwd");
  EXPECT_STREQ(kernelKindName(KernelKind::Matmul), "matmul");
  EXPECT_STREQ(kernelKindName(KernelKind::Add), "add");
  EXPECT_STREQ(kernelKindName(KernelKind::SoftmaxXent), "softmax_xent");
  EXPECT_STREQ(kernelKindName(KernelKind::SoftmaxXentBwd), "softmax_xent_bwd");
  EXPECT_STREQ(kernelKindName(KernelKind::Accuracy), "accuracy");
  EXPECT_STREQ(kernelKindName(KernelKind::SgdMomentum), "sgd_momentum");
  EXPECT_STREQ(kernelKindName(KernelKind::NumKinds), "?");
  EXPECT_STREQ(kernelKindName(static_cast<KernelKind>(999)), "?");

  EXPECT_STREQ(bufferKindName(BufferKind::Parameter), "parameter");
  EXPECT_STREQ(bufferKindName(BufferKind::OptimizerState), "optimizer_state");
  EXPECT_STREQ(bufferKindName(BufferKind::Input), "input");
  EXPECT_STREQ(bufferKindName(BufferKind::Activation), "activation");
  EXPECT_STREQ(bufferKindName(BufferKind::Gradient), "gradient");
  EXPECT_STREQ(bufferKindName(BufferKind::Workspace), "workspace");
  EXPECT_STREQ(bufferKindName(BufferKind::Output), "output");
  EXPECT_STREQ(bufferKindName(BufferKind::WeightCopy), "weight_copy");
  EXPECT_STREQ(bufferKindName(BufferKind::NumKinds), "?");

  EXPECT_STREQ(dtypeName(DType::F16), "f16");
  EXPECT_STREQ(dtypeName(DType::BF16), "bf16");
  EXPECT_EQ(dtypeBytes(DType::F32), 4u);
  EXPECT_EQ(dtypeBytes(DType::I32), 4u);
  EXPECT_EQ(dtypeBytes(DType::F16), 2u);
  EXPECT_EQ(dtypeBytes(DType::BF16), 2u);
  for (Precision p : {Precision::Fp32, Precision::MixedFp16, Precision::MixedBf16}) {
    Precision back = Precision::NumKinds;
    EXPECT_TRUE(parsePrecision(precisionName(p), back));
    EXPECT_EQ(back, p);
  }
  Precision unchanged = Precision::MixedFp16;
  EXPECT_FALSE(parsePrecision("fp16", unchanged));
  EXPECT_EQ(unchanged, Precision::MixedFp16);
  EXPECT_EQ(halfType(Precision::Fp32), DType::F32);
  EXPECT_EQ(halfType(Precision::MixedFp16), DType::F16);
  EXPECT_EQ(halfType(Precision::MixedBf16), DType::BF16);
  EXPECT_STREQ(bufferKindName(static_cast<BufferKind>(200)), "?");
}

TEST(PlanCodec, RoundTripsEveryField) {
  Plan original = makePlan();
  Bytes bytes = encodePlan(original);
  Plan decoded;
  std::string error;
  ASSERT_TRUE(decodePlan(bytes, decoded, error, /*check=*/false)) << error;
  expectSamePlan(original, decoded);
  ASSERT_NE(decoded.program("eval"), nullptr);
  EXPECT_EQ(decoded.program("eval")->correct, 9);
  EXPECT_EQ(decoded.program("nope"), nullptr);
  // Deterministic: the same plan always produces the same bytes.
  EXPECT_EQ(encodePlan(decoded), bytes);
}

TEST(PlanCodec, RoundTripsDefaultPlan) {
  Plan original;
  Plan decoded = makePlan(); // must be fully overwritten, not merged into
  std::string error;
  ASSERT_TRUE(decodePlan(encodePlan(original), decoded, error, /*check=*/false)) << error;
  expectSamePlan(original, decoded);
}

TEST(PlanCodec, HeaderLayout) {
  Bytes bytes = encodePlan(makePlan());
  ASSERT_GT(bytes.size(), kHeaderBytes);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), std::string("DLCPLAN\0", 8));
  EXPECT_EQ(bytes[kVersionAt], kPlanVersion);
  EXPECT_EQ(bytes[kVersionAt + 1] | bytes[kVersionAt + 2] | bytes[kVersionAt + 3], 0);
  EXPECT_EQ(bytes[12] | bytes[13] | bytes[14] | bytes[15], 0) << "reserved word";
  Bytes resealed = bytes;
  reseal(resealed); // recomputing length and checksum must change nothing
  EXPECT_EQ(resealed, bytes);
}

TEST(PlanCodec, BadMagic) {
  Bytes bytes = encodePlan(makePlan());
  bytes[0] = 'X';
  EXPECT_EQ(decodeError(bytes), "not a dlc plan (bad magic)");
  EXPECT_EQ(decodeError(Bytes{'{', '"', 'a'}), "not a dlc plan (bad magic)");
  EXPECT_EQ(decodeError(Bytes{}), "not a dlc plan (empty file)");
}

TEST(PlanCodec, WrongVersion) {
  Bytes bytes = encodePlan(makePlan());
  putU32(bytes, kVersionAt, kPlanVersion + 1);
  EXPECT_EQ(decodeError(bytes), "plan version " + std::to_string(kPlanVersion + 1) +
                                    " is not supported (this dlrun reads version " +
                                    std::to_string(kPlanVersion) + ")");
}

TEST(PlanCodec, Truncated) {
  const Bytes full = encodePlan(makePlan());
  const size_t payload = full.size() - kHeaderBytes;
  // Inside the magic, inside the version, inside the checksum, exactly the header, and
  // several points inside the payload.
  for (size_t cut : {size_t(1), size_t(7), size_t(8), size_t(10), size_t(20), size_t(31), kHeaderBytes,
                     kHeaderBytes + 1, full.size() / 2, full.size() - 1}) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    std::string error = decodeError(Bytes(full.begin(), full.begin() + cut));
    EXPECT_TRUE(startsWith(error, "truncated plan: ")) << error;
  }
  EXPECT_EQ(decodeError(Bytes(full.begin(), full.begin() + kHeaderBytes + 100)),
            "truncated plan: header says " + std::to_string(payload) + " bytes of payload, file has 100");
}

TEST(PlanCodec, TrailingBytes) {
  Bytes bytes = encodePlan(makePlan());
  bytes.push_back(0);
  EXPECT_TRUE(startsWith(decodeError(bytes), "malformed plan: ")) << "unsealed trailing byte";
  reseal(bytes); // now the payload itself has an extra byte after the last field
  EXPECT_EQ(decodeError(bytes), "malformed plan: 1 unexpected bytes after the last field");
}

TEST(PlanCodec, FlippedPayloadByteFailsChecksum) {
  const Bytes full = encodePlan(makePlan());
  for (size_t at : {kHeaderBytes, kHeaderBytes + 17, full.size() / 2, full.size() - 1}) {
    Bytes bytes = full;
    bytes[at] ^= 0x10;
    EXPECT_EQ(decodeError(bytes), "plan checksum mismatch (file corrupt)") << "byte " << at;
  }
  Bytes bytes = full;
  bytes[kChecksumAt] ^= 1;
  EXPECT_EQ(decodeError(bytes), "plan checksum mismatch (file corrupt)");
}

TEST(PlanCodec, OutOfRangeKernelArgument) {
  // encodePlan does not validate, which makes it a convenient way to hand-craft a payload
  // that is well formed and correctly checksummed but refers to a buffer that is not there.
  Plan plan = makePlan();
  plan.programs[0].kernels[1].args[1] = 99;
  EXPECT_EQ(decodeError(encodePlan(plan)),
            "malformed plan: kernel 1 of program 'train' names buffer 99 of 10");
  plan.programs[0].kernels[1].args[1] = -1;
  EXPECT_EQ(decodeError(encodePlan(plan)),
            "malformed plan: kernel 1 of program 'train' names buffer -1 of 10");
}

TEST(PlanCodec, OutOfRangeReferences) {
  {
    Plan plan = makePlan();
    plan.params[1].buffer = 10;
    EXPECT_EQ(decodeError(encodePlan(plan)), "malformed plan: parameter 1 ('conv1.w.m') names buffer 10 of 10");
  }
  {
    Plan plan = makePlan();
    plan.programs[1].inputs[1].buffer = -2;
    EXPECT_EQ(decodeError(encodePlan(plan)), "malformed plan: program 'eval' input 'tokens' names buffer -2 of 10");
  }
  {
    Plan plan = makePlan();
    plan.programs[1].loss = 10;
    EXPECT_EQ(decodeError(encodePlan(plan)), "malformed plan: program 'eval' loss names buffer 10 of 10");
  }
  {
    Plan plan = makePlan();
    plan.buffers[4].program = 2;
    EXPECT_TRUE(startsWith(decodeError(encodePlan(plan)), "malformed plan: buffer 4 ('conv1.y') belongs to"));
  }
  {
    Plan plan = makePlan();
    plan.buffers[7].offset = UINT64_MAX - 8; // would wrap around if offset+bytes were computed
    EXPECT_TRUE(startsWith(decodeError(encodePlan(plan)), "malformed plan: buffer 7 ('im2col')"));
    plan.buffers[7].offset = plan.arenaBytes - plan.buffers[7].bytes + 1;
    EXPECT_TRUE(startsWith(decodeError(encodePlan(plan)), "malformed plan: buffer 7 ('im2col')"));
  }
}

TEST(PlanCodec, UnknownEnumValues) {
  Plan plan = makePlan();
  plan.programs[1].kernels[0].kind = KernelKind::NumKinds;
  EXPECT_EQ(decodeError(encodePlan(plan)), "malformed plan: kernel 0 of program 'eval' has unknown kind " + std::to_string(static_cast<int>(KernelKind::NumKinds)));
  plan = makePlan();
  plan.buffers[3].kind = static_cast<BufferKind>(200);
  EXPECT_EQ(decodeError(encodePlan(plan)), "malformed plan: buffer 3 has unknown kind 200");
  plan = makePlan();
  plan.buffers[3].dtype = static_cast<DType>(4);
  EXPECT_EQ(decodeError(encodePlan(plan)), "malformed plan: buffer 3 has unknown dtype 4");
  plan = makePlan();
  plan.train.precision = static_cast<Precision>(3);
  EXPECT_EQ(decodeError(encodePlan(plan)), "malformed plan: unknown precision 3");
}

TEST(PlanCodec, HandCraftedPayloads) {
  // A string count far beyond the payload must be rejected before anything is allocated.
  EXPECT_TRUE(startsWith(decodeError(sealed({0xff, 0xff, 0xff, 0xff, 'a', 'b'})), "malformed plan: "));
  // A payload that stops after the model name.
  EXPECT_TRUE(startsWith(decodeError(sealed({2, 0, 0, 0, 'a', 'b'})), "malformed plan: payload ends inside"));
  // A boolean that is neither 0 nor 1: locate data.normalize through a known encoding.
  Plan plan;
  plan.data.syntheticTest = 0x1122334455667788;
  Bytes bytes = encodePlan(plan);
  const uint8_t needle[] = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
  auto it = std::search(bytes.begin(), bytes.end(), std::begin(needle), std::end(needle));
  ASSERT_NE(it, bytes.end());
  it[8] = 2; // normalize follows syntheticTest
  reseal(bytes);
  EXPECT_TRUE(startsWith(decodeError(bytes), "malformed plan: boolean field")) << decodeError(bytes);
  // A negative crop size (cropH follows stddev).
  Plan cropped;
  cropped.data.stddev = 1234.5f;
  bytes = encodePlan(cropped);
  const float stddev = 1234.5f;
  uint8_t bits[4];
  std::memcpy(bits, &stddev, 4);
  it = std::search(bytes.begin(), bytes.end(), std::begin(bits), std::end(bits));
  ASSERT_NE(it, bytes.end());
  std::fill(it + 4, it + 12, 0xff); // cropH = -1
  reseal(bytes);
  EXPECT_EQ(decodeError(bytes), "malformed plan: negative crop size");
}

TEST(PlanCodec, FailureLeavesPlanUntouched) {
  Plan plan = makePlan();
  Plan bad = makePlan();
  bad.params[0].buffer = 1000;
  std::string error;
  EXPECT_FALSE(decodePlan(encodePlan(bad), plan, error));
  expectSamePlan(makePlan(), plan);
}

TEST(PlanCodec, MutationsNeverCrash) {
  // Run this under -fsanitize=address,undefined: the point is that every outcome is a clean
  // true/false, never an over-read, a wild allocation or a crash.
  const Bytes valid = encodePlan(makeValidPlan());
  std::mt19937 rng(12345);
  int accepted = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    Bytes bytes = valid;
    switch (rng() % 4) {
    case 0: // truncate
      bytes.resize(rng() % bytes.size());
      break;
    case 1: // flip a few bytes anywhere, header included
      for (int k = 1 + rng() % 4; k > 0; --k)
        bytes[rng() % bytes.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
      break;
    case 2: // flip payload bytes and fix the checksum, so the field decoder sees them
      for (int k = 1 + rng() % 4; k > 0; --k)
        bytes[kHeaderBytes + rng() % (bytes.size() - kHeaderBytes)] = static_cast<uint8_t>(rng());
      reseal(bytes);
      break;
    case 3: // truncate the payload and fix the header
      bytes.resize(kHeaderBytes + rng() % (bytes.size() - kHeaderBytes));
      reseal(bytes);
      break;
    }
    Plan plan;
    std::string error;
    if (decodePlan(bytes, plan, error)) {
      ++accepted;
      // Whatever was accepted must be internally consistent enough to survive a round trip.
      Plan again;
      ASSERT_TRUE(decodePlan(encodePlan(plan), again, error)) << error;
    } else {
      ASSERT_FALSE(error.empty());
      ASSERT_EQ(error.find('\n'), std::string::npos) << error;
    }
  }
  // Some resealed flips land in names or numbers and are legitimately accepted; the exact
  // count is not the point, only that both outcomes are exercised.
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 4000);
}

TEST_F(PlanFileTest, WriteThenRead) {
  fs::path path = dir / "model.plan";
  std::string error;
  ASSERT_TRUE(writePlan(makeValidPlan(), path.string(), error)) << error;
  EXPECT_EQ(listing(), std::vector<std::string>{"model.plan"}) << "temp file left behind";
  EXPECT_EQ(readRaw(path), encodePlan(makeValidPlan()));
  Plan plan;
  ASSERT_TRUE(readPlan(path.string(), plan, error)) << error;
  expectSamePlan(makeValidPlan(), plan);
}

TEST_F(PlanFileTest, OverwritesExistingPlan) {
  fs::path path = dir / "model.plan";
  std::string error;
  ASSERT_TRUE(writePlan(Plan(), path.string(), error)) << error;
  ASSERT_TRUE(writePlan(makeValidPlan(), path.string(), error)) << error;
  EXPECT_EQ(listing(), std::vector<std::string>{"model.plan"});
  Plan plan;
  ASSERT_TRUE(readPlan(path.string(), plan, error)) << error;
  expectSamePlan(makeValidPlan(), plan);
}

TEST_F(PlanFileTest, WriteIntoMissingDirectoryFails) {
  fs::path path = dir / "no-such-dir" / "model.plan";
  std::string error;
  EXPECT_FALSE(writePlan(makeValidPlan(), path.string(), error));
  EXPECT_EQ(error, "cannot write '" + path.string() + "': No such file or directory");
  EXPECT_TRUE(listing().empty());
}

TEST_F(PlanFileTest, FailedRenameLeavesTargetAndNoTempFile) {
  // A directory in the way makes rename fail after the temp file was written in full.
  fs::path path = dir / "model.plan";
  fs::create_directory(path);
  writeRaw(path / "keep", {1, 2, 3});
  std::string error;
  EXPECT_FALSE(writePlan(makeValidPlan(), path.string(), error));
  EXPECT_TRUE(startsWith(error, "cannot write '" + path.string() + "': ")) << error;
  EXPECT_EQ(listing(), std::vector<std::string>{"model.plan"}) << "temp file left behind";
  EXPECT_EQ(readRaw(path / "keep"), (Bytes{1, 2, 3}));
}

TEST_F(PlanFileTest, FailedTempCreateDoesNotClobberExistingFile) {
  // Something occupying the temp name makes the write fail before anything is written;
  // the existing plan must survive byte for byte.
  fs::path path = dir / "model.plan";
  std::string error;
  ASSERT_TRUE(writePlan(makeValidPlan(), path.string(), error)) << error;
  const Bytes before = readRaw(path);
  fs::path temp = path.string() + ".tmp." + std::to_string(getpid());
  fs::create_directory(temp);
  EXPECT_FALSE(writePlan(Plan(), path.string(), error));
  EXPECT_TRUE(startsWith(error, "cannot write '" + path.string() + "': ")) << error;
  EXPECT_EQ(readRaw(path), before);
  EXPECT_TRUE(fs::is_directory(temp)) << "must not remove what it did not create";
}

TEST_F(PlanFileTest, ReadErrorsNameTheFile) {
  std::string error;
  Plan plan;
  fs::path missing = dir / "missing.plan";
  EXPECT_FALSE(readPlan(missing.string(), plan, error));
  EXPECT_EQ(error, "cannot open '" + missing.string() + "': No such file or directory");

  fs::path text = dir / "notes.txt";
  writeRaw(text, {'h', 'e', 'l', 'l', 'o', '\n'});
  EXPECT_FALSE(readPlan(text.string(), plan, error));
  EXPECT_EQ(error, text.string() + ": not a dlc plan (bad magic)");

  fs::path cut = dir / "cut.plan";
  Bytes bytes = encodePlan(makeValidPlan());
  bytes.resize(kHeaderBytes + 100);
  writeRaw(cut, bytes);
  EXPECT_FALSE(readPlan(cut.string(), plan, error));
  EXPECT_TRUE(startsWith(error, cut.string() + ": truncated plan: header says ")) << error;
  EXPECT_TRUE(error.size() > 12 && error.compare(error.size() - 12, 12, "file has 100") == 0) << error;

  EXPECT_FALSE(readPlan(dir.string(), plan, error));
  EXPECT_EQ(error, "cannot read '" + dir.string() + "': Is a directory");
}

//===----------------------------------------------------------------------===//
// Load-time validation of what dlrun acts on (validatePlan, runtime/plan/KernelCheck.h)
//===----------------------------------------------------------------------===//

std::string validateError(const Plan &plan) {
  std::string error;
  EXPECT_FALSE(validatePlan(plan, error)) << "accepted";
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  return error;
}

TEST(PlanValidate, ValidPlanIsAccepted) {
  std::string error;
  EXPECT_TRUE(validatePlan(makeValidPlan(), error)) << error;
  Plan plan;
  EXPECT_TRUE(decodePlan(encodePlan(makeValidPlan()), plan, error)) << error;
}

TEST(PlanValidate, ArgumentBufferTooSmallIsNamed) {
  Plan plan = makeValidPlan();
  plan.buffers[4].bytes = 20; // logits: 2 x 3 floats
  EXPECT_EQ(validateError(plan),
            "program 'train' kernel 0 (matmul 'op@fc'): argument 'c' needs 24 bytes, buffer 'logits' has 20");
  // decodePlan refuses it the same way.
  Plan decoded;
  std::string error;
  EXPECT_FALSE(decodePlan(encodePlan(plan), decoded, error));
  EXPECT_EQ(error, validateError(plan));
}

TEST(PlanValidate, AttributeAndArgumentCounts) {
  Plan plan = makeValidPlan();
  plan.programs[0].kernels[0].ints = {2, 3, 16, 0};
  EXPECT_EQ(validateError(plan), "program 'train' kernel 0 (matmul 'op@fc'): expects 5 or 6 int attributes, has 4");
  plan = makeValidPlan();
  plan.programs[0].kernels[1].ints.push_back(0); // softmax takes no epilogue
  EXPECT_EQ(validateError(plan),
            "program 'train' kernel 1 (softmax_xent 'op@fc'): expects 2 int attributes, has 3");
  plan = makeValidPlan();
  plan.programs[0].kernels[4].floats.pop_back();
  EXPECT_EQ(validateError(plan),
            "program 'train' kernel 4 (sgd_momentum 'op@fc'): expects 3 float attributes, has 2");
  plan = makeValidPlan();
  plan.programs[0].kernels[0].ints.push_back(kEpilogueBias); // the bias argument is missing
  EXPECT_EQ(validateError(plan), "program 'train' kernel 0 (matmul 'op@fc'): expects 4 buffer arguments, has 3");
  plan = makeValidPlan();
  plan.programs[0].kernels[0].ints.push_back(4);
  EXPECT_EQ(validateError(plan), "program 'train' kernel 0 (matmul 'op@fc'): epilogue bits 4 not accepted by matmul");
}

TEST(PlanValidate, AttributeRanges) {
  Plan plan = makeValidPlan();
  plan.programs[0].kernels[0].ints[3] = 2;
  EXPECT_EQ(validateError(plan),
            "program 'train' kernel 0 (matmul 'op@fc'): transA (int attribute 3) is 2, outside [0, 1]");
  plan = makeValidPlan();
  plan.programs[0].kernels[0].ints[2] = 0;
  EXPECT_EQ(validateError(plan), "program 'train' kernel 0 (matmul 'op@fc'): int attribute 2 is 0, not a size in "
                                 "[1, 2147483647]");
  plan = makeValidPlan();
  plan.programs[0].kernels[4].floats[0] = std::nanf("");
  EXPECT_EQ(validateError(plan), "program 'train' kernel 4 (sgd_momentum 'op@fc'): float attribute 0 is not finite");
}

TEST(PlanValidate, SizeProductsDoNotOverflow) {
  // 2^31-1 squared fits no buffer and no 32-bit index; the product must not wrap to something
  // small either.
  Plan plan = makeValidPlan();
  plan.programs[0].kernels[0].ints = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0, 0};
  EXPECT_EQ(validateError(plan), "program 'train' kernel 0 (matmul 'op@fc'): argument 'a' needs 4611686014132420609 "
                                 "elements, more than the 2147483647 a kernel may index");
  Kernel conv;
  conv.kind = KernelKind::Conv2dFwd;
  conv.ints = {1 << 20, 1 << 20, 1 << 20, 1 << 20, 1, 1, 1, 1, 1, 0, 0};
  conv.args = {0, 0, 0, 0};
  std::vector<uint64_t> bytes;
  std::string error;
  EXPECT_FALSE(kernelArgBytes(conv, bytes, error));
  EXPECT_EQ(error, "argument 'x' needs more than 2^64 elements, more than the 2147483647 a kernel may index");
}

TEST(PlanValidate, ConfigurationAndIoBuffers) {
  Plan plan = makeValidPlan();
  plan.data.cropH = plan.data.cropW = 3;
  EXPECT_EQ(validateError(plan), "malformed plan: crop 3x3 does not match the model's input 4x4");
  plan = makeValidPlan();
  plan.classes = 2;
  EXPECT_EQ(validateError(plan), "program 'train' kernel 1 (softmax_xent 'op@fc'): has 3 classes, the model 2");
  plan = makeValidPlan();
  plan.buffers[2].bytes = 100;
  EXPECT_EQ(validateError(plan), "malformed plan: program 'train' input 'images' needs 128 bytes, buffer 'images' has 100");
  plan = makeValidPlan();
  plan.programs[0].inputs[1].name = "images";
  EXPECT_EQ(validateError(plan), "malformed plan: program 'train' input 'images' is declared twice");
  plan = makeValidPlan();
  plan.programs[0].inputs[1].buffer = plan.programs[0].inputs[0].buffer;
  EXPECT_EQ(validateError(plan), "malformed plan: program 'train' input 'labels' shares its buffer with input 'images'");
  plan = makeValidPlan();
  plan.programs[0].inputs[0].classes = 3; // class indices are int32
  EXPECT_EQ(validateError(plan), "malformed plan: program 'train' input 'images' has 3 classes but is not int32");
  plan = makeValidPlan();
  plan.programs[0].inputs[1].shape = {0};
  EXPECT_EQ(validateError(plan), "malformed plan: program 'train' input 'labels' has a dimension of 0");
  plan = makeValidPlan();
  plan.programs[0].inputs[1].shape = {5}; // 2 x 5 int32 labels do not fit 8 bytes
  EXPECT_EQ(validateError(plan), "malformed plan: program 'train' input 'labels' needs 40 bytes, buffer 'labels' has 8");
  plan = makeValidPlan();
  plan.data.format = "text";
  plan.data.seqLen = 0;
  plan.data.trainFiles = plan.data.testFiles = {"a.txt"};
  EXPECT_EQ(validateError(plan), "malformed plan: sequence data needs one file and a window length in [1, 1073741823], not 0");
  plan.data.seqLen = 4;
  plan.data.testFraction = 1.f;
  EXPECT_EQ(validateError(plan), "malformed plan: the test fraction is not in [0, 1)");
  plan = makeValidPlan();
  plan.train.logEvery = 0;
  EXPECT_EQ(validateError(plan), "malformed plan: epochs 1 and log interval 0 must be >= 0 and >= 1");
  plan = makeValidPlan();
  plan.train.batch = 0;
  EXPECT_EQ(validateError(plan), "malformed plan: batch 0 is not in [1, 2147483647]");
  plan = makeValidPlan();
  plan.params[0].buffer = -1; // every parameter is initialised in its buffer
  EXPECT_EQ(validateError(plan), "malformed plan: parameter 0 ('fc.w') names buffer -1 of 9");
}

TEST(PlanValidate, ActivationKinds) {
  // leaky_relu carries its slope as a float attribute; softmax's arguments are rows x cols.
  Kernel leaky;
  leaky.kind = KernelKind::LeakyRelu;
  leaky.ints = {10};
  leaky.args = {0, 1};
  std::vector<uint64_t> bytes;
  std::string error;
  EXPECT_FALSE(kernelArgBytes(leaky, bytes, error));
  EXPECT_EQ(error, "expects 1 float attributes, has 0");
  leaky.floats = {0.01f};
  EXPECT_TRUE(kernelArgBytes(leaky, bytes, error)) << error;
  EXPECT_EQ(bytes, (std::vector<uint64_t>{40, 40}));
  Kernel softmax;
  softmax.kind = KernelKind::SoftmaxBwd;
  softmax.ints = {4, 10};
  softmax.args = {0, 1, 2};
  EXPECT_TRUE(kernelArgBytes(softmax, bytes, error)) << error;
  EXPECT_EQ(bytes, (std::vector<uint64_t>{160, 160, 160}));
  softmax.ints = {4, 0};
  EXPECT_FALSE(kernelArgBytes(softmax, bytes, error));
  EXPECT_EQ(error, "int attribute 1 is 0, not a size in [1, 2147483647]");
  // Concat: rows of aInner and bInner.
  Kernel concat;
  concat.kind = KernelKind::ConcatBwd;
  concat.ints = {2, 3, 5};
  concat.args = {0, 1, 2};
  EXPECT_TRUE(kernelArgBytes(concat, bytes, error)) << error;
  EXPECT_EQ(bytes, (std::vector<uint64_t>{64, 24, 40}));
  // Dropout: n seed threshold, a scale, and a one-float counter.
  Kernel dropout;
  dropout.kind = KernelKind::DropoutFwd;
  dropout.ints = {10, 7, 1 << 23};
  dropout.floats = {2.0f};
  dropout.args = {0, 1, 2};
  EXPECT_TRUE(kernelArgBytes(dropout, bytes, error)) << error;
  EXPECT_EQ(bytes, (std::vector<uint64_t>{40, 4, 40}));
  dropout.ints[2] = (1 << 24) + 1;
  EXPECT_FALSE(kernelArgBytes(dropout, bytes, error));
  EXPECT_EQ(error, "threshold (int attribute 2) is 16777217, outside [0, 16777216]");
  dropout.ints = {10, -1, 0};
  EXPECT_FALSE(kernelArgBytes(dropout, bytes, error));
  EXPECT_EQ(error, "seed (int attribute 1) is -1, outside [0, 4294967295]");
  dropout.ints = {10, 7, 0};
  dropout.floats = {0.0f};
  EXPECT_FALSE(kernelArgBytes(dropout, bytes, error));
  EXPECT_EQ(error, "scale must be positive");
}

// A plan file names each kernel's kind by its number, its place in KernelKinds.def: kinds
// added later go at the end, or every plan written before would be read as other kernels.
TEST(KernelTable, KindNumbersAreStable) {
  EXPECT_EQ(int(KernelKind::Conv2dFwd), 0);
  EXPECT_EQ(int(KernelKind::Matmul), 9);
  EXPECT_EQ(int(KernelKind::Add), 10);
  EXPECT_EQ(int(KernelKind::GeluTanh), 39);
  EXPECT_EQ(int(KernelKind::CopySlice), 83);
  EXPECT_EQ(int(KernelKind::LstmSeqFwd), 84);
  EXPECT_EQ(int(KernelKind::AddReluBwd), 87);
}

TEST(KernelTable, EveryKindIsDescribedOnce) {
  std::set<std::string> names;
  for (size_t k = 0; k < size_t(KernelKind::NumKinds); ++k) {
    auto kind = static_cast<KernelKind>(k);
    const KernelKindInfo &info = kernelKindInfo(kind);
    SCOPED_TRACE(info.name);
    EXPECT_STREQ(kernelKindName(kind), info.name);
    EXPECT_TRUE(names.insert(info.name).second) << "duplicate name";
    std::vector<std::string> params = kernelParams(kind);
    EXPECT_EQ(params.size(), info.args);
    size_t written = 0;
    for (size_t a = 0; a < params.size(); ++a) {
      EXPECT_EQ(params[a].rfind("const ", 0) == 0, !kernelWritesArg(kind, a)) << params[a];
      written += kernelWritesArg(kind, a);
      EXPECT_FALSE(kernelArgName(kind, a).empty());
    }
    // skip_if_nonfinite alone writes nothing: the executor acts on what it reads.
    EXPECT_EQ(written > 0, kind != KernelKind::SkipIfNonfinite) << "a kernel that writes nothing";
    EXPECT_EQ(kernelArgName(kind, info.args), "bias");
    EXPECT_TRUE(info.tolerance == kExact || info.tolerance == kReduction);
    EXPECT_EQ(info.epilogues & ~(kEpilogueBias | kEpilogueRelu), 0);
  }
  EXPECT_EQ(kernelArgName(KernelKind::Conv2dFwd, 1), "w");
  EXPECT_TRUE(kernelWritesArg(KernelKind::SgdMomentum, 0)); // w is updated in place
  EXPECT_FALSE(kernelWritesArg(KernelKind::SgdMomentum, 1));
}

TEST(KernelTable, FlopsFollowTheFormulas) {
  Kernel conv; // LeNet's conv2: 16 filters of 6x5x5 over 14x14 -> 10x10, batch 100
  conv.kind = KernelKind::Conv2dFwd;
  conv.ints = {100, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0};
  EXPECT_DOUBLE_EQ(kernelFlops(conv), 2.0 * 100 * 16 * 10 * 10 * 6 * 5 * 5);
  Kernel mm;
  mm.kind = KernelKind::Matmul;
  mm.ints = {100, 10, 84, 0, 0};
  EXPECT_DOUBLE_EQ(kernelFlops(mm), 2.0 * 100 * 10 * 84);
  mm.ints = {1};
  EXPECT_EQ(kernelFlops(mm), 0) << "too few attributes: no formula applies";
}

TEST(PlanValidate, BufferOffsetsAreAligned) {
  // Found by fuzzing under UBSan: a buffer at an odd offset made every float access misaligned.
  Plan plan = makeValidPlan();
  plan.buffers[4].offset += 3;
  EXPECT_EQ(validateError(plan), "malformed plan: buffer 4 ('logits') starts at offset 579, not a multiple of 64");
}

/// kernelArgBytes of a kernel of `kind` as text: the bytes per argument ("20 20 4 "), or the
/// error when the attributes are refused.
std::string argBytesOrError(KernelKind kind, std::vector<int64_t> ints, std::vector<float> floats,
                            size_t args) {
  Kernel k;
  k.kind = kind;
  k.ints = std::move(ints);
  k.floats = std::move(floats);
  k.args.assign(args, 0);
  std::vector<uint64_t> bytes;
  std::string error;
  if (!kernelArgBytes(k, bytes, error))
    return error;
  std::string sizes;
  for (uint64_t b : bytes)
    sizes += std::to_string(b) + " ";
  return sizes;
}

TEST(KernelTable, ScheduledOptimizerChecks) {
  // The load-time checks of the scheduled optimizers' attributes and argument sizes.
  auto check = [](KernelKind kind, std::vector<int64_t> ints, std::vector<float> floats,
                  size_t args) { return argBytesOrError(kind, std::move(ints), std::move(floats), args); };
  EXPECT_EQ(check(KernelKind::LrSchedule, {2, 10, 1, 100}, {0.1f, 1.0f, 0.0f}, 1), "16 ");
  EXPECT_EQ(check(KernelKind::LrSchedule, {4, 10, 1, 100}, {0.1f, 1.0f, 0.0f}, 1),
            "schedule (int attribute 0) is 4, outside [0, 3]");
  EXPECT_EQ(check(KernelKind::LrSchedule, {2, 0, 1, 100}, {0.1f, 1.0f, 0.5f}, 1),
            "lr must be positive, gamma in (0, 1] and min_lr in [0, lr]");
  EXPECT_EQ(check(KernelKind::GradSumSq, {37}, {}, 2), "148 16 ");
  EXPECT_EQ(check(KernelKind::ClipScale, {}, {0.0f}, 1),
            "the maximum gradient norm must be positive");
  EXPECT_EQ(check(KernelKind::SgdStep, {5, 1}, {0.9f, 0.0f}, 4), "20 20 20 16 ");
  EXPECT_EQ(check(KernelKind::SgdStep, {5, 1}, {0.0f, 0.0f}, 4),
            "nesterov needs a positive momentum");
  EXPECT_EQ(check(KernelKind::AdamStep, {5, 1}, {0.9f, 0.999f, 1e-8f, 0.01f}, 5),
            "20 20 20 20 16 ");
  EXPECT_EQ(check(KernelKind::AdamStep, {5, 0}, {0.9f, 1.0f, 1e-8f, 0.0f}, 5),
            "betas must be in [0, 1), eps positive and weight decay non-negative");
  EXPECT_EQ(check(KernelKind::AdamStep, {5, 2}, {0.9f, 0.999f, 1e-8f, 0.0f}, 5),
            "decoupled (int attribute 1) is 2, outside [0, 1]");
}

TEST(KernelTable, RegressionLossChecks) {
  // mse and bce_with_logits: x and t of n floats, a scalar loss; their backward dx of n.
  auto check = [](KernelKind kind, std::vector<int64_t> ints) {
    return argBytesOrError(kind, std::move(ints), {}, 3);
  };
  EXPECT_EQ(check(KernelKind::Mse, {5}), "20 20 4 ");
  EXPECT_EQ(check(KernelKind::BceWithLogits, {5}), "20 20 4 ");
  EXPECT_EQ(check(KernelKind::MseBwd, {5}), "20 20 20 ");
  EXPECT_EQ(check(KernelKind::BceWithLogitsBwd, {5}), "20 20 20 ");
  EXPECT_EQ(check(KernelKind::Mse, {0}), "int attribute 0 is 0, not a size in [1, 2147483647]");
}

TEST(KernelTable, TransformerShapeChecks) {
  // layer_norm: x [rows][d], w and b [d], per-row mean and rstd; transpose: 6 sizes and a
  // permutation of 0..5.
  EXPECT_EQ(argBytesOrError(KernelKind::LayerNormFwd, {3, 5}, {1e-5f}, 6),
            "60 20 20 60 12 12 ");
  EXPECT_EQ(argBytesOrError(KernelKind::LayerNormFwd, {3, 5}, {0.0f}, 6),
            "eps must be positive");
  EXPECT_EQ(argBytesOrError(KernelKind::LayerNormBwd, {3, 5}, {}, 8),
            "60 60 20 12 12 60 20 20 ");
  EXPECT_EQ(argBytesOrError(KernelKind::LayerNormBwd, {3, 0}, {}, 8),
            "int attribute 1 is 0, not a size in [1, 2147483647]");
  EXPECT_EQ(argBytesOrError(KernelKind::Transpose, {1, 1, 2, 5, 3, 4, 0, 1, 2, 4, 3, 5}, {}, 2),
            "480 480 ");
  EXPECT_EQ(argBytesOrError(KernelKind::Transpose, {1, 1, 2, 5, 3, 4, 0, 1, 2, 4, 4, 5}, {}, 2),
            "int attributes 6 to 11 are not a permutation of 0 to 5");
  EXPECT_EQ(argBytesOrError(KernelKind::Transpose, {1, 1, 2, 5, 3, 4, 0, 1, 2, 4, 6, 5}, {}, 2),
            "permuted axis (int attribute 10) is 6, outside [0, 5]");
  EXPECT_EQ(argBytesOrError(KernelKind::Transpose, {1, 0, 2, 5, 3, 4, 0, 1, 2, 3, 4, 5}, {}, 2),
            "int attribute 1 is 0, not a size in [1, 2147483647]");
}

TEST(PlanValidate, PlanWithoutLabels) {
  // A regression model has no labels (classes 0) and no `correct` output; its loss kernels
  // read no labels. A kernel that does read labels is refused in such a plan.
  Plan plan = makeValidPlan();
  plan.classes = 0;
  EXPECT_EQ(validateError(plan),
            "program 'train' kernel 1 (softmax_xent 'op@fc'): has 3 classes, the model 0");
  plan = dlc::test::tinyRegressionPlan();
  std::string error;
  EXPECT_TRUE(validatePlan(plan, error)) << error;
  Plan decoded;
  EXPECT_TRUE(decodePlan(encodePlan(plan), decoded, error)) << error;
  EXPECT_EQ(decoded.classes, 0);
  plan.classes = -1;
  EXPECT_EQ(validateError(plan), "malformed plan: class count -1 is negative or too large");
}

TEST(KernelTable, GroupedConvChecks) {
  // conv2d_general_*: n c h w k r s strideH strideW padTop padLeft padBottom padRight dilH dilW
  // groups; w is [k][c/groups][r][s], the workspace one group's im2col matrix of one image.
  auto check = [](KernelKind kind, std::vector<int64_t> ints, size_t args = 4) {
    return argBytesOrError(kind, std::move(ints), {}, args);
  };
  // Depthwise, multiplier 2, stride 2: 9x7 padded 1 -> 5x4.
  const std::vector<int64_t> dw = {2, 4, 9, 7, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 4};
  EXPECT_EQ(check(KernelKind::Conv2dGeneralFwd, dw), "2016 288 1280 720 ");
  EXPECT_EQ(check(KernelKind::Conv2dGeneralBwdData, dw), "1280 288 2016 720 ");
  EXPECT_EQ(check(KernelKind::Conv2dGeneralBwdFilter, dw), "1280 2016 288 720 ");
  std::vector<int64_t> biased = dw;
  biased.push_back(kEpilogueBias);
  EXPECT_EQ(check(KernelKind::Conv2dGeneralFwd, biased, 5), "2016 288 1280 720 32 ");
  // Asymmetric 'same' for a 2x2 window (0 before, 1 after) keeps 6x5.
  EXPECT_EQ(check(KernelKind::Conv2dGeneralFwd, {2, 3, 6, 5, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1, 1}),
            "720 192 960 1440 ");
  auto with = [&](size_t index, int64_t value) {
    std::vector<int64_t> ints = dw;
    ints[index] = value;
    return check(KernelKind::Conv2dGeneralFwd, ints);
  };
  EXPECT_EQ(with(15, 3), "groups 3 do not divide the 4 input and 8 output channels");
  EXPECT_EQ(with(15, 0), "int attribute 15 is 0, not a size in [1, 2147483647]");
  EXPECT_EQ(with(13, 0), "int attribute 13 is 0, not a size in [1, 2147483647]");
  // Padding must stay below the (dilated) window: 3 taps 1 apart allow 2.
  EXPECT_EQ(with(11, 3), "padding bottom (int attribute 11) is 3, outside [0, 2]");
  EXPECT_EQ(with(12, -1), "padding right (int attribute 12) is -1, outside [0, 2]");
  // Without vertical padding, dilation 6 makes the 3-tap window 13 rows, more than the 9
  // there are; dilation 4 (9 rows) leaves one output row.
  std::vector<int64_t> far = dw;
  far[13] = 6;
  far[9] = far[11] = 0;
  EXPECT_EQ(check(KernelKind::Conv2dGeneralFwd, far),
            "dilated window 13x3 larger than the padded input 9x9");
  far[13] = 4; // 9 rows: exactly one output row
  EXPECT_EQ(check(KernelKind::Conv2dGeneralFwd, far), "2016 288 256 144 ");
}

// Pipeline placement: each device's kernels touch only its own regions (a copy's source
// aside), the regions do not overlap, every kernel has a stage.
TEST(PlanValidate, PipelineStages) {
  Plan plan = makeValidPlan();
  // Two stages: all of the tiny plan on stage 0, stage 1 empty at the end of the arena.
  plan.stages = {{0, plan.persistentBytes, plan.persistentBytes, plan.arenaBytes - plan.persistentBytes, "fc", "fc"},
                 {plan.persistentBytes, 0, plan.arenaBytes, 0, "", ""}};
  for (Program &p : plan.programs)
    p.kernelStage.assign(p.kernels.size(), 0);
  std::string error;
  EXPECT_TRUE(validatePlan(plan, error)) << error;

  Plan remote = plan;
  remote.programs[0].kernelStage[0] = 1;
  EXPECT_EQ(validateError(remote), "malformed plan: kernel 0 ('op@fc') of program 'train' runs on stage 1 "
                                   "but its buffer 'images' lies outside that stage's memory");
  Plan counts = plan;
  counts.programs[1].kernelStage.pop_back();
  EXPECT_EQ(validateError(counts), "malformed plan: program 'eval' has " +
                                       std::to_string(plan.programs[1].kernels.size() - 1) +
                                       " kernel stages for " +
                                       std::to_string(plan.programs[1].kernels.size()) + " kernels");
  Plan overlap = plan;
  overlap.stages[1].offset = plan.arenaBytes - 64;
  overlap.stages[1].bytes = 64;
  EXPECT_EQ(validateError(overlap), "malformed plan: two pipeline stages' regions overlap");
  Plan outside = plan;
  outside.stages[1].bytes = 64;
  EXPECT_EQ(validateError(outside), "malformed plan: stage 1's regions lie outside the arena");
  Plan one = plan;
  one.stages.pop_back();
  EXPECT_EQ(validateError(one), "malformed plan: 1 pipeline stages, not in [2, 1024]");
  // Replicas of the pipeline (S x R devices): within the device bound.
  Plan replicated = plan;
  replicated.train.devices = 512;
  EXPECT_TRUE(validatePlan(replicated, error)) << error;
  Plan tooMany = plan;
  tooMany.train.devices = 513;
  EXPECT_EQ(validateError(tooMany), "malformed plan: a pipeline of 2 stages x 513 replicas is more than 1024 devices");
  Plan stray = makeValidPlan();
  stray.programs[0].kernelStage.assign(stray.programs[0].kernels.size(), 0);
  EXPECT_EQ(validateError(stray), "malformed plan: program 'train' has kernel stages but the plan has no pipeline");
}

// GPipe micro-batches (TrainConfig::microbatches): equal shares of the batch, only in a
// pipeline, and no kernel that jumps (each device runs its kernels in order on its thread).
TEST(PlanValidate, PipelineMicroBatches) {
  Plan plan = makeValidPlan();
  plan.stages = {{0, plan.persistentBytes, plan.persistentBytes, plan.arenaBytes - plan.persistentBytes, "fc", "fc"},
                 {plan.persistentBytes, 0, plan.arenaBytes, 0, "", ""}};
  for (Program &p : plan.programs)
    p.kernelStage.assign(p.kernels.size(), 0);
  plan.train.microbatches = 2; // batch 2: micro-batches of 1
  std::string error;
  EXPECT_TRUE(validatePlan(plan, error)) << error;

  Plan zero = plan;
  zero.train.microbatches = 0;
  EXPECT_EQ(validateError(zero), "malformed plan: 0 micro-batches do not divide the batch of 2");
  Plan odd = plan;
  odd.train.batch = 3;
  EXPECT_EQ(validateError(odd), "malformed plan: 2 micro-batches do not divide the batch of 3");
  Plan more = plan;
  more.train.microbatches = 4;
  EXPECT_EQ(validateError(more), "malformed plan: 4 micro-batches do not divide the batch of 2");
  Plan single = makeValidPlan();
  single.train.microbatches = 2;
  EXPECT_EQ(validateError(single), "malformed plan: 2 micro-batches in a plan without pipeline stages");
  Plan skip = plan;
  Kernel k;
  k.kind = KernelKind::SkipIfNonfinite;
  k.name = "skip";
  k.ints = {int64_t(skip.programs[0].kernels.size())};
  k.args = {skip.params[1].buffer};
  skip.programs[0].kernels.insert(skip.programs[0].kernels.end() - 1, k);
  skip.programs[0].kernelStage.push_back(0);
  EXPECT_EQ(validateError(skip), "malformed plan: kernel " +
                                     std::to_string(skip.programs[0].kernels.size() - 2) +
                                     " of program 'train' skips kernels, which a pipeline of "
                                     "micro-batches cannot");
  // A micro-batch's slice lies inside both buffers.
  Plan slice = plan;
  Kernel c;
  c.kind = KernelKind::CopySlice;
  c.name = "copy_slice@images";
  c.ints = {16, 16, 0};
  c.args = {slice.programs[0].inputs[0].buffer, slice.programs[0].kernels[3].args[2]}; // images, fc.dw
  slice.programs[0].kernels.insert(slice.programs[0].kernels.begin(), c);
  slice.programs[0].kernelStage.push_back(0);
  EXPECT_TRUE(validatePlan(slice, error)) << error;
  slice.programs[0].kernels[0].ints = {16, 17, 0};
  EXPECT_NE(validateError(slice).find("argument 'x' needs 132 bytes, buffer 'images' has 128"),
            std::string::npos)
      << validateError(slice);
}
