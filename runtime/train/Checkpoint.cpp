//===- Checkpoint.cpp - save and restore a plan's persistent state -*- C++ -*-===//
//
// Layout: "DLCCKPT1", u32 count, then per tensor: u32 name length, name, u64 float count,
// floats; then a u64 FNV-1a checksum of everything before it. Saves are atomic: temp file,
// fsync, rename; temp files of killed saves are removed by the next save of the same path.
// A path ending in .safetensors is written and read as safetensors instead (Safetensors.h).
//
#include "runtime/train/Checkpoint.h"

#include "runtime/plan/AtomicFile.h"
#include "runtime/train/Safetensors.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

using namespace dlc;

namespace {
constexpr char kMagic[8] = {'D', 'L', 'C', 'C', 'K', 'P', 'T', '1'};

uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}
bool isSafetensors(const std::string &path) {
  const std::string ext = ".safetensors";
  return path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
}
template <typename T> void put(std::vector<uint8_t> &out, T v) {
  const uint8_t *p = reinterpret_cast<const uint8_t *>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}
} // namespace

bool dlc::saveCheckpoint(const plan::Plan &plan, const uint8_t *arena, const std::string &path,
                         std::string &error) {
  if (isSafetensors(path))
    return saveSafetensors(plan, arena, path, error);
  std::vector<uint8_t> out(kMagic, kMagic + 8);
  put<uint32_t>(out, plan.params.size());
  for (const plan::Parameter &p : plan.params) {
    const plan::Buffer &b = plan.buffers[p.buffer];
    put<uint32_t>(out, p.name.size());
    out.insert(out.end(), p.name.begin(), p.name.end());
    put<uint64_t>(out, b.bytes / 4);
    out.insert(out.end(), arena + b.offset, arena + b.offset + b.bytes);
  }
  put<uint64_t>(out, fnv1a(out.data(), out.size()));
  return plan::writeFileAtomically(path, out, "checkpoint ", error);
}

bool dlc::loadCheckpoint(const plan::Plan &plan, uint8_t *arena, const std::string &path,
                         std::string &error) {
  if (isSafetensors(path))
    return loadSafetensors(plan, arena, path, error);
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = "cannot open checkpoint '" + path + "': " + std::strerror(errno);
    return false;
  }
  auto fail = [&](const std::string &why) {
    error = path + ": " + why;
    return false;
  };
  // The magic first: any other file (a data set given by mistake) is refused without reading it.
  std::vector<uint8_t> in(8);
  if (std::fread(in.data(), 1, 8, f) != 8 || std::memcmp(in.data(), kMagic, 8) != 0) {
    std::fclose(f);
    return fail("not a dlc checkpoint");
  }
  uint8_t chunk[65536];
  for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;)
    in.insert(in.end(), chunk, chunk + n);
  std::fclose(f);
  if (in.size() < 20)
    return fail("not a dlc checkpoint");
  uint64_t sum;
  std::memcpy(&sum, in.data() + in.size() - 8, 8);
  if (sum != fnv1a(in.data(), in.size() - 8))
    return fail("checkpoint checksum mismatch (file corrupt or truncated)");
  size_t pos = 8, end = in.size() - 8;
  auto read = [&](void *dst, size_t n) {
    if (pos + n > end)
      return false;
    std::memcpy(dst, in.data() + pos, n);
    pos += n;
    return true;
  };
  uint32_t count;
  if (!read(&count, 4))
    return fail("truncated checkpoint");
  std::map<std::string, std::pair<size_t, uint64_t>> tensors; // name -> (offset, floats)
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t len;
    uint64_t floats;
    if (!read(&len, 4) || pos + len > end)
      return fail("truncated checkpoint");
    std::string name(reinterpret_cast<const char *>(in.data() + pos), len);
    pos += len;
    if (!read(&floats, 8) || floats > (end - pos) / 4)
      return fail("truncated checkpoint");
    tensors[name] = {pos, floats};
    pos += floats * 4;
  }
  for (const plan::Parameter &p : plan.params) {
    const plan::Buffer &b = plan.buffers[p.buffer];
    auto it = tensors.find(p.name);
    if (it == tensors.end())
      return fail("checkpoint has no tensor '" + p.name + "' (was it saved from another model?)");
    if (it->second.second * 4 != b.bytes)
      return fail("tensor '" + p.name + "' has " + std::to_string(it->second.second) +
                  " values but the plan expects " + std::to_string(b.bytes / 4));
    std::memcpy(arena + b.offset, in.data() + it->second.first, b.bytes);
  }
  return true;
}
