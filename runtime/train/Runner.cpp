//===- Runner.cpp - batches into a plan's programs, one step at a time -*- C++ -*-===//
#include "runtime/train/Runner.h"

#include "runtime/cpu/CpuDevice.h"
#include "runtime/data/PlanData.h"
#include "runtime/data/Sequences.h"
#include "runtime/train/Arena.h"
#include "runtime/train/Nonfinite.h"
#include "runtime/train/Validate.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>

using namespace dlc;

namespace {
/// Uniform in [0, n) from 32 random bits (multiply-shift: no modulo bias); mt19937_64's
/// output is fixed by the standard, so augmentation repeats on every platform.
int64_t below(std::mt19937_64 &rng, int64_t n) {
  return int64_t(((rng() >> 32) * uint64_t(n)) >> 32);
}

} // namespace

Runner::Runner(const plan::Plan &p, uint8_t *arena, Device &device, Communicator *comm,
               bool snapshots)
    : p(p), arena(arena), device(device), comm(comm), ranks(comm ? comm->size() : 1),
      rank(comm ? comm->rank() : 0), augmentRng(p.train.seed ^ 0xC1FA510ull),
      snapshots(snapshots) {}

/// The data set's column named `name`, or null.
static const data::Dataset::Column *column(const data::Dataset &d, const std::string &name) {
  for (const data::Dataset::Column &c : d.columns)
    if (c.name == name)
      return &c;
  return nullptr;
}

bool Runner::load(const plan::Program &prog, const data::Dataset &d,
                  const std::vector<int64_t> &order, int64_t first, bool train,
                  std::string &error) {
  // Bound once per program (checkInputs binds them all before the first step).
  std::vector<data::Feed> &feeds = bindings[&prog];
  if (feeds.size() != prog.inputs.size() && !data::bindInputs(p, prog, feeds, error))
    return false;
  const int64_t batch = p.train.batch;
  for (size_t j = 0; j < feeds.size(); ++j) {
    uint8_t *base = arena + p.buffers[prog.inputs[j].buffer].offset;
    auto *ints = reinterpret_cast<int32_t *>(base);
    switch (feeds[j]) {
    case data::Feed::Images:
      loadImages(reinterpret_cast<float *>(base), d, order, first, train);
      break;
    case data::Feed::Labels:
      for (int64_t i = 0; i < batch; ++i)
        ints[i] = d.labels[order[first + i]];
      break;
    case data::Feed::Tokens:
    case data::Feed::NextTokens:
      for (int64_t i = 0; i < batch; ++i)
        data::sequenceWindow(d, order[first + i], feeds[j] == data::Feed::NextTokens,
                             ints + i * d.seqLen);
      break;
    case data::Feed::Column: {
      const data::Dataset::Column *col = column(d, prog.inputs[j].name);
      if (!col)
        return error = "data: no tensor '" + prog.inputs[j].name + "'", false;
      const size_t row = size_t(col->elements);
      for (int64_t i = 0; i < batch; ++i) {
        const size_t e = size_t(order[first + i]);
        if (col->ints)
          std::memcpy(ints + i * row, col->int32s.data() + e * row, row * 4);
        else
          std::memcpy(reinterpret_cast<float *>(base) + i * row, col->floats.data() + e * row,
                      row * 4);
      }
      break;
    }
    }
  }
  return true;
}

bool Runner::checkInputs(const data::Dataset &d, std::string &error) {
  for (const plan::Program &prog : p.programs) {
    std::vector<data::Feed> feeds;
    if (!data::bindInputs(p, prog, feeds, error))
      return false;
    for (size_t j = 0; j < feeds.size(); ++j) {
      if (feeds[j] == data::Feed::Column) {
        const plan::ProgramInput &in = prog.inputs[j];
        const data::Dataset::Column *col = column(d, in.name);
        int64_t elements = 1;
        for (int64_t x : in.shape)
          elements *= x;
        if (!col || col->ints != (in.dtype == plan::DType::I32) || col->elements != elements) {
          error = "data: the data set has no " + std::string(in.dtype == plan::DType::I32 ?
                  "int32" : "float") + " tensor '" + in.name + "' of " + std::to_string(elements) +
                  " values per example for input '" + in.name + "'";
          return false;
        }
        continue;
      }
      const bool sequence = feeds[j] == data::Feed::Tokens || feeds[j] == data::Feed::NextTokens;
      if (sequence != (d.seqLen > 0) || (sequence && prog.inputs[j].shape[0] != d.seqLen)) {
        error = "data: the data set does not fit input '" + prog.inputs[j].name + "'";
        return false;
      }
    }
  }
  return true;
}

