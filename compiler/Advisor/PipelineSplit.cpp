//===- PipelineSplit.cpp - layer costs and the stage split --------*- C++ -*-===//
#include "compiler/Advisor/PipelineSplit.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

using namespace dlc;
using namespace dlc::advisor;

namespace {
/// The layer a kernel belongs to by its name: "conv2d@conv1" -> conv1, an update
/// "sgd_update@fc1.weight" -> fc1 (the parameter's layer); "" for the loss and accuracy.
std::string layerOf(const std::string &kernel,
                    const std::unordered_map<std::string, int> &params) {
  size_t at = kernel.find('@');
  if (at == std::string::npos)
    return "";
  std::string name = kernel.substr(at + 1);
  if (params.count(name)) {
    size_t dot = name.rfind('.');
    if (dot != std::string::npos)
      return name.substr(0, dot);
  }
  return name;
}

bool persistent(const plan::Buffer &b) { return b.program < 0; }
} // namespace

std::vector<LayerCost> advisor::layerCosts(const plan::Plan &p, const hw::Gpu &gpu,
                                          std::vector<size_t> *kernelLayer) {
  const plan::Program *train = p.program("train");
  std::vector<LayerCost> layers;
  if (!train || train->kernels.empty())
    return layers;
  std::unordered_map<std::string, int> params;
  for (const plan::Parameter &q : p.params)
    params.emplace(q.name, 0);
  const auto &kernels = train->kernels;
  // The forward part ends at the first kernel that belongs to no layer (the loss).
  size_t boundary = kernels.size();
  std::vector<std::string> names(kernels.size());
  for (size_t i = 0; i < kernels.size(); ++i) {
    names[i] = layerOf(kernels[i].name, params);
    if (names[i].empty() && boundary == kernels.size())
      boundary = i;
  }
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < boundary; ++i)
    if (index.emplace(names[i], layers.size()).second)
      layers.push_back({names[i]});
  if (layers.empty())
    return layers;
  // Kernels of layers the forward does not name (an activation fused into its producer)
  // go with the layer of the kernel before them; the loss goes with the last layer.
  std::vector<size_t> owner(kernels.size());
  size_t previous = 0;
  for (size_t i = 0; i < kernels.size(); ++i) {
    auto it = index.find(names[i]);
    owner[i] = it != index.end() ? it->second : (names[i].empty() ? layers.size() - 1 : previous);
    previous = owner[i];
  }
  if (kernelLayer)
    *kernelLayer = owner;
  const double flops = gpu.fp32Tflops * 1e12, bandwidth = gpu.bandwidthGBs * 1e9;
  // A buffer belongs to the layer of the first kernel that touches it.
  const size_t none = std::numeric_limits<size_t>::max();
  std::vector<size_t> bufferOwner(p.buffers.size(), none);
  for (size_t i = 0; i < kernels.size(); ++i) {
    double bytes = 0;
    for (int32_t a : kernels[i].args) {
      bytes += double(p.buffers[size_t(a)].bytes);
      if (bufferOwner[size_t(a)] == none)
        bufferOwner[size_t(a)] = owner[i];
    }
    if (flops > 0 && bandwidth > 0)
      layers[owner[i]].seconds += std::max(kernels[i].flops / flops, bytes / bandwidth);
  }
  const int32_t trainIndex = int32_t(train - p.programs.data());
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const plan::Buffer &buf = p.buffers[b];
    if (bufferOwner[b] == none || (!persistent(buf) && buf.program != trainIndex))
      continue;
    LayerCost &l = layers[bufferOwner[b]];
    if (persistent(buf))
      l.persistent += buf.bytes;
    else if (buf.first < int32_t(boundary) && buf.last >= int32_t(boundary))
      l.saved += buf.bytes; // written by the forward, read again by the backward
    else
      l.transient += buf.bytes;
  }
  return layers;
}

