// Dataset loaders: MNIST idx (plain or gzipped) and CIFAR-10 binary batches, plus synthetic data.
//
// Files are read through zlib, which passes plain files through unchanged, so one code path serves
// both compressed and uncompressed inputs. Reading is bounded: an idx file up to the length its
// header announces (plus a little to report trailing data), a CIFAR-10 file up to the most records
// one may hold, so a gzip bomb costs no more than a real file. Parsing then works on the in-memory
// bytes, so every size check compares against the exact decompressed length.
#include "runtime/data/Datasets.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace dlc::data {
namespace {

constexpr uint32_t kMnistImageMagic = 0x00000803;  // unsigned byte data, 3 dimensions
constexpr uint32_t kMnistLabelMagic = 0x00000801;  // unsigned byte data, 1 dimension
// Caps each image side so that count * rows * cols + header cannot overflow uint64_t, while
// staying far above anything a real idx image file holds.
constexpr uint32_t kMaxIdxSide = 1u << 16;

constexpr int kCifarChannels = 3, kCifarSide = 32;
constexpr size_t kCifarPixels = size_t(kCifarChannels) * kCifarSide * kCifarSide;
constexpr size_t kCifarRecord = 1 + kCifarPixels;
// CIFAR-10's batch files hold 10,000 records each; a file may hold the whole 60,000-image set.
constexpr size_t kCifarMaxRecords = 60000;

/// Maps a byte to byte/255 exactly; a table is both faster than dividing per pixel and exact, unlike
/// multiplying by a rounded 1/255.
const std::array<float, 256> &byteScale() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[i] = float(i) / 255.0f;
    return t;
  }();
  return table;
}

uint32_t readBigEndian32(const uint8_t *p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

/// zlib prefixes its messages with the stream's name, which for gzdopen is an unhelpful "<fd:N>";
/// the caller puts the real path first, so drop that prefix.
std::string zlibMessage(const char *msg) {
  std::string s = msg ? msg : "unknown error";
  if (s.rfind("<fd:", 0) == 0) {
    const size_t colon = s.find(": ");
    if (colon != std::string::npos) s.erase(0, colon + 2);
  }
  return s;
}

/// A data file read through zlib, which passes plain files through unchanged, in bounded steps:
/// the caller says how many bytes it will accept, so a gzip bomb is never decompressed beyond
/// what its header announces (plus a little, to report trailing data).
class DataFile {
 public:
  DataFile() = default;
  DataFile(const DataFile &) = delete;
  DataFile &operator=(const DataFile &) = delete;
  ~DataFile() {
    if (gz) gzclose_r(gz);
  }

  bool open(const std::string &path, std::string &error) {
    this->path = path;
    // open(2) rather than gzopen so that a missing file reports errno faithfully (gzopen may also
    // fail for allocation reasons, leaving errno meaningless).
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error = path + ": cannot open: " + std::strerror(errno);
      return false;
    }
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
      ::close(fd);
      error = path + ": cannot open: " + std::strerror(EISDIR);
      return false;
    }
    gz = gzdopen(fd, "rb");
    if (!gz) {
      ::close(fd);
      error = path + ": cannot open: out of memory";
      return false;
    }
    gzbuffer(gz, 1u << 18);  // the default 8 KiB buffer makes multi-megabyte reads needlessly slow
    return true;
  }

  /// Appends to `bytes` until it holds `max` bytes or the file ends.
  bool readUpTo(std::vector<uint8_t> &bytes, uint64_t max, std::string &error) {
    constexpr size_t kChunk = 1u << 20;
    while (bytes.size() < max) {
      const size_t used = bytes.size();
      const unsigned want = unsigned(std::min<uint64_t>(kChunk, max - used));
      bytes.resize(used + want);
      const int got = gzread(gz, bytes.data() + used, want);
      if (got < 0) {
        int code = Z_OK;
        const char *msg = gzerror(gz, &code);
        error = path + (code == Z_ERRNO ? std::string(": read error: ") + std::strerror(errno)
                                        : ": corrupt gzip data: " + zlibMessage(msg));
        bytes.clear();
        return false;
      }
      bytes.resize(used + size_t(got));
      if (got == 0) break;
    }
    return true;
  }

  /// Closes a file read to its end, reporting what zlib only records: a gzip stream cut short
  /// is not a read error to gzread, which returns the data it had; a truncated download would
  /// otherwise parse as a short file.
  bool finish(std::string &error) {
    int code = Z_OK;
    gzerror(gz, &code);
    const int closed = gzclose_r(gz);
    gz = nullptr;
    if (code == Z_BUF_ERROR || closed == Z_BUF_ERROR) {
      error = path + ": corrupt gzip data: truncated gzip stream";
      return false;
    }
    if (closed != Z_OK) {
      error = path + ": read error: " + (closed == Z_ERRNO ? std::strerror(errno) : "cannot close file");
      return false;
    }
    return true;
  }

 private:
  std::string path;
  gzFile gz = nullptr;
};

