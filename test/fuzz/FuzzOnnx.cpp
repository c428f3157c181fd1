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
#include "test/fuzz/FuzzTarget.h"

#include "compiler/Driver/Compile.h"

#include "llvm/Support/raw_ostream.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

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

std::string slurp(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::string> listDir(const std::string &dir) {
  std::vector<std::string> names;
  if (DIR *d = ::opendir(dir.c_str())) {
    while (dirent *e = ::readdir(d))
      if (e->d_name[0] != '.')
        names.push_back(e->d_name);
    ::closedir(d);
  }
  return names;
}

/// Whether `line` is `MODEL: error: MESSAGE` or `MODEL:0:0: error: MESSAGE`.
bool isModelError(const std::string &line, const std::string &model) {
  return line.rfind(model + ": error: ", 0) == 0 || line.rfind(model + ":0:0: error: ", 0) == 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using dlc::fuzz::require;
  char tmpl[] = "/tmp/dlc-fuzz-onnx-XXXXXX";
  require(::mkdtemp(tmpl) != nullptr, "cannot make a temporary directory");
  const std::string dir = tmpl, model = dir + "/model.onnx", plan = dir + "/model.plan",
                    err = dir + "/stderr";
  {
    std::ofstream f(model, std::ios::binary);
    f.write(reinterpret_cast<const char *>(data), std::streamsize(size));
  }

  // stderr to a file for the length of one compile: the diagnostics are the property.
  llvm::errs().flush();
  std::fflush(stderr);
  int saved = ::dup(2);
  int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::dup2(fd, 2);
  ::close(fd);
  dlc::CompileOptions opts;
  opts.input = model;
  opts.output = plan;
  opts.quiet = true;
  std::string out;
  llvm::raw_string_ostream os(out);
  int rc = dlc::compile(opts, os);
  llvm::errs().flush();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);

  std::string diagnostics = slurp(err);
  std::vector<std::string> left = listDir(dir);
  bool planWritten = ::access(plan.c_str(), F_OK) == 0;
  for (const std::string &f : left)
    std::remove((dir + "/" + f).c_str());
  ::rmdir(dir.c_str());

  if (rc == 0) {
    require(planWritten, "exit 0 but no plan written");
    require(diagnostics.find("error:") == std::string::npos,
            "exit 0 with an error message: " + diagnostics);
    return 0;
  }
  require(rc == 1, "exit code " + std::to_string(rc));
  require(left.size() == 2, "a failed compile left files behind (" +
                                std::to_string(left.size() - 2) + " besides the model)");
  // Exactly one error line, at a location in the model file; warnings may precede it.
  int errors = 0;
  std::istringstream lines(diagnostics);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("error:") == std::string::npos) {
      require(line.find(": warning: ") != std::string::npos,
              "a diagnostic of more than one line:\n" + diagnostics);
      continue;
    }
    ++errors;
    require(isModelError(line, model), "error without a model-file location: " + line);
  }
  require(errors == 1, std::to_string(errors) + " error lines (expected 1):\n" + diagnostics);
  return 0;
}
