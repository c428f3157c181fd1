//===- GuardedLoad.h - the properties every file reader's fuzz target checks -*- C++ -*-===//
//
// The checkpoint readers (dlc's own format, safetensors) load a file into a plan's arena. Their
// targets share what is checked around the call: the file is written to a fresh temporary
// directory and removed after, the arena is followed by guard bytes that must stay intact, and
// a refusal is one line that names the file.
//
#pragma once

#include "test/fuzz/FuzzTarget.h"

#include <unistd.h>

#include <fstream>
#include <functional>

namespace dlc::fuzz {

constexpr uint8_t kGuard = 0xa5;
constexpr size_t kGuardBytes = 64;

/// Runs `load(path, arena, error)` on `content` saved as a file named `name`, with `arena`
/// (`arenaBytes` long, then kGuardBytes of kGuard; filled with kGuard first) as the target.
/// Returns what `load` returned; `error` is its message.
inline bool guardedLoad(const Bytes &content, const char *name, size_t arenaBytes,
                        const std::function<bool(const std::string &, uint8_t *, std::string &)> &load,
                        std::vector<uint8_t> &arena, std::string &error) {
  char tmpl[] = "/tmp/dlc-fuzz-load-XXXXXX";
  require(::mkdtemp(tmpl) != nullptr, "cannot make a temporary directory");
  const std::string path = std::string(tmpl) + "/" + name;
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char *>(content.data()), std::streamsize(content.size()));
  }
  arena.assign(arenaBytes + kGuardBytes, kGuard);
  bool ok = load(path, arena.data(), error);
  ::unlink(path.c_str());
  ::rmdir(tmpl);
  for (size_t i = arenaBytes; i < arena.size(); ++i)
    require(arena[i] == kGuard, "the reader wrote past the parameters");
  if (!ok) {
    require(!error.empty() && error.find('\n') == std::string::npos, "an empty or multi-line error: " + error);
    require(error.find(path) != std::string::npos, "an error that does not name the file: " + error);
  }
  return ok;
}

/// `mode` followed by the bytes of a file that `save(path, error)` writes (named `name`, in a
/// fresh temporary directory removed after): seeds made by the writers themselves.
inline Bytes savedFile(uint8_t mode, const char *name,
                       const std::function<bool(const std::string &, std::string &)> &save) {
  char tmpl[] = "/tmp/dlc-fuzz-seed-XXXXXX";
  require(::mkdtemp(tmpl) != nullptr, "cannot make a temporary directory");
  std::string path = std::string(tmpl) + "/" + name, error;
  require(save(path, error), std::string("saving a seed: ") + error);
  std::ifstream f(path, std::ios::binary);
  Bytes b{mode};
  b.insert(b.end(), std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  ::unlink(path.c_str());
  ::rmdir(tmpl);
  return b;
}

} // namespace dlc::fuzz
