// The attention core's CPU kernels (runtime/cpu/AttentionKernels.h): the forward against the
// definition computed naively in double, causal and not; the backward against central finite
// differences for every element of qkv; one and two threads give the same bits. With a padding
// mask: the same, the masked keys' probabilities exactly 0 and a query with no key left a
// zero row (not NaN), the backward (which reads no mask) still the finite differences.
#include "runtime/cpu/AttentionKernels.h"
#include "runtime/cpu/Parallel.h"

#include "test/unit/GradientCheck.h"

#include <cmath>

using namespace dlc::cpu;
using namespace dlc::testing;

namespace {

/// out [B,T,C] by the definition: per (b, h), softmax(q k^T / sqrt(D) masked) v; mask (B x T,
/// or empty) drops padding keys, a row with none left is 0.
Vec naiveAttention(const AttentionShape &s, const Vec &qkv,
                   const std::vector<int32_t> &mask = {}) {
  const int64_t B = s.batch, T = s.steps, H = s.heads, D = s.headDim, C = H * D;
  Vec out(size_t(B * T * C));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> score(size_t(T), -INFINITY);
        double mx = -INFINITY;
        for (int64_t j = 0; j < T; ++j) {
          if ((s.causal && j > i) || (!mask.empty() && mask[size_t(b * T + j)] == 0))
            continue;
          double d = 0;
          for (int64_t e = 0; e < D; ++e)
            d += double(qkv[size_t((b * T + i) * 3 * C + h * D + e)]) *
                 qkv[size_t((b * T + j) * 3 * C + C + h * D + e)];
          score[size_t(j)] = d / std::sqrt(double(D));
          mx = std::max(mx, score[size_t(j)]);
        }
        double sum = 0;
        for (double &x : score)
          sum += (x = mx == -INFINITY ? 0.0 : std::exp(x - mx));
        for (int64_t e = 0; e < D; ++e) {
          double o = 0;
          if (sum == 0) { // every key masked
            out[size_t((b * T + i) * C + h * D + e)] = 0.0f;
            continue;
          }
          for (int64_t j = 0; j < T; ++j)
            o += score[size_t(j)] / sum * qkv[size_t((b * T + j) * 3 * C + 2 * C + h * D + e)];
          out[size_t((b * T + i) * C + h * D + e)] = float(o);
        }
      }
  return out;
}

TEST(AttentionKernelsTest, ForwardMatchesTheDefinition) {
  std::mt19937 rng(11);
  for (bool causal : {false, true})
    for (int threads : {1, 2}) {
      setThreads(threads);
      AttentionShape s{2, 7, 3, 10, causal}; // D = 10: a vector and a remainder
      Vec qkv = randomVec(rng, size_t(s.batch * s.steps * 3 * s.width()), -2, 2);
      Vec out(size_t(s.batch * s.steps * s.width()), kGarbage);
      Vec probs(size_t(s.batch * s.heads * s.steps * s.steps), kGarbage);
      attentionForward(s, qkv.data(), out.data(), probs.data());
      SCOPED_TRACE(causal ? "causal" : "full");
      expectAllNear(out, naiveAttention(s, qkv), 1e-5f);
      for (int64_t r = 0; r < s.batch * s.heads * s.steps; ++r) { // rows sum to 1, mask is 0
        double sum = 0;
        for (int64_t j = 0; j < s.steps; ++j) {
          sum += probs[size_t(r * s.steps + j)];
          if (causal && j > r % s.steps)
            EXPECT_EQ(probs[size_t(r * s.steps + j)], 0.0f);
        }
        EXPECT_NEAR(sum, 1.0, 1e-5);
      }
    }
  setThreads(1);
}

TEST(AttentionKernelsTest, BackwardMatchesFiniteDifferences) {
  std::mt19937 rng(12);
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "full");
    AttentionShape s{2, 5, 2, 9, causal};
    const size_t nOut = size_t(s.batch * s.steps * s.width());
    Vec qkv = randomVec(rng, nOut * 3), r = randomVec(rng, nOut);
    Vec out(nOut), probs(size_t(s.batch * s.heads * s.steps * s.steps));
    attentionForward(s, qkv.data(), out.data(), probs.data());
    Vec dqkv(qkv.size(), kGarbage);
    attentionBackward(s, r.data(), qkv.data(), probs.data(), out.data(), dqkv.data());
    checkGradient(qkv, dqkv, r, [&] {
      Vec o(nOut), p(probs.size());
      attentionForward(s, qkv.data(), o.data(), p.data());
      return o;
    }, 1e-2f, 1e-2);
  }
}

