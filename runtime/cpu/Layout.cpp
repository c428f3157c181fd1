//===- Layout.cpp - activations in oneDNN's blocked layout, chosen at load -===//
//
// Buffers that must share a layout (a batch norm's input and output, an elementwise
// kernel's arguments, buffers sharing memory while both live) are joined into groups; a
// group is blocked when no member is touched by a kernel that needs NCHW there and every
// shape known for it (from convolutions, batch norm, pooling) has the same channels and
// positions per image, channels a multiple of the block. Convolutions join nothing: oneDNN
// takes each of their tensors in either layout. Max pooling ties its tensors (one layout for
// all, shapes differing): settled after the groups, a tie with one NCHW member is all NCHW.
//
#include "runtime/cpu/Layout.h"

#include "runtime/cpu/Convolution.h"
#include "runtime/cpu/DnnlConv.h"
#include "runtime/cpu/Executor.h"
#include "runtime/cpu/Kernels.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <numeric>

namespace dlc::cpu {
namespace {
using plan::KernelKind;

/// An argument of a kernel that may be blocked: its position and, where the kind knows it,
/// its channels and positions per image (c = 0: unknown, an elementwise argument).
struct Role {
  size_t arg;
  int64_t c = 0, hw = 0;
};

bool isElementwise(KernelKind kind) {
  switch (kind) {
#define DLC_ELEMENTWISE_KIND(Enum, name, params, flopsPerElement, cpu, cuda)                       \
  case KernelKind::Enum:                                                                           \
    return true;
#define DLC_KERNEL_KIND(Enum, name, params, ints, floats, epilogues, tolerance, flops, cpu)
#include "runtime/plan/KernelKinds.def"
  default:
    return false;
  }
}

/// A convolution kernel's shape and direction; false for the other kinds.
bool convOf(const plan::Kernel &k, GroupedConvShape &s, DnnlConvOp &op) {
  using K = KernelKind;
  const std::vector<int64_t> &i = k.ints;
  const bool general = k.kind == K::Conv2dGeneralFwd || k.kind == K::Conv2dGeneralBwdData ||
                       k.kind == K::Conv2dGeneralBwdFilter;
  const bool plain =
      k.kind == K::Conv2dFwd || k.kind == K::Conv2dBwdData || k.kind == K::Conv2dBwdFilter;
  if (!general && !plain)
    return false;
  if (general)
    s = {int(i[0]),  int(i[1]),  int(i[2]),  int(i[3]),  int(i[4]),  int(i[5]),
         int(i[6]),  int(i[7]),  int(i[8]),  int(i[9]),  int(i[10]), int(i[11]),
         int(i[12]), int(i[13]), int(i[14]), int(i[15])};
  else
    s = generalShape({int(i[0]), int(i[1]), int(i[2]), int(i[3]), int(i[4]), int(i[5]),
                      int(i[6]), int(i[7]), int(i[8]), int(i[9]), int(i[10])});
  op = k.kind == K::Conv2dFwd || k.kind == K::Conv2dGeneralFwd ? DnnlConvOp::Forward
       : k.kind == K::Conv2dBwdData || k.kind == K::Conv2dGeneralBwdData
           ? DnnlConvOp::BackwardData
           : DnnlConvOp::BackwardFilter;
  return true;
}

/// The argument holding a convolution's filter (its gradient for a filter gradient).
size_t filterArg(DnnlConvOp op) { return op == DnnlConvOp::BackwardFilter ? 2 : 1; }

/// The arguments of `k` that may be blocked; `join`: they must share one layout and shape
/// (one group); `tie`: they must share one layout but not their shape (max pooling's input
/// and output), settled after the groups.
std::vector<Role> rolesOf(const plan::Kernel &k, bool &join, bool &tie) {
  using K = KernelKind;
  join = false, tie = false;
  const std::vector<int64_t> &i = k.ints;
  switch (k.kind) {
  case K::Conv2dFwd:
  case K::Conv2dBwdData:
  case K::Conv2dBwdFilter:
  case K::Conv2dGeneralFwd:
  case K::Conv2dGeneralBwdData:
  case K::Conv2dGeneralBwdFilter: {
    GroupedConvShape s;
    DnnlConvOp op;
    convOf(k, s, op);
    // The in-house kernels read NCHW only.
    if (!preferDnnl(op, s))
      return {};
    const Role x{0, s.c, int64_t(s.h) * s.w}, y{0, s.k, int64_t(s.oh()) * s.ow()};
    switch (op) {
    case DnnlConvOp::Forward:
      return {x, Role{2, y.c, y.hw}};
    case DnnlConvOp::BackwardData:
      return {y, Role{2, x.c, x.hw}};
    case DnnlConvOp::BackwardFilter:
      return {y, Role{1, x.c, x.hw}};
    }
    return {};
  }
  case K::BatchNormTrain:
  case K::BatchNormEval:
    join = true;
    return {Role{0, i[1], i[2]}, Role{5, i[1], i[2]}};
  case K::BatchNormBwd:
    join = true;
    return {Role{0, i[1], i[2]}, Role{1, i[1], i[2]}, Role{5, i[1], i[2]}};
  case K::MaxPoolFwd: {
    tie = true;
    const PoolShape s{int(i[0]), int(i[1]), int(i[2]), int(i[3]), int(i[4]),
                      int(i[5]), int(i[6]), int(i[7]), int(i[8]), int(i[9])};
    return {Role{0, s.c, int64_t(s.h) * s.w}, Role{1, s.c, int64_t(s.oh()) * s.ow()}};
  }
  case K::MaxPoolBwd: {
    tie = true;
    const PoolShape s{int(i[0]), int(i[1]), int(i[2]), int(i[3]), int(i[4]),
                      int(i[5]), int(i[6]), int(i[7]), int(i[8]), int(i[9])};
    const Role x{0, s.c, int64_t(s.h) * s.w};
    return {x, Role{1, s.c, int64_t(s.oh()) * s.ow()}, Role{2, x.c, x.hw}};
  }
  case K::AvgPoolFwd:
  case K::AvgPoolBwd: {
    // Global windows only; the pooled [n][c] tensor is the same bytes in either layout and
    // stays NCHW for whatever reads it.
    const bool global = i[4] == i[2] && i[5] == i[3] && i[8] == 0 && i[9] == 0;
    if (!global)
      return {};
    return {Role{k.kind == K::AvgPoolFwd ? size_t(0) : size_t(1), i[1], i[2] * i[3]}};
  }
  default:
    if (!isElementwise(k.kind))
      return {};
    join = true;
    std::vector<Role> all;
    for (size_t a = 0; a < k.args.size(); ++a)
      all.push_back(Role{a});
    return all;
  }
}

struct Groups {
  std::vector<int32_t> parent;
  explicit Groups(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  int32_t find(int32_t b) {
    while (parent[b] != b)
      b = parent[b] = parent[parent[b]];
    return b;
  }
  void join(int32_t a, int32_t b) { parent[find(a)] = find(b); }
};

/// Joins the (transient) buffers of `ids` that share memory with another of one program
/// while both live: views of one tensor, so one layout for both.
void joinViews(const plan::Plan &plan, std::vector<int32_t> ids, Groups &groups) {
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    return plan.buffers[a].offset < plan.buffers[b].offset;
  });
  for (size_t a = 0; a < ids.size(); ++a) {
    const plan::Buffer &ba = plan.buffers[ids[a]];
    for (size_t c = a + 1; c < ids.size(); ++c) {
      const plan::Buffer &bc = plan.buffers[ids[c]];
      if (bc.offset >= ba.offset + ba.bytes)
        break;
      if (bc.program == ba.program && bc.first <= ba.last && ba.first <= bc.last)
        groups.join(ids[a], ids[c]);
    }
  }
}

} // namespace

