// CPU kernels of multi-head self-attention's core (issue 11): from the packed projections
// qkv [B, T, 3C] (q, k, v side by side along the last axis, as GPT-2's c_attn writes them;
// C = heads x D) to the heads' outputs merged back to [B, T, C], which c_proj then mixes.
//
//   S = q k^T / sqrt(D) per (batch, head), masked above the diagonal when causal and at
//       padding keys when a mask is given;
//   P = softmax(S) (rows, in double sums); out = P v.
//
// The forward keeps P [B, H, T, T] for the backward, as PyTorch's eager attention does
// (F.scaled_dot_product_attention's math backend): the memory plan counts it. Backward:
//   dv = P^T dout;  dP = dout v^T;  dS = P * (dP - w);  dq = dS k / sqrt(D);
//   dk = dS^T q / sqrt(D),  with w_i = rowsum(dP * P)_i = dout_i . out_i (the forward's
//   output: FlashAttention's trick, so no pass over a row is needed before using it).
// Pure functions over raw pointers, split over the thread pool by (batch, head); every output
// fully overwritten.
#pragma once

#include <cstdint>

namespace dlc::cpu {

struct AttentionShape {
  int64_t batch = 0, steps = 0, heads = 0, headDim = 0;
  bool causal = false;
  int64_t width() const { return heads * headDim; } // C
};

/// out [B, T, C] and probs [B, H, T, T] from qkv [B, T, 3C]. With a padding mask [B, T]
/// (int32, 0 = padding), masked keys get -inf before the softmax (probability exactly 0); a
/// query whose visible keys are all masked gets a zero row of probs and a zero output, not
/// the NaN of softmax over nothing. attentionBackward then needs no mask.
void attentionForward(const AttentionShape &s, const float *qkv, float *out, float *probs,
                      const int32_t *mask = nullptr);
/// dqkv [B, T, 3C] from dout [B, T, C], the forward's qkv, probs and out.
void attentionBackward(const AttentionShape &s, const float *dout, const float *qkv,
                       const float *probs, const float *out, float *dqkv);

} // namespace dlc::cpu
