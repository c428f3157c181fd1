//===- PlanText.cpp - human-readable listings of a plan ----------*- C++ -*-===//
#include "runtime/plan/PlanText.h"

#include <cstdarg>
#include <cstdio>

using namespace dlc::plan;

namespace {
std::string format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}
} // namespace

std::string dlc::plan::describeProgram(const Plan &plan, const Program &prog) {
  std::string s = format("program %s: %zu kernels, peak %llu bytes\n", prog.name.c_str(),
                         prog.kernels.size(), (unsigned long long)prog.peakBytes);
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    const Kernel &k = prog.kernels[i];
    s += format("  %3zu %-17s %-28s", i, kernelKindName(k.kind), k.name.c_str());
    s += " args(";
    for (size_t a = 0; a < k.args.size(); ++a)
      s += (a ? ", " : "") + plan.buffers[k.args[a]].name + format("@%llu", (unsigned long long)plan.buffers[k.args[a]].offset);
    s += ") ints[";
    for (size_t a = 0; a < k.ints.size(); ++a)
      s += format(a ? " %lld" : "%lld", (long long)k.ints[a]);
    s += "]";
    for (float f : k.floats)
      s += format(" %g", f);
    s += format(" flops=%.0f\n", k.flops);
  }
  return s;
}

std::string dlc::plan::describeMemory(const Plan &plan) {
  std::string s = format("memory plan: %s, batch %lld", plan.model.c_str(),
                         (long long)plan.train.batch);
  if (plan.train.precision != Precision::Fp32) {
    bool half = false;
    for (const Buffer &b : plan.buffers)
      half |= dtypeBytes(b.dtype) == 2;
    s += format(", precision %s (%s)", precisionName(plan.train.precision),
                half ? "2-byte step buffers" : "every buffer fp32, as the CPU runs it");
  }
  s += "\n";
  uint64_t params = 0, state = 0, paramFloats = 0;
  for (const Buffer &b : plan.buffers) {
    if (b.kind == BufferKind::Parameter)
      params += b.bytes, paramFloats += b.bytes / 4;
    if (b.kind == BufferKind::OptimizerState)
      state += b.bytes;
  }
  s += format("  parameters       %12llu bytes (%llu values)\n", (unsigned long long)params,
              (unsigned long long)paramFloats);
  s += format("  optimizer_state  %12llu bytes\n", (unsigned long long)state);
  for (size_t p = 0; p < plan.programs.size(); ++p) {
    const Program &prog = plan.programs[p];
    uint64_t byKind[size_t(BufferKind::NumKinds)] = {};
    uint64_t total = 0;
    for (const Buffer &b : plan.buffers)
      if (b.program == int32_t(p)) {
        byKind[size_t(b.kind)] += b.bytes;
        total += b.bytes;
      }
    s += format("  program %-8s peak %12llu bytes (unshared %llu, saved %.1f%%)\n",
                prog.name.c_str(), (unsigned long long)prog.peakBytes, (unsigned long long)total,
                total ? 100.0 * (1.0 - double(prog.peakBytes) / double(total)) : 0.0);
    for (size_t k = 0; k < size_t(BufferKind::NumKinds); ++k)
      if (byKind[k])
        s += format("    %-15s %12llu bytes\n", bufferKindName(BufferKind(k)),
                    (unsigned long long)byKind[k]);
  }
  s += format("  arena            %12llu bytes (%llu persistent)\n",
              (unsigned long long)plan.arenaBytes, (unsigned long long)plan.persistentBytes);
  s += "  buffers: offset bytes [first,last] kind[:dtype unless f32] program name\n";
  for (const Buffer &b : plan.buffers)
    s += format("    %10llu %10llu [%d,%d] %s%s%s %s %s\n", (unsigned long long)b.offset,
                (unsigned long long)b.bytes, b.first, b.last, bufferKindName(b.kind),
                b.dtype == DType::F32 ? "" : ":", b.dtype == DType::F32 ? "" : dtypeName(b.dtype),
                b.program < 0 ? "-" : plan.programs[b.program].name.c_str(), b.name.c_str());
  return s;
}