bool blockedLayoutsEnabled() {
  const char *e = std::getenv("DLC_BLOCKED");
  if (e && std::strcmp(e, "0") == 0)
    return false;
  return dnnlEnabled();
}

namespace {
bool isConv(KernelKind kind) {
  return kind == KernelKind::Conv2dFwd || kind == KernelKind::Conv2dBwdData ||
         kind == KernelKind::Conv2dBwdFilter || kind == KernelKind::Conv2dGeneralFwd ||
         kind == KernelKind::Conv2dGeneralBwdData || kind == KernelKind::Conv2dGeneralBwdFilter;
}

/// One assignment; `refused[n]`: convolution n must keep NCHW (oneDNN refused it blocked).
LayoutStats assignOnce(const plan::Plan &plan, size_t index, plan::Program &prog, int block,
                       const std::vector<char> &refused, const std::vector<char> &filterBlocked) {
  LayoutStats stats;
  for (plan::Kernel &k : prog.kernels)
    k.blocked = 0;
  const size_t nb = plan.buffers.size();
  Groups groups(nb);
  std::vector<char> used(nb, 0), needsPlain(nb, 0);
  std::vector<int64_t> chans(nb, 0), positions(nb, 0);

  auto shape = [&](int32_t b, int64_t c, int64_t hw) {
    if (c <= 0)
      return;
    if (chans[b] == 0)
      chans[b] = c, positions[b] = hw;
    else if (chans[b] != c || positions[b] != hw)
      needsPlain[b] = 1; // two kernels read it with different shapes: a view
  };
  for (const plan::ProgramInput &in : prog.inputs)
    if (in.buffer >= 0 && size_t(in.buffer) < nb)
      needsPlain[in.buffer] = 1;
  for (const plan::ProgramOutput &out : prog.outputs)
    if (out.buffer >= 0 && size_t(out.buffer) < nb)
      needsPlain[out.buffer] = 1;
  for (int32_t b : {prog.loss, prog.correct})
    if (b >= 0 && size_t(b) < nb)
      needsPlain[b] = 1;

  std::vector<std::vector<Role>> roles(prog.kernels.size());
  std::vector<size_t> tied; // kernels whose roles share a layout across groups
  for (size_t n = 0; n < prog.kernels.size(); ++n) {
    const plan::Kernel &k = prog.kernels[n];
    bool join = false, tie = false;
    if (!refused[n])
      roles[n] = rolesOf(k, join, tie);
    if (tie)
      tied.push_back(n);
    std::vector<char> isRole(k.args.size(), 0);
    for (const Role &r : roles[n])
      if (r.arg < k.args.size())
        isRole[r.arg] = 1;
    for (size_t a = 0; a < k.args.size(); ++a) {
      const int32_t b = k.args[a];
      if (b < 0 || size_t(b) >= nb)
        continue;
      used[b] = 1;
      if (!isRole[a])
        needsPlain[b] = 1;
    }
    for (const Role &r : roles[n]) {
      if (r.arg >= k.args.size())
        continue;
      const int32_t b = k.args[r.arg];
      shape(b, r.c, r.hw);
      if (join && r.arg != roles[n][0].arg)
        groups.join(b, k.args[roles[n][0].arg]);
    }
  }
  // Persistent buffers (parameters, optimizer state) and other programs' stay as they are.
  std::vector<int32_t> mine;
  for (size_t b = 0; b < nb; ++b) {
    if (!used[b])
      continue;
    if (plan.buffers[b].program != int32_t(index))
      needsPlain[b] = 1;
    else
      mine.push_back(int32_t(b));
  }
  joinViews(plan, mine, groups);
  // A group's verdict: all members free of NCHW readers, one known shape, channels a
  // multiple of the block.
  std::vector<char> bad(nb, 0);
  std::vector<int64_t> gc(nb, 0), ghw(nb, 0);
  for (size_t b = 0; b < nb; ++b) {
    if (!used[b])
      continue;
    const int32_t g = groups.find(int32_t(b));
    if (needsPlain[b])
      bad[g] = 1;
    if (chans[b] == 0)
      continue;
    if (chans[b] % block != 0)
      bad[g] = 1;
    if (gc[g] == 0)
      gc[g] = chans[b], ghw[g] = positions[b];
    else if (gc[g] != chans[b] || ghw[g] != positions[b])
      bad[g] = 1;
  }
  auto isBlocked = [&](int32_t b) {
    const int32_t g = groups.find(b);
    return !bad[g] && gc[g] != 0;
  };
  // A tied kernel with one NCHW role makes all its roles NCHW, which may untie others: repeat
  // until nothing changes (each round turns at least one group bad, so this ends).
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t n : tied) {
      const plan::Kernel &k = prog.kernels[n];
      bool all = true;
      for (const Role &r : roles[n])
        all = all && r.arg < k.args.size() && k.args[r.arg] >= 0 &&
              size_t(k.args[r.arg]) < nb && isBlocked(k.args[r.arg]);
      if (all)
        continue;
      for (const Role &r : roles[n])
        if (r.arg < k.args.size() && k.args[r.arg] >= 0 && size_t(k.args[r.arg]) < nb &&
            isBlocked(k.args[r.arg])) {
          bad[groups.find(k.args[r.arg])] = 1;
          changed = true;
        }
    }
  }
  for (size_t n = 0; n < prog.kernels.size(); ++n) {
    plan::Kernel &k = prog.kernels[n];
    for (const Role &r : roles[n])
      if (r.arg < k.args.size() && r.arg < 8 && k.args[r.arg] >= 0 &&
          size_t(k.args[r.arg]) < nb && isBlocked(k.args[r.arg]))
        k.blocked |= uint8_t(1u << r.arg);
    // A convolution's filter: bit 1 (forward, data gradient) or 2 (filter gradient).
    GroupedConvShape s;
    DnnlConvOp op;
    if (convOf(k, s, op)) {
      const size_t fa = filterArg(op);
      if (fa < k.args.size() && k.args[fa] >= 0 && size_t(k.args[fa]) < nb &&
          filterBlocked[size_t(k.args[fa])]) {
        k.blocked |= uint8_t(1u << fa);
        ++stats.filterCalls;
      }
    }
    // Bit j is argument j, which for the convolution kinds is DnnlConv.h's bit j.
    stats.convCalls += isConv(k.kind) && k.blocked;
  }
  stats.block = block;
  for (int32_t b : mine) {
    ++stats.buffers;
    stats.blocked += isBlocked(b);
  }
  return stats;
}
} // namespace

