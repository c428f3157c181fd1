//===- CompileProperty.h - the property fuzz-yaml and fuzz-onnx check -*- C++ -*-===//
//
// A model file through the whole of `dlc compile`: the outcome must be exit 0 with a plan
// written and no error message, or exit 1 with exactly one error line at a location in the
// model file (what counts as one is the target's `isModelError`; warnings may precede it)
// and nothing left behind but the model. Anything else aborts through fuzz::require.
//
#pragma once

#include "test/fuzz/FuzzTarget.h"

#include "compiler/Driver/Compile.h"

#include "llvm/Support/raw_ostream.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace dlc::fuzz {

inline std::string slurp(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

inline std::vector<std::string> listDir(const std::string &dir) {
  std::vector<std::string> names;
  if (DIR *d = ::opendir(dir.c_str())) {
    while (dirent *e = ::readdir(d))
      if (e->d_name[0] != '.')
        names.push_back(e->d_name);
    ::closedir(d);
  }
  return names;
}

/// Writes the input as model.EXTENSION in a fresh temporary directory, compiles it and
/// checks the outcome. Returns 0 (libFuzzer's convention).
inline int checkCompile(const uint8_t *data, size_t size, const std::string &extension,
                        bool (*isModelError)(const std::string &line, const std::string &model)) {
  std::string name = "/tmp/dlc-fuzz-" + extension + "-XXXXXX";
  std::vector<char> tmpl(name.begin(), name.end());
  tmpl.push_back(0);
  require(::mkdtemp(tmpl.data()) != nullptr, "cannot make a temporary directory");
  const std::string dir = tmpl.data(), model = dir + "/model." + extension, plan = dir + "/model.plan",
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

} // namespace dlc::fuzz
