//===- MicroBatch.cpp - a pipeline's step as GPipe micro-batches --*- C++ -*-===//
#include "compiler/Planning/MicroBatch.h"

#include "runtime/plan/KernelCheck.h"

#include <algorithm>

using namespace dlc;
using plan::KernelKind;

namespace {
// The unary kernel's functions by position (runtime/plan/TensorFunctions.def): y = a x + b.
enum class UnaryFn : int64_t {
#define DLC_UNARY_FN(Enum, name, expr) Enum,
#include "runtime/plan/TensorFunctions.def"
};

/// Kernels that run once per step, after every micro-batch's backward: the optimizer's
/// (they read the summed gradients), the schedule's, and dropout's step counters (each
/// micro-batch's forward and backward must see the same count; the micro-batches differ by
/// their seeds, emitStep).
bool isUpdate(KernelKind k) {
  switch (k) {
  case KernelKind::SgdMomentum:
  case KernelKind::SgdStep:
  case KernelKind::AdamStep:
  case KernelKind::LrSchedule:
  case KernelKind::GradSumSq:
  case KernelKind::ClipScale:
  case KernelKind::Increment:
    return true;
  default:
    return false;
  }
}

bool isLossScaling(KernelKind k) {
  return k == KernelKind::LossScale || k == KernelKind::UnscaleGrad ||
         k == KernelKind::SkipIfNonfinite || k == KernelKind::LossScaleUpdate;
}

plan::Kernel makeKernel(KernelKind kind, std::string name, std::vector<int64_t> ints,
                        std::vector<float> floats, std::vector<int32_t> args) {
  plan::Kernel k;
  k.kind = kind;
  k.name = std::move(name);
  k.ints = std::move(ints);
  k.floats = std::move(floats);
  k.args = std::move(args);
  k.flops = plan::kernelFlops(k);
  return k;
}

/// One program's rewrite (see MicroBatch.h).
class Splitter {
public:
  Splitter(plan::Plan &plan, int32_t p, int64_t m, std::vector<int32_t> &stage)
      : plan(plan), pi(p), prog(plan.programs[size_t(p)]), M(m), stage(stage) {}

