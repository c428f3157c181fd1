//===- Plan.h - the plan file: everything dlrun needs to run a model -*- C++ -*-===//
//
// A plan is what `dlc compile` writes and `dlrun` executes: the model's configuration, its
// parameters (with their seeded initialisers), one arena with every buffer's offset, and
// programs (train step, eval step) as ordered lists of kernel calls on those buffers. It is
// the kernel-level IR of the project: the CPU runtime executes it directly, and the CUDA
// target lowers the same kernel list. No MLIR here: dlrun links only this and the runtime.
//
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlc::plan {

/// Bumped whenever the serialized layout changes; readers reject other versions.
constexpr uint32_t kPlanVersion = 11;

/// Kernel kinds, in a fixed order that is part of the file format: one line each in
/// KernelKinds.def, which also gives their arguments, attributes and checks (KernelCheck.h).
enum class KernelKind : uint16_t {
#define DLC_KERNEL_KIND(Enum, ...) Enum,
#include "runtime/plan/KernelKinds.def"
  NumKinds
};
const char *kernelKindName(KernelKind k);

/// Epilogue bits of Conv2dFwd and Matmul (an optional trailing int; absent means 0): work
/// fused into the kernel's output write, in this order. Bias is per output channel (conv) or
/// per column (matmul) and is the kernel's last argument. MaxPoolBwd takes kEpilogueRelu
/// alone: the gradient of a ReLU whose output is the pooled input.
constexpr int64_t kEpilogueBias = 1;
constexpr int64_t kEpilogueRelu = 2;

/// What a buffer holds; drives the memory breakdown and which region it lives in.
enum class BufferKind : uint8_t {
  Parameter,      // persistent
  OptimizerState, // persistent
  Input,          // a batch of one program input, copied in before each step
  Activation,     // forward values (kept for backward when a gradient op reads them)
  Gradient,
  Workspace,      // per-kernel scratch such as im2col
  Output,         // loss and accuracy scalars read back after each step
  ModelState,     // persistent, not trained: batch norm running statistics
  WeightCopy,     // mixed precision: a half copy of a parameter for one step (AMP's autocast cache)
  NumKinds
};
const char *bufferKindName(BufferKind k);

/// Every buffer's arena offset is a multiple of this (the compiler's arena layout makes it so
/// and the loader checks it): kernels load floats and vectors from any buffer start.
constexpr uint64_t kBufferAlignment = 64;

/// The element type of a buffer or program input. F16 (IEEE binary16) and BF16 (bfloat16)
/// appear only in CUDA plans of a mixed precision (Precision), for 2-byte storage; kernels
/// compute in float whatever the storage.
enum class DType : uint8_t { F32, I32, F16, BF16, NumKinds };
const char *dtypeName(DType t);
/// Bytes per element: 4, or 2 for the half types.
inline uint64_t dtypeBytes(DType t) { return t == DType::F16 || t == DType::BF16 ? 2 : 4; }

/// `training.precision` (PyTorch AMP's choices): fp32 everywhere, or fp32 master weights,
/// gradients of parameters and optimizer state with 2-byte activations, activation gradients
/// and per-step half copies of the weights that matmuls and convolutions read.
enum class Precision : uint8_t { Fp32, MixedFp16, MixedBf16, NumKinds };
/// "fp32", "mixed-fp16", "mixed-bf16"; parsePrecision is its inverse (false: unknown name).
const char *precisionName(Precision p);
bool parsePrecision(const std::string &name, Precision &p);
/// The 2-byte storage type of a mixed precision (F32 for Fp32).
inline DType halfType(Precision p) {
  return p == Precision::MixedFp16 ? DType::F16 : p == Precision::MixedBf16 ? DType::BF16 : DType::F32;
}

struct Buffer {
  std::string name;
  BufferKind kind = BufferKind::Activation;
  DType dtype = DType::F32; // elements are stored as this; bytes is a multiple of its size
  uint64_t bytes = 0;
  uint64_t offset = 0;  // in the arena
  int32_t program = -1; // -1: persistent, shared by all programs
  int32_t first = 0;    // index of the first kernel that touches it (liveness)
  int32_t last = 0;     // index of the last kernel that touches it
};

struct Kernel {
  KernelKind kind = KernelKind::Add;
  std::string name; // source op and layer, for profiles and errors
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<int32_t> args; // buffer ids
  double flops = 0;
  /// Not part of the plan file: set by the CPU runtime at load (runtime/cpu/Layout.h). Bit j:
  /// argument j is held in oneDNN's channel-blocked layout (nChw16c or nChw8c; a
  /// convolution's filter: OIhw16i16o or OIhw8i8o) rather than NCHW/OIHW, for the kernel
  /// kinds that take one.
  uint8_t blocked = 0;
};


/// One declared input of the model (`inputs:` in the model file), in declaration order: the
/// buffer dlrun fills with a batch before each step, `batch * elements(shape) * 4` bytes.
struct ProgramInput {
  std::string name;
  int32_t buffer = -1;
  DType dtype = DType::F32;
  std::vector<int64_t> shape; // per example (the batch dimension is implicit)
  int64_t classes = 0;        // > 0: class indices in [0, classes) (dtype i32)
};

/// One named result of a program (the graph outputs of an imported ONNX model; the final
/// layer of a YAML model's inference program): what `dlrun --infer` writes under its name.
struct ProgramOutput {
  std::string name;
  int32_t buffer = -1;
  std::vector<int64_t> shape; // the whole tensor's, as written (the batch included)
};

struct Program {
  std::string name; // "train", "eval" or "infer"
  std::vector<Kernel> kernels;
  std::vector<ProgramInput> inputs;
  int32_t loss = -1, correct = -1;  // output scalars
  std::vector<ProgramOutput> outputs; // named results (the infer program's)
  uint64_t peakBytes = 0;           // of this program's own buffers
  /// CUDA target only (Plan::target == "cuda"): the generated CUDA C, its PTX and CUBIN (for
  /// Plan::arch, binary) and one launch record per kernel (runtime/plan/CudaLaunch.h,
  /// encoded with encodeLaunches). Empty for CPU plans.
  std::string cudaSource, cudaPtx, cudaCubin, cudaLaunches;
  /// Pipeline plans (Plan::stages not empty): the stage, i.e. device, of each kernel.
  std::vector<int32_t> kernelStage;
};

struct Parameter {
  std::string name;
  std::vector<int64_t> shape;
  std::string init; // he_normal | glorot_uniform | normal | zeros | ones | values
  /// init "values": the starting tensor itself (an ONNX initializer or constant), as many
  /// floats as the shape has elements.
  std::vector<float> values;
  int64_t fanIn = 0, fanOut = 0;
  bool trainable = true; // false: optimizer state or model state (see its buffer's kind)
  int32_t buffer = -1;
};

/// What dlrun does when a loss (training or evaluation) is NaN or infinite.
enum class OnNonfinite : uint8_t {
  Stop, // rerun the batch kernel by kernel, name the first kernel with a non-finite output, exit 1
  Warn, // say so once on stderr and go on
};

struct TrainConfig {
  int64_t batch = 0, epochs = 1, logEvery = 100;
  uint64_t seed = 0;
  float lr = 0.01f, momentum = 0.9f, weightDecay = 0.f;
  OnNonfinite onNonfinite = OnNonfinite::Stop;
  float maxLoss = 0.f; // > 0: stop (exit 1) once a training step's loss exceeds it
  bool shuffle = true;  // false: every epoch takes the batches in file order
  std::string optimizer = "sgd"; // sgd, adam or adamw (the update kernels say how)
  /// Data placement (dlc compile --devices K): K devices each run this plan on `batch`
  /// examples of every global batch of K x batch and average their gradients every step.
  /// With pipeline stages: the replicas of the pipeline, each on stages.size() devices
  /// (device r * S + s is replica r's stage s), averaging each stage's gradients.
  int64_t devices = 1;
  /// The model's precision. A CPU plan runs it in fp32 (every buffer F32 or I32: the CPU
  /// executor computes in float); a CUDA plan stores its half buffers as Buffer::dtype says.
  Precision precision = Precision::Fp32;
  /// Pipeline placement: the step runs as this many micro-batches of batch / microbatches
  /// examples (GPipe; compiler/Planning/MicroBatch.cpp writes the schedule into the kernels).
  /// 1 without a pipeline.
  int64_t microbatches = 1;
};
/// The most devices one plan may be placed on (a bound for the loader, not a hardware limit).
constexpr int64_t kMaxDevices = 1024;

struct DataConfig {
  std::string format; // "mnist" | "cifar10" | "synthetic" | "text" | "tokens"
  std::vector<std::string> trainFiles, testFiles; // mnist: {images, labels}; text, tokens: {file}
  /// text and tokens: windows of seqLen tokens; the last testFraction of the file is the test set.
  int64_t seqLen = 0;
  float testFraction = 0.1f;
  int64_t syntheticTrain = 0, syntheticTest = 0;
  bool normalize = false;
  float mean = 0.f, stddev = 1.f;
  /// Augmentation: crop every image to cropH x cropW (0: no crop) at a random place for
  /// training and in the centre for evaluation; flip training images left-right with
  /// probability 1/2; standardize each image (after cropping) to mean 0 and spread 1 as
  /// TensorFlow's per_image_standardization does.
  int64_t cropH = 0, cropW = 0;
  bool flip = false, standardize = false;
};

/// One device of a pipeline placement (dlc compile --placement pipeline): it holds the
/// persistent buffers in [persistentOffset, persistentOffset + persistentBytes) and the step
/// buffers in [offset, offset + bytes) of the arena, and runs the layers first .. last. Its
/// kernels touch only its own buffers, except a copy kernel's source (KernelKind::Copy), which
/// brings a buffer over from the stage that made it.
struct StageRegion {
  uint64_t persistentOffset = 0, persistentBytes = 0, offset = 0, bytes = 0;
  std::string first, last;
};

struct Plan {
  std::string model, source, target = "cpu";
  std::string arch; // the CUDA target's GPU architecture, e.g. "sm_86"
  /// Per example: the first float input's shape (CHW for the image formats, which feed it);
  /// empty when the model has no float input (a language model).
  std::vector<int64_t> inputShape;
  int64_t classes = 0; // of the loss's class input; 0: the model has none (a regression loss)
  TrainConfig train;
  DataConfig data;
  std::vector<Parameter> params;
  std::vector<Buffer> buffers;
  std::vector<Program> programs;
  uint64_t persistentBytes = 0; // parameters and optimizer state, at offset 0
  uint64_t arenaBytes = 0;      // persistent + the largest program's peak (pipelines: all stages')
  /// Pipeline placement: one region per device, in stage order; empty for one device (or
  /// data placement, where each device holds the whole arena).
  std::vector<StageRegion> stages;
  std::string ir;               // the final dl IR, for debugging (what `dlc compile --emit=kernels` shows)

  /// The class input of `prog` (the labels or per-position targets), or null.
  static const ProgramInput *classInput(const Program &prog) {
    for (const ProgramInput &in : prog.inputs)
      if (in.classes > 0)
        return &in;
    return nullptr;
  }

  const Program *program(const std::string &name) const {
    for (const Program &p : programs)
      if (p.name == name)
        return &p;
    return nullptr;
  }
};

/// Serializes `plan` with a versioned, checksummed header and writes it atomically (temp
/// file + rename). Returns false and a one-line `error` on failure.
bool writePlan(const Plan &plan, const std::string &path, std::string &error);
/// Reads and verifies a plan: magic, version, size and checksum. One-line `error` on failure.
bool readPlan(const std::string &path, Plan &plan, std::string &error);

/// The in-memory encoding used by writePlan/readPlan (exposed for tests). decodePlan also
/// validates the decoded plan (validatePlan) unless `check` is false, which only the
/// codec's own round-trip tests want.
std::vector<uint8_t> encodePlan(const Plan &plan);
bool decodePlan(const std::vector<uint8_t> &bytes, Plan &plan, std::string &error, bool check = true);

/// Everything dlrun relies on before it touches memory: buffer, parameter and program
/// references, buffer extents inside the arena, the configuration (batch, input shape,
/// classes, crop, counts), the input and output buffers' sizes, and every kernel call
/// against its kind (runtime/plan/KernelCheck.h). A one-line `error` names the first
/// problem, e.g. "program 'train' kernel 12 (conv2d_fwd 'conv2'): argument 'x' needs 313600
/// bytes, buffer 'pool1' has 117600".
bool validatePlan(const Plan &plan, std::string &error);

} // namespace dlc::plan
