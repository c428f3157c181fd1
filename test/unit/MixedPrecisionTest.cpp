//===- MixedPrecisionTest.cpp - 2-byte storage of a mixed-precision plan -===//
//
// compiler/Planning/MixedPrecision on the tiny classifier (matmul, cross-entropy, matmul for
// the weight gradient, SGD): which buffers become 2 bytes, which casts appear where, the
// lifetimes after them, and that the loader accepts the result in a CUDA plan only.
//
#include "compiler/Planning/ArenaLayout.h"
#include "compiler/Planning/MixedPrecision.h"
#include "runtime/cpu/Executor.h"
#include "runtime/plan/KernelCheck.h"
#include "test/unit/TinyPlan.h"

#include <gtest/gtest.h>

using namespace dlc;
using namespace dlc::plan;

namespace {

const Buffer &named(const Plan &p, const std::string &name, int32_t program) {
  for (const Buffer &b : p.buffers)
    if (b.name == name && b.program == program)
      return b;
  static Buffer none;
  ADD_FAILURE() << "no buffer '" << name << "' in program " << program;
  return none;
}

std::string describe(const Plan &p, const Program &prog) {
  std::string s;
  for (const Kernel &k : prog.kernels) {
    s += kernelKindName(k.kind);
    s += "(";
    for (size_t a = 0; a < k.args.size(); ++a)
      s += (a ? "," : "") + p.buffers[k.args[a]].name;
    s += ") ";
  }
  return s;
}

Plan mixed(Precision precision) {
  Plan p = test::tinyClassifierPlan();
  p.target = "cuda";
  p.arch = "sm_80";
  p.train.precision = precision;
  applyMixedPrecision(p);
  layoutArena(p);
  return p;
}

} // namespace

TEST(MixedPrecision, Fp32ChangesNothing) {
  Plan before = test::tinyClassifierPlan();
  Plan after = before;
  applyMixedPrecision(after);
  ASSERT_EQ(after.buffers.size(), before.buffers.size());
  for (size_t i = 0; i < before.buffers.size(); ++i) {
    EXPECT_EQ(after.buffers[i].dtype, DType::F32);
    EXPECT_EQ(after.buffers[i].bytes, before.buffers[i].bytes);
  }
  EXPECT_EQ(describe(after, after.programs[0]), describe(before, before.programs[0]));
}

TEST(MixedPrecision, CastsAndDtypes) {
  Plan p = mixed(Precision::MixedBf16);
  // The input batch and the weight are cast once before the forward matmul; the batch's
  // copy serves the weight-gradient matmul too, whose bf16 result is cast to the fp32
  // gradient SGD reads.
  EXPECT_EQ(describe(p, p.programs[0]),
            "cast(images,images.bf16) cast(fc.w,fc.w.bf16) matmul(images.bf16,fc.w.bf16,logits) "
            "softmax_xent(logits,labels,loss) softmax_xent_bwd(logits,labels,dlogits) "
            "matmul(images.bf16,dlogits,fc.dw.bf16) cast(fc.dw.bf16,fc.dw) "
            "sgd_momentum(fc.w,fc.dw,fc.w.m) ");
  EXPECT_EQ(describe(p, p.programs[1]),
            "cast(images,images.bf16) cast(fc.w,fc.w.bf16) matmul(images.bf16,fc.w.bf16,logits) "
            "softmax_xent(logits,labels,loss) accuracy(logits,labels,correct) ");
  struct Expect {
    const char *name;
    BufferKind kind;
    DType dtype;
    uint64_t bytes;
    int32_t first, last;
  } expected[] = {
      {"images", BufferKind::Input, DType::F32, 2 * 16 * 4, 0, 0},
      {"images.bf16", BufferKind::Activation, DType::BF16, 2 * 16 * 2, 0, 5},
      {"fc.w.bf16", BufferKind::WeightCopy, DType::BF16, 16 * 3 * 2, 1, 2},
      {"logits", BufferKind::Activation, DType::BF16, 2 * 3 * 2, 2, 4},
      {"loss", BufferKind::Output, DType::F32, 4, 3, 7},
      {"dlogits", BufferKind::Gradient, DType::BF16, 2 * 3 * 2, 4, 5},
      {"fc.dw.bf16", BufferKind::Gradient, DType::BF16, 16 * 3 * 2, 5, 6},
      {"fc.dw", BufferKind::Gradient, DType::F32, 16 * 3 * 4, 6, 7},
  };
  for (const Expect &e : expected) {
    SCOPED_TRACE(e.name);
    const Buffer &b = named(p, e.name, 0);
    EXPECT_EQ(b.kind, e.kind);
    EXPECT_EQ(b.dtype, e.dtype);
    EXPECT_EQ(b.bytes, e.bytes);
    EXPECT_EQ(b.first, e.first);
    EXPECT_EQ(b.last, e.last);
  }
  // Persistent buffers stay fp32.
  EXPECT_EQ(named(p, "fc.w", -1).dtype, DType::F32);
  EXPECT_EQ(named(p, "fc.w.m", -1).dtype, DType::F32);
  std::string error;
  EXPECT_TRUE(validatePlan(p, error)) << error;
}

