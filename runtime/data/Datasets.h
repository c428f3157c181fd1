// Loaders for the dataset formats the runtime trains on: MNIST idx (gzipped or not) and CIFAR-10 binary.
//
// All loaders produce a Dataset in NCHW float32 layout with pixels scaled to [0,1]. They validate the
// files thoroughly (magic numbers, dimensions, sizes, label ranges) because a silently misread dataset
// shows up much later as a model that "does not learn", which is far harder to diagnose than a clear
// one-line error naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlc::data {

/// A labelled image set in NCHW float32, pixel values scaled to [0,1] (or normalised, see normalize()).
struct Dataset {
  int64_t count = 0;
  int channels = 0, height = 0, width = 0;
  std::vector<float> images;    ///< count*channels*height*width values, NCHW order.
  std::vector<int32_t> labels;  ///< count class indices.
  /// The largest label in the files read, all of them, not only the loaded prefix (-1: none).
  /// A model with more classes than this + 1 has outputs no example ever trains.
  int32_t maxLabel = -1;
  /// Sequence data (runtime/data/Sequences.h): `count` windows of seqLen tokens, example e
  /// being tokens[e*seqLen, (e+1)*seqLen) and its targets the same window shifted by one.
  /// Empty (seqLen 0) for image data.
  int64_t seqLen = 0;
  std::vector<uint16_t> tokens;
  /// Named tensors (format safetensors, runtime/train/TensorData.h): one column per program
  /// input, `elements` values per example, float or int32.
  struct Column {
    std::string name;
    bool ints = false;
    int64_t elements = 0;
    std::vector<float> floats;
    std::vector<int32_t> int32s;
  };
  std::vector<Column> columns;
};

/// Loads an idx3 image file and an idx1 label file (each may be .gz, detected by the gzip magic bytes,
/// not the name).
///
/// On failure returns false, leaves `out` unchanged and sets `error` to ONE line naming the file and
/// what was expected, e.g.
///   "/path/train-images.gz: not an MNIST idx image file (magic 0x00000000, expected 0x00000803)"
///   "/path/x: cannot open: No such file or directory"
///   "/path/x: truncated: expected 47040016 bytes of images, found 1000"
///   "/path/labels: labels file has 100 entries but images file has 60000"
///   "/path/labels: record 17 has label 10, but the model has 10 classes (expected 0..9)"
/// Byte counts in messages refer to the decompressed content. Labels must be in 0..classes-1:
/// the loss kernels index the model's logits by them. A file is decompressed no further than
/// its header announces (plus 1 MiB, to report trailing data). `limit` > 0 loads at most that
/// many examples (the whole files are still validated).
bool loadMnist(const std::string &imagesPath, const std::string &labelsPath, int classes, Dataset &out,
               std::string &error, int64_t limit = 0);

/// Loads one or more CIFAR-10 binary batch files (records of 1 label byte + 3072 bytes: 32x32 R plane,
/// G plane, B plane), concatenating their records in the order given. Files may be gzipped.
///
/// Each file's size must be a non-zero multiple of 3073 bytes, at most 60,000 records (read no
/// further), and every label must be in 0..classes-1. On failure returns false, leaves `out`
/// unchanged and sets `error` to one line starting with the offending file's path. `limit` > 0
/// loads at most that many examples; files after the one that reaches the limit are not opened.
bool loadCifar10(const std::vector<std::string> &paths, int classes, Dataset &out, std::string &error,
                 int64_t limit = 0);

/// "PATH: record R has label L, but the model has C classes (expected 0..C-1)": the one line
/// every loader gives for a label the model cannot score.
std::string labelOutOfRange(const std::string &path, int64_t record, int label, int classes);

/// Deterministic synthetic data (for benchmarks and tests): random images in [0,1), labels in [0,classes).
///
/// The generator is self-contained, so the same arguments give bit-identical data on every platform
/// and standard library. Throws std::invalid_argument if count < 0, any dimension < 1 or classes < 1.
Dataset synthetic(int64_t count, int channels, int height, int width, int classes, uint64_t seed);

/// Subtracts `mean` and divides by `stddev` for every pixel. `stddev` must be non-zero.
void normalize(Dataset &d, float mean, float stddev);

/// Copies the h x w window at (top, left) of each of the `channels` planes of `src` (height x
/// width, CHW) to `dst` (channels x h x w), mirrored left-right when `flip`. The window must
/// lie inside the image.
void cropImage(const float *src, int channels, int height, int width, int top, int left, int h,
               int w, bool flip, float *dst);

/// TensorFlow's per_image_standardization, in place: (x - mean) / max(stddev, 1/sqrt(count))
/// over the image's own `count` values (the floor keeps a constant image finite).
void standardizeImage(float *x, size_t count);

}  // namespace dlc::data
