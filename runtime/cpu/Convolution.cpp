//===- Convolution.cpp - the executor's convolution entry points --*- C++ -*-===//
#include "runtime/cpu/Convolution.h"

#include "runtime/cpu/DnnlConv.h"

#include <cstdio>
#include <cstdlib>

namespace dlc::cpu {

GroupedConvShape generalShape(const ConvShape &s) {
  return {s.n, s.c, s.h, s.w, s.k, s.r, s.s, s.strideH, s.strideW,
          s.padH, s.padW, s.padH, s.padW, 1, 1, 1};
}

bool preferDnnl(DnnlConvOp op, const GroupedConvShape &s) {
  // Measured per call on this project's machine (docs/performance.md): oneDNN is 1.5-4x
  // faster on every ResNet-50, MobileNet-V2 and CIFAR-10 layer, but a call of a few MFLOPs
  // lasts tens of microseconds, where its fixed costs (memory objects, reorders into and
  // out of the blocked layout) outweigh its faster loops: LeNet's backward convolutions
  // (48 MFLOP at batch 100) run 1.3-2x faster in-house, its forward conv2 1.3-1.8x faster in
  // oneDNN, and anything at batch 1 in-house.
  const double flops = 2.0 * s.n * s.k * s.oh() * s.ow() * s.cg() * s.r * s.s;
  if (flops < 16e6)
    return false;
  if (flops < 64e6)
    return op == DnnlConvOp::Forward && s.cg() >= 4;
  return true;
}

namespace {
/// A convolution with blocked operands has no in-house fallback: Layout.cpp blocks only
/// what oneDNN takes, so its refusal here is a bug, reported rather than computed wrongly.
bool blockedRefused(unsigned blocked, bool ran) {
  if (ran || !blocked)
    return ran;
  std::fprintf(stderr, "dlrun: internal error: oneDNN refused a convolution whose tensors were "
                       "laid out for it at load (DLC_BLOCKED=0 runs without those layouts)\n");
  std::abort();
}
} // namespace

void convForward(const ConvShape &s, const float *x, const float *w, float *y, float *scratch,
                 const float *bias, bool relu, unsigned blocked) {
  const GroupedConvShape g = generalShape(s);
  if (!(blocked || preferDnnl(DnnlConvOp::Forward, g)) ||
      !blockedRefused(blocked, dnnlConvForward(g, x, w, y, bias, relu, blocked)))
    conv2dForward(s, x, w, y, scratch, bias, relu);
}

void convBackwardData(const ConvShape &s, const float *dy, const float *w, float *dx,
                      float *scratch, unsigned blocked) {
  const GroupedConvShape g = generalShape(s);
  if (!(blocked || preferDnnl(DnnlConvOp::BackwardData, g)) ||
      !blockedRefused(blocked, dnnlConvBackwardData(g, dy, w, dx, blocked)))
    conv2dBackwardData(s, dy, w, dx, scratch);
}

void convBackwardFilter(const ConvShape &s, const float *dy, const float *x, float *dw,
                        float *scratch, unsigned blocked) {
  const GroupedConvShape g = generalShape(s);
  if (!(blocked || preferDnnl(DnnlConvOp::BackwardFilter, g)) ||
      !blockedRefused(blocked, dnnlConvBackwardFilter(g, dy, x, dw, blocked)))
    conv2dBackwardFilter(s, dy, x, dw, scratch);
}

void generalConvForward(const GroupedConvShape &s, const float *x, const float *w, float *y,
                        float *scratch, const float *bias, bool relu, unsigned blocked) {
  if (!(blocked || preferDnnl(DnnlConvOp::Forward, s)) ||
      !blockedRefused(blocked, dnnlConvForward(s, x, w, y, bias, relu, blocked)))
    groupedConv2dForward(s, x, w, y, scratch, bias, relu);
}

void generalConvBackwardData(const GroupedConvShape &s, const float *dy, const float *w,
                             float *dx, float *scratch, unsigned blocked) {
  if (!(blocked || preferDnnl(DnnlConvOp::BackwardData, s)) ||
      !blockedRefused(blocked, dnnlConvBackwardData(s, dy, w, dx, blocked)))
    groupedConv2dBackwardData(s, dy, w, dx, scratch);
}

void generalConvBackwardFilter(const GroupedConvShape &s, const float *dy, const float *x,
                               float *dw, float *scratch, unsigned blocked) {
  if (!(blocked || preferDnnl(DnnlConvOp::BackwardFilter, s)) ||
      !blockedRefused(blocked, dnnlConvBackwardFilter(s, dy, x, dw, blocked)))
    groupedConv2dBackwardFilter(s, dy, x, dw, scratch);
}

} // namespace dlc::cpu
