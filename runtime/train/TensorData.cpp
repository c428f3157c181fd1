//===- TensorData.cpp - the data format `safetensors` -------------*- C++ -*-===//
#include "runtime/train/TensorData.h"

#include "runtime/train/Safetensors.h"

#include <algorithm>
#include <cstring>

using namespace dlc;

bool dlc::loadTensorData(const plan::Plan &p, bool train, int64_t limit, data::Dataset &d,
                         std::string &error) {
  const std::vector<std::string> &files = train ? p.data.trainFiles : p.data.testFiles;
  if (files.size() != 1)
    return error = "data: format safetensors needs one " + std::string(train ? "train" : "test") +
                   " file",
           false;
  const std::string &path = files[0];
  std::map<std::string, SafetensorsTensor> tensors;
  if (!readSafetensors(path, tensors, error))
    return false;
  const plan::Program *prog = p.program("train") ? p.program("train") : p.program("eval");
  if (!prog)
    return error = path + ": the plan has no program to feed", false;
  d = data::Dataset();
  int64_t count = -1;
  std::string first;
  for (const plan::ProgramInput &in : prog->inputs) {
    auto fail = [&](const std::string &why) {
      error = path + ": tensor '" + in.name + "' " + why;
      return false;
    };
    auto it = tensors.find(in.name);
    if (it == tensors.end())
      return error = path + ": no tensor '" + in.name + "' for the model's input of that name",
             false;
    const SafetensorsTensor &t = it->second;
    const bool ints = in.dtype == plan::DType::I32;
    if (t.dtype != (ints ? "I32" : "F32"))
      return fail("is " + t.dtype + "; input '" + in.name + "' takes " + (ints ? "I32" : "F32"));
    std::vector<int64_t> want{t.shape.empty() ? 0 : t.shape[0]};
    want.insert(want.end(), in.shape.begin(), in.shape.end());
    if (t.shape != want) {
      std::string need = "[examples";
      for (int64_t x : in.shape)
        need += ", " + std::to_string(x);
      return fail("has shape " + shapeText(t.shape) + "; input '" + in.name + "' needs " + need +
                  "]");
    }
    if (count >= 0 && t.shape[0] != count)
      return fail("has " + std::to_string(t.shape[0]) + " examples, tensor '" + first + "' " +
                  std::to_string(count));
    if (count < 0)
      count = t.shape[0], first = in.name;
    data::Dataset::Column c;
    c.name = in.name;
    c.ints = ints;
    c.elements = 1;
    for (int64_t x : in.shape)
      c.elements *= x;
    const int64_t kept = limit > 0 ? std::min(count, limit) : count;
    const size_t values = size_t(kept * c.elements);
    if (ints) {
      c.int32s.resize(values);
      std::memcpy(c.int32s.data(), t.data.data(), values * 4);
      if (in.classes > 0)
        for (size_t v = 0; v < values; ++v)
          if (c.int32s[v] < 0 || c.int32s[v] >= in.classes)
            return fail("holds class " + std::to_string(c.int32s[v]) + " at value " +
                        std::to_string(v) + "; input '" + in.name + "' has " +
                        std::to_string(in.classes) + " classes (expected 0.." +
                        std::to_string(in.classes - 1) + ")");
    } else {
      c.floats.resize(values);
      std::memcpy(c.floats.data(), t.data.data(), values * 4);
    }
    d.columns.push_back(std::move(c));
  }
  d.count = limit > 0 ? std::min(count, limit) : count;
  if (d.count < p.train.batch)
    return error = path + ": " + std::to_string(d.count) + " examples, fewer than a batch of " +
                   std::to_string(p.train.batch),
           false;
  return true;
}
