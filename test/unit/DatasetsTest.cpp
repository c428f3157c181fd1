// Tests for the dataset loaders: round-trips through small hand-written idx and CIFAR-10 files (plain
// and gzipped), every validation error, `limit`, synthetic determinism, normalisation, and, when it is
// installed, the real Fashion-MNIST test set.
#include "runtime/data/Datasets.h"
#include "runtime/data/PlanData.h"
#include "runtime/data/Sequences.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

namespace {

using dlc::data::Dataset;
using Bytes = std::vector<uint8_t>;

void putBigEndian32(Bytes &b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(uint8_t(v >> shift));
}

Bytes idxImages(uint32_t count, uint32_t rows, uint32_t cols, const Bytes &pixels, uint32_t magic = 0x00000803) {
  Bytes b;
  putBigEndian32(b, magic);
  putBigEndian32(b, count);
  putBigEndian32(b, rows);
  putBigEndian32(b, cols);
  b.insert(b.end(), pixels.begin(), pixels.end());
  return b;
}

Bytes idxLabels(const Bytes &labels, uint32_t magic = 0x00000801) {
  Bytes b;
  putBigEndian32(b, magic);
  putBigEndian32(b, uint32_t(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

void writePlain(const std::string &path, const Bytes &bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

void writeGzip(const std::string &path, const Bytes &bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(gz, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  }
  ASSERT_EQ(gzclose(gz), Z_OK);
}

/// Writes `header` then `zeros` zero bytes as one gzip stream, in pieces: a small file that
/// decompresses to far more than the test should ever hold in memory.
void writeGzipBomb(const std::string &path, const Bytes &header, uint64_t zeros) {
  gzFile gz = gzopen(path.c_str(), "wb9");
  ASSERT_NE(gz, nullptr) << path;
  if (!header.empty()) {
    ASSERT_EQ(gzwrite(gz, header.data(), unsigned(header.size())), int(header.size()));
  }
  const Bytes chunk(1u << 22, 0);
  for (uint64_t left = zeros; left > 0;) {
    const unsigned n = unsigned(std::min<uint64_t>(left, chunk.size()));
    ASSERT_EQ(gzwrite(gz, chunk.data(), n), int(n));
    left -= n;
  }
  ASSERT_EQ(gzclose(gz), Z_OK);
}

Bytes readPlain(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Three 2x3 images whose bytes make the /255 scaling easy to check.
const Bytes kPixels = {0, 255, 51, 102, 153, 204,  //
                       1, 2,   3,  4,   5,   6,    //
                       10, 20, 30, 40,  50,  60};
const Bytes kLabels = {7, 0, 9};

/// Every loader error must be a single line that starts with the offending path.
void expectOneLineNaming(const std::string &error, const std::string &path) {
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_EQ(error.rfind(path + ": ", 0), 0u) << "error does not start with the path: " << error;
}

class DatasetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "dlc_datasets_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string path(const std::string &name) const { return dir_ + "/" + name; }

  /// Writes the standard three-example idx pair (plain) and returns {images, labels} paths.
  std::pair<std::string, std::string> writeStandardPair() {
    const std::string images = path("images.idx"), labels = path("labels.idx");
    writePlain(images, idxImages(3, 2, 3, kPixels));
    writePlain(labels, idxLabels(kLabels));
    return {images, labels};
  }

  /// Loads and expects failure; returns the error.
  std::string mnistError(const std::string &images, const std::string &labels, int64_t limit = 0) {
    Dataset d;
    std::string error;
    EXPECT_FALSE(dlc::data::loadMnist(images, labels, 10, d, error, limit));
    return error;
  }

  std::string dir_;
};

void expectStandardData(const Dataset &d, int64_t count) {
  ASSERT_EQ(d.count, count);
  EXPECT_EQ(d.channels, 1);
  EXPECT_EQ(d.height, 2);
  EXPECT_EQ(d.width, 3);
  ASSERT_EQ(d.images.size(), size_t(count) * 6);
  ASSERT_EQ(d.labels.size(), size_t(count));
  for (size_t i = 0; i < d.images.size(); ++i) EXPECT_FLOAT_EQ(d.images[i], kPixels[i] / 255.0f) << "pixel " << i;
  for (int64_t i = 0; i < count; ++i) EXPECT_EQ(d.labels[size_t(i)], kLabels[size_t(i)]);
}

// ---------------------------------------------------------------------------------------------------
// MNIST idx: successful loads

TEST_F(DatasetsTest, LoadsPlainIdxAndScalesToUnitRange) {
  auto [images, labels] = writeStandardPair();
  Dataset d;
  std::string error = "stale";
  ASSERT_TRUE(dlc::data::loadMnist(images, labels, 10, d, error)) << error;
  EXPECT_TRUE(error.empty());
  expectStandardData(d, 3);
  EXPECT_EQ(d.images[0], 0.0f);
  EXPECT_EQ(d.images[1], 1.0f);
  EXPECT_FLOAT_EQ(d.images[2], 0.2f);
}

TEST_F(DatasetsTest, DetectsGzipByMagicBytesNotByName) {
  // Deliberately misleading names: the gzipped file has no .gz suffix and the plain one has.
  const std::string images = path("images.idx"), labels = path("labels.gz");
  writeGzip(images, idxImages(3, 2, 3, kPixels));
  writePlain(labels, idxLabels(kLabels));
  ASSERT_NE(readPlain(images).at(0), 0x00) << "test setup: images file should be gzip-compressed";
  Dataset d;
  std::string error;
  ASSERT_TRUE(dlc::data::loadMnist(images, labels, 10, d, error)) << error;
  expectStandardData(d, 3);
}

TEST_F(DatasetsTest, LoadsBothFilesGzipped) {
  const std::string images = path("i.gz"), labels = path("l.gz");
  writeGzip(images, idxImages(3, 2, 3, kPixels));
  writeGzip(labels, idxLabels(kLabels));
  Dataset d;
  std::string error;
  ASSERT_TRUE(dlc::data::loadMnist(images, labels, 10, d, error)) << error;
  expectStandardData(d, 3);
}

TEST_F(DatasetsTest, LimitLoadsAPrefix) {
  auto [images, labels] = writeStandardPair();
  for (int64_t limit : {1, 2}) {
    Dataset d;
    std::string error;
    ASSERT_TRUE(dlc::data::loadMnist(images, labels, 10, d, error, limit)) << error;
    expectStandardData(d, limit);
  }
  for (int64_t limit : {0, -1, 3, 100}) {  // non-positive means "no limit"; a large one is harmless
    Dataset d;
    std::string error;
    ASSERT_TRUE(dlc::data::loadMnist(images, labels, 10, d, error, limit)) << error;
    expectStandardData(d, 3);
  }
}

TEST_F(DatasetsTest, EmptyIdxSetLoadsAsZeroExamples) {
  const std::string images = path("i"), labels = path("l");
  writePlain(images, idxImages(0, 28, 28, {}));
  writePlain(labels, idxLabels({}));
  Dataset d;
  std::string error;
  ASSERT_TRUE(dlc::data::loadMnist(images, labels, 10, d, error)) << error;
  EXPECT_EQ(d.count, 0);
  EXPECT_EQ(d.height, 28);
  EXPECT_TRUE(d.images.empty());
  EXPECT_TRUE(d.labels.empty());
}

// ---------------------------------------------------------------------------------------------------
// MNIST idx: errors

TEST_F(DatasetsTest, MissingImagesFile) {
  auto [images, labels] = writeStandardPair();
  const std::string missing = path("does-not-exist.gz");
  const std::string error = mnistError(missing, labels);
  EXPECT_EQ(error, missing + ": cannot open: No such file or directory");
  expectOneLineNaming(error, missing);
}

TEST_F(DatasetsTest, MissingLabelsFile) {
  auto [images, labels] = writeStandardPair();
  const std::string missing = path("no-labels");
  EXPECT_EQ(mnistError(images, missing), missing + ": cannot open: No such file or directory");
}

TEST_F(DatasetsTest, DirectoryIsNotAFile) {
  auto [images, labels] = writeStandardPair();
  EXPECT_EQ(mnistError(dir_, labels), dir_ + ": cannot open: Is a directory");
}

TEST_F(DatasetsTest, BadImageMagic) {
  auto [images, labels] = writeStandardPair();
  const std::string bad = path("train-images.gz");
  writeGzip(bad, Bytes(64, 0));
  const std::string error = mnistError(bad, labels);
  EXPECT_EQ(error, bad + ": not an MNIST idx image file (magic 0x00000000, expected 0x00000803)");
  expectOneLineNaming(error, bad);
}

TEST_F(DatasetsTest, SwappedImagesAndLabelsAreRejectedByMagic) {
  auto [images, labels] = writeStandardPair();
  EXPECT_EQ(mnistError(labels, images),
            labels + ": not an MNIST idx image file (magic 0x00000801, expected 0x00000803)");
}

TEST_F(DatasetsTest, WrongDimensionCountIsRejectedByMagic) {
  auto [images, labels] = writeStandardPair();
  const std::string fourD = path("4d");
  writePlain(fourD, idxImages(3, 2, 3, kPixels, 0x00000804));
  EXPECT_EQ(mnistError(fourD, labels), fourD + ": not an MNIST idx image file (magic 0x00000804, expected 0x00000803)");
  const std::string twoDLabels = path("2d-labels");
  writePlain(twoDLabels, idxLabels(kLabels, 0x00000802));
  EXPECT_EQ(mnistError(images, twoDLabels),
            twoDLabels + ": not an MNIST idx label file (magic 0x00000802, expected 0x00000801)");
}

TEST_F(DatasetsTest, TruncatedImages) {
  auto [images, labels] = writeStandardPair();
  const std::string shortFile = path("short");
  writePlain(shortFile, idxImages(3, 2, 3, Bytes(kPixels.begin(), kPixels.begin() + 12)));
  const std::string error = mnistError(shortFile, labels);
  EXPECT_EQ(error, shortFile + ": truncated: expected 34 bytes of images, found 28");
  expectOneLineNaming(error, shortFile);
}

TEST_F(DatasetsTest, TruncatedGzippedImagesCountDecompressedBytes) {
  auto [images, labels] = writeStandardPair();
  const std::string shortFile = path("short.gz");
  writeGzip(shortFile, idxImages(3, 2, 3, Bytes(kPixels.begin(), kPixels.begin() + 7)));
  EXPECT_EQ(mnistError(shortFile, labels), shortFile + ": truncated: expected 34 bytes of images, found 23");
}

TEST_F(DatasetsTest, TruncatedHeader) {
  auto [images, labels] = writeStandardPair();
  const std::string tiny = path("tiny");
  writePlain(tiny, {0, 0});
  EXPECT_EQ(mnistError(tiny, labels), tiny + ": truncated: expected a 16-byte idx header, found 2 bytes");
  writePlain(tiny, {0, 0, 8, 3, 0, 0, 0, 1, 0, 0});  // right magic, header cut short
  EXPECT_EQ(mnistError(tiny, labels), tiny + ": truncated: expected a 16-byte idx header, found 10 bytes");
  writePlain(tiny, {});
  EXPECT_EQ(mnistError(tiny, labels), tiny + ": truncated: expected a 16-byte idx header, found 0 bytes");
}

TEST_F(DatasetsTest, TrailingDataIsRejected) {
  auto [images, labels] = writeStandardPair();
  const std::string longFile = path("long");
  Bytes pixels = kPixels;
  pixels.push_back(42);
  writePlain(longFile, idxImages(3, 2, 3, pixels));
  EXPECT_EQ(mnistError(longFile, labels), longFile + ": unexpected trailing data: expected 34 bytes of images, found 35");
}

TEST_F(DatasetsTest, TruncatedLabels) {
  auto [images, labels] = writeStandardPair();
  Bytes bytes = idxLabels(kLabels);
  bytes.pop_back();
  writePlain(labels, bytes);
  const std::string error = mnistError(images, labels);
  EXPECT_EQ(error, labels + ": truncated: expected 11 bytes of labels, found 10");
  expectOneLineNaming(error, labels);
}

TEST_F(DatasetsTest, ZeroOrHugeImageSideIsRejected) {
  auto [images, labels] = writeStandardPair();
  writePlain(images, idxImages(3, 0, 3, {}));
  EXPECT_EQ(mnistError(images, labels), images + ": invalid image size 0x3 (expected 1..65536 per side)");
  writePlain(images, idxImages(0xffffffffu, 0xffffffffu, 0xffffffffu, {}));
  const std::string error = mnistError(images, labels);
  EXPECT_NE(error.find("invalid image size 4294967295x4294967295"), std::string::npos) << error;
}

TEST_F(DatasetsTest, CutOffGzipStreamIsReported) {
  auto [images, labels] = writeStandardPair();
  const std::string gz = path("cut.gz");
  // Enough incompressible-ish data that the deflate stream is long and cutting it loses real content.
  Bytes pixels(6 * 4000);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t((i * 2654435761u) >> 13);
  writeGzip(gz, idxImages(4000, 2, 3, pixels));
  Bytes compressed = readPlain(gz);
  ASSERT_GT(compressed.size(), 100u);
  compressed.resize(compressed.size() / 2);
  writePlain(gz, compressed);
  const std::string error = mnistError(gz, labels);
  EXPECT_NE(error.find("corrupt gzip data: truncated gzip stream"), std::string::npos) << error;
  expectOneLineNaming(error, gz);
}

// A gzip bomb: a header announcing three 2x3 images, then 64 MiB of zeros. Decompression stops
// just past what the header announced; the message says so instead of counting the whole stream.
TEST_F(DatasetsTest, GzipBombStopsWhereTheHeaderSaysTheDataEnds) {
  auto [images, labels] = writeStandardPair();
  const std::string bomb = path("bomb.gz");
  writeGzipBomb(bomb, idxImages(3, 2, 3, {}), uint64_t(64) << 20);
  const std::string error = mnistError(bomb, labels);
  EXPECT_EQ(error, bomb + ": unexpected trailing data: expected 34 bytes of images, found more than 1048610 "
                          "(stopped reading there)");
  // Zeros from the first byte are refused at the magic number, after 16 bytes.
  writeGzipBomb(bomb, {}, uint64_t(64) << 20);
  EXPECT_EQ(mnistError(bomb, labels), bomb + ": not an MNIST idx image file (magic 0x00000000, expected 0x00000803)");
}

// CIFAR-10 has no header: a file is read up to the most records one may hold (60,000), plus one byte.
TEST_F(DatasetsTest, CifarGzipBombStopsAtTheRecordLimit) {
  const std::string bomb = path("bomb.bin.gz");
  writeGzipBomb(bomb, {}, uint64_t(60001) * 3073);  // all-zero records are valid (label 0)
  Dataset d;
  std::string error;
  ASSERT_FALSE(dlc::data::loadCifar10({bomb}, 10, d, error));
  EXPECT_EQ(error, bomb + ": more than 60000 records, the most one CIFAR-10 batch file may hold (stopped reading "
                          "there)");
}

TEST_F(DatasetsTest, CorruptGzipDataIsReported) {
  auto [images, labels] = writeStandardPair();
  const std::string gz = path("corrupt.gz");
  Bytes garbage = {0x1f, 0x8b};  // gzip magic followed by nonsense
  for (int i = 0; i < 200; ++i) garbage.push_back(uint8_t(i * 37 + 11));
  writePlain(gz, garbage);
  const std::string error = mnistError(gz, labels);
  EXPECT_NE(error.find("corrupt gzip data"), std::string::npos) << error;
  EXPECT_EQ(error.find("<fd:"), std::string::npos) << "zlib's internal stream name leaked: " << error;
  expectOneLineNaming(error, gz);
}

TEST_F(DatasetsTest, LabelCountMismatch) {
  auto [images, labels] = writeStandardPair();
  writePlain(labels, idxLabels({1, 2}));
  const std::string error = mnistError(images, labels);
  EXPECT_EQ(error, labels + ": labels file has 2 entries but images file has 3");
  expectOneLineNaming(error, labels);
}

TEST_F(DatasetsTest, LabelOutOfRange) {
  auto [images, labels] = writeStandardPair();
  writePlain(labels, idxLabels({1, 10, 2}));
  const std::string error = mnistError(images, labels);
  EXPECT_EQ(error, labels + ": record 1 has label 10, but the model has 10 classes (expected 0..9)");
  expectOneLineNaming(error, labels);
  // The whole file is validated even when `limit` would skip the bad label.
  writePlain(labels, idxLabels({1, 2, 255}));
  EXPECT_EQ(mnistError(images, labels, 1),
            labels + ": record 2 has label 255, but the model has 10 classes (expected 0..9)");
}

TEST_F(DatasetsTest, FailureLeavesOutputUntouched) {
  auto [images, labels] = writeStandardPair();
  Dataset d = dlc::data::synthetic(2, 1, 2, 2, 3, 5);
  const Dataset before = d;
  std::string error;
  writePlain(labels, idxLabels({1, 99, 2}));
  ASSERT_FALSE(dlc::data::loadMnist(images, labels, 10, d, error));
  EXPECT_EQ(d.count, before.count);
  EXPECT_EQ(d.images, before.images);
  EXPECT_EQ(d.labels, before.labels);
  ASSERT_FALSE(dlc::data::loadCifar10({path("missing.bin")}, 10, d, error));
  EXPECT_EQ(d.images, before.images);
}

// ---------------------------------------------------------------------------------------------------
// CIFAR-10

constexpr size_t kCifarRecord = 3073, kPlane = 1024;

/// A record whose pixel bytes are a known function of (record seed, channel, index).
Bytes cifarRecord(uint8_t label, int seed) {
  Bytes r{label};
  for (int c = 0; c < 3; ++c)
    for (size_t i = 0; i < kPlane; ++i) r.push_back(uint8_t(seed * 31 + c * 7 + int(i)));
  return r;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes &p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST_F(DatasetsTest, CifarParsesKnownRecordBytesIntoNchw) {
  const std::string batch = path("data_batch_1.bin");
  writePlain(batch, concat({cifarRecord(3, 0), cifarRecord(7, 1)}));
  Dataset d;
  std::string error;
  ASSERT_TRUE(dlc::data::loadCifar10({batch}, 10, d, error)) << error;
  ASSERT_EQ(d.count, 2);
  EXPECT_EQ(d.channels, 3);
  EXPECT_EQ(d.height, 32);
  EXPECT_EQ(d.width, 32);
  ASSERT_EQ(d.images.size(), 2 * 3 * kPlane);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{3, 7}));
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) {
          const size_t i = size_t(y * 32 + x);
          const float expected = uint8_t(n * 31 + c * 7 + int(i)) / 255.0f;
          ASSERT_FLOAT_EQ(d.images[((size_t(n) * 3 + size_t(c)) * 32 + size_t(y)) * 32 + size_t(x)], expected)
              << "n=" << n << " c=" << c << " y=" << y << " x=" << x;
        }
  // Spot checks that do not rely on the formula above: first red pixel of record 0, first green
  // pixel of record 1 (byte 31 + 7 = 38).
  EXPECT_EQ(d.images[0], 0.0f);
  EXPECT_FLOAT_EQ(d.images[3 * kPlane + kPlane], 38 / 255.0f);
}

TEST_F(DatasetsTest, CifarConcatenatesFilesAndRespectsLimit) {
  const std::string a = path("a.bin"), b = path("b.bin.gz");
  writePlain(a, concat({cifarRecord(0, 0), cifarRecord(1, 1)}));
  writeGzip(b, concat({cifarRecord(2, 2), cifarRecord(9, 3)}));  // gzipped batches work too
  Dataset d;
  std::string error;
  ASSERT_TRUE(dlc::data::loadCifar10({a, b}, 10, d, error)) << error;
  EXPECT_EQ(d.count, 4);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 1, 2, 9}));
  ASSERT_EQ(d.images.size(), 4 * 3 * kPlane);
  EXPECT_FLOAT_EQ(d.images[3 * 3 * kPlane], uint8_t(3 * 31) / 255.0f);

