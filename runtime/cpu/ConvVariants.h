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

/// How convForwardRows cuts one output row into vectors of `lanes` (8 or 16) pixels:
/// `segments` runs of `xv` vectors (the last may end past ow) and register tiles of `kt`
/// output channels by `xv` vectors; `width` floats per row of the padded image.
struct RowCut {
  int lanes, vectors, segments, xv, kt, width;
  RowCut(const ConvShape &s, int lanes) : lanes(lanes) {
    vectors = (s.ow() + lanes - 1) / lanes;
    segments = (vectors + 3) / 4;
    xv = (vectors + segments - 1) / segments;
    kt = 12 / xv;
    width = s.w + 2 * s.padW > segments * xv * lanes + s.s - 1 ? s.w + 2 * s.padW
                                                                 : segments * xv * lanes + s.s - 1;
  }
};

/// convForwardRows' images [n0, n1) in AVX-512 vectors (only when wideVectors()): weights
/// packed as [k block][tap][cut.kt], `offsets` of the taps in the padded image, `padded`
/// scratch for one image ([c][h + 2 padH][cut.width] and a vector more).
void rowForwardImages16(const ConvShape &s, const RowCut &cut, const float *x, const float *wp,
                        const int *offsets, float *padded, int n0, int n1, float *y,
                        const float *bias, bool relu);

/// Whether ConvKernels.cpp's forward (and stride-1 data gradient) runs in AVX-512 vectors of
/// 16 output channels: wideVectors() and whole blocks of 16 channels.
bool useForward16(const ConvShape &s);
/// Its images [n0, n1): `wPacked` as packFilter makes it ([taps][16] per block of 16
/// channels), `offsets` of the taps in the (padded) image, `padded` scratch for one image.
void convForwardImages16(const ConvShape &s, const float *x, const float *wPacked,
                         const int *offsets, float *padded, int n0, int n1, float *y,
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
