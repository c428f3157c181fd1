//===- TensorData.h - the data format `safetensors`: named tensors per input -*- C++ -*-===//
//
// `data: {format: safetensors, train: A.safetensors, test: B.safetensors}` feeds every input
// of the model from the tensor of its name: float inputs from F32 tensors, int32 inputs
// (tokens, class labels) from I32 tensors, each [examples, ...the input's shape], the same
// number of examples in all. This is how a regression model gets its float targets from a
// file (`torch.save`-free: `safetensors.torch.save_file({"x": x, "y": y}, path)`). Here, not in
// runtime/data, because the safetensors reader is the checkpoints' (runtime/train/Safetensors).
//
#pragma once

#include "runtime/data/Datasets.h"
#include "runtime/plan/Plan.h"

#include <string>

namespace dlc {

/// Loads the training (or test) file of `p` into `d`'s columns, checking every input's tensor
/// (present, dtype, shape, example count, class ids in range); at most `limit` examples when
/// positive. False with a one-line `error` naming the file and the tensor.
bool loadTensorData(const plan::Plan &p, bool train, int64_t limit, data::Dataset &d,
                    std::string &error);

} // namespace dlc
