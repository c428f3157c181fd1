//===- Recompute.cpp - activation checkpointing per block -------*- C++ -*-===//
//
// For each block B of the training step (Recompute.h says what a block is):
//   1. W = the buffers B's forward kernels write; a forward kernel writing persistent state
//      leaves B as it is;
//   2. N = the values in W that B's gradient kernels (after the loss) read: what the step
//      keeps for B's backward; nothing to do when empty;
//   3. walking B's forward kernels backwards, a kernel is cloned when it writes something
//      in N, and what it reads from W joins N (the clone needs it recomputed too);
//   4. the clones, writing fresh buffers, go just before B's first gradient kernel that
//      reads N, and B's gradient kernels read the fresh buffers.
// The clones go before any kernel that updates a persistent buffer they read (the optimizer
// steps interleaved with the gradients, dropout's counter increment), so they see the
// forward's parameters and masks: the recomputed values are bit for bit the originals.
// The originals in W then die with their last forward reader; B's input (the previous
// block's output) is read by the clones and so lives to B's backward: the checkpoint.
//
#include "compiler/Planning/Recompute.h"

#include "compiler/Planning/ArenaLayout.h"
#include "runtime/plan/KernelCheck.h"

#include <climits>
#include <cstdio>
#include <map>
#include <set>
#include <unordered_map>

using namespace dlc;

namespace {

/// The layer a kernel belongs to (its name after '@') up to the layer's last dot; empty for
/// a kernel of no layer or of a layer outside any block.
std::string blockOf(const plan::Kernel &k) {
  size_t at = k.name.find('@');
  if (at == std::string::npos)
    return "";
  size_t dot = k.name.rfind('.');
  return dot == std::string::npos || dot < at ? "" : k.name.substr(at + 1, dot - at - 1);
}

struct BlockRewrite {
  size_t at = 0;                           // original index of the kernel the clones precede
  std::vector<plan::Kernel> clones;
  std::unordered_map<int32_t, int32_t> map; // original buffer -> its recomputed copy
};

} // namespace

