//===- ArenaLayout.cpp - place every buffer of a plan in one arena -*- C++ -*-===//
#include "compiler/Planning/ArenaLayout.h"

#include "compiler/Planning/MemoryPlanner.h"

#include <algorithm>
#include <climits>

using namespace dlc;

static constexpr uint64_t kAlign = plan::kBufferAlignment;

void dlc::recomputeLiveness(plan::Plan &plan, int32_t pi) {
  plan::Program &prog = plan.programs[pi];
  for (plan::Buffer &b : plan.buffers)
    if (b.program == pi) {
      b.first = INT32_MAX;
      b.last = -1;
    }
  auto touch = [&](int32_t id, int32_t step) {
    plan::Buffer &b = plan.buffers[id];
    if (b.program != pi)
      return;
    b.first = std::min(b.first, step);
    b.last = std::max(b.last, step);
  };
  for (size_t i = 0; i < prog.kernels.size(); ++i)
    for (int32_t id : prog.kernels[i].args)
      touch(id, int32_t(i));
  for (const plan::ProgramInput &in : prog.inputs)
    touch(in.buffer, 0);
  // What dlrun reads back after the last kernel lives to the end: output buffers, the loss
  // and correct scalars, the infer program's named outputs.
  int32_t end = std::max<int32_t>(0, int32_t(prog.kernels.size()) - 1);
  for (size_t id = 0; id < plan.buffers.size(); ++id)
    if (plan.buffers[id].program == pi && plan.buffers[id].kind == plan::BufferKind::Output)
      touch(int32_t(id), end);
  for (int32_t id : {prog.loss, prog.correct})
    if (id >= 0)
      touch(id, end);
  for (const plan::ProgramOutput &out : prog.outputs)
    touch(out.buffer, end);
}

uint64_t dlc::placeProgramBuffers(plan::Plan &plan, int32_t program, uint64_t base,
                                  const std::function<bool(size_t)> &pick) {
  std::vector<planning::Interval> intervals;
  std::vector<size_t> ids;
  for (size_t i = 0; i < plan.buffers.size(); ++i)
    if (plan.buffers[i].program == program && pick(i)) {
      const plan::Buffer &b = plan.buffers[i];
      intervals.push_back({b.bytes, b.first, b.last});
      ids.push_back(i);
    }
  planning::MemoryPlan mp = planning::planMemory(intervals, kAlign);
  for (size_t j = 0; j < ids.size(); ++j)
    plan.buffers[ids[j]].offset = base + mp.offsets[j];
  return mp.peak;
}

void dlc::layoutArena(plan::Plan &plan) {
  uint64_t persistent = 0;
  for (plan::Buffer &b : plan.buffers)
    if (b.program < 0) {
      b.offset = persistent;
      persistent += (b.bytes + kAlign - 1) / kAlign * kAlign;
    }
  plan.persistentBytes = persistent;
  uint64_t region = 0;
  for (size_t p = 0; p < plan.programs.size(); ++p) {
    plan.programs[p].peakBytes =
        placeProgramBuffers(plan, int32_t(p), persistent, [](size_t) { return true; });
    region = std::max(region, plan.programs[p].peakBytes);
  }
  plan.arenaBytes = persistent + region;
}