  bool run(std::string &error) {
    const size_t n = prog.kernels.size();
    const size_t nb = plan.buffers.size();
    std::vector<char> writtenByStep(nb, 0), readByUpdate(nb, 0), touched(nb, 0);
    std::vector<int64_t> lastWriter(nb, -1);
    int64_t fwdEnd = -1; // the last forward kernel: the last writer of the loss or the count
    for (size_t i = 0; i < n; ++i) {
      const plan::Kernel &k = prog.kernels[i];
      if (isLossScaling(k.kind)) {
        error = "--microbatches does not support dynamic loss scaling (training.precision "
                "mixed-fp16) yet";
        return false;
      }
      const bool update = isUpdate(k.kind);
      for (size_t a = 0; a < k.args.size(); ++a) {
        const int32_t id = k.args[a];
        const bool writes = plan::kernelWritesArg(k.kind, a);
        if (update) {
          if (!writes)
            readByUpdate[size_t(id)] = 1;
          continue;
        }
        if (plan.buffers[size_t(id)].program >= 0) // a step buffer (the compiler's are pi's)
          touched[size_t(id)] = 1;
        if (writes) {
          writtenByStep[size_t(id)] = 1;
          lastWriter[size_t(id)] = int64_t(i);
          if (id == prog.loss || id == prog.correct)
            fwdEnd = std::max(fwdEnd, int64_t(i));
        }
      }
    }
    if (prog.loss < 0 && prog.correct < 0)
      fwdEnd = int64_t(n) - 1; // inference: all forward
    for (size_t b = 0; b < nb; ++b)
      isGradient.push_back(readByUpdate[b] && writtenByStep[b] && plan.buffers[b].program >= 0);
    for (size_t b = 0; b < nb; ++b)
      if (isGradient[b] && lastWriter[b] <= fwdEnd) {
        error = "--microbatches: the gradient '" + plan.buffers[b].name +
                "' is written before the loss (cannot accumulate it per micro-batch)";
        return false;
      }

    // Every step buffer once per micro-batch; the gradients' own buffer is the first
    // backward's (micro-batch M), the accumulator.
    map.assign(size_t(M), std::vector<int32_t>(nb));
    for (int64_t m = 0; m < M; ++m)
      for (size_t b = 0; b < nb; ++b)
        map[size_t(m)][b] = int32_t(b);
    for (size_t b = 0; b < nb; ++b) {
      if (!touched[b])
        continue;
      const int64_t owner = isGradient[b] ? M - 1 : 0;
      for (int64_t m = 0; m < M; ++m)
        if (m != owner)
          map[size_t(m)][b] = addBuffer(plan.buffers[b], ".mb" + std::to_string(m + 1));
    }
    // The whole batch's inputs and outputs: new buffers under the old names; the old ones
    // become micro-batch 1's.
    for (plan::ProgramInput &in : prog.inputs) {
      const int32_t old = in.buffer;
      if (plan.buffers[size_t(old)].bytes % 4 != 0) {
        error = "--microbatches: input '" + in.name + "' is not whole 4-byte elements";
        return false;
      }
      in.buffer = whole(old, plan::BufferKind::Input);
      inputs.push_back({old, in.buffer});
    }
    int32_t loss = prog.loss >= 0 ? whole(prog.loss, plan::BufferKind::Output, 1) : -1;
    int32_t correct = prog.correct >= 0 ? whole(prog.correct, plan::BufferKind::Output, 1) : -1;
    std::vector<std::pair<int32_t, int32_t>> outputs;
    for (plan::ProgramOutput &o : prog.outputs) {
      const int32_t old = o.buffer;
      if (o.shape.empty() || o.shape[0] != plan.train.batch ||
          plan.buffers[size_t(old)].bytes % 4 != 0) {
        error = "--microbatches: output '" + o.name + "' is not batch-major";
        return false;
      }
      o.buffer = whole(old, plan.buffers[size_t(old)].kind);
      o.shape[0] *= M;
      outputs.push_back({old, o.buffer});
    }

    sliced.assign(size_t(M), std::vector<char>(inputs.size(), 0));
    // GPipe: every micro-batch's forward, in order ...
    for (int64_t m = 0; m < M; ++m)
      for (int64_t i = 0; i <= fwdEnd; ++i)
        if (!isUpdate(prog.kernels[size_t(i)].kind))
          emitStep(size_t(i), m);
    // ... the loss their mean, the count their sum, named outputs gathered ...
    const float inv = 1.0f / float(M);
    const std::pair<int32_t, int32_t> scalars[] = {{prog.loss, loss}, {prog.correct, correct}};
    for (auto [old, sum] : scalars) {
      if (old < 0)
        continue;
      const int32_t s = stage[size_t(lastWriter[size_t(old)])];
      const int64_t count = int64_t(plan.buffers[size_t(sum)].bytes / 4);
      emit(makeKernel(KernelKind::Add, "microbatch_sum", {count}, {},
                      {map[0][size_t(old)], map[1][size_t(old)], sum}),
           s);
      for (int64_t m = 2; m < M; ++m)
        emit(makeKernel(KernelKind::Add, "microbatch_sum", {count}, {},
                        {sum, map[size_t(m)][size_t(old)], sum}),
             s);
      if (old == prog.loss)
        emit(makeKernel(KernelKind::Unary, "microbatch_mean", {count, int64_t(UnaryFn::Affine)},
                        {inv, 0.f}, {sum, sum}),
             s);
    }
    prog.loss = loss;
    prog.correct = correct;
    for (auto [old, all] : outputs) {
      const int32_t s = stage[size_t(lastWriter[size_t(old)])];
      const int64_t count = int64_t(plan.buffers[size_t(old)].bytes / 4);
      for (int64_t m = 0; m < M; ++m)
        emit(makeKernel(KernelKind::CopySlice, "copy_slice@" + plan.buffers[size_t(all)].name,
                        {count, 0, m * count}, {}, {map[size_t(m)][size_t(old)], all}),
             s);
    }
    // ... then the backwards, the last micro-batch first, each adding its gradients into the
    // first one's right after writing them (the last one scaling the sum) ...
    for (int64_t m = M - 1; m >= 0; --m)
      for (size_t i = size_t(fwdEnd + 1); i < n; ++i) {
        const plan::Kernel &k = prog.kernels[i];
        if (isUpdate(k.kind))
          continue;
        emitStep(i, m);
        if (m == M - 1)
          continue;
        for (size_t a = 0; a < k.args.size(); ++a) {
          const int32_t g = k.args[a];
          if (!plan::kernelWritesArg(k.kind, a) || !isGradient[size_t(g)] ||
              lastWriter[size_t(g)] != int64_t(i))
            continue;
          const int64_t count = int64_t(plan.buffers[size_t(g)].bytes / 4);
          const std::string &name = plan.buffers[size_t(g)].name;
          emit(makeKernel(KernelKind::Add, "microbatch_accumulate@" + name, {count}, {},
                          {g, map[size_t(m)][size_t(g)], g}),
               stage[i]);
          if (m == 0)
            emit(makeKernel(KernelKind::Unary, "microbatch_mean@" + name,
                            {count, int64_t(UnaryFn::Affine)}, {inv, 0.f}, {g, g}),
                 stage[i]);
        }
      }
    // ... and the optimizer once, on the mean gradients.
    for (size_t i = 0; i < n; ++i)
      if (isUpdate(prog.kernels[i].kind))
        emit(prog.kernels[i], stage[i]);
    prog.kernels = std::move(kernels);
    stage = std::move(stages);
    return true;
  }

private:
  int32_t addBuffer(plan::Buffer b, const std::string &suffix) {
    b.name += suffix;
    b.program = pi;
    plan.buffers.push_back(std::move(b));
    isGradient.push_back(false);
    return int32_t(plan.buffers.size() - 1);
  }

