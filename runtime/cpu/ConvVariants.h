//===- ConvVariants.h - convolution kernels for awkward shapes ----*- C++ -*-===//
//
// ConvKernels.cpp vectorises over output channels (8 per vector), which suits layers with
// 8, 16, 64... channels. These variants vectorise along another axis for the shapes where
// that wastes lanes or where per-pixel work is too small to hide the epilogue; conv2d*()
// in ConvKernels.cpp chooses among them (see the `use*` predicates). Internal header.
//
#pragma once

#include "runtime/cpu/Kernels.h"

namespace dlc::cpu {

/// Forward convolution vectorised along output rows (8 consecutive pixels per vector, a few
/// output channels per register tile): for stride-1 rows with a short reduction (few input
/// channels times taps, e.g. a first layer on grey images), where a channel-vectorised tile
/// would spend its time in the scalar epilogue.
bool useRowForward(const ConvShape &s);
void convForwardRows(const ConvShape &s, const float *x, const float *w, float *y,
                     const float *bias, bool relu);

/// Filter gradient vectorised along output rows, for the same shapes as useRowForward.
bool useRowFilter(const ConvShape &s);
void convBackwardFilterRows(const ConvShape &s, const float *dy, const float *x, float *dw);

/// Data gradient (stride 1) vectorised across 8 images of the batch: every lane is used
/// whatever the channel count, and each register tile skips exactly the filter taps that
/// fall outside dy, so no multiply touches the padding. For input channel counts that are
/// not a multiple of 8 and batches of at least 8.
bool useBatchedData(const ConvShape &s);
void convBackwardDataBatched(const ConvShape &s, const float *dy, const float *w, float *dx);

} // namespace dlc::cpu
