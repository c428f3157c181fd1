//===- Validate.cpp - a device's kernels against the CPU's, call by call -----===//
#include "runtime/train/Validate.h"

#include "runtime/plan/KernelCheck.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

using namespace dlc;
using plan::KernelKind;

double dlc::validateTolerance(KernelKind kind) {
  return plan::kernelKindInfo(kind).tolerance;
}

void dlc::compareFloats(const float *device, const float *reference, size_t n, double &maxAbs,
                        double &maxRel) {
  maxAbs = 0;
  maxRel = 0;
  double scale = FLT_MIN;
  for (size_t i = 0; i < n; ++i)
    if (std::isfinite(reference[i]))
      scale = std::max(scale, double(std::fabs(reference[i])));
  for (size_t i = 0; i < n; ++i) {
    if (std::memcmp(&device[i], &reference[i], sizeof(float)) == 0 ||
        (std::isnan(device[i]) && std::isnan(reference[i])))
      continue;
    const double d = device[i], r = reference[i];
    const double err = std::isfinite(d) && std::isfinite(r) ? std::fabs(d - r) : HUGE_VAL;
    maxAbs = std::max(maxAbs, err);
  }
  maxRel = maxAbs / scale;
}

bool dlc::validateProgram(const plan::Plan &plan, const plan::Program &prog, Device &device,
                          Device &reference, std::vector<KernelCheck> &checks, std::string &error,
                          const std::function<void(const KernelCheck &)> &onKernel) {
  checks.clear();
  std::vector<uint8_t> got, want;
  for (size_t n = 0; n < prog.kernels.size(); ++n) {
    const plan::Kernel &k = prog.kernels[n];
    // The call's buffers, each once; workspaces are scratch whose contents the two sides
    // need not share (the CPU's convolutions keep im2col there, cuDNN whatever it likes).
    std::vector<int32_t> ids;
    for (int32_t id : k.args)
      if (id >= 0 && size_t(id) < plan.buffers.size() &&
          plan.buffers[id].kind != plan::BufferKind::Workspace &&
          std::find(ids.begin(), ids.end(), id) == ids.end())
        ids.push_back(id);
    auto fail = [&](const char *what) {
      error = "validating program '" + prog.name + "' kernel " + std::to_string(n) + " '" +
              k.name + "' (" + what + "): " + error;
      return false;
    };
    for (int32_t id : ids) {
      const plan::Buffer &b = plan.buffers[id];
      got.resize(b.bytes);
      if (!device.read(b.offset, got.data(), b.bytes, error) ||
          !reference.write(b.offset, got.data(), b.bytes, error))
        return fail("copying its inputs");
    }
    if (!reference.runKernel(prog, n, error))
      return fail(("on " + reference.describe()).c_str());
    if (!device.runKernel(prog, n, error))
      return fail(("on " + device.describe()).c_str());

    KernelCheck c;
    c.index = n;
    c.kernel = &k;
    c.tolerance = validateTolerance(k.kind);
    for (int32_t id : ids) {
      const plan::Buffer &b = plan.buffers[id];
      got.resize(b.bytes);
      want.resize(b.bytes);
      if (!device.read(b.offset, got.data(), b.bytes, error) ||
          !reference.read(b.offset, want.data(), b.bytes, error))
        return fail("reading its outputs");
      if (got == want)
        continue;
      // Buffers hold float32 or int32 (labels, which no kernel writes); compare bits first.
      std::vector<float> g(b.bytes / 4), w(b.bytes / 4);
      std::memcpy(g.data(), got.data(), g.size() * 4);
      std::memcpy(w.data(), want.data(), w.size() * 4);
      double abs, rel;
      compareFloats(g.data(), w.data(), g.size(), abs, rel);
      if (abs == 0 && rel == 0) // differing bytes outside whole floats, or NaN payloads
        abs = rel = std::equal(got.begin() + g.size() * 4, got.end(), want.begin() + w.size() * 4)
                        ? 0
                        : HUGE_VAL;
      c.maxAbs = std::max(c.maxAbs, abs);
      if (c.worst < 0 || rel > c.maxRel) {
        c.maxRel = rel;
        c.worst = id;
      }
    }
    c.ok = c.maxRel <= c.tolerance;
    checks.push_back(c);
    if (onKernel)
      onKernel(checks.back());
  }
  return true;
}

int dlc::validateAndReport(const plan::Plan &plan, const plan::Program &prog, Device &device,
                           Device &reference, std::FILE *out, std::string &error) {
  std::fprintf(out, "validate: program '%s' of %s, %zu kernel calls on %s against %s\n",
               prog.name.c_str(), plan.model.c_str(), prog.kernels.size(),
               device.describe().c_str(), reference.describe().c_str());
  std::fprintf(out, "  %4s  %-36s %-18s %10s %10s\n", "#", "kernel", "kind", "max abs",
               "max rel");
  std::vector<KernelCheck> checks;
  auto line = [&](const KernelCheck &c) {
    std::fprintf(out, "  %4zu  %-36s %-18s %10.3e %10.3e  ", c.index, c.kernel->name.c_str(),
                 plan::kernelKindName(c.kernel->kind), c.maxAbs, c.maxRel);
    if (c.ok)
      std::fprintf(out, "ok\n");
    else
      std::fprintf(out, "MISMATCH (tolerance %.0e; worst buffer '%s')\n", c.tolerance,
                   plan.buffers[c.worst].name.c_str());
    std::fflush(out);
  };
  if (!validateProgram(plan, prog, device, reference, checks, error, line))
    return -1;
  int bad = 0;
  const KernelCheck *first = nullptr, *worst = nullptr;
  for (const KernelCheck &c : checks) {
    if (!c.ok && !bad++)
      first = &c;
    if (!worst || c.maxRel / c.tolerance > worst->maxRel / worst->tolerance)
      worst = &c;
  }
  std::fprintf(out, "validate: %zu kernel calls, ", checks.size());
  if (bad)
    std::fprintf(out, "%d MISMATCH (first: kernel %zu '%s')", bad, first->index,
                 first->kernel->name.c_str());
  else
    std::fprintf(out, "all within tolerance");
  if (worst)
    std::fprintf(out, "; closest to its tolerance: kernel %zu '%s', relative error %.2e of %.0e\n",
                 worst->index, worst->kernel->name.c_str(), worst->maxRel, worst->tolerance);
  else
    std::fprintf(out, "\n");
  return bad;
}
