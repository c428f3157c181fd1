//===- StagePlacement.cpp - a plan's layers split across devices -*- C++ -*-===//
#include "compiler/Planning/StagePlacement.h"

#include "compiler/Planning/ArenaLayout.h"
#include "runtime/plan/KernelCheck.h"

#include <map>
#include <unordered_map>

using namespace dlc;

namespace {
constexpr uint64_t kAlign = plan::kBufferAlignment;
uint64_t aligned(uint64_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

std::string layerOf(const plan::Kernel &k) {
  size_t at = k.name.find('@');
  return at == std::string::npos ? "" : k.name.substr(at + 1);
}

} // namespace

std::vector<int32_t> dlc::programStages(const plan::Program &train,
                                        const std::vector<int32_t> &trainStage,
                                        const plan::Program &eval) {
  std::unordered_map<std::string, int32_t> byLayer;
  for (size_t i = 0; i < train.kernels.size(); ++i) {
    std::string layer = layerOf(train.kernels[i]);
    if (!layer.empty())
      byLayer.emplace(layer, trainStage[i]);
  }
  std::vector<int32_t> out(eval.kernels.size());
  int32_t previous = 0;
  for (size_t i = 0; i < eval.kernels.size(); ++i) {
    auto it = byLayer.find(layerOf(eval.kernels[i]));
    out[i] = previous = it != byLayer.end() ? it->second : previous;
  }
  return out;
}

namespace {
/// Rewrites program `pi` so that each kernel touches only buffers of its own stage: a remote
/// buffer is read through a copy on the reading stage, refreshed after every write at home.
bool localize(plan::Plan &plan, int32_t pi, const std::vector<int32_t> &stage,
              std::vector<int32_t> &home, std::string &error) {
  plan::Program &prog = plan.programs[pi];
  std::vector<plan::Kernel> kernels;
  std::vector<int32_t> stages;
  std::map<std::pair<int32_t, int32_t>, int32_t> mirror; // (buffer, stage) -> its copy there
  std::map<std::pair<int32_t, int32_t>, bool> fresh;     // ... holds the current value
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    plan::Kernel k = std::move(prog.kernels[i]);
    const int32_t s = stage[i];
    for (size_t a = 0; a < k.args.size(); ++a) {
      int32_t &id = k.args[a];
      if (home[id] < 0)
        home[id] = s;
      const bool writes = plan::kernelWritesArg(k.kind, a);
      if (home[id] == s) {
        if (writes)
          for (auto &[key, ok] : fresh)
            if (key.first == id)
              ok = false;
        continue;
      }
      if (writes && (k.kind == plan::KernelKind::GradSumSq ||
                     k.kind == plan::KernelKind::ClipScale)) {
        error = "pipeline placement does not support training.clip_grad_norm yet (the global "
                "gradient norm sums every stage's gradients); drop it or use --placement data";
        return false;
      }
      if (writes) {
        error = "pipeline placement: kernel '" + k.name + "' on stage " + std::to_string(s) +
                " writes '" + plan.buffers[id].name + "', which stage " +
                std::to_string(home[id]) + " holds (not supported yet)";
        return false;
      }
      const plan::Buffer source = plan.buffers[id];
      if (source.bytes % 4 != 0) {
        error = "pipeline placement: buffer '" + source.name + "' is not whole floats";
        return false;
      }
      auto key = std::make_pair(id, s);
      auto m = mirror.find(key);
      if (m == mirror.end()) {
        plan::Buffer copy = source;
        copy.name += "@stage" + std::to_string(s);
        copy.program = pi;
        if (source.program < 0 || source.kind == plan::BufferKind::Output)
          copy.kind = plan::BufferKind::Activation; // a step's copy of a parameter or state
        plan.buffers.push_back(copy);
        home.push_back(s);
        m = mirror.emplace(key, int32_t(plan.buffers.size() - 1)).first;
      }
      if (!fresh[key]) {
        plan::Kernel c;
        c.kind = plan::KernelKind::Copy;
        c.name = "copy@" + source.name;
        c.ints = {int64_t(source.bytes / plan::dtypeBytes(source.dtype))};
        c.args = {id, m->second};
        c.flops = plan::kernelFlops(c);
        kernels.push_back(std::move(c));
        stages.push_back(s);
        fresh[key] = true;
      }
      id = m->second;
    }
    kernels.push_back(std::move(k));
    stages.push_back(s);
  }
  prog.kernels = std::move(kernels);
  prog.kernelStage = std::move(stages);
  recomputeLiveness(plan, pi);
  return true;
}
} // namespace