/// Reads at most `max` bytes of `path` (decompressed) into `bytes`; a file that holds more is
/// read only up to `max`, and the caller reports it by its size.
bool readBounded(const std::string &path, std::vector<uint8_t> &bytes, uint64_t max, std::string &error) {
  DataFile f;
  bytes.clear();
  if (!f.open(path, error) || !f.readUpTo(bytes, max, error)) return false;
  if (bytes.size() >= max) return true;  // stopped early: not read to the end, nothing to check
  return f.finish(error);
}

/// Header facts of a validated idx file.
struct IdxInfo {
  uint32_t count = 0;
  uint32_t rows = 1, cols = 1;  // stay 1 for label files
  size_t header = 0;
};

/// Validates the magic and dimensions of an idx image or label file from its first bytes and
/// sets `expected` to the file's whole length. `kind` is "image" or "label" (for the messages).
bool parseIdxHeader(const std::string &path, const std::vector<uint8_t> &bytes, uint32_t expectedMagic,
                    const char *kind, IdxInfo &info, uint64_t &expected, std::string &error) {
  const size_t dims = expectedMagic & 0xff;
  info.header = 4 + 4 * dims;
  const std::string header = std::to_string(info.header);
  if (bytes.size() < 4) {
    error = path + ": truncated: expected a " + header + "-byte idx header, found " + std::to_string(bytes.size()) +
            " bytes";
    return false;
  }
  // The magic also encodes the element type and the number of dimensions, so matching it exactly
  // checks both at once.
  const uint32_t magic = readBigEndian32(bytes.data());
  if (magic != expectedMagic) {
    error = path + ": not an MNIST idx " + kind + " file (magic " + hex32(magic) + ", expected " +
            hex32(expectedMagic) + ")";
    return false;
  }
  if (bytes.size() < info.header) {
    error = path + ": truncated: expected a " + header + "-byte idx header, found " + std::to_string(bytes.size()) +
            " bytes";
    return false;
  }
  info.count = readBigEndian32(bytes.data() + 4);
  if (dims == 3) {
    info.rows = readBigEndian32(bytes.data() + 8);
    info.cols = readBigEndian32(bytes.data() + 12);
    if (info.rows == 0 || info.cols == 0 || info.rows > kMaxIdxSide || info.cols > kMaxIdxSide) {
      error = path + ": invalid image size " + std::to_string(info.rows) + "x" + std::to_string(info.cols) +
              " (expected 1.." + std::to_string(kMaxIdxSide) + " per side)";
      return false;
    }
  }
  // count < 2^32 and sides <= 2^16: no overflow.
  expected = info.header + uint64_t(info.count) * info.rows * info.cols;
  return true;
}