void Runner::loadImages(float *x, const data::Dataset &d, const std::vector<int64_t> &order,
                        int64_t first, bool train) {
  int64_t batch = p.train.batch;
  const plan::DataConfig &c = p.data;
  size_t per = size_t(d.channels) * d.height * d.width;
  const int ch = d.channels;
  const int64_t oh = c.cropH > 0 ? c.cropH : d.height, ow = c.cropH > 0 ? c.cropW : d.width;
  const size_t out = size_t(ch) * oh * ow;
  for (int64_t i = 0; i < batch; ++i) {
    int64_t e = order[first + i];
    const float *src = d.images.data() + e * per;
    float *dst = x + i * out;
    if (c.cropH <= 0 && !(train && c.flip)) {
      std::memcpy(dst, src, per * sizeof(float));
    } else {
      int64_t top = (d.height - oh) / 2, left = (d.width - ow) / 2;
      bool flip = false;
      if (train) {
        top = below(augmentRng, d.height - oh + 1);
        left = below(augmentRng, d.width - ow + 1);
        flip = c.flip && (augmentRng() >> 63);
      }
      data::cropImage(src, ch, d.height, d.width, int(top), int(left), int(oh), int(ow), flip,
                      dst);
    }
    if (c.standardize)
      data::standardizeImage(dst, out);
  }
}

bool Runner::step(const plan::Program &prog, const data::Dataset &d,
                  const std::vector<int64_t> &order, int64_t first, float &loss, float &correct,
                  device::Profile *profile, device::Trace *trace, std::string &error,
                  double *runSeconds) {
  const bool train = &prog == p.program("train");
  if (!load(prog, d, order, first, train, error))
    return false;
  // The persistent state is at the start of the arena; Trainer.cpp keeps snapshots only on
  // the CPU and up to a size where the copy is small beside the step.
  if (train && snapshots)
    before.assign(arena, arena + p.persistentBytes);
  const auto t0 = std::chrono::steady_clock::now();
  if (!device.run(prog, profile, trace, error))
    return false;
  if (runSeconds)
    *runSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  loss = *reinterpret_cast<float *>(arena + p.buffers[prog.loss].offset);
  correct = prog.correct >= 0 ? *reinterpret_cast<float *>(arena + p.buffers[prog.correct].offset) : 0;
  return true;
}

void Runner::skipAugmentation(int64_t examples) {
  const plan::DataConfig &c = p.data;
  if (c.cropH > 0 || c.flip)
    augmentRng.discard(uint64_t(examples) * (c.flip ? 3 : 2)); // top, left[, flip]
}

std::string Runner::explainNonfinite(const plan::Program &prog) {
  std::string error, finding;
  const bool restored = !before.empty() && &prog == p.program("train") &&
                        device.write(0, before.data(), before.size(), error);
  if (!findNonfiniteKernel(p, prog, device, finding, error))
    return "rerunning it kernel by kernel failed: " + error;
  if (&prog == p.program("train") && !restored)
    finding += " (rerun from the state after the step: no snapshot of the " +
               std::to_string(p.persistentBytes >> 20) + " MiB of parameters on " +
               device.describe() + ")";
  return finding;
}

