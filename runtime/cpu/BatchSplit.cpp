//===- BatchSplit.cpp - an inference program run as slices of its batch -*- C++ -*-===//
#include "runtime/cpu/BatchSplit.h"

#include "runtime/cpu/Executor.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/plan/KernelCheck.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <vector>

namespace dlc::cpu {
namespace {
using plan::KernelKind;

/// How a kernel argument is sliced: read whole by every slice (weights), `per` elements an
/// example (the batch is its leading dimension), or a workspace (each slice its own).
struct Role {
  enum Kind { Shared, Example, Workspace } kind = Shared;
  int64_t per = 0;
};

bool isElementwise(KernelKind kind) {
  switch (kind) {
#define DLC_ELEMENTWISE_KIND(Enum, name, params, flopsPerElement, cpu, cuda) case KernelKind::Enum:
#include "runtime/plan/KernelKinds.def"
    return true;
  default:
    return false;
  }
}

/// The roles of `k`'s arguments when the program's batch is `batch`, and how many units of
/// its first int (its batch or element count) an example is; false when `k` is not
/// per-example.
bool slicing(const plan::Kernel &k, int64_t batch, std::vector<Role> &roles, int64_t &perInt0) {
  const std::vector<int64_t> &i = k.ints;
  roles.assign(k.args.size(), Role{});
  perInt0 = 1;
  if (i.empty() || k.args.size() > 8)
    return false;
  switch (k.kind) {
  case KernelKind::Conv2dFwd: {
    if (i.size() < 11 || i[0] != batch || k.args.size() < 4)
      return false;
    const ConvShape s{int(i[0]), int(i[1]), int(i[2]), int(i[3]), int(i[4]), int(i[5]),
                      int(i[6]), int(i[7]), int(i[8]), int(i[9]), int(i[10])};
    roles[0] = {Role::Example, int64_t(s.c) * s.h * s.w};
    roles[2] = {Role::Example, int64_t(s.k) * s.oh() * s.ow()};
    roles[3] = {Role::Workspace, 0};
    return true;
  }
  case KernelKind::MaxPoolFwd:
  case KernelKind::AvgPoolFwd: {
    if (i.size() < 10 || i[0] != batch || k.args.size() != 2)
      return false;
    const PoolShape s{int(i[0]), int(i[1]), int(i[2]), int(i[3]), int(i[4]),
                      int(i[5]), int(i[6]), int(i[7]), int(i[8]), int(i[9])};
    roles[0] = {Role::Example, int64_t(s.c) * s.h * s.w};
    roles[1] = {Role::Example, int64_t(s.c) * s.oh() * s.ow()};
    return true;
  }
  case KernelKind::Matmul:
    // C[M][N] = A[M][K] op(B) with the examples as the rows of A and C (a linear layer);
    // B must be a parameter (checked with the buffers).
    if (i.size() < 5 || i[0] != batch || i[3] != 0 || k.args.size() < 3)
      return false;
    roles[0] = {Role::Example, i[2]};
    roles[2] = {Role::Example, i[1]};
    return true;
  default:
    if (!isElementwise(k.kind) || i[0] % batch != 0)
      return false;
    perInt0 = i[0] / batch;
    for (Role &r : roles)
      r = {Role::Example, perInt0};
    return true;
  }
}

bool overlaps(const plan::Buffer &a, const plan::Buffer &b) {
  return a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
}

constexpr uint64_t kAlign = 64;

class Split final : public BatchSplit {
public:
  Split(const plan::Plan &plan, const plan::Program &prog, uint8_t *arena, size_t prefix,
        std::vector<std::vector<Role>> roles, std::vector<int64_t> perInt0,
        std::vector<bool> privateBuffer)
      : plan(plan), prog(prog), arena(arena), prefix(prefix), roles(std::move(roles)),
        perInt0(std::move(perInt0)), privateBuffer(std::move(privateBuffer)) {
    rest.name = prog.name;
    rest.kernels.assign(prog.kernels.begin() + prefix, prog.kernels.end());
    if (usable(threads()))
      slicesFor(threads());
  }