/// Reads and validates a whole idx file: its header first, then no more of the body than the
/// header announces (and kTrailingSlack bytes to say how much follows it), so a gzip bomb stops
/// decompressing where its header says the data ends.
bool readIdx(const std::string &path, uint32_t expectedMagic, const char *kind, std::vector<uint8_t> &bytes,
             IdxInfo &info, std::string &error) {
  constexpr uint64_t kTrailingSlack = 1u << 20;
  DataFile f;
  bytes.clear();
  uint64_t expected = 0;
  if (!f.open(path, error) || !f.readUpTo(bytes, 4 + 4 * (expectedMagic & 0xff), error) ||
      !parseIdxHeader(path, bytes, expectedMagic, kind, info, expected, error))
    return false;
  bytes.reserve(size_t(std::min<uint64_t>(expected + kTrailingSlack, uint64_t(1) << 26)));
  if (!f.readUpTo(bytes, expected + kTrailingSlack, error)) return false;
  if (bytes.size() > expected) {
    const bool more = bytes.size() == expected + kTrailingSlack;
    error = path + ": unexpected trailing data: expected " + std::to_string(expected) + " bytes of " + kind +
            "s, found " + (more ? "more than " : "") + std::to_string(bytes.size()) +
            (more ? " (stopped reading there)" : "");
    return false;
  }
  // Read to its end: a cut-off gzip stream is the better explanation of a short file.
  if (!f.finish(error)) return false;
  if (bytes.size() < expected) {
    error = path + ": truncated: expected " + std::to_string(expected) + " bytes of " + kind + "s, found " +
            std::to_string(bytes.size());
    return false;
  }
  return true;
}

/// Returns the number of examples to load given a file's count and the caller's `limit`.
int64_t applyLimit(int64_t available, int64_t limit) { return limit > 0 ? std::min(available, limit) : available; }