  ASSERT_TRUE(dlc::data::loadCifar10({a, b}, 10, d, error, 3)) << error;
  EXPECT_EQ(d.count, 3);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(d.images.size(), 3 * 3 * kPlane);

  // Once the limit is met later files are not needed, so a missing one is not an error.
  ASSERT_TRUE(dlc::data::loadCifar10({a, path("missing.bin")}, 10, d, error, 2)) << error;
  EXPECT_EQ(d.count, 2);
}

TEST_F(DatasetsTest, CifarBadSize) {
  const std::string bad = path("bad.bin");
  writePlain(bad, Bytes(3072, 0));
  Dataset d;
  std::string error;
  ASSERT_FALSE(dlc::data::loadCifar10({bad}, 10, d, error));
  EXPECT_EQ(error, bad + ": not a CIFAR-10 binary batch file (size 3072 bytes, expected a non-zero multiple of the "
                         "3073-byte record)");
  expectOneLineNaming(error, bad);

  writePlain(bad, Bytes(2 * 3074, 0));  // CIFAR-100 record layout
  ASSERT_FALSE(dlc::data::loadCifar10({bad}, 10, d, error));
  EXPECT_NE(error.find("size 6148 bytes"), std::string::npos) << error;

  writePlain(bad, {});
  ASSERT_FALSE(dlc::data::loadCifar10({bad}, 10, d, error));
  EXPECT_NE(error.find("size 0 bytes"), std::string::npos) << error;
}

