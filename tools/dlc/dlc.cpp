//===- dlc.cpp - the dlc compiler driver --------------------------*- C++ -*-===//
//
// Thin: parses flags and calls dlc::compile.
//
#include "compiler/Driver/Compile.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"

using namespace llvm;

static cl::OptionCategory dlcCategory("dlc options");
static cl::SubCommand compileCmd("compile",
                                 "Compile a YAML model into a plan file that dlrun executes");
static cl::opt<std::string> input(cl::Positional, cl::desc("<model.yaml>"), cl::Required,
                                  cl::sub(compileCmd), cl::cat(dlcCategory));
static cl::opt<std::string> output("o", cl::desc("Plan file to write (default: <model>.plan)"),
                                   cl::value_desc("plan"), cl::sub(compileCmd), cl::cat(dlcCategory));
static cl::opt<int64_t> batch("batch", cl::desc("Batch size (default: the model's training.batch)"),
                              cl::init(0), cl::sub(compileCmd), cl::cat(dlcCategory));
static cl::opt<bool> fuse("fuse", cl::desc("Fuse bias and relu into conv/matmul (--fuse=false: off)"),
                          cl::init(false), cl::sub(compileCmd), cl::cat(dlcCategory));
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
               clEnumValN(dlc::EmitStage::Plan, "plan", "write the plan file (default)")));

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(dlcCategory);

  cl::ParseCommandLineOptions(
      argc, argv,
      "dlc: declarative deep-learning compiler\n\n"
      "  dlc compile MODEL.yaml [-o PLAN] [--batch N] [--emit=STAGE]\n\n"
      "Compiles the model's whole training step (forward, loss, backward, SGD update) and its\n"
      "evaluation step into one plan file; run it with `dlrun PLAN`. See docs/model-format.md.\n");
  if (!compileCmd) {
    errs() << "dlc: error: no command given; try `dlc compile MODEL.yaml` or `dlc --help`\n";
    return 1;
  }
  if (batch < 0) {
    errs() << "dlc: error: --batch must be positive, got " << batch << "\n";
    return 1;
  }
  dlc::CompileOptions opts;
  opts.input = input;
  opts.output = output;
  opts.batch = batch;
  opts.emit = emit;
  opts.quiet = quiet;
  opts.fuse = fuse;
  return dlc::compile(opts, outs());
}