/// Splitmix64: tiny, fast and fully specified, so synthetic data is identical across platforms
/// (std:: distributions are not).
uint64_t nextRandom(uint64_t &state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::string labelOutOfRange(const std::string &path, int64_t record, int label, int classes) {
  return path + ": record " + std::to_string(record) + " has label " + std::to_string(label) + ", but the model has " +
         std::to_string(classes) + " classes (expected 0.." + std::to_string(classes - 1) + ")";
}

bool loadMnist(const std::string &imagesPath, const std::string &labelsPath, int classes, Dataset &out,
               std::string &error, int64_t limit) {
  std::vector<uint8_t> imageBytes, labelBytes;
  IdxInfo images, labels;
  if (!readIdx(imagesPath, kMnistImageMagic, "image", imageBytes, images, error) ||
      !readIdx(labelsPath, kMnistLabelMagic, "label", labelBytes, labels, error))
    return false;
  if (labels.count != images.count) {
    error = labelsPath + ": labels file has " + std::to_string(labels.count) + " entries but images file has " +
            std::to_string(images.count);
    return false;
  }
  // Check every label, not just the loaded prefix: one bad byte means the file is not what we think.
  Dataset result;
  for (uint32_t i = 0; i < labels.count; ++i) {
    const uint8_t label = labelBytes[labels.header + i];
    if (label >= classes) {
      error = labelOutOfRange(labelsPath, i, label, classes);
      return false;
    }
    result.maxLabel = std::max<int32_t>(result.maxLabel, label);
  }

  result.count = applyLimit(images.count, limit);
  result.channels = 1;
  result.height = int(images.rows);
  result.width = int(images.cols);
  const size_t pixels = size_t(result.count) * images.rows * images.cols;
  const auto &scale = byteScale();
  result.images.resize(pixels);
  const uint8_t *src = imageBytes.data() + images.header;
  for (size_t i = 0; i < pixels; ++i) result.images[i] = scale[src[i]];
  result.labels.assign(labelBytes.begin() + labels.header, labelBytes.begin() + labels.header + result.count);

  out = std::move(result);
  error.clear();
  return true;
}

bool loadCifar10(const std::vector<std::string> &paths, int classes, Dataset &out, std::string &error,
                 int64_t limit) {
  if (paths.empty()) {
    error = "loadCifar10: no CIFAR-10 batch files given";
    return false;
  }
  Dataset result;
  result.channels = kCifarChannels;
  result.height = result.width = kCifarSide;
  const auto &scale = byteScale();
  std::vector<uint8_t> bytes;
  for (const std::string &path : paths) {
    if (limit > 0 && result.count >= limit) break;
    // No header to trust: a file is read up to the most records one may hold, plus one byte.
    if (!readBounded(path, bytes, kCifarMaxRecords * kCifarRecord + 1, error)) return false;
    if (bytes.size() > kCifarMaxRecords * kCifarRecord) {
      error = path + ": more than " + std::to_string(kCifarMaxRecords) +
              " records, the most one CIFAR-10 batch file may hold (stopped reading there)";
      return false;
    }
    if (bytes.empty() || bytes.size() % kCifarRecord != 0) {
      // CIFAR-100 (2 label bytes per record) is the usual culprit, so name the record size we expect.
      error = path + ": not a CIFAR-10 binary batch file (size " + std::to_string(bytes.size()) +
              " bytes, expected a non-zero multiple of the " + std::to_string(kCifarRecord) + "-byte record)";
      return false;
    }
    const int64_t records = int64_t(bytes.size() / kCifarRecord);
    for (int64_t r = 0; r < records; ++r) {
      const uint8_t label = bytes[size_t(r) * kCifarRecord];
      if (label >= classes) {
        error = labelOutOfRange(path, r, label, classes);
        return false;
      }
      result.maxLabel = std::max<int32_t>(result.maxLabel, label);
    }
    const int64_t take = limit > 0 ? std::min(records, limit - result.count) : records;
    // The record's R, G and B planes are already in CHW order, so each record maps to one NCHW image.
    size_t dst = result.images.size();
    result.images.resize(dst + size_t(take) * kCifarPixels);
    for (int64_t r = 0; r < take; ++r) {
      const uint8_t *record = bytes.data() + size_t(r) * kCifarRecord;
      result.labels.push_back(record[0]);
      for (size_t i = 0; i < kCifarPixels; ++i) result.images[dst++] = scale[record[1 + i]];
    }
    result.count += take;
  }
  out = std::move(result);
  error.clear();
  return true;
}

Dataset synthetic(int64_t count, int channels, int height, int width, int classes, uint64_t seed) {
  if (count < 0 || channels < 1 || height < 1 || width < 1 || classes < 1)
    throw std::invalid_argument("dlc::data::synthetic: count must be >= 0 and dimensions and classes >= 1");
  const size_t perImage = size_t(channels) * size_t(height) * size_t(width);
  if (uint64_t(count) > std::numeric_limits<size_t>::max() / perImage)
    throw std::length_error("dlc::data::synthetic: dataset too large");

  Dataset d;
  d.count = count;
  d.channels = channels;
  d.height = height;
  d.width = width;
  d.images.resize(size_t(count) * perImage);
  d.labels.resize(size_t(count));
  uint64_t state = seed;
  float *pixel = d.images.data();
  // Label and pixels are drawn example by example so that a smaller set is a prefix of a larger one
  // with the same seed, which keeps benchmark subsets comparable.
  for (int64_t n = 0; n < count; ++n) {
    // Multiply-shift maps 32 random bits onto [0, classes) without the bias of a modulo.
    d.labels[size_t(n)] = int32_t(((nextRandom(state) >> 32) * uint64_t(classes)) >> 32);
    d.maxLabel = std::max(d.maxLabel, d.labels[size_t(n)]);
    for (size_t i = 0; i < perImage; ++i)
      *pixel++ = float(nextRandom(state) >> 40) * 0x1.0p-24f;  // 24 bits: exact in float, in [0,1)
  }
  return d;
}

void normalize(Dataset &d, float mean, float stddev) {
  if (stddev == 0.0f) throw std::invalid_argument("dlc::data::normalize: stddev must be non-zero");
  for (float &v : d.images) v = (v - mean) / stddev;
}

void cropImage(const float *src, int channels, int height, int width, int top, int left, int h,
               int w, bool flip, float *dst) {
  for (int k = 0; k < channels; ++k)
    for (int r = 0; r < h; ++r) {
      const float *row = src + (size_t(k) * height + top + r) * width + left;
      float *to = dst + (size_t(k) * h + r) * w;
      if (flip)
        for (int col = 0; col < w; ++col) to[col] = row[w - 1 - col];
      else
        std::memcpy(to, row, size_t(w) * sizeof(float));
    }
}

void standardizeImage(float *x, size_t count) {
  double sum = 0, sq = 0;
  for (size_t i = 0; i < count; ++i) sum += x[i];
  const double mean = sum / double(count);
  for (size_t i = 0; i < count; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const double spread = std::max(std::sqrt(sq / double(count)), 1.0 / std::sqrt(double(count)));
  const float m = float(mean), inv = float(1.0 / spread);
  for (size_t i = 0; i < count; ++i) x[i] = (x[i] - m) * inv;
}

}  // namespace dlc::data
