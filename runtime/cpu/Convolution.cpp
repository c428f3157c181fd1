//===- Convolution.cpp - the executor's convolution entry points --*- C++ -*-===//
#include "runtime/cpu/Convolution.h"

#include "runtime/cpu/DnnlConv.h"

namespace dlc::cpu {

GroupedConvShape generalShape(const ConvShape &s) {
  return {s.n, s.c, s.h, s.w, s.k, s.r, s.s, s.strideH, s.strideW,
          s.padH, s.padW, s.padH, s.padW, 1, 1, 1};
}

bool preferDnnl(const GroupedConvShape &) { return true; }

void convForward(const ConvShape &s, const float *x, const float *w, float *y, float *scratch,
                 const float *bias, bool relu) {
  const GroupedConvShape g = generalShape(s);
  if (!preferDnnl(g) || !dnnlConvForward(g, x, w, y, bias, relu))
    conv2dForward(s, x, w, y, scratch, bias, relu);
}

void convBackwardData(const ConvShape &s, const float *dy, const float *w, float *dx,
                      float *scratch) {
  const GroupedConvShape g = generalShape(s);
  if (!preferDnnl(g) || !dnnlConvBackwardData(g, dy, w, dx))
    conv2dBackwardData(s, dy, w, dx, scratch);
}

void convBackwardFilter(const ConvShape &s, const float *dy, const float *x, float *dw,
                        float *scratch) {
  const GroupedConvShape g = generalShape(s);
  if (!preferDnnl(g) || !dnnlConvBackwardFilter(g, dy, x, dw))
    conv2dBackwardFilter(s, dy, x, dw, scratch);
}

void generalConvForward(const GroupedConvShape &s, const float *x, const float *w, float *y,
                        float *scratch, const float *bias, bool relu) {
  if (!preferDnnl(s) || !dnnlConvForward(s, x, w, y, bias, relu))
    groupedConv2dForward(s, x, w, y, scratch, bias, relu);
}

void generalConvBackwardData(const GroupedConvShape &s, const float *dy, const float *w,
                             float *dx, float *scratch) {
  if (!preferDnnl(s) || !dnnlConvBackwardData(s, dy, w, dx))
    groupedConv2dBackwardData(s, dy, w, dx, scratch);
}

void generalConvBackwardFilter(const GroupedConvShape &s, const float *dy, const float *x,
                               float *dw, float *scratch) {
  if (!preferDnnl(s) || !dnnlConvBackwardFilter(s, dy, x, dw))
    groupedConv2dBackwardFilter(s, dy, x, dw, scratch);
}

} // namespace dlc::cpu
