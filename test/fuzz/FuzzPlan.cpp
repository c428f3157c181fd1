//===- FuzzPlan.cpp - fuzz target: plan files, loaded and executed -----*- C++ -*-===//
//
// Input: one mode byte, then a plan file. Mode bit 0 recomputes the header's length and
// checksum over the mutated payload, as someone editing a plan by hand would, so byte-level
// mutations reach the field decoder and the validator; bit 1 also applies structured
// mutations (a kernel's attribute, argument or kind, a buffer's size or offset, a program's
// input, the batch, the crop, ...), chosen by a hash of the input so each input replays the
// same; bits 2-7 pick how many. Seeds: small-batch plans of every shipped model (dlc compiles
// them at build time and passes them as seed files) and a tiny built-in plan.
//
// Properties: a refused plan gets one line; an accepted plan runs one training step and one
// evaluation step on the CPU without any out-of-bounds access, twice:
//   - every buffer in its own allocation of exactly its planned bytes, so AddressSanitizer
//     sees an overrun of any buffer (in the arena, a neighbour would hide it);
//   - in one arena at the planned offsets, parameters initialised as dlrun does.
// Plans whose step would take more than kMaxFlops or kMaxBytes are checked but not run: that is
// legitimate work, not a hang (the flops come from the kernel table's formulas, not from the
// file).
//
#include "test/fuzz/FuzzTarget.h"

#include "runtime/cpu/Executor.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/plan/KernelCheck.h"
#include "runtime/plan/Plan.h"
#include "runtime/train/Init.h"
#include "test/unit/TinyPlan.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>

using dlc::fuzz::Bytes;
using dlc::fuzz::require;
using dlc::fuzz::Rng;
namespace plan = dlc::plan;

const char *const dlc::fuzz::kTargetName = "plan";

namespace {

constexpr size_t kHeaderBytes = 32;
constexpr double kMaxFlops = 1.5e9;
constexpr uint64_t kMaxBytes = 256ull << 20;

uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; ++i)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

void putU64(Bytes &b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    b[at + size_t(i)] = uint8_t(v >> (8 * i));
}

/// Length and checksum made to match the payload.
void reseal(Bytes &b) {
  if (b.size() < kHeaderBytes)
    return;
  putU64(b, 16, b.size() - kHeaderBytes);
  putU64(b, 24, fnv1a(b.data() + kHeaderBytes, b.size() - kHeaderBytes));
}

int64_t interesting(Rng &rng, int64_t old) {
  static const int64_t values[] = {0, 1, -1, 2, 3, 4, 7, 8, 16, 64, 255, 256, 1000, 4096,
                                   65535, 65536, 0x7fffffff, 0x80000000LL, 0xffffffffLL,
                                   0x100000001LL, INT64_MAX, INT64_MIN};
  // Mostly smaller: a kernel told of fewer elements than its buffers hold is a plan the
  // checks accept, and the one whose execution is worth watching.
  switch (rng.below(8)) {
  case 0:
    return old + 1;
  case 1:
  case 2:
    return old - 1;
  case 3:
    return old / 2;
  case 4:
    return 1;
  case 5:
    return old * 2;
  default:
    return values[rng.below(sizeof values / sizeof values[0])];
  }
}

