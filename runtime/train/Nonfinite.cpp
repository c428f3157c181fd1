//===- Nonfinite.cpp - which kernel turned a batch's values into NaN or Inf -*- C++ -*-===//
//
// Buffers are read back through the Device interface, so the search works on every device
// (on the CPU a read is a copy). It runs only after a failure, so it favours plainness over
// speed: each kernel's buffers are scanned after the call.
//
#include "runtime/train/Nonfinite.h"

#include "runtime/plan/KernelCheck.h"

#include <cmath>
#include <cstdio>
#include <vector>

using namespace dlc;

namespace {
bool persistent(const plan::Buffer &b) { return b.program < 0; }

/// The first non-finite float of buffer `id` (as "nan", "inf" or "-inf"), or "" if none.
bool firstNonfinite(const plan::Plan &plan, int32_t id, Device &device, std::vector<float> &tmp,
                    std::string &value, std::string &error) {
  const plan::Buffer &b = plan.buffers[id];
  tmp.resize(b.bytes / 4);
  if (!device.read(b.offset, tmp.data(), tmp.size() * 4, error))
    return false;
  value.clear();
  for (float x : tmp)
    if (!std::isfinite(x)) {
      value = std::isnan(x) ? "nan" : x > 0 ? "inf" : "-inf";
      break;
    }
  return true;
}
} // namespace

bool dlc::findNonfiniteKernel(const plan::Plan &plan, const plan::Program &prog, Device &device,
                              std::string &finding, std::string &error) {
  const int32_t progIndex = int32_t(&prog - plan.programs.data());
  std::vector<float> tmp;
  std::string value;
  // The batch's inputs: float ones are checked like the state, integer ones are not floats.
  std::vector<int8_t> input(plan.buffers.size(), 0); // 1: a float input, 2: an integer one
  for (const plan::ProgramInput &in : prog.inputs)
    input[in.buffer] = in.dtype == plan::DType::F32 ? 1 : 2;
  // Clean slate: every buffer of this program except its batch inputs.
  for (size_t id = 0; id < plan.buffers.size(); ++id) {
    const plan::Buffer &b = plan.buffers[id];
    if (b.program != progIndex || input[id])
      continue;
    tmp.assign(b.bytes / 4, 0.f);
    if (!device.write(b.offset, tmp.data(), tmp.size() * 4, error))
      return false;
  }
  // The starting state: parameters, optimizer and model state, and the batch.
  std::vector<bool> checked(plan.buffers.size(), false);
  for (const plan::Kernel &k : prog.kernels)
    for (int32_t id : k.args) {
      const plan::Buffer &b = plan.buffers[id];
      if (checked[id] || !(persistent(b) || input[id] == 1))
        continue;
      checked[id] = true;
      if (!firstNonfinite(plan, id, device, tmp, value, error))
        return false;
      if (!value.empty()) {
        finding = "'" + b.name + "' already held " + value + " before this batch" +
                  (persistent(b) ? " (an earlier update made it so)" : "");
        return true;
      }
    }
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    const plan::Kernel &k = prog.kernels[i];
    if (!device.runKernel(prog, i, error))
      return false;
    // Everything was finite before this call, so whatever is not now, this kernel made; only
    // the arguments it writes can have changed (runtime/plan/KernelKinds.def says which).
    for (size_t j = 0; j < k.args.size(); ++j) {
      const int32_t id = k.args[j];
      if (!plan::kernelWritesArg(k.kind, j) || input[id] == 2)
        continue;
      if (!firstNonfinite(plan, id, device, tmp, value, error))
        return false;
      if (!value.empty()) {
        finding = "kernel " + std::to_string(i) + " of '" + prog.name + "' (" +
                  plan::kernelKindName(k.kind) + ", " + k.name + ") wrote " + value + " to '" +
                  plan.buffers[id].name + "' from finite inputs";
        return true;
      }
    }
  }
  finding = "rerun kernel by kernel, the batch stayed finite (the failure did not repeat)";
  return true;
}