TEST_F(DatasetsTest, CifarLabelOutOfRange) {
  const std::string bad = path("bad.bin");
  writePlain(bad, concat({cifarRecord(4, 0), cifarRecord(10, 1)}));
  Dataset d;
  std::string error;
  ASSERT_FALSE(dlc::data::loadCifar10({bad}, 10, d, error));
  EXPECT_EQ(error, bad + ": record 1 has label 10, but the model has 10 classes (expected 0..9)");
  expectOneLineNaming(error, bad);
}

TEST_F(DatasetsTest, CifarMissingFileIsNamed) {
  const std::string good = path("good.bin"), missing = path("missing.bin");
  writePlain(good, cifarRecord(1, 0));
  Dataset d;
  std::string error;
  ASSERT_FALSE(dlc::data::loadCifar10({good, missing}, 10, d, error));
  EXPECT_EQ(error, missing + ": cannot open: No such file or directory");
}

TEST_F(DatasetsTest, CifarNeedsAtLeastOnePath) {
  Dataset d;
  std::string error;
  ASSERT_FALSE(dlc::data::loadCifar10({}, 10, d, error));
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

// ---------------------------------------------------------------------------------------------------
// Synthetic data and normalisation

TEST(SyntheticTest, IsDeterministicAndInRange) {
  const Dataset a = dlc::data::synthetic(500, 3, 4, 5, 10, 42);
  const Dataset b = dlc::data::synthetic(500, 3, 4, 5, 10, 42);
  const Dataset c = dlc::data::synthetic(500, 3, 4, 5, 10, 43);
  EXPECT_EQ(a.count, 500);
  EXPECT_EQ(a.channels, 3);
  EXPECT_EQ(a.height, 4);
  EXPECT_EQ(a.width, 5);
  ASSERT_EQ(a.images.size(), 500u * 3 * 4 * 5);
  ASSERT_EQ(a.labels.size(), 500u);
  EXPECT_EQ(a.images, b.images);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_NE(a.images, c.images);
  EXPECT_NE(a.labels, c.labels);

  std::set<int32_t> classes;
  for (int32_t l : a.labels) {
    ASSERT_GE(l, 0);
    ASSERT_LT(l, 10);
    classes.insert(l);
  }
  EXPECT_EQ(classes.size(), 10u) << "500 draws should hit every one of 10 classes";
  const auto [lo, hi] = std::minmax_element(a.images.begin(), a.images.end());
  EXPECT_GE(*lo, 0.0f);
  EXPECT_LE(*hi, 1.0f);
  EXPECT_LT(*lo, 0.01f) << "values should span the range";
  EXPECT_GT(*hi, 0.99f) << "values should span the range";
  double sum = 0;
  for (float v : a.images) sum += v;
  EXPECT_NEAR(sum / double(a.images.size()), 0.5, 0.02);
}

TEST(SyntheticTest, SmallerSetIsPrefixOfLargerOne) {
  const Dataset small = dlc::data::synthetic(7, 1, 3, 3, 4, 9);
  const Dataset large = dlc::data::synthetic(20, 1, 3, 3, 4, 9);
  EXPECT_TRUE(std::equal(small.images.begin(), small.images.end(), large.images.begin()));
  EXPECT_TRUE(std::equal(small.labels.begin(), small.labels.end(), large.labels.begin()));
}

TEST(SyntheticTest, RejectsInvalidArguments) {
  EXPECT_THROW(dlc::data::synthetic(-1, 1, 1, 1, 1, 0), std::invalid_argument);
  EXPECT_THROW(dlc::data::synthetic(1, 0, 1, 1, 1, 0), std::invalid_argument);
  EXPECT_THROW(dlc::data::synthetic(1, 1, 1, 1, 0, 0), std::invalid_argument);
  EXPECT_EQ(dlc::data::synthetic(0, 1, 2, 2, 3, 0).images.size(), 0u);
  const Dataset one = dlc::data::synthetic(50, 1, 1, 1, 1, 0);
  for (int32_t l : one.labels) EXPECT_EQ(l, 0);
}

TEST(NormalizeTest, SubtractsMeanAndDividesByStddev) {
  Dataset d;
  d.count = 1;
  d.channels = 1;
  d.height = 1;
  d.width = 4;
  d.images = {0.0f, 0.5f, 1.0f, 0.25f};
  d.labels = {3};
  dlc::data::normalize(d, 0.5f, 0.25f);
  EXPECT_EQ(d.images, (std::vector<float>{-2.0f, 0.0f, 2.0f, -1.0f}));
  EXPECT_EQ(d.labels, std::vector<int32_t>{3});
  EXPECT_THROW(dlc::data::normalize(d, 0.0f, 0.0f), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------------
// Real data, when installed

TEST(FashionMnistTest, LoadsRealTestSet) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  const std::string images = dir + "t10k-images-idx3-ubyte.gz", labels = dir + "t10k-labels-idx1-ubyte.gz";
  if (!std::filesystem::exists(images)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  Dataset d;
  std::string error;
  ASSERT_TRUE(dlc::data::loadMnist(images, labels, 10, d, error)) << error;
  EXPECT_EQ(d.count, 10000);
  EXPECT_EQ(d.channels, 1);
  EXPECT_EQ(d.height, 28);
  EXPECT_EQ(d.width, 28);
  ASSERT_EQ(d.images.size(), 10000u * 28 * 28);
  ASSERT_EQ(d.labels.size(), 10000u);
  std::vector<int> perClass(10, 0);
  for (int32_t l : d.labels) {
    ASSERT_GE(l, 0);
    ASSERT_LT(l, 10);
    ++perClass[size_t(l)];
  }
  for (int c = 0; c < 10; ++c) EXPECT_GT(perClass[size_t(c)], 0) << "class " << c << " missing";
  const auto [lo, hi] = std::minmax_element(d.images.begin(), d.images.end());
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_EQ(*hi, 1.0f);
}

// ---------------------------------------------------------------- augmentation

/// A 2-channel 4x5 image whose value names its place: 100*channel + 10*row + column.
std::vector<float> placeImage() {
  std::vector<float> v(2 * 4 * 5);
  for (int c = 0; c < 2; ++c)
    for (int r = 0; r < 4; ++r)
      for (int col = 0; col < 5; ++col) v[size_t((c * 4 + r) * 5 + col)] = float(100 * c + 10 * r + col);
  return v;
}

TEST(Augmentation, CropTakesTheWindowOfEveryChannel) {
  const std::vector<float> img = placeImage();
  std::vector<float> out(2 * 2 * 3, -1.0f);
  dlc::data::cropImage(img.data(), 2, 4, 5, 1, 2, 2, 3, false, out.data());
  EXPECT_EQ(out, (std::vector<float>{12, 13, 14, 22, 23, 24, 112, 113, 114, 122, 123, 124}));
}

TEST(Augmentation, FlipMirrorsTheWindowLeftRight) {
  const std::vector<float> img = placeImage();
  std::vector<float> out(2 * 2 * 3, -1.0f);
  dlc::data::cropImage(img.data(), 2, 4, 5, 2, 0, 2, 3, true, out.data());
  EXPECT_EQ(out, (std::vector<float>{22, 21, 20, 32, 31, 30, 122, 121, 120, 132, 131, 130}));
}

TEST(Augmentation, StandardizeGivesMeanZeroSpreadOne) {
  std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 9};
  dlc::data::standardizeImage(x.data(), x.size());
  double mean = 0, sq = 0;
  for (float v : x) mean += v;
  mean /= x.size();
  for (float v : x) sq += (v - mean) * (v - mean);
  EXPECT_NEAR(mean, 0.0, 1e-6);
  EXPECT_NEAR(std::sqrt(sq / x.size()), 1.0, 1e-6);
  // mean 4.625, population stddev sqrt(6.234375): 1 -> -3.625 / 2.4969...
  EXPECT_NEAR(x[0], -3.625 / std::sqrt(6.234375), 1e-6);
}

TEST(Augmentation, StandardizeOfAConstantImageStaysFinite) {
  // TensorFlow's floor: the spread is at least 1/sqrt(count), so a flat image maps to zeros.
  std::vector<float> x(16, 0.5f);
  dlc::data::standardizeImage(x.data(), x.size());
  for (float v : x) EXPECT_EQ(v, 0.0f);
}

}  // namespace

// The range is the model's class count, not the 10 of MNIST and CIFAR-10: a 3-class model on
// 10-class data would index past its logits, and a 256-class one may read any byte label.
TEST_F(DatasetsTest, LabelsCheckedAgainstTheModelsClasses) {
  auto [images, labels] = writeStandardPair();
  writePlain(labels, idxLabels({1, 5, 2}));
  Dataset d;
  std::string error;
  ASSERT_FALSE(dlc::data::loadMnist(images, labels, 3, d, error));
  EXPECT_EQ(error, labels + ": record 1 has label 5, but the model has 3 classes (expected 0..2)");
  ASSERT_TRUE(dlc::data::loadMnist(images, labels, 6, d, error)) << error;
  EXPECT_EQ(d.maxLabel, 5);
  // maxLabel covers the whole file even when `limit` loads a prefix.
  ASSERT_TRUE(dlc::data::loadMnist(images, labels, 6, d, error, 1)) << error;
  EXPECT_EQ(d.maxLabel, 5);
  writePlain(labels, idxLabels({1, 200, 2}));
  EXPECT_TRUE(dlc::data::loadMnist(images, labels, 256, d, error)) << error;

  const std::string batch = path("c.bin");
  writePlain(batch, concat({cifarRecord(0, 0), cifarRecord(3, 1)}));
  ASSERT_FALSE(dlc::data::loadCifar10({batch}, 3, d, error));
  EXPECT_EQ(error, batch + ": record 1 has label 3, but the model has 3 classes (expected 0..2)");
  ASSERT_TRUE(dlc::data::loadCifar10({batch}, 4, d, error)) << error;
  EXPECT_EQ(d.maxLabel, 3);
}

// A plan without labels (classes 0: an mse or bce_with_logits model) reads the files' labels
// into a buffer no kernel reads: any byte label loads, and no class needs an example. A
// classifier with as many classes is refused on the same files.
TEST_F(DatasetsTest, PlanWithoutLabelsTakesAnyLabels) {
  auto [images, labels] = writeStandardPair();
  writePlain(labels, idxLabels({1, 200, 2}));
  dlc::plan::Plan p;
  p.inputShape = {1, 2, 3};
  p.data.format = "mnist";
  p.data.trainFiles = {images, labels};
  Dataset d;
  std::string error;
  EXPECT_TRUE(dlc::data::loadPlanData(p, /*train=*/true, 0, d, error)) << error;
  EXPECT_EQ(d.count, 3);
  p.classes = 3;
  EXPECT_FALSE(dlc::data::loadPlanData(p, true, 0, d, error));
  EXPECT_EQ(error, labels + ": record 1 has label 200, but the model has 3 classes (expected 0..2)");
}

// Sequence data (runtime/data/Sequences.h): windows of seq_len tokens at multiples of
// seq_len, targets shifted by one, the last test_fraction of the file the test set.
TEST_F(DatasetsTest, TextIsWindowsOfBytesWithNextByteTargets) {
  const std::string file = path("t.txt");
  const std::string text = "abcdefghijklmnopqrstuvwxyz0123"; // 30 bytes: 24 train, 6 test
  writePlain(file, Bytes(text.begin(), text.end()));
  Dataset d;
  std::string error;
  ASSERT_TRUE(dlc::data::loadSequences(file, false, 4, 0.2f, true, 256, d, error)) << error;
  EXPECT_EQ(d.count, 5); // (24 - 1) / 4 windows: the last one's targets need the 21st byte
  EXPECT_EQ(d.seqLen, 4);
  std::vector<int32_t> x(4), y(4);
  dlc::data::sequenceWindow(d, 2, false, x.data());
  dlc::data::sequenceWindow(d, 2, true, y.data());
  EXPECT_EQ(x, (std::vector<int32_t>{'i', 'j', 'k', 'l'}));
  EXPECT_EQ(y, (std::vector<int32_t>{'j', 'k', 'l', 'm'}));
  ASSERT_TRUE(dlc::data::loadSequences(file, false, 4, 0.2f, false, 256, d, error)) << error;
  EXPECT_EQ(d.count, 1); // bytes 24..29: "yz0123"
  dlc::data::sequenceWindow(d, 0, false, x.data());
  EXPECT_EQ(x, (std::vector<int32_t>{'y', 'z', '0', '1'}));
  ASSERT_TRUE(dlc::data::loadSequences(file, false, 4, 0.2f, true, 256, d, error, 2));
  EXPECT_EQ(d.count, 2);
}

TEST_F(DatasetsTest, TokensAreLittleEndianUint16BelowTheVocabulary) {
  const std::string file = path("train.bin");
  Bytes b;
  for (uint16_t t : {1, 300, 2, 65535, 7, 8, 9, 10, 11, 12})
    b.insert(b.end(), {uint8_t(t & 0xff), uint8_t(t >> 8)});
  writePlain(file, b);
  Dataset d;
  std::string error;
  ASSERT_FALSE(dlc::data::loadSequences(file, true, 2, 0.f, true, 65535, d, error));
  EXPECT_EQ(error, file + ": token 65535 at position 3 is not below the model's vocabulary of 65535");
  ASSERT_TRUE(dlc::data::loadSequences(file, true, 2, 0.1f, true, 65536, d, error)) << error;
  EXPECT_EQ(d.count, 4); // 9 training tokens: 4 windows of 2 and one more target
  std::vector<int32_t> x(2), y(2);
  dlc::data::sequenceWindow(d, 0, false, x.data());
  dlc::data::sequenceWindow(d, 1, true, y.data());
  EXPECT_EQ(x, (std::vector<int32_t>{1, 300}));
  EXPECT_EQ(y, (std::vector<int32_t>{65535, 7}));
  writePlain(file, Bytes{1, 0, 2});
  EXPECT_FALSE(dlc::data::loadSequences(file, true, 1, 0.f, true, 300, d, error));
  EXPECT_EQ(error, file + ": 3 bytes, not a whole number of uint16 tokens");
}

TEST_F(DatasetsTest, SequenceRefusalsNameTheFile) {
  const std::string file = path("short.txt");
  writePlain(file, Bytes(20, 'a'));
  Dataset d;
  d.count = -7;
  std::string error;
  EXPECT_FALSE(dlc::data::loadSequences(file, false, 20, 0.f, true, 256, d, error));
  EXPECT_EQ(error, file + ": the training part (the first 20 tokens) has 20 tokens, fewer than "
                          "seq_len + 1 = 21");
  EXPECT_FALSE(dlc::data::loadSequences(file, false, 4, 0.1f, false, 256, d, error));
  EXPECT_EQ(error, file + ": the test part (the last 10% of the file) has 2 tokens, fewer than "
                          "seq_len + 1 = 5");
  EXPECT_FALSE(dlc::data::loadSequences(file, false, 4, 0.1f, true, 97, d, error));
  EXPECT_EQ(error, file + ": token 97 at position 0 is not below the model's vocabulary of 97");
  EXPECT_FALSE(dlc::data::loadSequences(path("missing"), false, 4, 0.1f, true, 256, d, error));
  EXPECT_EQ(error, path("missing") + ": cannot open: No such file or directory");
  EXPECT_EQ(d.count, -7); // untouched by every refusal
}

// What feeds each input: images and labels for the image formats, token windows and their
// next tokens for the sequence formats; anything else is refused by name.
TEST(BindInputs, EachFormatFeedsItsInputs) {
  using dlc::data::Feed;
  dlc::plan::Plan p;
  p.inputShape = {1, 2, 3};
  p.data.format = "mnist";
  dlc::plan::Program prog;
  prog.name = "train";
  prog.inputs = {{"image", 0, dlc::plan::DType::F32, {1, 2, 3}, 0},
                 {"label", 1, dlc::plan::DType::I32, {}, 10}};
  std::vector<Feed> feeds;
  std::string error;
  ASSERT_TRUE(dlc::data::bindInputs(p, prog, feeds, error)) << error;
  EXPECT_EQ(feeds, (std::vector<Feed>{Feed::Images, Feed::Labels}));
  prog.inputs.push_back({"label2", 2, dlc::plan::DType::I32, {}, 10});
  EXPECT_FALSE(dlc::data::bindInputs(p, prog, feeds, error));
  EXPECT_EQ(error, "data: format mnist feeds one input of each kind, input 'label2' of program "
                   "'train' is a second");

  p.inputShape.clear();
  p.data.format = "text";
  p.data.seqLen = 4;
  prog.inputs = {{"targets", 1, dlc::plan::DType::I32, {4}, 200},
                 {"tokens", 0, dlc::plan::DType::I32, {4}, 0}};
  ASSERT_TRUE(dlc::data::bindInputs(p, prog, feeds, error)) << error;
  EXPECT_EQ(feeds, (std::vector<Feed>{Feed::NextTokens, Feed::Tokens}));
  // The vocabulary tokens are checked against: the targets' classes and any embedding of
  // the token input, the smallest.
  p.programs = {prog};
  EXPECT_EQ(dlc::data::sequenceVocabulary(p), 200);
  dlc::plan::Kernel emb;
  emb.kind = dlc::plan::KernelKind::Embedding;
  emb.ints = {8, 150, 3};
  emb.args = {0, 2, 3};
  p.programs[0].kernels = {emb};
  EXPECT_EQ(dlc::data::sequenceVocabulary(p), 150);
  prog.inputs[1].shape = {5};
  EXPECT_FALSE(dlc::data::bindInputs(p, prog, feeds, error));
  EXPECT_EQ(error, "data: format text cannot feed input 'tokens' of program 'train' (it gives "
                   "an int32 window [4] and its next tokens as a class input [4])");
  prog.inputs = {prog.inputs[0]};
  EXPECT_FALSE(dlc::data::bindInputs(p, prog, feeds, error));
  EXPECT_EQ(error, "data: program 'train' has no input for the token windows of format text");
}