std::vector<std::vector<int32_t>> dlc::allProgramStages(const plan::Plan &plan,
                                                         const std::vector<int32_t> &trainStage) {
  const plan::Program *train = plan.program("train");
  std::vector<std::vector<int32_t>> stages;
  for (const plan::Program &p : plan.programs)
    stages.push_back(&p == train ? trainStage : programStages(*train, trainStage, p));
  return stages;
}

bool dlc::placeStages(plan::Plan &plan, const std::vector<std::vector<int32_t>> &stages,
                      const std::vector<std::pair<std::string, std::string>> &names,
                      std::string &error) {
  const int32_t n = int32_t(names.size());
  int32_t train = -1;
  for (size_t p = 0; p < plan.programs.size(); ++p)
    if (plan.programs[p].name == "train")
      train = int32_t(p);
  if (train < 0 || stages.size() != plan.programs.size()) {
    error = "pipeline placement: no training step, or a stage list of another length";
    return false;
  }
  for (size_t p = 0; p < plan.programs.size(); ++p)
    if (stages[p].size() != plan.programs[p].kernels.size()) {
      error = "pipeline placement: a stage list of another length";
      return false;
    }
  std::vector<int32_t> home(plan.buffers.size(), -1);
  // The training step first: it decides where the parameters live. Then the others (eval,
  // infer), their kernels on their layers' stages.
  const std::vector<int32_t> &trainStage = stages[size_t(train)];
  if (!localize(plan, train, trainStage, home, error))
    return false;
  for (size_t p = 0; p < plan.programs.size(); ++p)
    if (int32_t(p) != train && !localize(plan, int32_t(p), stages[p], home, error))
      return false;

  // Persistent regions, stage after stage; a buffer no kernel touches stays with stage 0.
  plan.stages.assign(size_t(n), {});
  uint64_t cursor = 0;
  for (int32_t s = 0; s < n; ++s) {
    plan::StageRegion &r = plan.stages[size_t(s)];
    r.first = names[size_t(s)].first;
    r.last = names[size_t(s)].second;
    r.persistentOffset = cursor;
    for (size_t b = 0; b < plan.buffers.size(); ++b)
      if (plan.buffers[b].program < 0 && std::max(home[b], 0) == s) {
        plan.buffers[b].offset = cursor;
        cursor += aligned(plan.buffers[b].bytes);
      }
    r.persistentBytes = cursor - r.persistentOffset;
  }
  plan.persistentBytes = cursor;
  // Step regions: each stage's buffers of each program planned by liveness, programs sharing
  // the stage's region (they never run at the same time).
  for (plan::Program &p : plan.programs)
    p.peakBytes = 0;
  for (int32_t s = 0; s < n; ++s) {
    plan::StageRegion &r = plan.stages[size_t(s)];
    r.offset = cursor;
    uint64_t region = 0;
    for (size_t p = 0; p < plan.programs.size(); ++p) {
      uint64_t peak = placeProgramBuffers(plan, int32_t(p), r.offset,
                                          [&](size_t b) { return std::max(home[b], 0) == s; });
      plan.programs[p].peakBytes += peak;
      region = std::max(region, peak);
    }
    r.bytes = aligned(region);
    cursor += r.bytes;
  }
  plan.arenaBytes = cursor;
  return true;
}
