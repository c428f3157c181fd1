// CPU kernels of the dropout layer: the training-time mask and scale, forward and backward,
// and the per-layer step counter they are seeded by.
//
// The mask is a pure function of (seed, step, element index), a counter-based hash
// (splitmix64's finaliser), not a stream of random numbers: the backward kernel recomputes
// the forward's mask instead of storing it, a run repeats exactly from the same seed (or a
// checkpoint, which holds the counters), and the CUDA kernels (compiler/Target/Cuda) compute
// the same bits.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dlc::cpu {

/// Whether element `idx` is kept at counter value `step`: the top 24 bits of the hash of
/// (step << 32 | idx) ^ seedMix are at least `threshold` (rate * 2^24, rounded).
inline bool dropoutKeep(uint64_t seedMix, uint32_t step, uint64_t idx, uint32_t threshold) {
  uint64_t z = ((uint64_t(step) << 32) | idx) ^ seedMix;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return uint32_t(z >> 40) >= threshold;
}
/// The seed as the hash mixes it in (the same constant the CUDA generator writes).
inline uint64_t dropoutSeedMix(uint64_t seed) { return seed * 0x9E3779B97F4A7C15ull; }
/// The counter's float as an integer; anything but a non-negative integer below 2^32 (a
/// hand-edited checkpoint) counts as 0 rather than being undefined behaviour.
inline uint32_t dropoutStep(float s) {
  return s >= 0.0f && s < 4294967296.0f ? uint32_t(s) : 0u;
}

/// y = keep ? x * scale : 0 over n elements, the mask from (seed, *step); y may alias x.
void dropoutForward(size_t n, int64_t seed, int64_t threshold, float scale, const float *x,
                    const float *step, float *y);
/// dx = keep ? dy * scale : 0 with the forward's mask (same seed and counter); dx may alias dy.
void dropoutBackward(size_t n, int64_t seed, int64_t threshold, float scale, const float *dy,
                     const float *step, float *dx);
/// c[0, n) += 1: a dropout layer's step counter, once per training step after its backward.
void increment(size_t n, float *c);

} // namespace dlc::cpu