bool Runner::evaluate(const data::Dataset &d, device::Profile *profile, device::Trace *trace,
                      Evaluation &result, std::string &error) {
  const plan::Program *ev = p.program("eval");
  std::vector<int64_t> order(d.count);
  std::iota(order.begin(), order.end(), 0);
  double sums[2] = {0, 0}; // loss over batches, correct examples
  const int64_t batch = p.train.batch, batches = d.count / (batch * ranks);
  result = Evaluation();
  result.runSeconds.resize(size_t(batches));
  for (int64_t b = 0; b < batches; ++b) {
    float l, c;
    if (!step(*ev, d, order, (b * ranks + rank) * batch, l, c, profile, trace, error,
              &result.runSeconds[size_t(b)]))
      return false;
    if (!std::isfinite(l)) {
      result.nonfinite = true;
      if (p.train.onNonfinite == plan::OnNonfinite::Stop) {
        char loss[32];
        std::snprintf(loss, sizeof loss, "%g", double(l));
        error = std::string("the test loss became ") + (std::isnan(l) ? "nan" : loss) + " in batch " +
                std::to_string(b + 1) + "; " + explainNonfinite(*ev);
        return false;
      }
    }
    sums[0] += l;
    sums[1] += c;
  }
  if (comm && !comm->allreduceSum(sums, 2, error))
    return false;
  result.examples = batches * ranks * batch;
  result.loss = batches ? sums[0] / double(batches * ranks) : 0;
  result.accuracy = result.examples ? sums[1] / (result.examples * positions()) : 0;
  return true;
}

int Runner::validate(const plan::Program &prog, const data::Dataset &d, int64_t steps) {
  std::string error;
  int64_t batch = p.train.batch;
  // The reference runs each call on the same arena with the CPU's float kernels.
  for (const plan::Buffer &b : p.buffers)
    if (plan::dtypeBytes(b.dtype) != 4) {
      std::fprintf(stderr, "dlrun: error: --validate compares each kernel with the CPU's float "
                           "kernels on the same buffers; this %s plan stores '%s' in 2 bytes "
                           "(compare a mixed-precision step with its fp32 plan instead)\n",
                   plan::precisionName(p.train.precision), b.name.c_str());
      return 1;
    }
  if (d.count < steps * batch) {
    std::fprintf(stderr, "dlrun: error: --validate needs %lld examples for %lld steps of batch %lld, "
                 "the data has %lld\n", (long long)(steps * batch), (long long)steps,
                 (long long)batch, (long long)d.count);
    return 1;
  }
  std::vector<int64_t> order(d.count);
  std::iota(order.begin(), order.end(), 0);
  for (int64_t s = 0; s + 1 < steps; ++s) {
    float loss, correct;
    if (!step(prog, d, order, s * batch, loss, correct, nullptr, nullptr, error)) {
      std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
      return 1;
    }
  }
  if (!load(prog, d, order, (steps - 1) * batch, &prog == p.program("train"), error)) {
    std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
    return 1;
  }
  // The reference is the CPU on an arena of its own, written before each call.
  AlignedArena cpuArena(p.arenaBytes);
  if (!cpuArena.data) {
    std::fprintf(stderr, "dlrun: error: cannot allocate the CPU's %.1f MiB arena to validate "
                 "against\n", p.arenaBytes / 1048576.0);
    return 1;
  }
  // NCHW activations throughout, as the GPU's, so that they compare byte for byte.
  std::unique_ptr<Device> cpu = makeCpuDevice(p, cpuArena.data, /*blockedLayouts=*/false);
  int bad = -1;
  for (const plan::ProgramInput &in : prog.inputs) {
    const plan::Buffer &b = p.buffers[in.buffer];
    if (!device.write(b.offset, arena + b.offset, b.bytes, error))
      bad = -2;
  }
  if (bad == -1)
    bad = validateAndReport(p, prog, device, *cpu, stdout, error);
  if (bad < 0) {
    std::fprintf(stderr, "dlrun: error: %s\n", error.c_str());
    return 1;
  }
  if (bad > 0) {
    std::fprintf(stderr, "dlrun: error: %d of %zu kernel calls of program '%s' do not match "
                 "the CPU on %s\n", bad, prog.kernels.size(), prog.name.c_str(),
                 device.describe().c_str());
    return 1;
  }
  return 0;
}

int64_t Runner::positions() const {
  const plan::Program *ev = p.program("eval");
  const plan::ProgramInput *in = ev ? plan::Plan::classInput(*ev) : nullptr;
  int64_t n = 1;
  if (in)
    for (int64_t d : in->shape)
      n *= d;
  return n;
}