uint64_t advisor::stageBytes(const std::vector<LayerCost> &layers, size_t first, size_t end,
                             int index, int stages, int64_t microbatches) {
  uint64_t persistentBytes = 0, saved = 0, transient = 0;
  for (size_t l = first; l < end; ++l) {
    persistentBytes += layers[l].persistent;
    saved += layers[l].saved;
    transient = std::max(transient, layers[l].transient);
  }
  const int64_t inFlight = std::min<int64_t>(microbatches, stages - index);
  return persistentBytes + uint64_t(inFlight) * saved + transient;
}

std::optional<std::vector<Stage>> advisor::splitStages(const std::vector<LayerCost> &layers,
                                                       int stages, int64_t microbatches,
                                                       uint64_t capacity) {
  const size_t n = layers.size();
  if (stages < 1 || n < size_t(stages))
    return std::nullopt;
  const double inf = std::numeric_limits<double>::infinity();
  // best[s][j]: the smallest slowest-stage time of layers [0, j) in s stages, all fitting;
  // cut[s][j] where the last of them starts.
  std::vector<std::vector<double>> best(size_t(stages) + 1, std::vector<double>(n + 1, inf));
  std::vector<std::vector<size_t>> cut(size_t(stages) + 1, std::vector<size_t>(n + 1, 0));
  best[0][0] = 0;
  for (int s = 1; s <= stages; ++s)
    for (size_t j = size_t(s); j <= n - size_t(stages - s); ++j) {
      // The stage [i, j) is stage s-1; grow it leftwards, keeping its sums as we go.
      uint64_t persistentBytes = 0, saved = 0, transient = 0;
      double seconds = 0;
      const int64_t inFlight = std::min<int64_t>(microbatches, stages - (s - 1));
      for (size_t i = j; i-- > size_t(s - 1);) {
        persistentBytes += layers[i].persistent;
        saved += layers[i].saved;
        transient = std::max(transient, layers[i].transient);
        seconds += layers[i].seconds;
        if (persistentBytes + uint64_t(inFlight) * saved + transient > capacity)
          break; // more layers only need more memory
        double slowest = std::max(best[size_t(s - 1)][i], seconds);
        if (slowest < best[size_t(s)][j]) {
          best[size_t(s)][j] = slowest;
          cut[size_t(s)][j] = i;
        }
      }
    }
  if (best[size_t(stages)][n] == inf)
    return std::nullopt;
  std::vector<Stage> out(static_cast<size_t>(stages));
  size_t end = n;
  for (int s = stages; s >= 1; --s) {
    Stage &st = out[size_t(s - 1)];
    st.first = cut[size_t(s)][end];
    st.end = end;
    st.inFlight = std::min<int64_t>(microbatches, stages - (s - 1));
    st.bytes = stageBytes(layers, st.first, st.end, s - 1, stages, microbatches);
    for (size_t l = st.first; l < st.end; ++l)
      st.seconds += layers[l].seconds;
    end = st.first;
  }
  return out;
}

std::optional<StageAssignment> advisor::assignStages(const plan::Plan &plan, const hw::Gpu &gpu,
                                                     int stages, uint64_t capacity) {
  std::vector<size_t> owner;
  std::vector<LayerCost> layers = layerCosts(plan, gpu, &owner);
  auto split = splitStages(layers, stages, 1, capacity);
  if (!split)
    return std::nullopt;
  StageAssignment out;
  out.layers = layers.size();
  std::vector<int32_t> stageOfLayer(layers.size());
  for (size_t s = 0; s < split->size(); ++s) {
    const Stage &st = (*split)[s];
    for (size_t l = st.first; l < st.end; ++l)
      stageOfLayer[l] = int32_t(s);
    out.names.push_back({layers[st.first].name, layers[st.end - 1].name});
  }
  for (size_t k : owner)
    out.kernelStage.push_back(stageOfLayer[k]);
  out.stages = std::move(*split);
  return out;
}
