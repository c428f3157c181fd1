//===- Convolution.h - the executor's convolution entry points ----*- C++ -*-===//
//
// The conv2d_* and conv2d_general_* kinds call these: each runs oneDNN's primitive
// (DnnlConv.h) where oneDNN is built in, enabled and measured faster for the shape, and the
// in-house kernel (Kernels.h, GroupedConvKernels.h) otherwise. Same contracts as those.
//
#pragma once

#include "runtime/cpu/DnnlConv.h"
#include "runtime/cpu/GroupedConvKernels.h"
#include "runtime/cpu/Kernels.h"

namespace dlc::cpu {

/// The general form of a plain convolution (one group, no dilation, symmetric padding).
GroupedConvShape generalShape(const ConvShape &s);

/// Whether oneDNN takes this convolution (when it is enabled): false for the small layers
/// (LeNet's, anything at batch 1) where the in-house kernels are faster than oneDNN with
/// its reorders.
bool preferDnnl(DnnlConvOp op, const GroupedConvShape &s);

/// `blocked`: which tensors are in oneDNN's blocked layout (bits as in DnnlConv.h, set by
/// runtime/cpu/Layout.h only where oneDNN takes the convolution); 0 for NCHW throughout.
void convForward(const ConvShape &s, const float *x, const float *w, float *y, float *scratch,
                 const float *bias, bool relu, unsigned blocked = 0);
void convBackwardData(const ConvShape &s, const float *dy, const float *w, float *dx,
                      float *scratch, unsigned blocked = 0);
void convBackwardFilter(const ConvShape &s, const float *dy, const float *x, float *dw,
                        float *scratch, unsigned blocked = 0);

void generalConvForward(const GroupedConvShape &s, const float *x, const float *w, float *y,
                        float *scratch, const float *bias, bool relu, unsigned blocked = 0);
void generalConvBackwardData(const GroupedConvShape &s, const float *dy, const float *w,
                             float *dx, float *scratch, unsigned blocked = 0);
void generalConvBackwardFilter(const GroupedConvShape &s, const float *dy, const float *x,
                               float *dw, float *scratch, unsigned blocked = 0);

} // namespace dlc::cpu
