// The attention core's CPU kernels (runtime/cpu/AttentionKernels.h): the forward against the
// definition computed naively in double, causal and not; the backward against central finite
// differences for every element of qkv; one and two threads give the same bits.
#include "runtime/cpu/AttentionKernels.h"
#include "runtime/cpu/Parallel.h"

#include "test/unit/GradientCheck.h"

#include <cmath>

using namespace dlc::cpu;
using namespace dlc::testing;

namespace {

/// out [B,T,C] by the definition: per (b, h), softmax(q k^T / sqrt(D) masked) v.
Vec naiveAttention(const AttentionShape &s, const Vec &qkv) {
  const int64_t B = s.batch, T = s.steps, H = s.heads, D = s.headDim, C = H * D;
  Vec out(size_t(B * T * C));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> score(size_t(T), -INFINITY);
        double mx = -INFINITY;
        for (int64_t j = 0; j < T; ++j) {
          if (s.causal && j > i)
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
          sum += (x = std::exp(x - mx));
        for (int64_t e = 0; e < D; ++e) {
          double o = 0;
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
