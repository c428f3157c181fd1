//===- Layout.h - activations in oneDNN's blocked layout, chosen at load -*- C++ -*-===//
//
// The plan's activations are NCHW. oneDNN's convolution kernels work in a channel-blocked
// layout (nChw16c on AVX-512, nChw8c on AVX2) and reorder NCHW tensors in and out of it on
// every call: ~20% of a ResNet-50 step. At plan load this module finds the activations that
// can stay blocked from one convolution to the next: every kernel touching them takes the
// blocked layout (oneDNN's convolutions, batch norm, max pooling, global average pooling,
// elementwise kinds whose arguments share it), their channel count is a multiple of the block, and
// nothing else sees their bytes (program inputs and outputs, views sharing their memory,
// any other kind). It marks those arguments in each kernel's `blocked` bits. The choice
// depends on the CPU (the block is oneDNN's), so it is made here and not in the plan; the
// plan's sizes and offsets hold unchanged (same element count).
//
// Filters likewise (assignFilterLayouts): a filter whose forward asks for oneDNN's blocked
// filter layout is kept in it across steps, with its gradient and optimizer state, where
// nothing reads them by position; the forward's reorder of the filter in and the filter
// gradient's reorder out (~4% of a ResNet-50 step) go.
//
#pragma once

#include "runtime/plan/Plan.h"

namespace dlc::cpu {

struct LayoutStats {
  int block = 0;       // 16, 8, or 0 when nothing is blocked
  int buffers = 0;     // activation buffers the program's kernels use
  int blocked = 0;     // of them, held blocked
  int convCalls = 0;   // convolution calls with at least one blocked tensor
  int filterCalls = 0; // of them, calls whose filter is blocked
};

/// Whether blocked layouts may be used: oneDNN is in and enabled, and DLC_BLOCKED is not "0"
/// in the environment.
bool blockedLayoutsEnabled();

/// A filter held in oneDNN's blocked filter layout (DnnlConv.h, dnnlReorderFilter) across
/// steps, with the buffers tied to it elementwise: its gradient and optimizer state.
struct BlockedFilter {
  int32_t buffer = -1;
  int o = 0, i = 0, r = 0, s = 0;
};

/// The filters, of all programs at once (parameters are shared), that stay in oneDNN's
/// blocked filter layout: every kernel touching the filter, its gradient or its optimizer
/// state is a oneDNN convolution taking it as its filter (whose forward asks for that
/// layout) or layout-blind (elementwise kinds, the optimizers, the gradient's sum of
/// squares); their channels are multiples of the block. The forward's reorder of the filter
/// in and the filter gradient's reorder out then go from every step: the CPU device converts
/// the persistent ones once, at its start, and back in syncToHost. Empty when blocked
/// layouts are off or the plan is a pipeline.
std::vector<BlockedFilter> assignFilterLayouts(const plan::Plan &plan);

/// Sets the `blocked` bits of `prog`'s kernels (a copy of plan.programs[index], which this
/// may annotate; all bits cleared first): activations, and the convolutions' filters that
/// `filters` (assignFilterLayouts) holds blocked. Nothing is blocked when
/// blockedLayoutsEnabled() is false, no convolution of the program runs in oneDNN, or
/// oneDNN chose no blocked layout on this CPU.
LayoutStats assignLayouts(const plan::Plan &plan, size_t index, plan::Program &prog,
                          const std::vector<BlockedFilter> &filters = {});

} // namespace dlc::cpu
