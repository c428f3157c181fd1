//===- FuzzData.cpp - fuzz target: the data loaders (MNIST idx, CIFAR-10, gzip) -*- C++ -*-===//
//
// Input: one mode byte, then a file's content. Mode bits 0-1 pick what the content is read as:
// 0 MNIST images (with valid labels for 3 examples beside it), 1 MNIST labels (with valid
// images), 2 a CIFAR-10 batch, 3 a CIFAR-10 batch after a valid one; bit 2 gzips the content
// before writing it, so the mutations reach the formats through zlib too (a raw mutated gzip
// stream, mode bit clear, exercises zlib's error paths); bit 3 passes limit = 1. Bit 4 reads
// the content as sequence data instead (runtime/data/Sequences.h): bit 0 text or tokens, bit
// 1 the training or test part, bits 5-7 the window length - 1, vocabulary 200 for text and
// 300 for tokens (so some bytes and tokens are refused), test fraction 0.25.
// Properties: a refused file gives one line starting with its path and leaves the output
// untouched; an accepted one gives a consistent data set (sizes agree, labels 0..9, pixels in
// [0, 1]; windows inside the tokens, every token below the vocabulary).
//
#include "test/fuzz/FuzzTarget.h"

#include "runtime/data/Datasets.h"
#include "runtime/data/Sequences.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>

using dlc::fuzz::Bytes;
using dlc::fuzz::require;

const char *const dlc::fuzz::kTargetName = "data";

namespace {

// Fewer classes than the formats' 10 digits: the labels-versus-model check gets exercised too.
constexpr int kClasses = 9;

void putBigEndian32(Bytes &b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    b.push_back(uint8_t(v >> shift));
}

Bytes mnistImages() { // 3 images of 2x3
  Bytes b;
  putBigEndian32(b, 0x803);
  putBigEndian32(b, 3);
  putBigEndian32(b, 2);
  putBigEndian32(b, 3);
  for (int i = 0; i < 18; ++i)
    b.push_back(uint8_t(i * 14));
  return b;
}

Bytes mnistLabels() {
  Bytes b;
  putBigEndian32(b, 0x801);
  putBigEndian32(b, 3);
  b.insert(b.end(), {7, 0, 8});
  return b;
}

Bytes cifar(int records) {
  Bytes b;
  for (int r = 0; r < records; ++r) {
    b.push_back(uint8_t(r % kClasses));
    for (int i = 0; i < 3072; ++i)
      b.push_back(uint8_t(i * 7 + r));
  }
  return b;
}

Bytes gzip(const Bytes &in) {
  uLongf n = compressBound(uLong(in.size())) + 32;
  Bytes out(n);
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY); // 31: gzip wrapper
  z.next_in = const_cast<uint8_t *>(in.data());
  z.avail_in = uInt(in.size());
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void write(const std::string &path, const Bytes &b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char *>(b.data()), std::streamsize(b.size()));
}

Bytes withMode(uint8_t mode, const Bytes &content) {
  Bytes b(1 + content.size(), mode);
  std::copy(content.begin(), content.end(), b.begin() + 1);
  return b;
}

/// Bit 4 of the mode: the content as a text or token file.
int fuzzSequences(uint8_t mode, const Bytes &content) {
  char tmpl[] = "/tmp/dlc-fuzz-data-XXXXXX";
  require(::mkdtemp(tmpl) != nullptr, "cannot make a temporary directory");
  const std::string dir = tmpl, fuzzed = dir + "/fuzzed";
  write(fuzzed, content);
  const bool tokens = mode & 1, train = mode & 2;
  const int64_t seqLen = 1 + (mode >> 5), vocab = tokens ? 300 : 200;
  const int64_t limit = (mode & 8) ? 1 : 0;
  dlc::data::Dataset d;
  d.count = -7;
  std::string error;
  const bool ok =
      dlc::data::loadSequences(fuzzed, tokens, seqLen, 0.25f, train, vocab, d, error, limit);
  ::unlink(fuzzed.c_str());
  ::rmdir(dir.c_str());
  if (!ok) {
    require(d.count == -7 && d.tokens.empty(), "a refused file changed the output");
    require(error.find('\n') == std::string::npos, "a multi-line error: " + error);
    require(error.rfind(dir + "/", 0) == 0, "an error that does not start with the path: " + error);
    return 0;
  }
  require(d.count >= 1 && d.seqLen == seqLen, "bad window count or length");
  require(limit == 0 || d.count <= limit, "limit not applied");
  // The last window's targets end on the last token kept.
  require(d.tokens.size() == size_t(d.count * seqLen + 1), "tokens disagree with the windows");
  const int64_t n = int64_t(tokens ? content.size() / 2 : content.size());
  require(int64_t(d.tokens.size()) <= n, "more tokens than the file has");
  for (uint16_t t : d.tokens)
    require(t < vocab, "a token outside the vocabulary: " + std::to_string(t));
  std::vector<int32_t> window(static_cast<size_t>(seqLen)), next(static_cast<size_t>(seqLen));
  dlc::data::sequenceWindow(d, d.count - 1, false, window.data());
  dlc::data::sequenceWindow(d, d.count - 1, true, next.data());
  for (int64_t i = 0; i + 1 < seqLen; ++i)
    require(next[size_t(i)] == window[size_t(i + 1)], "targets are not the window shifted by one");
  return 0;
}

} // namespace