std::vector<BlockedFilter> assignFilterLayouts(const plan::Plan &plan) {
  // DLC_BLOCKED_FILTERS=0: filters stay OIHW (activations as DLC_BLOCKED says), to measure.
  const char *e = std::getenv("DLC_BLOCKED_FILTERS");
  if (!blockedLayoutsEnabled() || !plan.stages.empty() || (e && std::strcmp(e, "0") == 0))
    return {};
  const size_t nb = plan.buffers.size();
  auto valid = [&](int32_t b) { return b >= 0 && size_t(b) < nb; };
  Groups groups(nb);
  std::vector<char> used(nb, 0), bad(nb, 0), forwardFits(nb, 0);
  std::vector<std::array<int, 4>> dims(nb, {0, 0, 0, 0});
  for (const plan::Program &prog : plan.programs) {
    for (const plan::ProgramInput &in : prog.inputs)
      if (valid(in.buffer))
        bad[size_t(in.buffer)] = 1;
    for (const plan::ProgramOutput &out : prog.outputs)
      if (valid(out.buffer))
        bad[size_t(out.buffer)] = 1;
    for (int32_t b : {prog.loss, prog.correct})
      if (valid(b))
        bad[size_t(b)] = 1;
    for (const plan::Kernel &k : prog.kernels) {
      GroupedConvShape s;
      DnnlConvOp op;
      if (convOf(k, s, op)) {
        const size_t fa = filterArg(op);
        for (size_t a = 0; a < k.args.size(); ++a)
          if (valid(k.args[a])) {
            used[size_t(k.args[a])] = 1;
            if (a != fa)
              bad[size_t(k.args[a])] = 1; // an activation, never a filter
          }
        if (fa >= k.args.size() || !valid(k.args[fa]))
          continue;
        const size_t b = size_t(k.args[fa]);
        const std::array<int, 4> d = {s.k, s.c, s.r, s.s};
        if (dims[b][0] == 0)
          dims[b] = d;
        else if (dims[b] != d)
          bad[b] = 1;
        // The in-house kernels read OIHW; oneDNN must take the kernel with its filter so.
        plan::Kernel probe = k;
        probe.blocked = uint8_t(1u << fa);
        if (s.groups != 1 || !preferDnnl(op, s) || !prepareKernel(probe))
          bad[b] = 1;
        else if (op == DnnlConvOp::Forward)
          (dnnlFilterLayoutFits(s) ? forwardFits[b] : bad[b]) = 1;
        continue;
      }
      // Layout-blind kinds: the first `tied` arguments are one tensor's worth each, combined
      // position by position (one layout for all); the rest are scalars and state.
      size_t tied = 0;
      switch (k.kind) {
      case KernelKind::SgdMomentum:
      case KernelKind::SgdStep:
        tied = 3;
        break;
      case KernelKind::AdamStep:
        tied = 4;
        break;
      case KernelKind::GradSumSq:
      case KernelKind::UnscaleGrad:
        tied = 1;
        break;
      default:
        tied = isElementwise(k.kind) ? k.args.size() : 0;
      }
      for (size_t a = 0; a < k.args.size(); ++a) {
        if (!valid(k.args[a]))
          continue;
        used[size_t(k.args[a])] = 1;
        if (a >= tied && tied == 0)
          bad[size_t(k.args[a])] = 1; // a kind that reads positions
        else if (a > 0 && a < tied && valid(k.args[0]))
          groups.join(k.args[a], k.args[0]);
      }
    }
  }
  std::vector<int32_t> transient;
  for (size_t b = 0; b < nb; ++b)
    if (used[b] && plan.buffers[b].program >= 0)
      transient.push_back(int32_t(b));
  joinViews(plan, transient, groups);
  // A group's verdict: no member bad, one filter shape, a forward that asks for the layout,
  // every member one filter's worth of float32.
  std::vector<char> gbad(nb, 0), gfits(nb, 0);
  std::vector<std::array<int, 4>> gdims(nb, {0, 0, 0, 0});
  for (size_t b = 0; b < nb; ++b) {
    if (!used[b])
      continue;
    const size_t g = size_t(groups.find(int32_t(b)));
    gbad[g] |= bad[b];
    gfits[g] |= forwardFits[b];
    if (dims[b][0] == 0)
      continue;
    if (gdims[g][0] == 0)
      gdims[g] = dims[b];
    else if (gdims[g] != dims[b])
      gbad[g] = 1;
  }
  std::vector<BlockedFilter> out;
  for (size_t b = 0; b < nb; ++b) {
    if (!used[b])
      continue;
    const size_t g = size_t(groups.find(int32_t(b)));
    const std::array<int, 4> &d = gdims[g];
    if (gbad[g] || !gfits[g] || d[0] == 0)
      continue;
    const uint64_t bytes = uint64_t(d[0]) * d[1] * d[2] * d[3] * 4;
    if (plan.buffers[b].dtype != plan::DType::F32 || plan.buffers[b].bytes != bytes)
      gbad[g] = 1; // settles the group: members already listed are dropped below
    else
      out.push_back(BlockedFilter{int32_t(b), d[0], d[1], d[2], d[3]});
  }
  out.erase(std::remove_if(out.begin(), out.end(),
                           [&](const BlockedFilter &f) {
                             return gbad[size_t(groups.find(f.buffer))] != 0;
                           }),
            out.end());
  return out;
}

