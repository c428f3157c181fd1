//===- FuzzCheckpoint.cpp - fuzz target: the checkpoint reader ---*- C++ -*-===//
//
// Input: one mode byte, then a checkpoint file's content, loaded into a small fixed plan (three
// parameters). Bit 0 of the mode recomputes the trailing checksum over the mutated content, so
// that mutations get past it to the parser (counts, name lengths, value counts); without it the
// checksum must catch them. Seeds: checkpoints saved by saveCheckpoint for this plan, for another
// model (other names, other sizes), truncated ones and ones with huge counts.
// Properties: a refused file gives one line naming the file; the reader never writes outside
// the parameters' bytes of the arena (guard bytes after them stay intact).
//
#include "test/fuzz/GuardedLoad.h"

#include "runtime/train/Checkpoint.h"

#include <unistd.h>

#include <cstring>
#include <fstream>

using dlc::fuzz::Bytes;
using dlc::fuzz::require;

const char *const dlc::fuzz::kTargetName = "checkpoint";

namespace {


/// A plan with `params` (name, float count) laid out one after another from offset 0.
dlc::plan::Plan planWith(const std::vector<std::pair<std::string, uint64_t>> &params) {
  dlc::plan::Plan p;
  uint64_t offset = 0;
  for (const auto &[name, floats] : params) {
    dlc::plan::Buffer b;
    b.name = name;
    b.bytes = floats * 4;
    b.offset = offset;
    offset += b.bytes;
    dlc::plan::Parameter param;
    param.name = name;
    param.buffer = int32_t(p.buffers.size());
    p.buffers.push_back(b);
    p.params.push_back(param);
  }
  p.persistentBytes = p.arenaBytes = offset;
  return p;
}

const dlc::plan::Plan &thePlan() {
  static const dlc::plan::Plan p =
      planWith({{"conv1.weight", 54}, {"conv1.bias", 6}, {"fc.weight", 60}});
  return p;
}

uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

/// A checkpoint of `plan` written by saveCheckpoint itself, prefixed with `mode`.
Bytes saved(const dlc::plan::Plan &plan, uint8_t mode) {
  std::vector<uint8_t> arena(plan.arenaBytes);
  for (size_t i = 0; i < arena.size(); ++i)
    arena[i] = uint8_t(i * 13);
  return dlc::fuzz::savedFile(mode, "seed.ckpt", [&](const std::string &path, std::string &error) {
    return dlc::saveCheckpoint(plan, arena.data(), path, error);
  });
}

} // namespace

std::vector<Bytes> dlc::fuzz::builtinSeeds() {
  std::vector<Bytes> seeds;
  for (uint8_t mode : {0, 1}) {
    seeds.push_back(saved(thePlan(), mode));
    // Another model: a missing name, a size that differs, an extra tensor.
    seeds.push_back(saved(planWith({{"conv1.weight", 54}, {"conv1.bias", 7}, {"x", 3}}), mode));
    Bytes cut = saved(thePlan(), mode);
    cut.resize(cut.size() / 2);
    seeds.push_back(cut);
  }
  // Huge counts, with the checksum recomputed: tensor count, a name length, a value count.
  Bytes huge = saved(thePlan(), 1);
  std::memset(huge.data() + 1 + 8, 0xff, 4);
  seeds.push_back(huge);
  huge = saved(thePlan(), 1);
  std::memset(huge.data() + 1 + 12, 0xff, 4);
  seeds.push_back(huge);
  huge = saved(thePlan(), 1);
  std::memset(huge.data() + 1 + 16 + 12, 0xff, 8);
  seeds.push_back(huge);
  return seeds;
}

std::vector<std::string> dlc::fuzz::dictionary() {
  return {"DLCCKPT1", "conv1.weight", "conv1.bias", "fc.weight", std::string("\xff\xff\xff\xff", 4),
          std::string("\x36\x00\x00\x00\x00\x00\x00\x00", 8)};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  Bytes content(data + 1, data + size);
  if ((data[0] & 1) && content.size() >= 8) {
    uint64_t sum = fnv1a(content.data(), content.size() - 8);
    std::memcpy(content.data() + content.size() - 8, &sum, 8);
  }
  const dlc::plan::Plan &plan = thePlan();
  std::vector<uint8_t> arena;
  std::string error;
  dlc::fuzz::guardedLoad(content, "fuzzed.ckpt", plan.arenaBytes,
                         [&](const std::string &path, uint8_t *to, std::string &e) {
                           return dlc::loadCheckpoint(plan, to, path, e);
                         },
                         arena, error);
  return 0;
}
