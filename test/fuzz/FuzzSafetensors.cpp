//===- FuzzSafetensors.cpp - fuzz target: the .safetensors checkpoint reader -*- C++ -*-===//
//
// Input: one mode byte, then a .safetensors file's content, loaded into a small fixed plan
// (a parameter, its optimizer state, a model-state buffer). Bit 0 of the mode rewrites the
// 8-byte header length to end at the last '}' of the content, so that mutations of the JSON
// (which change its length) still reach the parser and the offset checks instead of stopping
// at "header length beyond the file". Seeds: files saved by saveSafetensors for this plan and
// for another model (other names and shapes), a truncated one, and hand-made ones with a
// metadata block, an extra I64 tensor and padding.
// Properties: a refused file gives one line naming the file and leaves the arena untouched;
// the reader never writes outside the parameters' bytes (guard bytes after them stay intact).
//
#include "test/fuzz/GuardedLoad.h"

#include "runtime/train/Safetensors.h"

#include <unistd.h>

#include <cstring>
#include <fstream>

using dlc::fuzz::Bytes;
using dlc::fuzz::require;

const char *const dlc::fuzz::kTargetName = "safetensors";

namespace {


struct Param {
  std::string name;
  dlc::plan::BufferKind kind;
  std::vector<int64_t> shape;
};

/// A plan with `params` laid out one after another from offset 0.
dlc::plan::Plan planWith(const std::vector<Param> &params) {
  dlc::plan::Plan p;
  uint64_t offset = 0;
  for (const Param &q : params) {
    uint64_t floats = 1;
    for (int64_t d : q.shape)
      floats *= uint64_t(d);
    dlc::plan::Buffer b;
    b.name = q.name;
    b.kind = q.kind;
    b.bytes = floats * 4;
    b.offset = offset;
    offset += b.bytes;
    dlc::plan::Parameter param;
    param.name = q.name;
    param.shape = q.shape;
    param.buffer = int32_t(p.buffers.size());
    p.buffers.push_back(b);
    p.params.push_back(param);
  }
  p.persistentBytes = p.arenaBytes = offset;
  return p;
}

const dlc::plan::Plan &thePlan() {
  using K = dlc::plan::BufferKind;
  static const dlc::plan::Plan p = planWith({{"conv1.weight", K::Parameter, {6, 1, 3, 3}},
                                             {"conv1.weight.momentum", K::OptimizerState, {6, 1, 3, 3}},
                                             {"bn.running_var", K::ModelState, {6}}});
  return p;
}

/// Content of a file saved by saveSafetensors for `plan`, prefixed with `mode`.
Bytes saved(const dlc::plan::Plan &plan, uint8_t mode) {
  std::vector<uint8_t> arena(plan.arenaBytes);
  for (size_t i = 0; i < arena.size(); ++i)
    arena[i] = uint8_t(i * 13);
  return dlc::fuzz::savedFile(mode, "seed.safetensors", [&](const std::string &path, std::string &error) {
    return dlc::saveSafetensors(plan, arena.data(), path, error);
  });
}

/// A hand-made file: header (its length in front), then `data` bytes.
Bytes handMade(uint8_t mode, const std::string &header, size_t data) {
  Bytes b{mode};
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    b.push_back(uint8_t(n >> (8 * i)));
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), data, 0x3f);
  return b;
}

} // namespace

std::vector<Bytes> dlc::fuzz::builtinSeeds() {
  using K = dlc::plan::BufferKind;
  std::vector<Bytes> seeds;
  for (uint8_t mode : {0, 1}) {
    seeds.push_back(saved(thePlan(), mode));
    // Another model: another shape, a missing name, an extra tensor.
    seeds.push_back(saved(planWith({{"conv1.weight", K::Parameter, {6, 1, 3, 2}},
                                    {"x", K::OptimizerState, {3}},
                                    {"bn.running_var", K::ModelState, {6}}}),
                          mode));
    Bytes cut = saved(thePlan(), mode);
    cut.resize(cut.size() / 2);
    seeds.push_back(cut);
    seeds.push_back(handMade(
        mode,
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[456,464]},"
        "\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[6,1,3,3],\"data_offsets\":[0,216]},"
        "\"optim.conv1.weight.momentum\":{\"dtype\":\"F32\",\"shape\":[6,1,3,3],\"data_offsets\":[216,432]},"
        "\"bn.running_var\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[432,456]}}    ",
        464));
  }
  return seeds;
}

std::vector<std::string> dlc::fuzz::dictionary() {
  return {"\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"F64\"",
          "\"I64\"", "\"conv1.weight\"", "\"optim.conv1.weight.momentum\"", "\"bn.running_var\"",
          "[0,216]", "[6,1,3,3]", "{", "}", "[", "]", ",", ":", "\\u00e9", "\\n", "9007199254740993",
          std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8)};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  Bytes content(data + 1, data + size);
  if ((data[0] & 1) && content.size() >= 8) {
    size_t close = content.size();
    while (close > 8 && content[close - 1] != '}')
      --close;
    const uint64_t n = close - 8;
    for (int i = 0; i < 8; ++i)
      content[i] = uint8_t(n >> (8 * i));
  }
  const dlc::plan::Plan &plan = thePlan();
  std::vector<uint8_t> arena;
  std::string error;
  bool ok = dlc::fuzz::guardedLoad(content, "fuzzed.safetensors", plan.arenaBytes,
                                   [&](const std::string &path, uint8_t *to, std::string &e) {
                                     // The data format's reader (every tensor, no plan)
                                     // shares the header checks: it must accept whatever
                                     // the checkpoint loader accepts.
                                     std::map<std::string, dlc::SafetensorsTensor> all;
                                     std::string readError;
                                     const bool read = dlc::readSafetensors(path, all, readError);
                                     const bool loaded = dlc::loadSafetensors(plan, to, path, e);
                                     require(read || !loaded, "readSafetensors refused a "
                                             "checkpoint loadSafetensors took: " + readError);
                                     return loaded;
                                   },
                                   arena, error);
  if (!ok)
    for (size_t i = 0; i < plan.arenaBytes; ++i)
      require(arena[i] == dlc::fuzz::kGuard, "a refused file changed the arena: " + error);
  return 0;
}
