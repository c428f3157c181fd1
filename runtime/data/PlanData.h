//===- PlanData.h - the data set a plan's data section names ------*- C++ -*-===//
//
// The one place that turns a plan's data section (format, files, synthetic sizes,
// normalisation) into a Dataset checked against the model: image shape and class count.
//
#pragma once

#include "runtime/data/Datasets.h"
#include "runtime/plan/Plan.h"

#include <string>

namespace dlc::data {

/// Loads the training (`train`) or test split that `p.data` names, at most `limit` examples
/// when `limit` > 0, and checks it against the model: every label below `p.classes` (the loss
/// kernels index the logits by label), the images the input shape (or at least the crop), and,
/// for the training split, some example of the model's last class (a 12-class model on 10-class
/// data has outputs nothing trains). A plan without labels (`p.classes` 0, a regression loss)
/// reads the data set's labels into a buffer no kernel reads, so they are not checked.
/// Normalises when the data section says so. On failure
/// returns false with a one-line `error` naming the file.
bool loadPlanData(const plan::Plan &p, bool train, int64_t limit, Dataset &d, std::string &error);

/// What feeds one program input from a data set.
enum class Feed { Images, Labels, Tokens, NextTokens, Column };

/// Binds each input of `prog` (Program::inputs, in order) to what the plan's data format
/// provides: mnist, cifar10 and synthetic give images (the one float input, CHW) and labels
/// (a class input of one class per example); text and tokens give windows of tokens (the one
/// int32 input without classes, [seq_len]) and their next tokens (a class input [seq_len]).
/// The safetensors format feeds every input from the data set's column of its name (Column).
/// An input the format cannot fill, or two for one thing, fails with a one-line `error`.
bool bindInputs(const plan::Plan &p, const plan::Program &prog, std::vector<Feed> &feeds,
                std::string &error);

/// The vocabulary a sequence file's tokens must be below: the class count of the targets and
/// of every embedding reading the token input, the smallest (256 for text when none says).
int64_t sequenceVocabulary(const plan::Plan &p);

/// ", 24x24 crops (random for training, centred for testing), random left-right flips": the
/// augmentation the data section asks for, for dlrun's data line ("" when none).
std::string describeAugmentation(const plan::DataConfig &c);

} // namespace dlc::data
