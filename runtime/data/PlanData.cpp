//===- PlanData.cpp - the data set a plan's data section names ----*- C++ -*-===//
#include "runtime/data/PlanData.h"

#include "runtime/data/Sequences.h"

#include <algorithm>
#include <exception>

using namespace dlc;

bool data::loadPlanData(const plan::Plan &p, bool train, int64_t limit, Dataset &d,
                        std::string &error) {
  const plan::DataConfig &c = p.data;
  const auto &files = train ? c.trainFiles : c.testFiles;
  if (p.classes < 0 || p.classes > (1 << 30)) {
    error = "the plan's class count " + std::to_string(p.classes) + " is out of range";
    return false;
  }
  // Without labels (a regression loss) any label the files hold is fine: the idx and CIFAR
  // formats store them in one byte; synthetic data draws them from one class.
  const bool labelled = p.classes > 0;
  const int classes = labelled ? int(p.classes) : c.format == "synthetic" ? 1 : 256;
  bool ok = true;
  if (c.format == "text" || c.format == "tokens") {
    // Sequence data: no images to check against the input shape, no labels beyond tokens.
    return loadSequences(files.at(0), c.format == "tokens", c.seqLen, c.testFraction, train,
                         sequenceVocabulary(p), d, error, limit);
  }
  if (c.format == "mnist") {
    ok = loadMnist(files.at(0), files.at(1), classes, d, error, limit);
  } else if (c.format == "cifar10") {
    ok = loadCifar10(files, classes, d, error, limit);
  } else if (c.format == "synthetic") {
    int64_t n = train ? c.syntheticTrain : c.syntheticTest;
    if (limit > 0)
      n = std::min(n, limit);
    try {
      d = synthetic(n, p.inputShape[0], p.inputShape[1], p.inputShape[2], classes,
                    p.train.seed + (train ? 1 : 2));
    } catch (const std::exception &e) { // bad_alloc, length_error: a plan not made by this dlc
      error = "data: cannot make " + std::to_string(n) + " synthetic examples of " +
              std::to_string(p.inputShape[0]) + "x" + std::to_string(p.inputShape[1]) + "x" +
              std::to_string(p.inputShape[2]) + ": " + e.what();
      return false;
    }
  } else {
    error = "the plan has no data section; add one to the model file (see docs/model-format.md)";
    return false;
  }
  if (!ok)
    return false;
  // Labels above the model's classes are refused by the loaders; a model with more classes
  // than the data trains outputs that no example ever asks for, silently. (Synthetic data is
  // drawn from the model's classes: a small set may lack one by chance.)
  const std::string labelFile =
      files.empty() ? "data" : c.format == "mnist" ? files.at(1) : files.at(0);
  if (labelled && train && c.format != "synthetic" && d.maxLabel + 1 < classes) {
    error = labelFile + ": the model has " + std::to_string(classes) +
            " classes but the largest label in the training data is " +
            std::to_string(d.maxLabel) + " (classes " + std::to_string(d.maxLabel + 1) + ".." +
            std::to_string(classes - 1) + " have no example); set label: {classes: " +
            std::to_string(d.maxLabel + 1) + "}";
    return false;
  }
  // With a crop the model sees cropH x cropW windows of larger images (the compiler made
  // the input shape the crop).
  const bool cropped = c.cropH > 0;
  if (d.channels != p.inputShape[0] ||
      (cropped ? d.height < c.cropH || d.width < c.cropW
               : d.height != p.inputShape[1] || d.width != p.inputShape[2])) {
    error = (files.empty() ? std::string("data") : files[0]) + ": images are " + std::to_string(d.channels) + "x" +
            std::to_string(d.height) + "x" + std::to_string(d.width) +
            " but the model expects " + std::to_string(p.inputShape[0]) + "x" +
            std::to_string(p.inputShape[1]) + "x" + std::to_string(p.inputShape[2]) +
            (cropped ? " crops of them" : "");
    return false;
  }
  if (c.normalize)
    normalize(d, c.mean, c.stddev);
  return true;
}

std::string data::describeAugmentation(const plan::DataConfig &c) {
  std::string augment;
  if (c.seqLen > 0)
    augment += ", windows of " + std::to_string(c.seqLen) + " tokens with next-token targets";
  if (c.cropH > 0)
    augment += ", " + std::to_string(c.cropH) + "x" + std::to_string(c.cropW) +
               " crops (random for training, centred for testing)";
  if (c.flip)
    augment += ", random left-right flips";
  if (c.standardize)
    augment += ", per-image standardization";
  return augment;
}

bool data::bindInputs(const plan::Plan &p, const plan::Program &prog, std::vector<Feed> &feeds,
                      std::string &error) {
  const plan::DataConfig &c = p.data;
  const bool sequences = c.format == "text" || c.format == "tokens";
  feeds.clear();
  if (c.format == "safetensors") { // every input by name (checked against the file at load)
    feeds.assign(prog.inputs.size(), Feed::Column);
    return true;
  }
  bool seen[4] = {false, false, false, false};
  for (const plan::ProgramInput &in : prog.inputs) {
    const std::string which = "input '" + in.name + "' of program '" + prog.name + "'";
    Feed f;
    if (in.dtype == plan::DType::F32 && !sequences && in.shape == p.inputShape)
      f = Feed::Images;
    else if (in.classes > 0 && !sequences && in.shape.empty())
      f = Feed::Labels;
    else if (sequences && in.dtype == plan::DType::I32 &&
             in.shape == std::vector<int64_t>{c.seqLen})
      f = in.classes > 0 ? Feed::NextTokens : Feed::Tokens;
    else {
      error = "data: format " + c.format + " cannot feed " + which + (sequences ?
              " (it gives an int32 window [" + std::to_string(c.seqLen) +
              "] and its next tokens as a class input [" + std::to_string(c.seqLen) + "])" :
              " (it gives the float images and one class per example)");
      return false;
    }
    if (seen[int(f)]) {
      error = "data: format " + c.format + " feeds one input of each kind, " + which +
              " is a second";
      return false;
    }
    seen[int(f)] = true;
    feeds.push_back(f);
  }
  if (!seen[int(sequences ? Feed::Tokens : Feed::Images)]) {
    error = "data: program '" + prog.name + "' has no input for the " +
            (sequences ? "token windows" : "images") + " of format " + c.format;
    return false;
  }
  return true;
}

int64_t data::sequenceVocabulary(const plan::Plan &p) {
  int64_t vocab = p.data.format == "text" ? 256 : INT64_MAX;
  for (const plan::Program &prog : p.programs) {
    int32_t tokens = -1;
    for (const plan::ProgramInput &in : prog.inputs) {
      if (in.classes > 0)
        vocab = std::min(vocab, in.classes);
      else if (in.dtype == plan::DType::I32)
        tokens = in.buffer;
    }
    for (const plan::Kernel &k : prog.kernels)
      if (k.kind == plan::KernelKind::Embedding && k.args.at(0) == tokens)
        vocab = std::min(vocab, k.ints.at(1));
  }
  return vocab == INT64_MAX ? 65536 : vocab;
}
