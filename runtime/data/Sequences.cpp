//===- Sequences.cpp - token sequences for language models ---------*- C++ -*-===//
#include "runtime/data/Sequences.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace dlc::data {
namespace {

/// The whole file, refused above kMaxSequenceFileBytes before anything is read.
bool readWhole(const std::string &path, std::vector<uint8_t> &bytes, std::string &error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    error = path + ": cannot open: " + std::strerror(S_ISDIR(st.st_mode) ? EISDIR : errno);
    ::close(fd);
    return false;
  }
  if (uint64_t(st.st_size) > kMaxSequenceFileBytes) {
    error = path + ": " + std::to_string(st.st_size) + " bytes, more than the " +
            std::to_string(kMaxSequenceFileBytes) + " a sequence file may have";
    ::close(fd);
    return false;
  }
  bytes.clear();
  uint8_t chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      error = path + ": read error: " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0)
      break;
    if (bytes.size() + size_t(n) > kMaxSequenceFileBytes) { // grew while being read
      error = path + ": more than " + std::to_string(kMaxSequenceFileBytes) + " bytes";
      ::close(fd);
      return false;
    }
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  ::close(fd);
  return true;
}

} // namespace

bool loadSequences(const std::string &path, bool uint16, int64_t seqLen, float testFraction,
                   bool train, int64_t vocab, Dataset &d, std::string &error, int64_t limit) {
  if (seqLen < 1 || vocab < 1 || !(testFraction >= 0.f && testFraction < 1.f)) {
    error = path + ": sequence windows of " + std::to_string(seqLen) + " tokens, vocabulary " +
            std::to_string(vocab) + ", test fraction " + std::to_string(testFraction) +
            " (expected positive, positive, in [0, 1))";
    return false;
  }
  std::vector<uint8_t> bytes;
  if (!readWhole(path, bytes, error))
    return false;
  if (uint16 && bytes.size() % 2 != 0) {
    error = path + ": " + std::to_string(bytes.size()) +
            " bytes, not a whole number of uint16 tokens";
    return false;
  }
  const int64_t n = int64_t(uint16 ? bytes.size() / 2 : bytes.size());
  std::vector<uint16_t> tokens(size_t(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t t = uint16 ? uint16_t(bytes[2 * i] | bytes[2 * i + 1] << 8) : bytes[i];
    // Checked over the whole file, as the image loaders check every label: a token the model
    // cannot embed or score would turn into a NaN loss much later.
    if (t >= vocab) {
      error = path + ": token " + std::to_string(t) + " at position " + std::to_string(i) +
              " is not below the model's vocabulary of " + std::to_string(vocab);
      return false;
    }
    tokens[i] = t;
  }
  const int64_t testTokens = int64_t(std::floor(double(n) * testFraction));
  const int64_t first = train ? 0 : n - testTokens, length = train ? n - testTokens : testTokens;
  if (length < seqLen + 1) {
    char share[32];
    std::snprintf(share, sizeof share, "%g%%", 100.0 * testFraction);
    error = path + ": the " + (train ? "training part (the first " : "test part (the last ") +
            (train ? std::to_string(n - testTokens) + " tokens" : std::string(share) +
                                                                     " of the file") +
            ") has " + std::to_string(length) + " tokens, fewer than seq_len + 1 = " +
            std::to_string(seqLen + 1);
    return false;
  }
  Dataset out;
  out.seqLen = seqLen;
  out.count = (length - 1) / seqLen;
  if (limit > 0 && out.count > limit)
    out.count = limit;
  out.tokens.assign(tokens.begin() + first, tokens.begin() + first + out.count * seqLen + 1);
  d = std::move(out);
  return true;
}

void sequenceWindow(const Dataset &d, int64_t e, bool next, int32_t *out) {
  const uint16_t *src = d.tokens.data() + e * d.seqLen + (next ? 1 : 0);
  for (int64_t i = 0; i < d.seqLen; ++i)
    out[i] = src[i];
}

} // namespace dlc::data