/// A mask of B x T: example 0 all tokens but its last two keys, example 1 only keys 2 and 4
/// (so causal queries 0 and 1 see nothing), example 2 (if any) all padding.
std::vector<int32_t> paddingMask(int64_t B, int64_t T) {
  std::vector<int32_t> m(size_t(B * T), 1);
  for (int64_t j = T - 2; j < T; ++j)
    m[size_t(j)] = 0;
  for (int64_t j = 0; j < T; ++j)
    m[size_t(T + j)] = j == 2 || j == 4 ? 7 : 0; // any nonzero value is a token
  for (int64_t b = 2; b < B; ++b)
    for (int64_t j = 0; j < T; ++j)
      m[size_t(b * T + j)] = 0;
  return m;
}

TEST(AttentionKernelsTest, MaskedForwardMatchesTheDefinition) {
  std::mt19937 rng(14);
  for (bool causal : {false, true})
    for (int threads : {1, 2}) {
      setThreads(threads);
      AttentionShape s{3, 7, 3, 10, causal};
      const int64_t T = s.steps;
      std::vector<int32_t> mask = paddingMask(s.batch, T);
      Vec qkv = randomVec(rng, size_t(s.batch * T * 3 * s.width()), -2, 2);
      Vec out(size_t(s.batch * T * s.width()), kGarbage);
      Vec probs(size_t(s.batch * s.heads * T * T), kGarbage);
      attentionForward(s, qkv.data(), out.data(), probs.data(), mask.data());
      SCOPED_TRACE(causal ? "causal" : "full");
      expectAllNear(out, naiveAttention(s, qkv, mask), 1e-5f);
      for (float x : out)
        ASSERT_TRUE(std::isfinite(x));
      for (int64_t r = 0; r < s.batch * s.heads * T; ++r) {
        const int64_t b = r / (s.heads * T), i = r % T;
        double sum = 0;
        bool anyKey = false;
        for (int64_t j = 0; j < T; ++j) {
          const float p = probs[size_t(r * T + j)];
          sum += p;
          const bool hidden = (causal && j > i) || mask[size_t(b * T + j)] == 0;
          anyKey |= !hidden;
          if (hidden)
            EXPECT_EQ(p, 0.0f) << "row " << r << " key " << j;
        }
        EXPECT_NEAR(sum, anyKey ? 1.0 : 0.0, 1e-5) << "row " << r;
      }
      // Example 2 is all padding, and so are causal queries 0, 1 of example 1: zero outputs.
      for (int64_t e = 0; e < T * s.width(); ++e)
        EXPECT_EQ(out[size_t(2 * T * s.width() + e)], 0.0f);
      if (causal)
        for (int64_t e = 0; e < 2 * s.width(); ++e)
          EXPECT_EQ(out[size_t(T * s.width() + e)], 0.0f);
    }
  setThreads(1);
}

TEST(AttentionKernelsTest, MaskedBackwardMatchesFiniteDifferences) {
  std::mt19937 rng(15);
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "full");
    AttentionShape s{3, 5, 2, 9, causal};
    std::vector<int32_t> mask = paddingMask(s.batch, s.steps);
    const size_t nOut = size_t(s.batch * s.steps * s.width());
    Vec qkv = randomVec(rng, nOut * 3), r = randomVec(rng, nOut);
    Vec out(nOut), probs(size_t(s.batch * s.heads * s.steps * s.steps));
    attentionForward(s, qkv.data(), out.data(), probs.data(), mask.data());
    Vec dqkv(qkv.size(), kGarbage);
    attentionBackward(s, r.data(), qkv.data(), probs.data(), out.data(), dqkv.data());
    checkGradient(qkv, dqkv, r, [&] {
      Vec o(nOut), p(probs.size());
      attentionForward(s, qkv.data(), o.data(), p.data(), mask.data());
      return o;
    }, 1e-2f, 1e-2);
    // A padding key's k and v get no gradient; an all-padding example none at all.
    for (int64_t e = 0; e < 3 * s.width(); ++e)
      EXPECT_EQ(dqkv[size_t(2 * s.steps * 3 * s.width() + e)], 0.0f);
    for (int64_t e = s.width(); e < 3 * s.width(); ++e)
      EXPECT_EQ(dqkv[size_t((s.steps - 1) * 3 * s.width() + e)], 0.0f);
  }
}

TEST(AttentionKernelsTest, ThreadsGiveTheSameBits) {
  std::mt19937 rng(13);
  AttentionShape s{3, 16, 4, 16, true};
  const size_t nOut = size_t(s.batch * s.steps * s.width());
  Vec qkv = randomVec(rng, nOut * 3), dout = randomVec(rng, nOut);
  Vec results[2];
  for (int t : {1, 2}) {
    setThreads(t);
    Vec out(nOut), probs(size_t(s.batch * s.heads * s.steps * s.steps)), dqkv(qkv.size());
    attentionForward(s, qkv.data(), out.data(), probs.data());
    attentionBackward(s, dout.data(), qkv.data(), probs.data(), out.data(), dqkv.data());
    out.insert(out.end(), dqkv.begin(), dqkv.end());
    results[t - 1] = out;
  }
  setThreads(1);
  EXPECT_EQ(results[0], results[1]);
}

} // namespace
