//===- DnnlConv.h - convolutions through oneDNN, when built in ----*- C++ -*-===//
//
// oneDNN (Intel's library of deep-learning primitives, `libdnnl-dev`) has convolution
// kernels tuned per ISA (AVX2, AVX-512, AMX) that the in-house ones cannot match on large
// layers. This module runs the convolution kinds through it on the arena's NCHW buffers:
// one primitive per distinct convolution (shape, direction, epilogue), made on first use or
// ahead of time by dnnlPrepare (plan load), kept for the life of the process. Each call
// reorders the NCHW/OIHW tensors into the blocked layouts the primitive asked for (nChw16c
// on AVX-512) and the output back: the reorders cost memory traffic, the blocked kernels
// win it back several times over on ResNet-size layers (docs/performance.md). Activations
// that runtime/cpu/Layout.h keeps blocked between kernels come and go without reorders.
//
// Built without oneDNN (DLC_WITH_DNNL off or the library absent) every function here
// returns false and the caller runs the in-house kernels; DLC_DNNL=0 in the environment
// does the same at run time.
//
#pragma once

#include "runtime/cpu/GroupedConvKernels.h"

#include <string>

namespace dlc::cpu {

/// Which convolution a primitive computes.
enum class DnnlConvOp { Forward, BackwardData, BackwardFilter };

/// True when convolutions go through oneDNN: built with it, DLC_DNNL is not "0" in the
/// environment and setDnnlEnabled(false) has not been called.
bool dnnlEnabled();
/// Turns the oneDNN path on or off (tests compare both paths); on has no effect when
/// oneDNN is not built in.
void setDnnlEnabled(bool on);
/// "oneDNN 2.6.3 (OpenMP)" or "" when not built in.
std::string dnnlVersion();

/// The channel block of the activation layout oneDNN's convolutions work in on this CPU:
/// 16 (nChw16c, AVX-512) or 8 (nChw8c, AVX2), found by asking oneDNN for a typical layer's
/// layouts; 0 when oneDNN is off or chose no blocked layout (then nothing is blocked).
int dnnlBlock();

/// `blocked` below: which of the caller's tensors are already in a blocked layout rather than
/// NCHW/OIHW, by argument position of the kernel kinds: bit 0 the first (x of a forward, dy of
/// both backwards), bit 1 the second (x of a filter gradient; the filter of a forward or data
/// gradient), bit 2 the output (y of a forward, dx of a data gradient; the filter gradient).
/// Activations are in the layout of dnnlBlock() (nChw16c), filters in the blocked filter
/// layout below (OIhw16i16o). A tensor already in the primitive's layout is neither
/// reordered in nor out.

/// Makes (and caches) the primitive for `op` on shape `s` now rather than at its first call;
/// false when oneDNN is off or cannot take the shape.
bool dnnlPrepare(DnnlConvOp op, const GroupedConvShape &s, bool bias, bool relu,
                 unsigned blocked = 0);

/// Filters held in oneDNN's blocked filter layout across steps (runtime/cpu/Layout.h): bit 1
/// of a forward or data gradient and bit 2 of a filter gradient say the filter argument is
/// in it (OIhw16i16o with 16-channel blocks, OIhw8i8o with 8) rather than OIHW.
/// Whether `s`'s forward primitive works on its filter in that layout (then keeping it so
/// saves the forward's reorder in and the filter gradient's reorder out, every step): a
/// single group, channels multiples of the block.
bool dnnlFilterLayoutFits(const GroupedConvShape &s);
/// Copies an OIHW filter of o x i x r x s into the blocked filter layout (toBlocked) or back;
/// false when oneDNN is off. `src` and `dst` must not overlap.
bool dnnlReorderFilter(int o, int i, int r, int s, const float *src, float *dst, bool toBlocked);
/// How many parts a call of `op` on `s` is split into by channels among the pool's threads
/// (each part all of the batch; DnnlConv.cpp, channelParts) at the current thread count; 0
/// when it is split by images instead, or oneDNN is off.
int dnnlChannelParts(DnnlConvOp op, const GroupedConvShape &s);
/// y = conv(x, w) (+ bias) (then relu), as groupedConv2dForward; false (nothing written)
/// when oneDNN is off or cannot take the shape: the caller then runs its own kernel.
bool dnnlConvForward(const GroupedConvShape &s, const float *x, const float *w, float *y,
                     const float *bias, bool relu, unsigned blocked = 0);
/// dx, as groupedConv2dBackwardData; false when oneDNN is off or cannot take the shape.
bool dnnlConvBackwardData(const GroupedConvShape &s, const float *dy, const float *w, float *dx,
                          unsigned blocked = 0);
/// dw, as groupedConv2dBackwardFilter; false when oneDNN is off or cannot take the shape.
bool dnnlConvBackwardFilter(const GroupedConvShape &s, const float *dy, const float *x,
                            float *dw, unsigned blocked = 0);

} // namespace dlc::cpu
