//===- Fit.cpp - does a plan fit a device? ------------------------*- C++ -*-===//
#include "compiler/Advisor/Fit.h"

#include <algorithm>

using namespace dlc;
using namespace dlc::advisor;

uint64_t advisor::usableBytes(const hw::Gpu &gpu) {
  return gpu.memoryBytes > kDeviceReserveBytes ? gpu.memoryBytes - kDeviceReserveBytes : 0;
}

/// Buffers live at the train program's peak step, largest first.
static std::vector<const plan::Buffer *> liveAtPeak(const plan::Plan &p) {
  const plan::Program *train = p.program("train");
  if (!train)
    train = &p.programs.front();
  int32_t prog = int32_t(train - p.programs.data());
  // The step where the program's live bytes are largest.
  std::vector<uint64_t> live(train->kernels.size() + 1, 0);
  for (const plan::Buffer &b : p.buffers)
    if (b.program == prog)
      for (int32_t s = b.first; s <= b.last && s < int32_t(live.size()); ++s)
        live[s] += b.bytes;
  int32_t peak = int32_t(std::max_element(live.begin(), live.end()) - live.begin());
  std::vector<const plan::Buffer *> at;
  for (const plan::Buffer &b : p.buffers)
    if (b.program < 0 || (b.program == prog && b.first <= peak && peak <= b.last))
      at.push_back(&b);
  std::sort(at.begin(), at.end(),
            [](const plan::Buffer *a, const plan::Buffer *b) { return a->bytes > b->bytes; });
  return at;
}

std::vector<const plan::Buffer *> advisor::largestAtPeak(const plan::Plan &p, size_t n) {
  std::vector<const plan::Buffer *> at = liveAtPeak(p);
  if (at.size() > n)
    at.resize(n);
  return at;
}

std::vector<uint64_t> advisor::breakdownAtPeak(const plan::Plan &p) {
  std::vector<uint64_t> bytes(size_t(plan::BufferKind::NumKinds), 0);
  for (const plan::Buffer *b : liveAtPeak(p))
    bytes[size_t(b->kind)] += b->bytes;
  return bytes;
}

PrecisionBreakdown advisor::precisionBreakdown(const plan::Plan &p) {
  PrecisionBreakdown r;
  for (const plan::Buffer *b : liveAtPeak(p)) {
    switch (b->kind) {
    case plan::BufferKind::Parameter:
      r.weights += b->bytes;
      break;
    case plan::BufferKind::OptimizerState:
    case plan::BufferKind::ModelState:
      r.optimizerState += b->bytes;
      break;
    case plan::BufferKind::Gradient:
      (plan::dtypeBytes(b->dtype) == 4 ? r.weightGradients : r.activations) += b->bytes;
      break;
    case plan::BufferKind::WeightCopy:
      r.weightCopies += b->bytes;
      break;
    case plan::BufferKind::Input:
    case plan::BufferKind::Activation:
    case plan::BufferKind::Workspace:
    case plan::BufferKind::Output:
      r.activations += b->bytes;
      break;
    case plan::BufferKind::NumKinds:
      break;
    }
  }
  return r;
}

std::optional<int64_t>
advisor::largestBatch(const std::function<std::optional<uint64_t>(int64_t)> &bytesAt,
                      uint64_t capacity) {
  auto one = bytesAt(1), two = bytesAt(2);
  if (!one || !two)
    return std::nullopt;
  if (*one > capacity)
    return 0;
  // Bracket the answer around the linear prediction, then bisect: lo fits, hi does not.
  uint64_t perExample = *two > *one ? *two - *one : 0;
  if (perExample == 0) {
    // Flat between 1 and 2 (a step whose peak is a weight-sized buffer: GPT-2's up to a few
    // hundred tokens): look further, doubling. Memory that does not grow at all (an imported
    // graph whose batch is fixed in the file) has no largest batch to find.
    for (int64_t b = 4;; b *= 2) {
      auto far = bytesAt(b);
      if (!far || b > (int64_t(1) << 16))
        return std::nullopt;
      if (*far > *one) {
        perExample = std::max<uint64_t>(1, (*far - *one) / uint64_t(b - 1));
        break;
      }
    }
  }
  int64_t guess = std::max<int64_t>(1, int64_t((capacity - *one) / perExample));
  int64_t lo = 1, hi = -1;
  auto fits = [&](int64_t b) -> std::optional<bool> {
    auto at = bytesAt(b);
    return at ? std::optional<bool>(*at <= capacity) : std::nullopt;
  };
  int64_t step = std::max<int64_t>(1, guess / 64);
  auto g = fits(guess);
  if (!g)
    return std::nullopt;
  if (*g) {
    lo = guess;
    for (int64_t b = guess + step;; b += step, step *= 2) {
      auto f = fits(b);
      if (!f)
        return std::nullopt;
      if (!*f) {
        hi = b;
        break;
      }
      lo = b;
    }
  } else {
    hi = guess;
    for (int64_t b = guess - step; b > 1; b -= step, step *= 2) {
      auto f = fits(b);
      if (!f)
        return std::nullopt;
      if (*f) {
        lo = b;
        break;
      }
      hi = b;
    }
  }
  while (hi - lo > 1) {
    int64_t mid = lo + (hi - lo) / 2;
    auto f = fits(mid);
    if (!f)
      return std::nullopt;
    (*f ? lo : hi) = mid;
  }
  return lo;
}