/// One structured change of a decoded plan.
void mutateField(plan::Plan &p, Rng &rng) {
  auto anyBuffer = [&]() -> int32_t {
    return p.buffers.empty() || rng.oneIn(16) ? int32_t(interesting(rng, 0)) : int32_t(rng.below(p.buffers.size()));
  };
  plan::Program *prog = p.programs.empty() ? nullptr : &p.programs[rng.below(p.programs.size())];
  plan::Kernel *k = prog && !prog->kernels.empty() ? &prog->kernels[rng.below(prog->kernels.size())] : nullptr;
  switch (rng.below(16)) {
  case 0:
  case 1:
  case 2: // a kernel's int attribute (the sizes every bound is computed from)
    if (k && !k->ints.empty()) {
      int64_t &v = k->ints[rng.below(k->ints.size())];
      v = interesting(rng, v);
    }
    break;
  case 3: // a kernel's argument
    if (k && !k->args.empty())
      k->args[rng.below(k->args.size())] = anyBuffer();
    break;
  case 4: // a kernel's kind
    if (k)
      k->kind = plan::KernelKind(rng.below(size_t(plan::KernelKind::NumKinds)));
    break;
  case 5: // attribute and argument counts
    if (k) {
      if (rng.oneIn(2))
        rng.oneIn(2) && !k->ints.empty() ? k->ints.pop_back() : k->ints.push_back(interesting(rng, 1));
      else
        rng.oneIn(2) && !k->args.empty() ? k->args.pop_back() : k->args.push_back(anyBuffer());
    }
    break;
  case 6: // a float attribute
    if (k && !k->floats.empty()) {
      static const float values[] = {0.f, -1.f, 1e30f, -1e-30f, INFINITY, NAN, 1.f};
      k->floats[rng.below(k->floats.size())] = values[rng.below(7)];
    }
    break;
  case 7:
  case 8: // a buffer's size or place
    if (!p.buffers.empty()) {
      plan::Buffer &b = p.buffers[rng.below(p.buffers.size())];
      if (rng.oneIn(2))
        b.bytes = uint64_t(rng.oneIn(2) ? int64_t(b.bytes) - 4 * int64_t(1 + rng.below(64)) : interesting(rng, int64_t(b.bytes)));
      else
        b.offset = uint64_t(interesting(rng, int64_t(b.offset)));
    }
    break;
  case 9: // the arena
    if (rng.oneIn(2))
      p.arenaBytes = uint64_t(interesting(rng, int64_t(p.arenaBytes)));
    else
      p.persistentBytes = uint64_t(interesting(rng, int64_t(p.persistentBytes)));
    break;
  case 10: // a program's inputs and outputs
    if (prog && rng.oneIn(2)) {
      int32_t *roles[] = {&prog->loss, &prog->correct};
      *roles[rng.below(2)] = anyBuffer();
    } else if (prog && !prog->inputs.empty()) {
      plan::ProgramInput &in = prog->inputs[rng.below(prog->inputs.size())];
      switch (rng.below(5)) {
      case 0:
        in.buffer = anyBuffer();
        break;
      case 1:
        in.dtype = in.dtype == plan::DType::F32 ? plan::DType::I32 : plan::DType::F32;
        break;
      case 2:
        if (in.shape.empty())
          in.shape.push_back(interesting(rng, 1));
        else
          in.shape[rng.below(in.shape.size())] = interesting(rng, in.shape[0]);
        break;
      case 3:
        in.classes = interesting(rng, in.classes);
        break;
      default:
        in.name = prog->inputs[rng.below(prog->inputs.size())].name;
        break;
      }
    }
    break;
  case 11: // the configuration
    switch (rng.below(5)) {
    case 0:
      p.train.batch = interesting(rng, p.train.batch);
      break;
    case 1:
      p.classes = interesting(rng, p.classes);
      break;
    case 2:
      if (!p.inputShape.empty())
        p.inputShape[rng.below(p.inputShape.size())] = interesting(rng, p.inputShape[0]);
      break;
    case 3:
      p.data.cropH = interesting(rng, p.data.cropH);
      p.data.cropW = rng.oneIn(2) ? p.data.cropH : interesting(rng, p.data.cropW);
      break;
    default:
      p.train.logEvery = interesting(rng, p.train.logEvery);
      break;
    }
    break;
  case 12: // a parameter's buffer
    if (!p.params.empty())
      p.params[rng.below(p.params.size())].buffer = anyBuffer();
    break;
  case 13: // swap two kernels' arguments (shapes stay, buffers change)
    if (k && prog && !k->args.empty()) {
      plan::Kernel &other = prog->kernels[rng.below(prog->kernels.size())];
      if (!other.args.empty())
        std::swap(k->args[rng.below(k->args.size())], other.args[rng.below(other.args.size())]);
    }
    break;
  case 14: // a number in the CUDA launch records
    if (prog && !prog->cudaLaunches.empty()) {
      std::string &text = prog->cudaLaunches;
      size_t at = rng.below(text.size());
      while (at < text.size() && !(text[at] >= '0' && text[at] <= '9'))
        ++at;
      size_t end = at;
      while (end < text.size() && text[end] >= '0' && text[end] <= '9')
        ++end;
      if (at < text.size())
        text.replace(at, end - at, std::to_string(interesting(rng, 1)));
    }
    break;
  default: // copy one kernel's attributes onto another of the same kind elsewhere
    if (k && prog) {
      plan::Kernel &other = prog->kernels[rng.below(prog->kernels.size())];
      k->ints = other.ints;
    }
    break;
  }
}

