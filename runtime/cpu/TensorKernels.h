//===- TensorKernels.h - CPU kernels of imported graphs' general ops -*- C++ -*-===//
//
// The unary, broadcast-binary and reduce kernels that ONNX graphs need (issue 14): one
// kernel each, the function a code from runtime/plan/TensorFunctions.def.
//
#pragma once

#include <cstdint>

namespace dlc::cpu {

/// y[i] = fn(x[i]) for n elements; a and b are the function's float attributes.
void unary(int64_t n, int64_t fn, float a, float b, const float *x, float *y);

/// y = fn(x, z) with broadcasting: `dims` is y's shape padded in front to 6 axes, `xs` and
/// `zs` the operands' element strides per axis (0 along a broadcast axis, negative to walk
/// it backwards); x and z point at y's first element's operands.
void broadcastBinary(int64_t fn, const int64_t *dims, const int64_t *xs, const int64_t *zs,
                     const float *x, const float *z, float *y);

/// x [outer][mid][inner] reduced over mid into y [outer][inner], in double, in element
/// order.
void reduce(int64_t fn, int64_t outer, int64_t mid, int64_t inner, const float *x, float *y);

} // namespace dlc::cpu
