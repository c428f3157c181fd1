//===- TensorKernels.cpp - CPU kernels of imported graphs' general ops -*- C++ -*-===//
#include "runtime/cpu/TensorKernels.h"


#include <math.h>

using namespace dlc;

namespace {
/// The function codes, in TensorFunctions.def's order.
enum class UnaryFn : int64_t {
#define DLC_UNARY_FN(Enum, name, expr) Enum,
#include "runtime/plan/TensorFunctions.def"
};
enum class BinaryFn : int64_t {
#define DLC_BINARY_FN(Enum, name, expr) Enum,
#include "runtime/plan/TensorFunctions.def"
};
enum class ReduceFn : int64_t {
#define DLC_REDUCE_FN(Enum, name, first, step, finish) Enum,
#include "runtime/plan/TensorFunctions.def"
};

/// One loop per function, so the compiler vectorizes each (the check at load time keeps fn
/// in range).
template <typename F> void forEach(int64_t n, const float *x, float *y, F f) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = f(x[i]);
}
} // namespace

void cpu::unary(int64_t n, int64_t fn, float a, float b, const float *x, float *y) {
  (void)a, (void)b;
  switch (UnaryFn(fn)) {
#define DLC_UNARY_FN(Enum, name, expr)                                                             \
  case UnaryFn::Enum:                                                                              \
    forEach(n, x, y, [=](float x) -> float { return expr; });                                      \
    break;
#include "runtime/plan/TensorFunctions.def"
  }
}

void cpu::broadcastBinary(int64_t fn, const int64_t *d, const int64_t *xs, const int64_t *zs,
                          const float *x, const float *z, float *y) {
  // The last axis innermost; strides of the first five walk the operands.
  const int64_t inner = d[5], sx = xs[5], sz = zs[5];
  int64_t at = 0;
  for (int64_t i0 = 0; i0 < d[0]; ++i0)
    for (int64_t i1 = 0; i1 < d[1]; ++i1)
      for (int64_t i2 = 0; i2 < d[2]; ++i2)
        for (int64_t i3 = 0; i3 < d[3]; ++i3)
          for (int64_t i4 = 0; i4 < d[4]; ++i4) {
            const float *xr = x + i0 * xs[0] + i1 * xs[1] + i2 * xs[2] + i3 * xs[3] + i4 * xs[4];
            const float *zr = z + i0 * zs[0] + i1 * zs[1] + i2 * zs[2] + i3 * zs[3] + i4 * zs[4];
            float *yr = y + at;
            at += inner;
            switch (BinaryFn(fn)) {
#define DLC_BINARY_FN(Enum, name, expr)                                                            \
  case BinaryFn::Enum:                                                                             \
    for (int64_t j = 0; j < inner; ++j) {                                                          \
      const float x = xr[j * sx], y = zr[j * sz];                                                  \
      yr[j] = expr;                                                                                \
    }                                                                                              \
    break;
#include "runtime/plan/TensorFunctions.def"
            }
          }
}

void cpu::reduce(int64_t fn, int64_t outer, int64_t mid, int64_t inner, const float *x,
                 float *y) {
  const double n = double(mid);
  (void)n;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float *col = x + o * mid * inner + i;
      double acc = 0;
      switch (ReduceFn(fn)) {
#define DLC_REDUCE_FN(Enum, name, first, step, finish)                                             \
  case ReduceFn::Enum: {                                                                           \
    double x = col[0];                                                                             \
    acc = first;                                                                                   \
    for (int64_t m = 1; m < mid; ++m) {                                                            \
      x = col[m * inner];                                                                          \
      acc = step;                                                                                  \
    }                                                                                              \
    acc = finish;                                                                                  \
    break;                                                                                         \
  }
#include "runtime/plan/TensorFunctions.def"
      }
      y[o * inner + i] = float(acc);
    }
}