std::vector<Bytes> dlc::fuzz::builtinSeeds() {
  std::vector<Bytes> seeds;
  for (uint8_t gz : {0, 4}) {
    seeds.push_back(withMode(0 | gz, mnistImages()));
    seeds.push_back(withMode(1 | gz, mnistLabels()));
    seeds.push_back(withMode(2 | gz, cifar(2)));
    seeds.push_back(withMode(3 | gz | 8, cifar(1)));
  }
  // Sequence data: a text and a little-endian uint16 token file.
  const std::string text = "the quick brown fox jumps over the lazy dog\n";
  seeds.push_back(withMode(16 | 0x40, Bytes(text.begin(), text.end())));
  seeds.push_back(withMode(16 | 2 | 0x20, Bytes(text.begin(), text.end())));
  Bytes tokens;
  for (int t = 0; t < 40; ++t)
    tokens.insert(tokens.end(), {uint8_t(t * 7), uint8_t(t % 2)});
  seeds.push_back(withMode(16 | 1 | 0x60, tokens));
  // Already-gzipped content, written as is: mutations then corrupt the gzip stream itself.
  seeds.push_back(withMode(0, gzip(mnistImages())));
  seeds.push_back(withMode(1, gzip(mnistLabels())));
  seeds.push_back(withMode(2, gzip(cifar(1))));
  return seeds;
}

std::vector<std::string> dlc::fuzz::dictionary() {
  return {std::string("\x00\x00\x08\x03", 4), std::string("\x00\x00\x08\x01", 4),
          std::string("\x1f\x8b\x08\x00", 4), std::string("\xff\xff\xff\xff", 4),
          std::string("\x00\x01\x00\x00", 4)};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  const uint8_t mode = data[0];
  Bytes content(data + 1, data + size);
  if (mode & 16)
    return fuzzSequences(mode, content);
  if (mode & 4)
    content = gzip(content);
  const int64_t limit = (mode & 8) ? 1 : 0;

  char tmpl[] = "/tmp/dlc-fuzz-data-XXXXXX";
  require(::mkdtemp(tmpl) != nullptr, "cannot make a temporary directory");
  const std::string dir = tmpl, fuzzed = dir + "/fuzzed", images = dir + "/images",
                    labels = dir + "/labels", first = dir + "/first.bin";
  write(fuzzed, content);
  write(images, mnistImages());
  write(labels, mnistLabels());
  write(first, cifar(1));

  dlc::data::Dataset d;
  d.count = -7; // a refused file must leave the output as it was
  std::string error;
  bool ok;
  switch (mode & 3) {
  case 0: ok = dlc::data::loadMnist(fuzzed, labels, kClasses, d, error, limit); break;
  case 1: ok = dlc::data::loadMnist(images, fuzzed, kClasses, d, error, limit); break;
  case 2: ok = dlc::data::loadCifar10({fuzzed}, kClasses, d, error, limit); break;
  default: ok = dlc::data::loadCifar10({first, fuzzed}, kClasses, d, error, limit); break;
  }
  for (const std::string &f : {fuzzed, images, labels, first})
    ::unlink(f.c_str());
  ::rmdir(dir.c_str());

  if (!ok) {
    require(d.count == -7 && d.images.empty(), "a refused file changed the output");
    require(error.find('\n') == std::string::npos, "a multi-line error: " + error);
    require(error.rfind(dir + "/", 0) == 0, "an error that does not start with the path: " + error);
    return 0;
  }
  require(error.empty(), "success with an error: " + error);
  require(d.count >= 0 && d.channels > 0 && d.height > 0 && d.width > 0, "bad dimensions");
  require(d.images.size() == size_t(d.count) * size_t(d.channels) * size_t(d.height) *
                                 size_t(d.width),
          "image buffer size disagrees with count and dimensions");
  require(d.labels.size() == size_t(d.count), "label count disagrees with count");
  require(limit == 0 || d.count <= limit, "limit not applied");
  for (int32_t l : d.labels)
    require(l >= 0 && l < kClasses, "label out of range: " + std::to_string(l));
  for (float v : d.images)
    require(v >= 0.0f && v <= 1.0f, "pixel outside [0, 1]");
  return 0;
}