TEST(MixedPrecision, Fp16ScalesTheLoss) {
  Plan p = mixed(Precision::MixedFp16);
  EXPECT_EQ(named(p, "logits", 0).dtype, DType::F16);
  EXPECT_EQ(named(p, "fc.w.f16", 0).dtype, DType::F16);
  // GradScaler: the loss gradient scaled, the update after every gradient is unscaled and
  // checked, the scale's update last; its state is persistent and fp32.
  EXPECT_EQ(describe(p, p.programs[0]),
            "cast(images,images.f16) cast(fc.w,fc.w.f16) matmul(images.f16,fc.w.f16,logits) "
            "softmax_xent(logits,labels,loss) softmax_xent_bwd(logits,labels,dlogits) "
            "loss_scale(dlogits,loss_scale) matmul(images.f16,dlogits,fc.dw.f16) "
            "cast(fc.dw.f16,fc.dw) unscale_grad(fc.dw,loss_scale) skip_if_nonfinite(loss_scale) "
            "sgd_momentum(fc.w,fc.dw,fc.w.m) loss_scale_update(loss_scale) ");
  EXPECT_EQ(p.programs[0].kernels[9].ints, std::vector<int64_t>{11}); // resumes at the update
  EXPECT_EQ(p.programs[0].kernels[11].ints, std::vector<int64_t>{2000});
  const Buffer &state = named(p, "loss_scale", -1);
  EXPECT_EQ(state.kind, BufferKind::OptimizerState);
  EXPECT_EQ(state.bytes, 16u);
  EXPECT_EQ(p.params.back().name, "loss_scale");
  EXPECT_EQ(p.params.back().init, "zeros");
  // The evaluation has no gradient to scale.
  EXPECT_EQ(describe(p, p.programs[1]).find("loss_scale"), std::string::npos);
  std::string error;
  EXPECT_TRUE(validatePlan(p, error)) << error;
  Plan bad = p;
  bad.programs[0].kernels[9].ints = {9};
  EXPECT_FALSE(validatePlan(bad, error));
  EXPECT_NE(error.find("resumes at kernel 9, not after it within the program's 12"),
            std::string::npos)
      << error;
}