/// Fills `bytes` with finite floats, or for an int32 input (`classes` > 0) with ids in [0,
/// classes) and now and then one outside (the kernels must stay inside their buffers).
void fill(uint8_t *data, uint64_t bytes, Rng &rng, int64_t classes) {
  for (uint64_t i = 0; i + 4 <= bytes; i += 4) {
    if (classes > 0) {
      int32_t v = rng.oneIn(64) ? int32_t(interesting(rng, classes))
                                : int32_t(rng.below(uint64_t(classes)));
      std::memcpy(data + i, &v, 4);
    } else {
      float v = float(int64_t(rng.below(2001)) - 1000) / 1000.0f;
      std::memcpy(data + i, &v, 4);
    }
  }
}

/// Per buffer: the bound of the ids an int32 input of `prog` gets (its classes, or 300 for
/// token ids), 0 for every other buffer (floats).
std::vector<int64_t> intInputs(const plan::Plan &p, const plan::Program &prog) {
  std::vector<int64_t> ids(p.buffers.size(), 0);
  for (const plan::ProgramInput &in : prog.inputs)
    if (in.dtype == plan::DType::I32)
      ids[size_t(in.buffer)] = in.classes > 0 ? in.classes : 300;
  return ids;
}

/// One step of `prog` with every buffer in its own exactly sized allocation.
void runSeparate(const plan::Plan &p, const plan::Program &prog, Rng &rng) {
  std::vector<std::unique_ptr<uint8_t[]>> buffers(p.buffers.size());
  const std::vector<int64_t> ids = intInputs(p, prog);
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    buffers[b].reset(new uint8_t[p.buffers[b].bytes ? p.buffers[b].bytes : 1]);
    fill(buffers[b].get(), p.buffers[b].bytes, rng, ids[b]);
  }
  float *args[16];
  for (const plan::Kernel &k : prog.kernels) {
    require(k.args.size() <= 16, "a kernel with more than 16 arguments passed the checks");
    for (size_t j = 0; j < k.args.size(); ++j)
      args[j] = reinterpret_cast<float *>(buffers[size_t(k.args[j])].get());
    dlc::cpu::runKernel(k, args);
  }
}

/// One step of `prog` in the planned arena, parameters initialised as dlrun does.
void runInArena(const plan::Plan &p, const plan::Program &prog, Rng &rng) {
  std::unique_ptr<uint8_t[]> arena(new uint8_t[p.arenaBytes ? p.arenaBytes : 1]());
  dlc::initParameters(p, arena.get());
  const std::vector<int64_t> ids = intInputs(p, prog);
  for (const plan::ProgramInput &in : prog.inputs)
    fill(arena.get() + p.buffers[size_t(in.buffer)].offset, p.buffers[size_t(in.buffer)].bytes, rng,
         ids[size_t(in.buffer)]);
  dlc::cpu::runProgram(p, prog, arena.get());
}

/// The seed plans, decoded once (builtinSeeds fills this in the driver's process, before it
/// forks a child per input): structured mutations start from one of them when the input's
/// own bytes no longer decode, so they keep exploring valid-but-altered plans.
std::vector<plan::Plan> &seedPlans() {
  static std::vector<plan::Plan> plans;
  return plans;
}

/// With DLC_FUZZ_PLAN_LOG=FILE, one line per input says what became of it ("refused",
/// "accepted", "ran"), so a run can report how many mutated plans were executed (each input
/// runs in its own process: the file is the only way to count across them).
void logOutcome(const char *what) {
  if (const char *path = std::getenv("DLC_FUZZ_PLAN_LOG"))
    if (FILE *f = std::fopen(path, "a")) {
      std::fprintf(f, "%s\n", what);
      std::fclose(f);
    }
}

