//===- FuzzOnnx.cpp - fuzz target: an ONNX file through the whole of dlc compile -*- C++ -*-===//
//
// The input is an ONNX model (a serialized ModelProto). It goes through everything `dlc
// compile` does (protobuf parsing, the ONNX importer's folding and op handlers, the passes,
// lowering, planning, writing the plan), and the outcome must be one of two: exit 0 with a
// plan written, or exit 1 with exactly one error line naming the model file
// (`model.onnx: error: ...` or, from an op's shape rule, `model.onnx:0:0: error: ...`) and no
// plan left behind. Anything else (a crash, an abort, a hang, a second error line) aborts,
// which both drivers report with the input as the reproducer.
//
#include "test/fuzz/CompileProperty.h"

const char *const dlc::fuzz::kTargetName = "onnx";

// Seeds are files: the importer tests' ONNX models and some backend node tests.
std::vector<dlc::fuzz::Bytes> dlc::fuzz::builtinSeeds() { return {}; }

std::vector<std::string> dlc::fuzz::dictionary() {
  // Op types and attribute names as protobuf strings carry them (length-prefixed).
  return {"Conv",    "Relu",     "Add",       "MatMul",  "Gemm",      "Reshape", "Transpose",
          "Softmax", "Concat",   "Slice",     "Gather",  "Constant",  "Shape",   "Unsqueeze",
          "Squeeze", "Where",    "ReduceMean", "BatchNormalization", "LayerNormalization",
          "MaxPool", "Split",    "Flatten",   "Expand",  "Clip",      "axis",    "axes",
          "perm",    "pads",     "strides",   "kernel_shape", "group", "dilations", "value",
          "\x08\x01", "\x08\x07", "\x10\x01", "\x18\x01", "\x22\x00", "\x3a\x00"};
}

namespace {

/// Whether `line` is `MODEL: error: MESSAGE` or `MODEL:0:0: error: MESSAGE`.
bool isModelError(const std::string &line, const std::string &model) {
  return line.rfind(model + ": error: ", 0) == 0 || line.rfind(model + ":0:0: error: ", 0) == 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return dlc::fuzz::checkCompile(data, size, "onnx", isModelError);
}