// The CPU executor's side of skip_if_nonfinite and the scale's update (a float copy of the
// fp16 plan: the same kernels on 4-byte buffers, as the CPU runs them).
TEST(MixedPrecision, CpuExecutorSkipsAnOverflowingStep) {
  Plan p = mixed(Precision::MixedFp16);
  for (Buffer &b : p.buffers)
    if (dtypeBytes(b.dtype) == 2) {
      b.dtype = DType::F32;
      b.bytes *= 2;
      if (b.kind == BufferKind::WeightCopy) // (a float copy is no longer a weight copy)
        b.kind = BufferKind::Activation;
    }
  p.target = "cpu";
  layoutArena(p);
  std::string error;
  ASSERT_TRUE(validatePlan(p, error)) << error;
  std::vector<float> arena(p.arenaBytes / 4 + 1, 0.25f);
  auto at = [&](const std::string &name, int32_t program) {
    return &arena[named(p, name, program).offset / 4];
  };
  for (int i = 0; i < 2 * 2; ++i) // labels: class ids
    reinterpret_cast<int32_t *>(at("labels", 0))[i] = i % 3;
  float *state = at("loss_scale", -1), *w = at("fc.w", -1);
  const std::vector<float> w0(w, w + 48);
  // An overflow: updates skipped, the scale halved, the count reset.
  state[0] = 200.f; // 2^216 overflows float
  state[1] = 7.f;
  state[2] = 0.f;
  cpu::runProgram(p, p.programs[0], reinterpret_cast<uint8_t *>(arena.data()));
  EXPECT_EQ(std::vector<float>(w, w + 48), w0);
  EXPECT_EQ(state[0], 199.f);
  EXPECT_EQ(state[1], 0.f);
  EXPECT_EQ(state[2], 0.f);
  // A good step: updates made, one more good step. (The batch again: the step's buffers
  // reuse the inputs' memory.)
  std::fill(arena.begin() + p.persistentBytes / 4, arena.end(), 0.25f);
  state[0] = 0.f;
  for (int i = 0; i < 2 * 2; ++i)
    reinterpret_cast<int32_t *>(at("labels", 0))[i] = i % 3;
  cpu::runProgram(p, p.programs[0], reinterpret_cast<uint8_t *>(arena.data()));
  EXPECT_NE(std::vector<float>(w, w + 48), w0);
  EXPECT_EQ(state[0], 0.f);
  EXPECT_EQ(state[1], 1.f);
}

TEST(MixedPrecision, LoaderRules) {
  std::string error;
  // The CPU computes on float buffers only.
  Plan cpu = mixed(Precision::MixedBf16);
  cpu.target = "cpu";
  EXPECT_FALSE(validatePlan(cpu, error));
  EXPECT_NE(error.find("of kind activation has dtype bf16 in a cpu plan of precision mixed-bf16"),
            std::string::npos)
      << error;
  // The half type is the precision's.
  Plan other = mixed(Precision::MixedBf16);
  other.train.precision = Precision::MixedFp16;
  EXPECT_FALSE(validatePlan(other, error));
  EXPECT_NE(error.find("has dtype bf16 in a cuda plan of precision mixed-fp16"), std::string::npos)
      << error;
  // Master weights, state and the read-back scalars are floats; int32 only for inputs.
  Plan weight = mixed(Precision::MixedBf16);
  weight.buffers[weight.params[0].buffer].dtype = DType::BF16;
  EXPECT_FALSE(validatePlan(weight, error));
  EXPECT_EQ(error, "malformed plan: buffer 0 ('fc.w') of kind parameter has dtype bf16 in a cuda "
                   "plan of precision mixed-bf16");
  Plan loss = mixed(Precision::MixedBf16);
  loss.buffers[loss.programs[0].loss].dtype = DType::I32;
  EXPECT_FALSE(validatePlan(loss, error));
  EXPECT_EQ(error, "malformed plan: buffer 5 ('loss') of kind output has dtype i32");
}

TEST(MixedPrecision, KernelChecksCountTwoBytes) {
  // A bf16 buffer of n elements has 2n bytes: enough for the kernel, which an fp32 buffer of
  // the same bytes is not.
  Plan p = mixed(Precision::MixedBf16);
  std::string error;
  ASSERT_TRUE(validatePlan(p, error)) << error;
  Buffer &logits = p.buffers[p.programs[0].kernels[2].args[2]];
  ASSERT_EQ(logits.name, "logits");
  logits.bytes -= 2;
  EXPECT_FALSE(validatePlan(p, error));
  EXPECT_NE(error.find("needs 12 bytes, buffer 'logits' has 10"), std::string::npos) << error;
  logits.bytes += 2;
  logits.dtype = DType::F32;
  EXPECT_FALSE(validatePlan(p, error));
  EXPECT_NE(error.find("needs 24 bytes, buffer 'logits' has 12"), std::string::npos) << error;
}