LayoutStats assignLayouts(const plan::Plan &plan, size_t index, plan::Program &prog,
                          const std::vector<BlockedFilter> &filters) {
  for (plan::Kernel &k : prog.kernels)
    k.blocked = 0;
  if (!blockedLayoutsEnabled())
    return {};
  // Only where oneDNN runs a convolution (asking it for its layout costs it its start-up).
  bool dnnlConv = false;
  for (const plan::Kernel &k : prog.kernels) {
    bool join, tie;
    dnnlConv = dnnlConv || (isConv(k.kind) && !rolesOf(k, join, tie).empty());
  }
  const int block = dnnlConv ? dnnlBlock() : 0;
  if (block == 0)
    return {};
  // A convolution with blocked tensors has no in-house fallback: each is made now, and one
  // oneDNN refuses keeps NCHW, which may unblock its neighbours: assign again until none is
  // refused (each round refuses one more, so this ends).
  std::vector<char> refused(prog.kernels.size(), 0);
  std::vector<char> filterBlocked(plan.buffers.size(), 0);
  for (const BlockedFilter &f : filters)
    if (f.buffer >= 0 && size_t(f.buffer) < filterBlocked.size())
      filterBlocked[size_t(f.buffer)] = 1;
  for (;;) {
    LayoutStats stats = assignOnce(plan, index, prog, block, refused, filterBlocked);
    bool again = false;
    for (size_t n = 0; n < prog.kernels.size(); ++n)
      if (isConv(prog.kernels[n].kind) && prog.kernels[n].blocked &&
          !prepareKernel(prog.kernels[n])) {
        refused[n] = 1;
        again = true;
      }
    if (!again)
      return stats;
  }
}

} // namespace dlc::cpu