  bool run() override {
    const int t = threads();
    if (!usable(t))
      return false;
    const std::vector<Slice> &slices = slicesFor(t);
    parallelChunks(int(slices.size()), [&](int c, int) {
      for (const SliceKernel &sk : slices[size_t(c)].kernels)
        runKernel(sk.kernel, sk.args);
    });
    runProgram(plan, rest, arena);
    return true;
  }

private:
  struct SliceKernel {
    plan::Kernel kernel;
    float *args[8];
  };
  struct FreeDeleter {
    void operator()(void *p) const { std::free(p); }
  };
  struct Slice {
    std::unique_ptr<uint8_t, FreeDeleter> memory; // the slice's private buffers
    std::vector<SliceKernel> kernels;
  };

  /// At least two examples a slice: a one-example slice gains nothing from the split.
  bool usable(int t) const { return t >= 2 && plan.train.batch >= 2 * int64_t(t); }

  const std::vector<Slice> &slicesFor(int t) {
    auto it = slices.find(t);
    if (it != slices.end())
      return it->second;
    std::vector<Slice> &out = slices[t];
    const int64_t batch = plan.train.batch;
    out.resize(size_t(t));
    for (int c = 0; c < t; ++c) {
      const int64_t b0 = batch * c / t, bs = batch * (c + 1) / t - b0;
      // Private buffers: an example's share for the slice's examples, or a whole workspace.
      std::map<int32_t, uint64_t> at;
      uint64_t bytes = 0;
      for (size_t j = 0; j < prefix; ++j)
        for (size_t a = 0; a < prog.kernels[j].args.size(); ++a) {
          const int32_t b = prog.kernels[j].args[a];
          if (!privateBuffer[size_t(b)] || at.count(b))
            continue;
          at[b] = bytes;
          const Role &r = roles[j][a];
          const uint64_t need = r.kind == Role::Workspace ? plan.buffers[size_t(b)].bytes
                                                          : uint64_t(bs * r.per) * 4;
          bytes += (need + kAlign - 1) / kAlign * kAlign;
        }
      Slice &slice = out[size_t(c)];
      slice.memory.reset(static_cast<uint8_t *>(std::aligned_alloc(kAlign, std::max(bytes, kAlign))));
      if (!slice.memory)
        std::abort(); // out of memory for a slice of activations: nothing sensible to do
      for (size_t j = 0; j < prefix; ++j) {
        SliceKernel sk{prog.kernels[j], {}};
        sk.kernel.ints[0] = bs * perInt0[j];
        for (size_t a = 0; a < sk.kernel.args.size(); ++a) {
          const int32_t b = sk.kernel.args[a];
          const Role &r = roles[j][a];
          uint8_t *p = privateBuffer[size_t(b)] ? slice.memory.get() + at[b]
                                                : arena + plan.buffers[size_t(b)].offset;
          if (r.kind == Role::Example && !privateBuffer[size_t(b)])
            p += uint64_t(b0 * r.per) * 4;
          sk.args[a] = reinterpret_cast<float *>(p);
        }
        // oneDNN's primitives for the slice's shapes now, as for the program's at load; in
        // a parallel region a kernel sees one thread, so prepare as one.
        serially([&] { prepareKernel(sk.kernel); });
        slice.kernels.push_back(std::move(sk));
      }
    }
    return out;
  }

