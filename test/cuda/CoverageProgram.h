//===- CoverageProgram.h - kernel calls LeNet's plan lacks, for the CUDA tests -*- C++ -*-===//
//
// LeNet's plan (compiled with --fuse=false) has no fused epilogues, no add, no weight decay,
// only 1-stride unpadded convolutions and 2x2/2 pooling. The CUDA tests, and the emulation
// generator that must see the same plan, add this program to it so that the generated code
// for all of those is compiled and checked against the CPU as well.
//
#pragma once

#include "runtime/plan/Plan.h"

#include <string>

namespace dlc::cudatest {

/// Appends program "coverage" to `plan`: each conv2d_fwd and matmul of its eval program with
/// epilogue bias, relu and bias+relu (15 calls for LeNet), then strided, padded, non-square
/// convolutions (fwd, bwd data, bwd filter), overlapping and padded max pooling (fwd, bwd,
/// bwd with the fused relu; LeNet's pooling gradients with it too),
/// add, SGD with weight decay, a matmul with both operands transposed, batch norm (training,
/// inference, backward), average pooling (windowed and global, forward and backward) and
/// local response normalisation (two betas, forward and backward) and the recurrent kernels
/// (zeros, time_step, LSTM cell forward and backward), sigmoid forward and backward, the
/// scheduled optimizers (the four schedules with warm-up, a gradient's sum of squares, the
/// clip factor, SGD with and without Nesterov, Adam and AdamW), the issue-10 layer kinds
/// (activations, mul, sub, neg, softmax, dropout, increment, concat) and regression losses
/// (mse, bce_with_logits, forward and backward, one and several blocks), layer norm
/// (forward, backward), transposes (two), embedding forward and backward, grouped, dilated
/// and asymmetrically padded convolutions and attention (full and causal, forward and
/// backward, the forward with a padding mask), position embedding (forward, backward), and
/// the general kernels of imported graphs (unary, broadcast binary and reduce, every function
/// of their table whose domain is all reals). New buffers are appended to the arena.
inline void addCoverageProgram(plan::Plan &plan) {
  using plan::KernelKind;
  plan::Program prog;
  prog.name = "coverage";
  const int32_t index = int32_t(plan.programs.size());
  auto buffer = [&](const std::string &name, int64_t floats) {
    plan::Buffer b;
    b.name = name;
    b.kind = name == "ws" ? plan::BufferKind::Workspace : plan::BufferKind::Activation;
    b.bytes = uint64_t(floats) * 4;
    b.offset = plan.arenaBytes;
    b.program = index;
    plan.arenaBytes += (b.bytes + 63) / 64 * 64;
    plan.buffers.push_back(b);
    return int32_t(plan.buffers.size() - 1);
  };
  auto call = [&](KernelKind kind, const std::string &name, std::vector<int64_t> ints,
                  std::vector<int32_t> args, std::vector<float> floats = {}) {
    plan::Kernel k;
    k.kind = kind;
    k.name = name;
    k.ints = std::move(ints);
    k.args = std::move(args);
    k.floats = std::move(floats);
    prog.kernels.push_back(std::move(k));
  };

  for (const plan::Kernel &k : plan.program("eval")->kernels) {
    if (k.kind != KernelKind::Conv2dFwd && k.kind != KernelKind::Matmul)
      continue;
    const int64_t channels = k.kind == KernelKind::Conv2dFwd ? k.ints[4] : k.ints[1];
    for (int64_t epilogue :
         {plan::kEpilogueBias, plan::kEpilogueRelu, plan::kEpilogueBias | plan::kEpilogueRelu}) {
      plan::Kernel fused = k;
      fused.ints.push_back(epilogue);
      if (epilogue & plan::kEpilogueBias)
        fused.args.push_back(buffer(k.name + ".bias", channels));
      prog.kernels.push_back(fused);
    }
  }

  // x[2][3][9][7] * w[4][3][3][2], stride 2x1, padding 1x0 -> y[2][4][5][6].
  const std::vector<int64_t> conv = {2, 3, 9, 7, 4, 3, 2, 2, 1, 1, 0};
  const int64_t x = 2 * 3 * 9 * 7, w = 4 * 3 * 3 * 2, y = 2 * 4 * 5 * 6, col = 3 * 3 * 2 * 5 * 6;
  call(KernelKind::Conv2dFwd, "conv_s2", conv,
       {buffer("x", x), buffer("w", w), buffer("y", y), buffer("ws", col)});
  call(KernelKind::Conv2dBwdData, "conv_s2_data", conv,
       {buffer("dy", y), buffer("w", w), buffer("dx", x), buffer("ws", col)});
  call(KernelKind::Conv2dBwdFilter, "conv_s2_filter", conv,
       {buffer("dy", y), buffer("x", x), buffer("dw", w), buffer("ws", col)});
  // 3x3/2 windows with padding 1 (overlapping), and 3x2 windows, strides 1x2, padding 1x0.
  for (auto [pool, out] :
       {std::pair{std::vector<int64_t>{2, 3, 9, 7, 3, 3, 2, 2, 1, 1}, 2 * 3 * 5 * 4},
        std::pair{std::vector<int64_t>{2, 3, 9, 7, 3, 2, 1, 2, 1, 0}, 2 * 3 * 9 * 3}}) {
    call(KernelKind::MaxPoolFwd, "pool", pool, {buffer("x", x), buffer("y", out)});
    call(KernelKind::MaxPoolBwd, "pool_grad", pool,
         {buffer("x", x), buffer("dy", out), buffer("dx", x)});
    call(KernelKind::MaxPoolBwd, "pool_grad_relu", [&] {
      auto fused = pool;
      fused.push_back(plan::kEpilogueRelu);
      return fused;
    }(), {buffer("x", x), buffer("dy", out), buffer("dx", x)});
  }
  // And LeNet's own 2x2/2 pooling gradients with the fused relu (the CPU's vector path).
  for (const plan::Kernel &k : plan.program("train")->kernels)
    if (k.kind == KernelKind::MaxPoolBwd && k.ints.size() == 10) {
      plan::Kernel fused = k;
      fused.name += ".relu";
      fused.ints.push_back(plan::kEpilogueRelu);
      prog.kernels.push_back(fused);
    }
  call(KernelKind::Add, "add", {x}, {buffer("a", x), buffer("b", x), buffer("y", x)});
  call(KernelKind::SgdMomentum, "sgd_decay", {w}, {buffer("w", w), buffer("g", w), buffer("m", w)},
       {0.1f, 0.9f, 5e-4f});
  // ResNet's kernels: batch norm (training, inference, backward) over n 2, c 3, hw 63, and
  // average pooling with padded overlapping 3x3/2 windows and as a global pool.
  const int64_t c = 3;
  call(KernelKind::BatchNormTrain, "bn_train", {2, c, 63},
       {buffer("x", x), buffer("gamma", c), buffer("beta", c), buffer("runMean", c),
        buffer("runVar", c), buffer("y", x), buffer("saveMean", c), buffer("saveInvStd", c)},
       {1e-5f, 0.1f});
  call(KernelKind::BatchNormEval, "bn_eval", {2, c, 63},
       {buffer("x", x), buffer("gamma", c), buffer("beta", c), buffer("runMean", c),
        buffer("runVar", c), buffer("y", x)},
       {1e-5f});
  call(KernelKind::BatchNormBwd, "bn_grad", {2, c, 63},
       {buffer("x", x), buffer("dy", x), buffer("gamma", c), buffer("saveMean", c),
        buffer("saveInvStd", c), buffer("dx", x), buffer("dgamma", c), buffer("dbeta", c)});
  for (auto [pool, out] :
       {std::pair{std::vector<int64_t>{2, 3, 9, 7, 3, 3, 2, 2, 1, 1}, 2 * 3 * 5 * 4},
        std::pair{std::vector<int64_t>{2, 3, 9, 7, 9, 7, 1, 1, 0, 0}, 2 * 3}}) {
    call(KernelKind::AvgPoolFwd, "avgpool", pool, {buffer("x", x), buffer("y", out)});
    call(KernelKind::AvgPoolBwd, "avgpool_grad", pool, {buffer("dy", out), buffer("dx", x)});
  }
  // The CIFAR-10 model's local response normalisation over n 2, c 3, hw 63: beta 0.75 (its
  // own code path) with radius 1, and beta 0.6 (powf) with a radius wider than the channels.
  for (auto [radius, beta] : {std::pair{int64_t(1), 0.75f}, std::pair{int64_t(4), 0.6f}}) {
    call(KernelKind::LrnFwd, "lrn", {2, c, 63, radius}, {buffer("x", x), buffer("y", x)},
         {1.0f, 0.5f, beta});
    call(KernelKind::LrnBwd, "lrn_grad", {2, c, 63, radius},
         {buffer("x", x), buffer("y", x), buffer("dy", x), buffer("dx", x)}, {1.0f, 0.5f, beta});
  }
  // The LSTM model's recurrent kernels: zeros, step 2 of a [3, 4, 6] sequence, and the cell
  // forward and backward over 3 rows of 5 units (gates [3][20]), forget bias 1.
  call(KernelKind::Zeros, "zeros", {15}, {buffer("y", 15)});
  call(KernelKind::TimeStep, "time_step", {3, 4, 6, 2}, {buffer("x", 72), buffer("y", 18)});
  call(KernelKind::LstmCellFwd, "lstm_cell", {3, 5},
       {buffer("gates", 60), buffer("cPrev", 15), buffer("h", 15), buffer("c", 15)}, {1.0f});
  call(KernelKind::LstmCellBwd, "lstm_cell_grad", {3, 5},
       {buffer("gates", 60), buffer("cPrev", 15), buffer("dh", 15), buffer("dc", 15),
        buffer("dgates", 60), buffer("dcPrev", 15)},
       {1.0f});
  // Sigmoid over 37 elements and its gradient.
  call(KernelKind::Sigmoid, "sigmoid", {37}, {buffer("x", 37), buffer("y", 37)});
  call(KernelKind::SigmoidBwd, "sigmoid_grad", {37},
       {buffer("dy", 37), buffer("y", 37), buffer("dx", 37)});
  // Regression losses over 37 elements (one block) and 1000 (several): the loss and dx.
  for (int64_t n : {37, 1000}) {
    call(KernelKind::Mse, "mse", {n}, {buffer("x", n), buffer("t", n), buffer("loss", 1)});
    call(KernelKind::MseBwd, "mse_grad", {n}, {buffer("x", n), buffer("t", n), buffer("dx", n)});
    call(KernelKind::BceWithLogits, "bce_with_logits", {n},
         {buffer("x", n), buffer("t", n), buffer("loss", 1)});
    call(KernelKind::BceWithLogitsBwd, "bce_with_logits_grad", {n},
         {buffer("x", n), buffer("t", n), buffer("dx", n)});
  }
  // Scheduled optimizers on 4-float states "opt_state" (the emulation test fills them with a
  // step count, an lr, a sum of squares and a clip factor) and 37-element parameters.
  for (int64_t schedule = 0; schedule < 4; ++schedule)
    call(KernelKind::LrSchedule, "lr_schedule", {schedule, 2, 3, 9},
         {buffer("opt_state", 4)}, {0.1f, 0.5f, 0.001f});
  call(KernelKind::GradSumSq, "grad_sumsq", {37}, {buffer("g", 37), buffer("opt_state", 4)});
  call(KernelKind::ClipScale, "clip_scale", {}, {buffer("opt_state", 4)}, {0.5f});
  for (int64_t nesterov = 0; nesterov < 2; ++nesterov)
    call(KernelKind::SgdStep, "sgd_step", {37, nesterov},
         {buffer("w", 37), buffer("g", 37), buffer("m", 37), buffer("opt_state", 4)},
         {0.9f, 0.01f});
  for (int64_t decoupled = 0; decoupled < 2; ++decoupled)
    call(KernelKind::AdamStep, decoupled ? "adamw_update" : "adam_update", {37, decoupled},
         {buffer("w", 37), buffer("g", 37), buffer("m", 37), buffer("exp_avg_sq", 37),
          buffer("opt_state", 4)},
         {0.9f, 0.999f, 1e-8f, 0.01f});
  // The activation layers, mul, sub, neg (37 elements each) and softmax over 5 rows of 7.
  for (auto [kind, name] :
       {std::pair{KernelKind::Tanh, "tanh"}, std::pair{KernelKind::Silu, "silu"},
        std::pair{KernelKind::Gelu, "gelu"}, std::pair{KernelKind::GeluTanh, "gelu_tanh"},
        std::pair{KernelKind::Relu6, "relu6"}, std::pair{KernelKind::Hardswish, "hardswish"},
        std::pair{KernelKind::Neg, "neg"}})
    call(kind, name, {37}, {buffer("x", 37), buffer("y", 37)});
  for (auto [kind, name] :
       {std::pair{KernelKind::TanhBwd, "tanh_grad"}, std::pair{KernelKind::SiluBwd, "silu_grad"},
        std::pair{KernelKind::GeluBwd, "gelu_grad"},
        std::pair{KernelKind::GeluTanhBwd, "gelu_tanh_grad"},
        std::pair{KernelKind::Relu6Bwd, "relu6_grad"},
        std::pair{KernelKind::HardswishBwd, "hardswish_grad"}, std::pair{KernelKind::Mul, "mul"},
        std::pair{KernelKind::Sub, "sub"}})
    call(kind, name, {37}, {buffer("a", 37), buffer("b", 37), buffer("y", 37)});
  call(KernelKind::LeakyRelu, "leaky_relu", {37}, {buffer("x", 37), buffer("y", 37)}, {0.2f});
  call(KernelKind::LeakyReluBwd, "leaky_relu_grad", {37},
       {buffer("dy", 37), buffer("x", 37), buffer("dx", 37)}, {-0.5f});
  call(KernelKind::SoftmaxFwd, "softmax", {5, 7}, {buffer("x", 35), buffer("y", 35)});
  call(KernelKind::SoftmaxBwd, "softmax_grad", {5, 7},
       {buffer("dy", 35), buffer("y", 35), buffer("dx", 35)});
  // Dropout at rate 0.3 (threshold 0.3 * 2^24, scale 1 / 0.7) from a random counter (not
  // an integer, maybe negative: both devices read it the same way), and the counter's step.
  call(KernelKind::DropoutFwd, "dropout", {37, 3735928559, 5033165},
       {buffer("x", 37), buffer("step", 1), buffer("y", 37)}, {1.0f / 0.7f});
  call(KernelKind::DropoutBwd, "dropout_grad", {37, 12345, 5033165},
       {buffer("dy", 37), buffer("step", 1), buffer("dx", 37)}, {1.0f / 0.7f});
  call(KernelKind::Increment, "increment", {1}, {buffer("step", 1)});
  // Concat of rows of 12 and 4 floats (channels 3 and 1 of 2x2 images, batch 2), and back.
  call(KernelKind::Concat, "concat", {2, 12, 4},
       {buffer("a", 24), buffer("b", 8), buffer("y", 32)});
  call(KernelKind::ConcatBwd, "concat_grad", {2, 12, 4},
       {buffer("dy", 32), buffer("da", 24), buffer("db", 8)});
  // Layer norm of 6 rows of 13 (a vector tail on the CPU), and its gradient.
  call(KernelKind::LayerNormFwd, "layer_norm", {6, 13},
       {buffer("x", 78), buffer("w", 13), buffer("b", 13), buffer("y", 78), buffer("mean", 6),
        buffer("rstd", 6)},
       {1e-5f});
  call(KernelKind::LayerNormBwd, "layer_norm_grad", {6, 13},
       {buffer("x", 78), buffer("dy", 78), buffer("w", 13), buffer("mean", 6),
        buffer("rstd", 6), buffer("dx", 78), buffer("dw", 13), buffer("db", 13)});
  // Transposes: attention heads [2, 5, 3, 4] -> [2, 3, 5, 4] (whole rows on the CPU) and
  // [2, 5, 7] -> [2, 7, 5] (tiles).
  call(KernelKind::Transpose, "transpose_heads", {1, 1, 2, 5, 3, 4, 0, 1, 2, 4, 3, 5},
       {buffer("x", 120), buffer("y", 120)});
  call(KernelKind::Transpose, "transpose_last", {1, 1, 1, 2, 5, 7, 0, 1, 2, 3, 5, 4},
       {buffer("x", 70), buffer("y", 70)});
  // Embedding of batch x 5 tokens (the program's int32 input: the tests fill it with ids in
  // [0, 7) as dlrun would) into rows of a [7][6] table, and the scatter-add back.
  const int64_t rows = plan.train.batch * 5;
  const int32_t tokens = buffer("tokens", rows);
  prog.inputs.push_back({"tokens", tokens, plan::DType::I32, {5}, 7});
  call(KernelKind::Embedding, "embedding", {rows, 7, 6},
       {tokens, buffer("w", 42), buffer("y", rows * 6)});
  call(KernelKind::EmbeddingBwd, "embedding_grad", {rows, 7, 6},
       {tokens, buffer("dy", rows * 6), buffer("dw", 42)});
  // C[5][7] = A^T B^T with A stored [3][5] and B stored [7][3].
  call(KernelKind::Matmul, "matmul_tt", {5, 7, 3, 1, 1},
       {buffer("a", 15), buffer("b", 21), buffer("c", 35)});
  // Grouped convolutions (forward, forward with bias+relu, data and filter gradients): a
  // depthwise one (multiplier 2, stride 2), a grouped dilated one, both through cuDNN, and one
  // padded asymmetrically (PyTorch's 'same' with a 2x2 window), a generated kernel.
  // Ints: n c h w k r s strideH strideW padTop padLeft padBottom padRight dilH dilW groups.
  struct GroupedCase {
    std::vector<int64_t> ints;
    int64_t x, w, y, ws;
  };
  for (const GroupedCase &g :
       {GroupedCase{{2, 4, 9, 7, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 4}, 504, 72, 320, 180},
        GroupedCase{{2, 6, 8, 7, 4, 3, 2, 1, 2, 2, 1, 2, 1, 2, 2, 2}, 672, 72, 256, 576},
        GroupedCase{{2, 3, 6, 5, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1, 1}, 180, 48, 240, 360}}) {
    call(KernelKind::Conv2dGeneralFwd, "gconv", g.ints,
         {buffer("x", g.x), buffer("w", g.w), buffer("y", g.y), buffer("ws", g.ws)});
    std::vector<int64_t> fused = g.ints;
    fused.push_back(plan::kEpilogueBias | plan::kEpilogueRelu);
    call(KernelKind::Conv2dGeneralFwd, "gconv_bias_relu", fused,
         {buffer("x", g.x), buffer("w", g.w), buffer("y", g.y), buffer("ws", g.ws),
          buffer("bias", g.ints[4])});
    call(KernelKind::Conv2dGeneralBwdData, "gconv_data", g.ints,
         {buffer("dy", g.y), buffer("w", g.w), buffer("dx", g.x), buffer("ws", g.ws)});
    call(KernelKind::Conv2dGeneralBwdFilter, "gconv_filter", g.ints,
         {buffer("dy", g.y), buffer("x", g.x), buffer("dw", g.w), buffer("ws", g.ws)});
  }
  // Attention over packed qkv: batch 2, 5 steps, 2 heads of 3 (C = 6), full and causal,
  // forward and backward (whose probs and out are free inputs here: the formulas compared
  // are the same functions of them on both sides).
  for (int64_t causal : {0, 1}) {
    call(KernelKind::AttentionFwd, "attention", {2, 5, 2, 3, causal},
         {buffer("qkv", 180), buffer("out", 60), buffer("probs", 100)});
    call(KernelKind::AttentionBwd, "attention_grad", {2, 5, 2, 3, causal},
         {buffer("dy", 60), buffer("qkv", 180), buffer("probs", 100), buffer("out", 60),
          buffer("dqkv", 180)});
  }
  // A pipeline stage's copy of a buffer.
  call(KernelKind::Copy, "copy", {37}, {buffer("x", 37), buffer("y", 37)});
  // A micro-batch's slice of a whole batch (GPipe): 11 elements from 5 to 3.
  call(KernelKind::CopySlice, "copy_slice", {11, 5, 3}, {buffer("x", 16), buffer("y", 14)});
  // Position embedding: batch 2 of 5 steps of 6 features and a table of 7 positions (the
  // gradient's last two rows zero).
  call(KernelKind::PositionAdd, "position_add", {2, 5, 6, 7},
       {buffer("x", 60), buffer("table", 42), buffer("y", 60)});
  call(KernelKind::PositionAddBwd, "position_add_grad", {2, 5, 6, 7},
       {buffer("dy", 60), buffer("dtable", 42)});
  // The general kernels of imported graphs (issue 14), every function of
  // runtime/plan/TensorFunctions.def defined on the whole real line (the tests' values are
  // of either sign): unary over 37 elements with two float parameters; broadcast binary of
  // [3, 1, 5] and [4, 1] to [3, 4, 5], and a strided read (a slice walking one axis
  // backwards from an offset); reduce of [2, 5, 3] over the middle axis.
  const char *const unaryNames[] = {
#define DLC_UNARY_FN(Enum, name, expr) name,
#include "runtime/plan/TensorFunctions.def"
  };
  const std::string realDomain = " identity abs neg exp floor ceil round sign erf sin cos atan "
                                 "sinh cosh asinh relu sigmoid tanh softplus softsign elu selu "
                                 "leaky_relu hard_sigmoid clip thresholded_relu celu gelu "
                                 "gelu_tanh hard_swish mish shrink affine square ";
  for (int64_t fn = 0; fn < int64_t(sizeof(unaryNames) / sizeof(unaryNames[0])); ++fn)
    if (realDomain.find(" " + std::string(unaryNames[fn]) + " ") != std::string::npos)
      call(KernelKind::Unary, std::string("unary_") + unaryNames[fn], {37, fn},
           {buffer("x", 37), buffer("y", 37)}, {0.5f, 1.5f});
  const char *const binaryNames[] = {
#define DLC_BINARY_FN(Enum, name, expr) name,
#include "runtime/plan/TensorFunctions.def"
  };
  for (int64_t fn = 0; fn < int64_t(sizeof(binaryNames) / sizeof(binaryNames[0])); ++fn) {
    if (std::string(binaryNames[fn]) == "pow")
      continue; // a negative base's fractional power is NaN
    call(KernelKind::BroadcastBinary, std::string("binary_") + binaryNames[fn],
         {fn, 1, 1, 1, 3, 4, 5, 0, 0, 0, 5, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0},
         {buffer("x", 15), buffer("z", 4), buffer("y", 60)});
  }
  // y[i][j] = x[2 - i][1 + 2j] of x [3][6]: rows backwards from offset 13, every other column.
  call(KernelKind::BroadcastBinary, "slice", {9, 1, 1, 1, 1, 3, 2, 0, 0, 0, 0, -6, 2,
                                              0, 0, 0, 0, 0, 0, 13, 0},
       {buffer("x", 18), buffer("x1", 1), buffer("y", 6)});
  const char *const reduceNames[] = {
#define DLC_REDUCE_FN(Enum, name, first, step, finish) name,
#include "runtime/plan/TensorFunctions.def"
  };
  for (int64_t fn = 0; fn < int64_t(sizeof(reduceNames) / sizeof(reduceNames[0])); ++fn) {
    if (std::string(reduceNames[fn]) == "log_sum")
      continue; // the log of a negative sum is NaN
    call(KernelKind::Reduce, std::string("reduce_") + reduceNames[fn], {fn, 2, 5, 3},
         {buffer("x", 30), buffer("y", 6)});
  }
  // Attention with a padding mask: the batch's 5 keys each a token (1) or padding (0), an
  // int32 input the tests fill at random; causal, query 0 of an example whose key 0 is
  // padding sees no key at all (the zero row). The backward is attention_bwd above.
  const int32_t mask = buffer("mask", rows);
  plan.buffers[size_t(mask)].dtype = plan::DType::I32;
  prog.inputs.push_back({"mask", mask, plan::DType::I32, {5}, 2});
  for (int64_t causal : {0, 1})
    call(KernelKind::AttentionMaskedFwd, "attention_masked", {plan.train.batch, 5, 2, 3, causal},
         {buffer("qkv", rows * 18), mask, buffer("out", rows * 6), buffer("probs", rows * 10)});
  plan.programs.push_back(prog);
}

} // namespace dlc::cudatest
