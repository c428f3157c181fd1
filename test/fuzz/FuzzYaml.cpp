//===- FuzzYaml.cpp - fuzz target: a model file through the whole of dlc compile -*- C++ -*-===//
//
// The input is a model file. It goes through everything `dlc compile` does (import, shape
// inference, autodiff, fusion, lowering, memory planning, writing the plan), and the outcome
// must be one of two: exit 0 with a plan written, or exit 1 with exactly one
// `model.yaml:LINE:COL: error: ...` line on stderr and no plan (nor a temporary) left behind.
// Anything else (a crash, an abort, a hang, a second error line, an error without a location)
// aborts, which both drivers report with the input as the reproducer.
//
#include "test/fuzz/CompileProperty.h"

#include <cctype>

const char *const dlc::fuzz::kTargetName = "yaml";

// Seeds are files: every shipped model and every importer test (fuzz-yaml models/ test/Import/).
std::vector<dlc::fuzz::Bytes> dlc::fuzz::builtinSeeds() { return {}; }

std::vector<std::string> dlc::fuzz::dictionary() {
  return {"name: ",   "inputs:",  "layers:",   "loss:",     "training:", "data:",
          "shape: ",  "classes: ", "op: ",     "input: ",   "inputs: ",  "units: ",
          "filters: ", "kernel: ", "stride: ", "padding: ", "bias: ",    "init: ",
          "return: ", "eps: ",    "momentum: ", "batch: ",  "epochs: ",  "lr: ",
          "conv2d",   "maxpool2d", "avgpool2d", "global_avgpool", "relu", "linear",
          "flatten",  "add",      "batch_norm", "lstm",     "lrn",       "softmax_cross_entropy",
          "[",        "]",        "{",         "}",         ", ",        "\n  - ",
          "\n",       "  ",       "&a ",       "*a",        "<<: ",      "!!str ",
          "~",        "null",     "true",      "'",         "\"",        "#",
          "mnist",    "cifar10",  "synthetic", "crop: ",    "flip: ",    "standardize: "};
}

namespace {

/// Whether `line` is `MODEL:LINE:COL: error: MESSAGE` (by hand: std::regex recurses per
/// character and overflows the stack on a long line).
bool isModelError(const std::string &line, const std::string &model) {
  if (line.rfind(model + ":", 0) != 0)
    return false;
  size_t i = model.size() + 1;
  for (int field = 0; field < 2; ++field) {
    size_t digits = 0;
    while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])))
      ++i, ++digits;
    if (digits == 0 || i >= line.size() || line[i] != ':')
      return false;
    ++i;
  }
  return line.compare(i, 8, " error: ") == 0 && line.size() > i + 8;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return dlc::fuzz::checkCompile(data, size, "yaml", isModelError);
}
