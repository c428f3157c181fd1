//===- OnnxTensors.cpp - ONNX TensorProto files <-> safetensors, for the node tests -*- C++ -*-===//
//
// The ONNX backend node tests (Debian's libonnx-testdata) keep each input and expected output
// as one serialized TensorProto (input_0.pb, output_0.pb). This tool feeds them to dlrun and
// checks its answers, so the runner (scripts/onnx-node-tests.py) needs no Python packages:
//
//   onnx-tensors pack OUT.safetensors IN.pb...       float tensors by their names (F32)
//   onnx-tensors check ACTUAL.safetensors EXPECTED.pb...
//       each expected tensor against the actual one of its name, |a - e| <= atol + rtol |e|
//       (ONNX's backend test tolerances, rtol 1e-3, atol 1e-5); one line and exit 1 at the
//       first difference
//
#include "compiler/Import/OnnxGraph.h"
#include "runtime/train/Safetensors.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

using namespace dlc;

static bool readProto(const char *path, onnx::TensorProto &t) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return f && t.ParseFromString(ss.str());
}

int main(int argc, char **argv) {
  if (argc < 4 || (std::strcmp(argv[1], "pack") != 0 && std::strcmp(argv[1], "check") != 0)) {
    std::fprintf(stderr, "usage: onnx-tensors pack|check FILE.safetensors TENSOR.pb...\n");
    return 2;
  }
  bool pack = std::strcmp(argv[1], "pack") == 0;
  std::map<std::string, SafetensorsTensor> tensors;
  std::string error;
  if (!pack && !readSafetensors(argv[2], tensors, error)) {
    std::fprintf(stderr, "onnx-tensors: %s\n", error.c_str());
    return 1;
  }
  for (int i = 3; i < argc; ++i) {
    onnx::TensorProto t;
    if (!readProto(argv[i], t)) {
      std::fprintf(stderr, "onnx-tensors: %s: not a TensorProto\n", argv[i]);
      return 1;
    }
    std::vector<int64_t> shape;
    std::vector<double> data;
    bool isFloat = true;
    if (!onnximport::readTensor(t, "", shape, data, isFloat, error)) {
      std::fprintf(stderr, "onnx-tensors: %s: %s\n", argv[i], error.c_str());
      return 1;
    }
    if (!isFloat) {
      std::fprintf(stderr, "onnx-tensors: %s: tensor '%s' is not float (type %d)\n", argv[i],
                   t.name().c_str(), t.data_type());
      return 1;
    }
    if (pack) {
      SafetensorsTensor s;
      s.dtype = "F32";
      s.shape = shape;
      s.data.resize(data.size() * 4);
      for (size_t j = 0; j < data.size(); ++j) {
        float v = float(data[j]);
        std::memcpy(s.data.data() + 4 * j, &v, 4);
      }
      tensors[t.name()] = std::move(s);
      continue;
    }
    auto it = tensors.find(t.name());
    if (it == tensors.end()) {
      std::fprintf(stderr, "onnx-tensors: no output '%s'\n", t.name().c_str());
      return 1;
    }
    const SafetensorsTensor &a = it->second;
    if (a.shape != shape && a.data.size() / 4 != data.size()) {
      std::fprintf(stderr, "onnx-tensors: output '%s' is %s, expected %s\n", t.name().c_str(),
                   shapeText(a.shape).c_str(), shapeText(shape).c_str());
      return 1;
    }
    for (size_t j = 0; j < data.size(); ++j) {
      float v;
      std::memcpy(&v, a.data.data() + 4 * j, 4);
      double e = data[j];
      bool ok = std::fabs(v - e) <= 1e-5 + 1e-3 * std::fabs(e) || (std::isnan(v) && std::isnan(e)) ||
                (std::isinf(e) && v == e);
      if (!ok) {
        std::fprintf(stderr, "onnx-tensors: output '%s' element %zu is %g, expected %g\n",
                     t.name().c_str(), j, double(v), e);
        return 1;
      }
    }
  }
  if (pack && !writeSafetensors(argv[2], tensors, "onnx-node-test", error)) {
    std::fprintf(stderr, "onnx-tensors: %s\n", error.c_str());
    return 1;
  }
  return 0;
}
