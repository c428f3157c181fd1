//===- GroupedConvKernels.h - grouped, dilated, asymmetrically padded conv -*- C++ -*-===//
//
// The convolutions ConvKernels.cpp does not take: PyTorch's nn.Conv2d with groups > 1,
// dilation > 1 or padding='same' with an even total (one more row/column at the bottom and
// right). LeNet-style layers (one group, no dilation, symmetric padding) never come here: the
// compiler lowers them to the conv2d_* kinds and their fast kernels. Two paths:
//  - depthwise (one input channel per group, MobileNet's 3x3 layers): direct loops over
//    each channel plane, vectorised along output rows;
//  - anything else: per image and group, im2col (with dilation) + SGEMM.
// Results do not depend on the thread count.
//
#pragma once
#include <cstddef>

namespace dlc::cpu {

/// x[n][c][h][w], filter w[k][c/groups][r][s], output y[n][k][oh][ow]; the padding is
/// top/left/bottom/right, dilation spreads the filter taps dilH/dilW apart.
struct GroupedConvShape {
  int n, c, h, w, k, r, s, strideH, strideW, padTop, padLeft, padBottom, padRight, dilH, dilW,
      groups;
  int oh() const { return (h + padTop + padBottom - dilH * (r - 1) - 1) / strideH + 1; }
  int ow() const { return (w + padLeft + padRight - dilW * (s - 1) - 1) / strideW + 1; }
  int cg() const { return c / groups; } // input channels per group
  int kg() const { return k / groups; } // output channels per group
  bool depthwise() const { return cg() == 1; }
};

/// y = conv(x, w) (+ bias[k]) (then max(., 0) when `relu`). `scratch` is unused: the im2col
/// matrices are per thread (threadScratch), so images run in parallel.
void groupedConv2dForward(const GroupedConvShape &s, const float *x, const float *w, float *y,
                          float *scratch, const float *bias = nullptr, bool relu = false);
/// dx = gradient with respect to the input; overwritten.
void groupedConv2dBackwardData(const GroupedConvShape &s, const float *dy, const float *w,
                               float *dx, float *scratch);
/// dw = gradient with respect to the filter, summed over the batch; overwritten.
void groupedConv2dBackwardFilter(const GroupedConvShape &s, const float *dy, const float *x,
                                 float *dw, float *scratch);

} // namespace dlc::cpu