std::string readFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

} // namespace

/// libFuzzer calls this once before the first input (the bounded driver calls builtinSeeds
/// itself): the structured mutations need the seed plans decoded.
extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  if (seedPlans().empty())
    dlc::fuzz::builtinSeeds();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  const uint8_t mode = data[0];
  Bytes bytes(data + 1, data + size);
  Rng rng(fnv1a(data, size));
  if ((mode & 2) && bytes.size() > kHeaderBytes) {
    plan::Plan decoded;
    std::string ignored;
    bool ok = plan::decodePlan(bytes, decoded, ignored, /*check=*/false) ||
              (reseal(bytes), plan::decodePlan(bytes, decoded, ignored, /*check=*/false));
    if (!ok && !seedPlans().empty()) {
      decoded = seedPlans()[rng.below(seedPlans().size())];
      ok = true;
    }
    if (ok) {
      for (int n = 1 + (mode >> 2) % 3 / 2; n > 0; --n) // mostly one change
        mutateField(decoded, rng);
      bytes = plan::encodePlan(decoded);
    }
  }
  if (mode & 1)
    reseal(bytes);

  plan::Plan p;
  std::string error;
  if (!plan::decodePlan(bytes, p, error)) {
    require(!error.empty() && error.find('\n') == std::string::npos, "refusal is not one line: " + error);
    logOutcome("refused");
    return 0;
  }
  // Accepted: it must survive a round trip and run. Work is bounded by the table's formulas.
  plan::Plan again;
  require(plan::decodePlan(plan::encodePlan(p), again, error), "accepted plan fails its round trip: " + error);
  double flops = 0;
  uint64_t bufferBytes = 0;
  for (const plan::Program &prog : p.programs)
    for (const plan::Kernel &k : prog.kernels)
      flops += plan::kernelFlops(k);
  for (const plan::Buffer &b : p.buffers)
    bufferBytes += b.bytes;
  if (flops > kMaxFlops || bufferBytes > kMaxBytes || p.arenaBytes > kMaxBytes) {
    logOutcome("accepted");
    return 0;
  }
  dlc::cpu::setThreads(1 + int(rng.below(2))); // the split paths of the kernels too
  for (const plan::Program &prog : p.programs) {
    runSeparate(p, prog, rng);
    runInArena(p, prog, rng);
  }
  logOutcome("ran");
  return 0;
}

std::vector<Bytes> dlc::fuzz::builtinSeeds() {
  // The shipped models' plans come as seed files (test/fuzz/CMakeLists.txt); this one is here
  // so the target has a seed even alone.
  Bytes file = plan::encodePlan(dlc::test::tinyClassifierPlan());
  std::vector<Bytes> seeds;
  for (uint8_t mode : {0, 1, 3, 7, 11, 15}) {
    Bytes s{mode};
    s.insert(s.end(), file.begin(), file.end());
    seeds.push_back(s);
  }
  // DLC_FUZZ_PLAN_SEEDS: the shipped models' plans, each with the structured modes.
  if (const char *dir = std::getenv("DLC_FUZZ_PLAN_SEEDS")) {
    for (const char *name : {"lenet.plan", "lstm.plan", "cifar10.plan", "resnet50.plan",
                             "resnet152.plan", "mobilenet_v2.plan", "lenet_cuda.plan"}) {
      std::string content = readFile(std::string(dir) + "/" + name);
      if (content.empty())
        continue;
      for (uint8_t mode : {1, 3, 7, 15}) {
        Bytes s{mode};
        s.insert(s.end(), content.begin(), content.end());
        seeds.push_back(s);
      }
    }
  }
  for (const Bytes &seed : seeds) {
    plan::Plan decoded;
    std::string error;
    if (plan::decodePlan(Bytes(seed.begin() + 1, seed.end()), decoded, error))
      seedPlans().push_back(std::move(decoded));
  }
  return seeds;
}

std::vector<std::string> dlc::fuzz::dictionary() { return {"DLCPLAN", "train", "eval", "cuda", "cpu"}; }
