//===- Convolution.cpp - the executor's convolution entry points --*- C++ -*-===//
#include "runtime/cpu/Convolution.h"

#include "runtime/cpu/DnnlConv.h"

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

void convForward(const ConvShape &s, const float *x, const float *w, float *y, float *scratch,
                 const float *bias, bool relu) {
  const GroupedConvShape g = generalShape(s);
  if (!preferDnnl(DnnlConvOp::Forward, g) || !dnnlConvForward(g, x, w, y, bias, relu))
    conv2dForward(s, x, w, y, scratch, bias, relu);
}

void convBackwardData(const ConvShape &s, const float *dy, const float *w, float *dx,
                      float *scratch) {
  const GroupedConvShape g = generalShape(s);
  if (!preferDnnl(DnnlConvOp::BackwardData, g) || !dnnlConvBackwardData(g, dy, w, dx))
    conv2dBackwardData(s, dy, w, dx, scratch);
}

void convBackwardFilter(const ConvShape &s, const float *dy, const float *x, float *dw,
                        float *scratch) {
  const GroupedConvShape g = generalShape(s);
  if (!preferDnnl(DnnlConvOp::BackwardFilter, g) || !dnnlConvBackwardFilter(g, dy, x, dw))
    conv2dBackwardFilter(s, dy, x, dw, scratch);
}

void generalConvForward(const GroupedConvShape &s, const float *x, const float *w, float *y,
                        float *scratch, const float *bias, bool relu) {
  if (!preferDnnl(DnnlConvOp::Forward, s) || !dnnlConvForward(s, x, w, y, bias, relu))
    groupedConv2dForward(s, x, w, y, scratch, bias, relu);
}

void generalConvBackwardData(const GroupedConvShape &s, const float *dy, const float *w,
                             float *dx, float *scratch) {
  if (!preferDnnl(DnnlConvOp::BackwardData, s) || !dnnlConvBackwardData(s, dy, w, dx))
    groupedConv2dBackwardData(s, dy, w, dx, scratch);
}

void generalConvBackwardFilter(const GroupedConvShape &s, const float *dy, const float *x,
                               float *dw, float *scratch) {
  if (!preferDnnl(DnnlConvOp::BackwardFilter, s) || !dnnlConvBackwardFilter(s, dy, x, dw))
    groupedConv2dBackwardFilter(s, dy, x, dw, scratch);
}

} // namespace dlc::cpu
