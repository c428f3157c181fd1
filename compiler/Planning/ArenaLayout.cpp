//===- ArenaLayout.cpp - place every buffer of a plan in one arena -*- C++ -*-===//
#include "compiler/Planning/ArenaLayout.h"

#include "compiler/Planning/MemoryPlanner.h"

using namespace dlc;

static constexpr uint64_t kAlign = plan::kBufferAlignment;

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
    std::vector<planning::Interval> intervals;
    std::vector<size_t> ids;
    for (size_t i = 0; i < plan.buffers.size(); ++i)
      if (plan.buffers[i].program == int32_t(p)) {
        const plan::Buffer &b = plan.buffers[i];
        intervals.push_back({b.bytes, b.first, b.last});
        ids.push_back(i);
      }
    planning::MemoryPlan mp = planning::planMemory(intervals, kAlign);
    for (size_t j = 0; j < ids.size(); ++j)
      plan.buffers[ids[j]].offset = persistent + mp.offsets[j];
    plan.programs[p].peakBytes = mp.peak;
    region = std::max(region, mp.peak);
  }
  plan.arenaBytes = persistent + region;
}
