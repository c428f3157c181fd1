//===- Checkpoint.cpp - save and restore a plan's persistent state -*- C++ -*-===//
//
// Layout: "DLCCKPT1", u32 count, then per tensor: u32 name length, name, u64 float count,
// floats; then a u64 FNV-1a checksum of everything before it. Saves are atomic: temp file,
// fsync, rename; temp files of killed saves are removed by the next save of the same path.
//
#include "runtime/train/Checkpoint.h"

#include <cerrno>
#include <csignal>
#include <dirent.h>
#include <fcntl.h>
#include <cstdio>
#include <cstring>
#include <map>
#include <unistd.h>
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
/// "PATH.tmp.": a save writes PATH.tmp.PID and renames it to PATH.
std::string tempPrefix(const std::string &path) { return path + ".tmp."; }

/// Deletes PATH.tmp.PID files left by saves that were killed: those whose process is gone.
/// A live process's file may be a save in progress (another dlrun writing the same path).
void removeStaleTemps(const std::string &path) {
  std::string dir = ".", prefix = tempPrefix(path);
  size_t slash = prefix.rfind('/');
  if (slash != std::string::npos) {
    dir = slash == 0 ? "/" : prefix.substr(0, slash);
    prefix = prefix.substr(slash + 1);
  }
  DIR *d = opendir(dir.c_str());
  if (!d)
    return;
  while (const dirent *e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
        name.find_first_not_of("0123456789", prefix.size()) != std::string::npos ||
        name.size() - prefix.size() > 9)
      continue;
    pid_t pid = pid_t(std::stol(name.substr(prefix.size())));
    if (pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH)
      unlink((dir + "/" + name).c_str());
  }
  closedir(d);
}

template <typename T> void put(std::vector<uint8_t> &out, T v) {
  const uint8_t *p = reinterpret_cast<const uint8_t *>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}
} // namespace

bool dlc::saveCheckpoint(const plan::Plan &plan, const uint8_t *arena, const std::string &path,
                         std::string &error) {
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
  removeStaleTemps(path);
  // Readers must find the old checkpoint or the complete new one, never a prefix, even after
  // a kill or a crash: write aside, fsync, rename (as writePlan does).
  std::string tmp = tempPrefix(path) + std::to_string(getpid());
  auto fail = [&](int savedErrno, int fd) {
    if (fd >= 0)
      close(fd);
    unlink(tmp.c_str());
    error = "cannot write checkpoint '" + path + "': " + std::strerror(savedErrno);
    return false;
  };
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot write checkpoint '" + path + "': " + std::strerror(errno);
    return false;
  }
  for (size_t done = 0; done < out.size();) {
    ssize_t n = write(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail(errno, fd);
    done += size_t(n);
  }
  // Without fsync a crash soon after the rename can leave an empty or partial file under
  // `path` on some filesystems: the very outcome the rename is there to prevent.
  if (fsync(fd) != 0)
    return fail(errno, fd);
  if (close(fd) != 0)
    return fail(errno, -1);
  if (rename(tmp.c_str(), path.c_str()) != 0)
    return fail(errno, -1);
  return true;
}

bool dlc::loadCheckpoint(const plan::Plan &plan, uint8_t *arena, const std::string &path,
                         std::string &error) {
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