  const plan::Plan &plan;
  const plan::Program &prog;
  uint8_t *arena;
  size_t prefix;
  std::vector<std::vector<Role>> roles; // of the prefix's kernels' arguments
  std::vector<int64_t> perInt0;
  std::vector<bool> privateBuffer; // per buffer of the plan
  plan::Program rest;              // the kernels after the prefix, run on the whole batch
  std::map<int, std::vector<Slice>> slices; // per thread count
};

} // namespace

std::unique_ptr<BatchSplit> BatchSplit::make(const plan::Plan &plan, const plan::Program &prog,
                                             uint8_t *arena) {
  // Only inference: a training program's forward values are read by its backward kernels
  // and its updates are not per-example.
  const int64_t batch = plan.train.batch;
  if ((prog.name != "eval" && prog.name != "infer") || batch < 2 || !prog.kernelStage.empty())
    return nullptr;
  std::vector<std::vector<Role>> roles;
  std::vector<int64_t> perInt0;
  size_t prefix = 0;
  for (; prefix < prog.kernels.size(); ++prefix) {
    std::vector<Role> r;
    int64_t p;
    if (!slicing(prog.kernels[prefix], batch, r, p))
      break;
    roles.push_back(std::move(r));
    perInt0.push_back(p);
  }
  if (prefix == 0)
    return nullptr;
  for (size_t j = prefix; j < prog.kernels.size(); ++j)
    if (prog.kernels[j].kind == KernelKind::SkipIfNonfinite)
      return nullptr; // it jumps to a kernel index of the whole program

  // Each buffer the prefix touches: one role throughout, and where it lives.
  const size_t nb = plan.buffers.size();
  std::vector<int> role(nb, -1);        // Role::Kind, -1: untouched
  std::vector<int64_t> per(nb, 0);
  std::vector<bool> written(nb, false), readFirst(nb, false);
  for (size_t j = 0; j < prefix; ++j) {
    const plan::Kernel &k = prog.kernels[j];
    for (size_t a = 0; a < k.args.size(); ++a) {
      const int32_t b = k.args[a];
      if (b < 0 || size_t(b) >= nb)
        return nullptr;
      const plan::Buffer &buf = plan.buffers[size_t(b)];
      const Role &r = roles[j][a];
      if (plan::dtypeBytes(buf.dtype) != 4)
        return nullptr;
      if (role[size_t(b)] >= 0 && (role[size_t(b)] != r.kind || per[size_t(b)] != r.per))
        return nullptr;
      role[size_t(b)] = r.kind;
      per[size_t(b)] = r.per;
      const bool writes = plan::kernelWritesArg(k.kind, a);
      if (r.kind == Role::Shared) {
        // Weights: persistent and only read.
        if (writes || (buf.kind != plan::BufferKind::Parameter &&
                       buf.kind != plan::BufferKind::ModelState))
          return nullptr;
      } else if (r.kind == Role::Example) {
        if (buf.bytes != uint64_t(batch * r.per) * 4)
          return nullptr;
        if (!writes && !written[size_t(b)])
          readFirst[size_t(b)] = true;
      }
      if (writes)
        written[size_t(b)] = true;
    }
  }
  // Read before the prefix writes it: an input batch, never anything else (and then never
  // written, as other slices may still read it).
  for (size_t b = 0; b < nb; ++b)
    if (readFirst[b] && (plan.buffers[b].kind != plan::BufferKind::Input || written[b]))
      return nullptr;
  // What the prefix writes is private unless read afterwards: by the rest of the program or,
  // as a named output, by the caller.
  std::vector<bool> keep(nb, false), privateBuffer(nb, false);
  for (size_t j = prefix; j < prog.kernels.size(); ++j)
    for (int32_t b : prog.kernels[j].args)
      if (b >= 0 && size_t(b) < nb)
        keep[size_t(b)] = true;
  for (const plan::ProgramOutput &o : prog.outputs)
    if (o.buffer >= 0 && size_t(o.buffer) < nb)
      keep[size_t(o.buffer)] = true;
  for (int32_t b : {prog.loss, prog.correct})
    if (b >= 0 && size_t(b) < nb)
      keep[size_t(b)] = true;
  for (size_t b = 0; b < nb; ++b) {
    if (role[b] == Role::Workspace && keep[b])
      return nullptr;
    privateBuffer[b] = role[b] == Role::Workspace || (written[b] && !keep[b]);
  }
  // The slices write the kept buffers in place concurrently: none may share memory with
  // another buffer they touch in the arena.
  for (size_t b = 0; b < nb; ++b) {
    if (role[b] < 0 || privateBuffer[b] || !written[b])
      continue;
    for (size_t o = 0; o < nb; ++o)
      if (o != b && role[o] >= 0 && !privateBuffer[o] &&
          overlaps(plan.buffers[b], plan.buffers[o]))
        return nullptr;
  }
  return std::make_unique<Split>(plan, prog, arena, prefix, std::move(roles), std::move(perInt0),
                                 std::move(privateBuffer));
}

} // namespace dlc::cpu