  /// A new buffer `times` the size of `old` under its name (`kind`); `old` becomes micro-batch
  /// 1's (an input's slice stays an input: int32 labels are only inputs' dtype).
  int32_t whole(int32_t old, plan::BufferKind kind, int64_t times = 0) {
    plan::Buffer b = plan.buffers[size_t(old)];
    b.kind = kind;
    b.program = pi;
    b.bytes *= uint64_t(times > 0 ? times : M);
    plan.buffers[size_t(old)].name += ".mb1";
    if (kind != plan::BufferKind::Input)
      plan.buffers[size_t(old)].kind = plan::BufferKind::Activation;
    plan.buffers.push_back(std::move(b));
    isGradient.push_back(false);
    return int32_t(plan.buffers.size() - 1);
  }

  void emit(plan::Kernel k, int32_t s) {
    kernels.push_back(std::move(k));
    stages.push_back(s);
  }

  /// Kernel i for micro-batch m, its inputs' slices first where it reads them first.
  void emitStep(size_t i, int64_t m) {
    plan::Kernel k = prog.kernels[i];
    // Dropout's mask hashes (seed, step, index): each micro-batch its own seed, the same in its
    // forward and backward, or every micro-batch of a step would drop the same positions.
    if (k.kind == KernelKind::DropoutFwd || k.kind == KernelKind::DropoutBwd)
      k.ints[1] = int64_t((uint64_t(k.ints[1]) + uint64_t(m) * 0x9e3779b9u) & 0xffffffffu);
    for (int32_t &id : k.args) {
      for (size_t j = 0; j < inputs.size(); ++j)
        if (inputs[j].first == id && !sliced[size_t(m)][j]) {
          sliced[size_t(m)][j] = 1;
          const int64_t count = int64_t(plan.buffers[size_t(id)].bytes / 4);
          emit(makeKernel(KernelKind::CopySlice,
                          "copy_slice@" + plan.buffers[size_t(inputs[j].second)].name,
                          {count, m * count, 0}, {},
                          {inputs[j].second, map[size_t(m)][size_t(id)]}),
               stage[i]);
        }
      id = map[size_t(m)][size_t(id)];
    }
    emit(std::move(k), stage[i]);
  }

  plan::Plan &plan;
  const int32_t pi;
  plan::Program &prog;
  const int64_t M;
  std::vector<int32_t> &stage;
  std::vector<bool> isGradient;
  std::vector<std::vector<int32_t>> map;                // per micro-batch: buffer -> its copy
  std::vector<std::pair<int32_t, int32_t>> inputs;      // (micro-batch 1's, the whole batch's)
  std::vector<std::vector<char>> sliced;                // per micro-batch and input
  std::vector<plan::Kernel> kernels;
  std::vector<int32_t> stages;
};
} // namespace

bool dlc::splitMicroBatches(plan::Plan &plan, int64_t microbatches,
                            std::vector<std::vector<int32_t>> &stages, std::string &error) {
  if (stages.size() != plan.programs.size()) {
    error = "--microbatches: a stage list per program expected";
    return false;
  }
  if (microbatches < 2) {
    error = "--microbatches: at least 2 to split";
    return false;
  }
  for (size_t p = 0; p < plan.programs.size(); ++p) {
    Splitter split(plan, int32_t(p), microbatches, stages[p]);
    if (!split.run(error))
      return false;
  }
  plan.train.batch *= microbatches;
  plan.train.microbatches = microbatches;
  return true;
}
