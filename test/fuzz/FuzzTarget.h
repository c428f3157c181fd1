//===- FuzzTarget.h - what one fuzz target file provides ---------*- C++ -*-===//
//
// A target is one file that defines libFuzzer's entry point plus its seeds and dictionary. The
// same file links either with libFuzzer (-fsanitize=fuzzer, clang) or with BoundedFuzz.cpp, the
// deterministic bounded driver that ctest runs with any compiler. The entry point must abort()
// when a property fails (a crash, to both drivers); returning means the input was handled.
//
#pragma once

#include "test/fuzz/Mutator.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace dlc::fuzz {
/// The target's name, for messages and reproducer file names.
extern const char *const kTargetName;
/// Built-in seeds (inputs of every format the target reads), besides any seed files given.
std::vector<Bytes> builtinSeeds();
/// Tokens the mutator may insert.
std::vector<std::string> dictionary();

/// Aborts with `what` on stderr when `ok` is false: a property violation is a crash.
inline void require(bool ok, const std::string &what) {
  if (ok)
    return;
  std::fprintf(stderr, "fuzz property failed: %s\n", what.c_str());
  std::abort();
}
} // namespace dlc::fuzz