RecomputeReport dlc::recomputeBlocks(plan::Plan &plan) {
  RecomputeReport report;
  int32_t pi = -1;
  for (size_t p = 0; p < plan.programs.size(); ++p)
    if (plan.programs[p].name == "train")
      pi = int32_t(p);
  if (pi < 0)
    return report;
  plan::Program &prog = plan.programs[pi];
  const size_t n = prog.kernels.size();
  auto writes = [](const plan::Kernel &k, size_t a) { return plan::kernelWritesArg(k.kind, a); };

  // The forward pass ends with the kernel that writes the loss.
  size_t lossAt = n;
  for (size_t i = 0; i < n && lossAt == n; ++i)
    for (size_t a = 0; a < prog.kernels[i].args.size(); ++a)
      if (prog.kernels[i].args[a] == prog.loss && writes(prog.kernels[i], a))
        lossAt = i;
  if (lossAt == n)
    return report;

  std::vector<std::string> blocks(n);
  std::vector<std::string> order;
  std::map<std::string, std::vector<size_t>> forward;
  for (size_t i = 0; i < n; ++i) {
    blocks[i] = blockOf(prog.kernels[i]);
    if (i < lossAt && !blocks[i].empty()) {
      if (!forward.count(blocks[i]))
        order.push_back(blocks[i]);
      forward[blocks[i]].push_back(i);
    }
  }

  std::map<std::string, BlockRewrite> rewrites;
  for (const std::string &block : order) {
    const std::vector<size_t> &ks = forward[block];
    std::set<int32_t> written;
    std::string persistent;
    for (size_t i : ks)
      for (size_t a = 0; a < prog.kernels[i].args.size(); ++a)
        if (writes(prog.kernels[i], a)) {
          int32_t id = prog.kernels[i].args[a];
          if (plan.buffers[id].program != pi && persistent.empty())
            persistent = block + ": its kernel " + prog.kernels[i].name + " updates '" +
                         plan.buffers[id].name + "' (running it twice would update it twice)";
          written.insert(id);
        }
    if (!persistent.empty()) {
      report.skipped.push_back(persistent);
      continue;
    }
    std::set<int32_t> needed;
    size_t first = n;
    for (size_t i = lossAt + 1; i < n; ++i) {
      if (blocks[i] != block)
        continue;
      for (size_t a = 0; a < prog.kernels[i].args.size(); ++a)
        if (!writes(prog.kernels[i], a) && written.count(prog.kernels[i].args[a])) {
          needed.insert(prog.kernels[i].args[a]);
          first = std::min(first, i);
        }
    }
    if (needed.empty())
      continue; // the backward keeps nothing of this block's
    std::vector<bool> cloned(ks.size());
    for (size_t j = ks.size(); j-- > 0;) {
      const plan::Kernel &k = prog.kernels[ks[j]];
      bool makesNeeded = false;
      for (size_t a = 0; a < k.args.size(); ++a)
        makesNeeded |= writes(k, a) && needed.count(k.args[a]);
      if (!makesNeeded)
        continue;
      cloned[j] = true;
      for (int32_t id : k.args) // what it reads (or updates in place) from the block
        if (written.count(id))
          needed.insert(id);
    }
    BlockRewrite &rw = rewrites[block];
    for (size_t j = 0; j < ks.size(); ++j) {
      if (!cloned[j])
        continue;
      plan::Kernel c = prog.kernels[ks[j]];
      c.name += " [recompute]";
      for (int32_t &id : c.args) {
        if (!written.count(id))
          continue; // parameters, inputs, the block's input: read as they are
        auto it = rw.map.find(id);
        if (it == rw.map.end()) {
          plan::Buffer copy = plan.buffers[id];
          copy.name += " [recompute]";
          plan.buffers.push_back(copy);
          it = rw.map.emplace(id, int32_t(plan.buffers.size() - 1)).first;
        }
        id = it->second;
      }
      report.extraFlops += c.flops;
      rw.clones.push_back(std::move(c));
    }
    // The clones must read the persistent buffers (parameters, dropout's step counter) as the
    // forward did: before the optimizer updates them, which the backward interleaves with
    // the gradients, and before the counter's increment.
    std::set<int32_t> persistentReads;
    for (const plan::Kernel &c : rw.clones)
      for (int32_t id : c.args)
        if (plan.buffers[id].program != pi)
          persistentReads.insert(id);
    for (size_t i = lossAt + 1; i < first; ++i)
      for (size_t a = 0; a < prog.kernels[i].args.size(); ++a)
        if (writes(prog.kernels[i], a) && persistentReads.count(prog.kernels[i].args[a]))
          first = std::min(first, i);
    rw.at = first;
    ++report.blocks;
  }
  if (rewrites.empty())
    return report;

  std::multimap<size_t, const BlockRewrite *> at;
  for (auto &[block, rw] : rewrites)
    at.emplace(rw.at, &rw);
  std::vector<plan::Kernel> kernels;
  kernels.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    for (auto [it, end] = at.equal_range(i); it != end; ++it)
      kernels.insert(kernels.end(), it->second->clones.begin(), it->second->clones.end());
    plan::Kernel k = std::move(prog.kernels[i]);
    auto rw = i > lossAt ? rewrites.find(blocks[i]) : rewrites.end();
    if (rw != rewrites.end())
      for (size_t a = 0; a < k.args.size(); ++a)
        if (!writes(k, a))
          if (auto m = rw->second.map.find(k.args[a]); m != rw->second.map.end())
            k.args[a] = m->second;
    kernels.push_back(std::move(k));
  }
  prog.kernels = std::move(kernels);
  recomputeLiveness(plan, pi);
  return report;
}

std::string dlc::describeRecompute(const RecomputeReport &report, const plan::Plan &plan) {
  if (report.blocks == 0 && report.skipped.empty())
    return "dlc: --recompute: nothing to recompute (a block is the layers named BLOCK.NAME, "
           "e.g. h.0.attn and h.0.mlp; this model's gradients keep no block's values)";
  double total = 0;
  if (const plan::Program *train = plan.program("train"))
    for (const plan::Kernel &k : train->kernels)
      total += k.flops;
  char line[256];
  std::snprintf(line, sizeof line,
                "dlc: --recompute: %lld block%s run their forward again in the backward: "
                "+%.2f GFLOP per step (+%.1f%% of the step's)",
                (long long)report.blocks, report.blocks == 1 ? "" : "s", report.extraFlops / 1e9,
                total > report.extraFlops ? 100 * report.extraFlops / (total - report.extraFlops)
                                          : 0.0);
  std::string out = line;
  for (const std::string &s : report.skipped)
    out += "\ndlc: --recompute: kept block " + s;
  return out;
}
