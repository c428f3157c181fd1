//===- dlc.cpp - the dlc compiler driver --------------------------*- C++ -*-===//
//
// Thin: parses flags and calls dlc::compile.
//
#include "compiler/Driver/Compile.h"
#include "compiler/Driver/Mem.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"

using namespace llvm;

static cl::OptionCategory dlcCategory("dlc options");
static cl::SubCommand compileCmd("compile",
                                 "Compile a YAML model into a plan file that dlrun executes");
static cl::SubCommand memCmd("mem", "Memory plan of the training step against real GPUs: "
                                   "which GPU fits, the largest batch, both estimates");
static cl::opt<std::string> input(cl::Positional, cl::desc("<model.yaml>"), cl::Required,
                                  cl::sub(compileCmd), cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<std::string> output("o", cl::desc("Plan file to write (default: <model>.plan)"),
                                   cl::value_desc("plan"), cl::sub(compileCmd), cl::cat(dlcCategory));
static cl::opt<int64_t> batch("batch", cl::desc("Batch size (default: the model's training.batch)"),
                              cl::init(0), cl::sub(compileCmd), cl::sub(memCmd),
                              cl::cat(dlcCategory));
static cl::opt<std::string> gpu(
    "gpu",
    cl::desc("compile: refuse a batch that does not fit this GPU; mem: GPUs to weigh "
             "(all, or names such as rtx3090,a100-80gb,h100)"),
    cl::sub(compileCmd), cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<std::string> hardware("hardware",
                                     cl::desc("YAML file adding or overriding GPUs of the catalog"),
                                     cl::value_desc("file"), cl::sub(compileCmd), cl::sub(memCmd),
                                     cl::cat(dlcCategory));
static cl::opt<std::string> memoryModel(
    "memory-model", cl::desc("Which estimate decides whether a batch fits: plan (default) or "
                             "heuristic (the design's (N_weights+N_nodes)*4*batch*mask)"),
    cl::init("plan"), cl::sub(compileCmd), cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<int64_t> maskElements("mask-elements",
                                     cl::desc("Override the heuristic's convolution window size"),
                                     cl::init(0), cl::sub(compileCmd), cl::sub(memCmd),
                                     cl::cat(dlcCategory));
static cl::opt<int64_t> devices("devices",
                               cl::desc("compile: place the training step on K devices (with "
                                        "--placement; dlrun --device cpu:0,cpu:1,... runs it)"),
                               cl::init(1), cl::sub(compileCmd), cl::cat(dlcCategory));
static cl::opt<std::string> placement("placement",
                                      cl::desc("compile, with --devices: auto (default: data, "
                                               "pipeline when a share does not fit the --gpu), "
                                               "data or pipeline (layers split over the devices)"),
                                      cl::init("auto"), cl::sub(compileCmd), cl::cat(dlcCategory));
static cl::opt<int64_t> microbatches("microbatches",
                                    cl::desc("compile, with --placement pipeline: run the step "
                                             "as M GPipe micro-batches of batch/M (default 1); "
                                             "mem, with --gpus K: the pipeline estimate's M"),
                                    cl::init(1), cl::sub(compileCmd), cl::sub(memCmd),
                                    cl::cat(dlcCategory));
static cl::opt<int64_t> stages("stages",
                              cl::desc("compile, with --placement pipeline: the layers in S "
                                       "stages, the --devices K as K/S data-parallel replicas "
                                       "of that pipeline (S divides K; default K)"),
                              cl::init(0), cl::sub(compileCmd), cl::cat(dlcCategory));
static cl::opt<bool> recompute("recompute",
                               cl::desc("Activation checkpointing: keep each block's input "
                                        "(layers named BLOCK.NAME) and run the block's forward "
                                        "again in its backward"),
                               cl::sub(compileCmd), cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<int64_t> replicas("gpus", cl::desc("mem: data-parallel replicas sharing the batch"),
                                 cl::init(1), cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<int64_t> seqLen("seq-len",
                               cl::desc("mem: sequence length of the int32 and per-position "
                                        "inputs (default: the model's); also prints the "
                                        "longest sequence that fits at the batch"),
                               cl::init(0), cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<bool> json("json", cl::desc("mem: print JSON (schema dlc-mem/1, docs/memory.md)"),
                          cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<std::string> svg("svg", cl::desc("mem: draw the training step's memory plan"),
                                cl::value_desc("file.svg"), cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<bool> fuse("fuse", cl::desc("Fuse bias and relu into conv/matmul (default; --fuse=false: off)"),
                          cl::init(true), cl::sub(compileCmd), cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<std::string> target("target", cl::desc("cpu (default) or cuda"), cl::init("cpu"),
                                   cl::sub(compileCmd), cl::cat(dlcCategory));
static cl::opt<std::string> precision(
    "precision", cl::desc("fp32, mixed-fp16 or mixed-bf16 (default: the model's training.precision)"),
    cl::sub(compileCmd), cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<std::string> arch("arch",
                                 cl::desc("cuda: GPU architecture, e.g. sm_86 (default: the "
                                          "--gpu's, else sm_75)"),
                                 cl::sub(compileCmd), cl::cat(dlcCategory));
// Limits (docs/model-format.md, "Limits"): raise them for a model that needs more.
static const dlc::ModelLimits kDefaultLimits;
static cl::opt<int64_t> maxSteps("max-steps",
                                 cl::desc("Most time steps a recurrent layer may unroll over"),
                                 cl::init(kDefaultLimits.maxSteps), cl::sub(compileCmd),
                                 cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<int64_t> maxOps("max-ops", cl::desc("Most ops in the imported graph"),
                               cl::init(kDefaultLimits.maxOps), cl::sub(compileCmd),
                               cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<int64_t> maxTensorBytes("max-tensor-bytes",
                                       cl::desc("Most bytes of any one tensor at the batch"),
                                       cl::init(kDefaultLimits.maxTensorBytes),
                                       cl::sub(compileCmd), cl::sub(memCmd),
                                       cl::cat(dlcCategory));
static cl::opt<int64_t> maxPlanBytes("max-plan-bytes",
                                     cl::desc("Most bytes of the plan's memory (its arena)"),
                                     cl::init(kDefaultLimits.maxPlanBytes), cl::sub(compileCmd),
                                     cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<int64_t> maxModelBytes("max-model-bytes",
                                      cl::desc("Most bytes of the model file"),
                                      cl::init(kDefaultLimits.maxModelBytes),
                                      cl::sub(compileCmd), cl::sub(memCmd),
                                      cl::cat(dlcCategory));
static cl::opt<std::string> loss(
    "loss",
    cl::desc("An ONNX model's training loss on its first output: softmax_cross_entropy (class "
             "labels, input 'label') or mse (a float target, input 'target')"),
    cl::sub(compileCmd), cl::sub(memCmd), cl::cat(dlcCategory));
static cl::opt<bool> quiet("quiet", cl::desc("Print nothing on success"), cl::sub(compileCmd), cl::cat(dlcCategory));
static cl::opt<dlc::EmitStage> emit(
    "emit", cl::desc("Print the IR at a stage instead of writing a plan"),
    cl::init(dlc::EmitStage::Plan), cl::sub(compileCmd), cl::cat(dlcCategory),
    cl::values(clEnumValN(dlc::EmitStage::Import, "import", "dl IR as imported (dynamic batch)"),
               clEnumValN(dlc::EmitStage::Shapes, "shapes", "after --dl-infer-shapes"),
               clEnumValN(dlc::EmitStage::Autodiff, "autodiff",
                          "after --dl-autodiff (the whole training step)"),
               clEnumValN(dlc::EmitStage::Fused, "fused", "after --dl-fuse-epilogues"),
               clEnumValN(dlc::EmitStage::Kernels, "kernels", "the kernel programs (train, eval)"),
               clEnumValN(dlc::EmitStage::Memory, "memory", "the memory plan"),
               clEnumValN(dlc::EmitStage::Cuda, "cuda", "the generated CUDA C"),
               clEnumValN(dlc::EmitStage::Plan, "plan", "write the plan file (default)")));

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(dlcCategory);

  cl::ParseCommandLineOptions(
      argc, argv,
      "dlc: declarative deep-learning compiler\n\n"
      "  dlc compile MODEL.yaml [-o PLAN] [--batch N] [--emit=STAGE] [--gpu NAME]\n"
      "              [--target cpu|cuda] [--arch sm_XX]\n"
      "  dlc mem MODEL.yaml [--batch N] [--gpu all|NAME,...] [--gpus K] [--json] [--svg FILE]\n"
      "              [--seq-len T]\n\n"
      "Compiles the model's whole training step (forward, loss, backward, optimizer update) and its\n"
      "evaluation step into one plan file; run it with `dlrun PLAN`. See docs/model-format.md.\n");
  if (!compileCmd && !memCmd) {
    errs() << "dlc: error: no command given; try `dlc compile MODEL.yaml`, `dlc mem MODEL.yaml` "
              "or `dlc --help`\n";
    return 1;
  }
  if (batch < 0) {
    errs() << "dlc: error: --batch must be positive, got " << batch << "\n";
    return 1;
  }
  if (seqLen < 0 || seqLen > dlc::kMaxSeqLen) {
    errs() << "dlc: error: --seq-len must be in [1, " << dlc::kMaxSeqLen << "], got " << seqLen
           << "\n";
    return 1;
  }
  if (memoryModel != "plan" && memoryModel != "heuristic") {
    errs() << "dlc: error: --memory-model must be plan or heuristic, got '" << memoryModel
           << "'\n";
    return 1;
  }
  if (!loss.empty() && loss != "softmax_cross_entropy" && loss != "mse") {
    errs() << "dlc: error: --loss must be softmax_cross_entropy or mse, got '" << loss << "'\n";
    return 1;
  }
  if (!loss.empty() && !StringRef(input).ends_with(".onnx")) {
    errs() << "dlc: error: --loss is for ONNX models; a YAML model names its loss in the file\n";
    return 1;
  }
  dlc::ModelLimits limits{maxSteps, maxOps, maxTensorBytes, maxPlanBytes, maxModelBytes};
  // An ONNX file holds its weights and parses in linear memory: its default bound is
  // protobuf's own (2 GiB), not the YAML parser's.
  if (maxModelBytes.getNumOccurrences() == 0 && StringRef(input).ends_with(".onnx"))
    limits.maxModelBytes = (int64_t(1) << 31) - 1;
  if (limits.maxSteps < 1 || limits.maxOps < 1 || limits.maxTensorBytes < 1 ||
      limits.maxPlanBytes < 1 || limits.maxModelBytes < 1) {
    errs() << "dlc: error: --max-steps, --max-ops, --max-tensor-bytes, --max-plan-bytes and "
              "--max-model-bytes must be positive\n";
    return 1;
  }
  if (memCmd) {
    dlc::MemOptions m;
    m.limits = limits;
    m.input = input;
    m.batch = batch;
    m.gpus = gpu.empty() ? std::string("all") : std::string(gpu);
    m.replicas = replicas;
    if (microbatches.getNumOccurrences() && (microbatches < 1 || microbatches > 1024)) {
      errs() << "dlc: error: --microbatches must be in [1, 1024], got " << microbatches << "\n";
      return 1;
    }
    m.microbatches = microbatches.getNumOccurrences() ? int64_t(microbatches) : 0;
    m.recompute = recompute;
    m.hardware = hardware;
    m.memoryModel = memoryModel;
    m.maskElements = maskElements;
    m.json = json;
    m.svg = svg;
    m.fuse = fuse;
    m.precision = precision;
    m.seqLen = seqLen;
    m.loss = loss;
    return dlc::memReport(m, outs());
  }
  dlc::CompileOptions opts;
  opts.input = input;
  opts.output = output;
  opts.batch = batch;
  opts.emit = emit;
  opts.quiet = quiet;
  opts.fuse = fuse;
  opts.gpu = gpu;
  opts.hardware = hardware;
  opts.memoryModel = memoryModel;
  opts.maskElements = maskElements;
  opts.limits = limits;
  opts.loss = loss;
  if (devices < 1 || devices > 1024) {
    errs() << "dlc: error: --devices must be in [1, 1024], got " << devices << "\n";
    return 1;
  }
  if (placement != "auto" && placement != "data" && placement != "pipeline") {
    errs() << "dlc: error: --placement must be auto, data or pipeline, got '" << placement
           << "'\n";
    return 1;
  }
  if (microbatches < 1 || microbatches > 1024) {
    errs() << "dlc: error: --microbatches must be in [1, 1024], got " << microbatches << "\n";
    return 1;
  }
  if (stages.getNumOccurrences() &&
      (placement != "pipeline" || stages < 2 || stages > devices || devices % stages != 0)) {
    errs() << "dlc: error: --stages " << stages << " needs --placement pipeline and must be in "
           << "[2, --devices " << devices << "] and divide it\n";
    return 1;
  }
  opts.devices = devices;
  opts.stages = stages.getNumOccurrences() ? int64_t(stages) : 0;
  opts.placement = placement;
  opts.microbatches = microbatches;
  opts.recompute = recompute;
  if (target != "cpu" && target != "cuda") {
    errs() << "dlc: error: --target must be cpu or cuda, got '" << target << "'\n";
    return 1;
  }
  opts.target = target;
  opts.precision = precision;
  opts.arch = arch;
  return dlc::compile(opts, outs());
}
