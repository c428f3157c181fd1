//===- GroupedConvKernels.cpp - grouped, dilated, asymmetrically padded conv -*- C++ -*-===//
//
// Depthwise layers have one input channel per output channel and a 3x3 window: a GEMM per
// group would be a 1x9 by 9xHW product, all overhead. They run as direct loops instead: with
// stride 1, one long vectorised loop per filter tap over a whole zero-padded plane (see
// "whole planes" below); with other strides row by row, the range of output columns whose
// input column lies inside the image computed once per tap, so the inner loop is a
// branch-free axpy along a row. Every other grouped or dilated layer runs per image and group as
// im2col + SGEMM, images in parallel, each thread with its own im2col matrix. Filter
// gradients are summed over a fixed cut of the batch (depthwise: per channel, in image order),
// so they do not depend on the thread count.
//
#include "runtime/cpu/GroupedConvKernels.h"
#include "runtime/cpu/Parallel.h"

#include <algorithm>
#include <cblas.h>
#include <vector>

namespace dlc::cpu {
namespace {

/// Image ranges of the general filter gradient, each summing its own partial dw.
constexpr int kFilterChunks = 8;

/// The output columns [lo, hi] whose input column ox * stride + off lies in [0, width).
/// Empty (hi < lo) when none does.
void validColumns(int off, int stride, int width, int outWidth, int &lo, int &hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  hi = width - 1 - off < 0 ? -1 : std::min(outWidth - 1, (width - 1 - off) / stride);
}

void epilogue(float *row, size_t n, bool relu) {
  if (relu)
    for (size_t i = 0; i < n; ++i)
      row[i] = row[i] > 0.0f ? row[i] : 0.0f;
}

//===--- depthwise, stride 1: whole planes -------------------------------------------===//
//
// With stride 1, output (oy, ox) reads padded input (oy + kr*dilH, ox + ks*dilW). Keeping the
// output in rows as wide as the padded input (wp, the last wp - ow columns unused), tap
// (kr, ks) is one shift of the whole plane: y[i] += w * xp[i + kr*dilH*wp + ks*dilW] for
// every i < oh*wp, a single long vectorised loop per tap instead of oh short ones, which is
// what the 7x7 to 112x112 planes of MobileNet need. Rows of the padded plane are followed by
// (s-1)*dilW zero floats, which the last row's unused columns read.

struct Planes {
  int hp, wp, oh, ow;
  size_t padded() const { return size_t(hp) * wp; }
  size_t wide() const { return size_t(oh) * wp; }
};
Planes planes(const GroupedConvShape &s) {
  return {s.h + s.padTop + s.padBottom, s.w + s.padLeft + s.padRight, s.oh(), s.ow()};
}
size_t slack(const GroupedConvShape &s) { return size_t(s.s - 1) * s.dilW; }

/// The zero-padded copy of one h x w plane, followed by the slack.
void padPlane(const GroupedConvShape &s, const Planes &p, const float *x, float *xp) {
  std::fill(xp, xp + p.padded() + slack(s), 0.0f);
  for (int y = 0; y < s.h; ++y)
    std::copy(x + size_t(y) * s.w, x + size_t(y + 1) * s.w,
              xp + size_t(y + s.padTop) * p.wp + s.padLeft);
}

/// One oh x ow plane widened to rows of wp floats, the extra columns zero.
void widenPlane(const Planes &p, const float *y, float *yw) {
  for (int r = 0; r < p.oh; ++r) {
    std::copy(y + size_t(r) * p.ow, y + size_t(r + 1) * p.ow, yw + size_t(r) * p.wp);
    std::fill(yw + size_t(r) * p.wp + p.ow, yw + size_t(r + 1) * p.wp, 0.0f);
  }
}

/// sum a[i] * b[i] over 8 interleaved partial sums (so the compiler vectorises it; a single
/// float accumulator is a dependency chain it may not reorder), added in a fixed order.
float dot(const float *a, const float *b, size_t n) {
  float part[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l)
      part[l] += a[i + l] * b[i + l];
  float sum = 0.0f;
  for (; i < n; ++i)
    sum += a[i] * b[i];
  for (int l = 0; l < 8; ++l)
    sum += part[l];
  return sum;
}

size_t tapOffset(const GroupedConvShape &s, const Planes &p, int kr, int ks) {
  return size_t(kr) * s.dilH * p.wp + size_t(ks) * s.dilW;
}

void depthwiseForwardUnit(const GroupedConvShape &s, const float *x, const float *w, float *y,
                          const float *bias, bool relu) {
  const Planes p = planes(s);
  const int m = s.kg();
  parallelFor(int64_t(s.n) * s.k, 1, [&](int64_t begin, int64_t end, int thread) {
    float *xp = threadScratch(thread, p.padded() + slack(s) + p.wide());
    float *yw = xp + p.padded() + slack(s);
    int64_t padded = -1; // the input plane in xp (a multiplier > 1 reuses it)
    for (int64_t plane = begin; plane < end; ++plane) {
      const int ko = int(plane % s.k);
      const int64_t in = plane / s.k * s.c + ko / m;
      if (in != padded)
        padPlane(s, p, x + size_t(in) * s.h * s.w, xp), padded = in;
      const float *wp = w + size_t(ko) * s.r * s.s;
      std::fill(yw, yw + p.wide(), bias ? bias[ko] : 0.0f);
      const size_t n = p.wide();
      for (int kr = 0; kr < s.r; ++kr)
        for (int ks = 0; ks < s.s; ++ks) {
          const float wv = wp[kr * s.s + ks];
          const float *src = xp + tapOffset(s, p, kr, ks);
          for (size_t i = 0; i < n; ++i)
            yw[i] += wv * src[i];
        }
      float *yp = y + size_t(plane) * p.oh * p.ow;
      for (int r = 0; r < p.oh; ++r) {
        std::copy(yw + size_t(r) * p.wp, yw + size_t(r) * p.wp + p.ow, yp + size_t(r) * p.ow);
        epilogue(yp + size_t(r) * p.ow, p.ow, relu);
      }
    }
  });
}

void depthwiseBackwardDataUnit(const GroupedConvShape &s, const float *dy, const float *w,
                               float *dx) {
  const Planes p = planes(s);
  const int m = s.kg();
  parallelFor(int64_t(s.n) * s.c, 1, [&](int64_t begin, int64_t end, int thread) {
    float *dxp = threadScratch(thread, p.padded() + slack(s) + p.wide());
    float *dyw = dxp + p.padded() + slack(s);
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t img = plane / s.c;
      const int ci = int(plane % s.c);
      std::fill(dxp, dxp + p.padded() + slack(s), 0.0f);
      for (int j = 0; j < m; ++j) {
        const int ko = ci * m + j;
        widenPlane(p, dy + (size_t(img) * s.k + ko) * p.oh * p.ow, dyw);
        const float *wp = w + size_t(ko) * s.r * s.s;
        const size_t n = p.wide();
        for (int kr = 0; kr < s.r; ++kr)
          for (int ks = 0; ks < s.s; ++ks) {
            const float wv = wp[kr * s.s + ks];
            float *dst = dxp + tapOffset(s, p, kr, ks);
            for (size_t i = 0; i < n; ++i)
              dst[i] += wv * dyw[i];
          }
      }
      float *dxo = dx + size_t(plane) * s.h * s.w;
      for (int r = 0; r < s.h; ++r)
        std::copy(dxp + size_t(r + s.padTop) * p.wp + s.padLeft,
                  dxp + size_t(r + s.padTop) * p.wp + s.padLeft + s.w, dxo + size_t(r) * s.w);
    }
  });
}

void depthwiseBackwardFilterUnit(const GroupedConvShape &s, const float *dy, const float *x,
                                 float *dw) {
  const Planes p = planes(s);
  const int m = s.kg(), taps = s.r * s.s;
  parallelFor(s.k, 1, [&](int64_t begin, int64_t end, int thread) {
    float *xp = threadScratch(thread, p.padded() + slack(s) + p.wide());
    float *dyw = xp + p.padded() + slack(s);
    std::vector<double> acc(taps);
    for (int64_t ko = begin; ko < end; ++ko) {
      const int ci = int(ko) / m;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int img = 0; img < s.n; ++img) {
        padPlane(s, p, x + (size_t(img) * s.c + ci) * s.h * s.w, xp);
        widenPlane(p, dy + (size_t(img) * s.k + ko) * p.oh * p.ow, dyw);
        const size_t n = p.wide();
        for (int kr = 0; kr < s.r; ++kr)
          for (int ks = 0; ks < s.s; ++ks) {
            acc[kr * s.s + ks] += dot(dyw, xp + tapOffset(s, p, kr, ks), n);
          }
      }
      for (int t = 0; t < taps; ++t)
        dw[size_t(ko) * taps + t] = float(acc[t]);
    }
  });
}

//===--- depthwise, any stride: row by row ---------------------------------------------===//

void depthwiseForward(const GroupedConvShape &s, const float *x, const float *w, float *y,
                      const float *bias, bool relu) {
  const int oh = s.oh(), ow = s.ow(), m = s.kg();
  parallelFor(int64_t(s.n) * s.k, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int ko = int(plane % s.k), ci = ko / m;
      const float *xp = x + ((size_t(plane / s.k) * s.c) + ci) * s.h * s.w;
      const float *wp = w + size_t(ko) * s.r * s.s;
      float *yp = y + size_t(plane) * oh * ow;
      for (int oy = 0; oy < oh; ++oy) {
        float *yrow = yp + size_t(oy) * ow;
        std::fill(yrow, yrow + ow, bias ? bias[ko] : 0.0f);
        for (int kr = 0; kr < s.r; ++kr) {
          const int iy = oy * s.strideH - s.padTop + kr * s.dilH;
          if (iy < 0 || iy >= s.h)
            continue;
          const float *xrow = xp + size_t(iy) * s.w;
          for (int ks = 0; ks < s.s; ++ks) {
            const int off = ks * s.dilW - s.padLeft;
            const float wv = wp[kr * s.s + ks];
            int lo, hi;
            validColumns(off, s.strideW, s.w, ow, lo, hi);
            if (s.strideW == 1)
              for (int ox = lo; ox <= hi; ++ox)
                yrow[ox] += wv * xrow[ox + off];
            else
              for (int ox = lo; ox <= hi; ++ox)
                yrow[ox] += wv * xrow[ox * s.strideW + off];
          }
        }
        epilogue(yrow, ow, relu);
      }
    }
  });
}

void depthwiseBackwardData(const GroupedConvShape &s, const float *dy, const float *w,
                           float *dx) {
  const int oh = s.oh(), ow = s.ow(), m = s.kg();
  parallelFor(int64_t(s.n) * s.c, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t img = plane / s.c;
      const int ci = int(plane % s.c);
      float *dxp = dx + size_t(plane) * s.h * s.w;
      std::fill(dxp, dxp + size_t(s.h) * s.w, 0.0f);
      for (int j = 0; j < m; ++j) {
        const int ko = ci * m + j;
        const float *dyp = dy + (size_t(img) * s.k + ko) * oh * ow;
        const float *wp = w + size_t(ko) * s.r * s.s;
        for (int oy = 0; oy < oh; ++oy) {
          const float *dyrow = dyp + size_t(oy) * ow;
          for (int kr = 0; kr < s.r; ++kr) {
            const int iy = oy * s.strideH - s.padTop + kr * s.dilH;
            if (iy < 0 || iy >= s.h)
              continue;
            float *dxrow = dxp + size_t(iy) * s.w;
            for (int ks = 0; ks < s.s; ++ks) {
              const int off = ks * s.dilW - s.padLeft;
              const float wv = wp[kr * s.s + ks];
              int lo, hi;
              validColumns(off, s.strideW, s.w, ow, lo, hi);
              if (s.strideW == 1)
                for (int ox = lo; ox <= hi; ++ox)
                  dxrow[ox + off] += wv * dyrow[ox];
              else
                for (int ox = lo; ox <= hi; ++ox)
                  dxrow[ox * s.strideW + off] += wv * dyrow[ox];
            }
          }
        }
      }
    }
  });
}

void depthwiseBackwardFilter(const GroupedConvShape &s, const float *dy, const float *x,
                             float *dw) {
  const int oh = s.oh(), ow = s.ow(), m = s.kg(), taps = s.r * s.s;
  parallelFor(s.k, 1, [&](int64_t begin, int64_t end, int) {
    std::vector<double> acc(taps);
    for (int64_t ko = begin; ko < end; ++ko) {
      const int ci = int(ko) / m;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int img = 0; img < s.n; ++img) {
        const float *xp = x + (size_t(img) * s.c + ci) * s.h * s.w;
        const float *dyp = dy + (size_t(img) * s.k + ko) * oh * ow;
        for (int oy = 0; oy < oh; ++oy) {
          const float *dyrow = dyp + size_t(oy) * ow;
          for (int kr = 0; kr < s.r; ++kr) {
            const int iy = oy * s.strideH - s.padTop + kr * s.dilH;
            if (iy < 0 || iy >= s.h)
              continue;
            const float *xrow = xp + size_t(iy) * s.w;
            for (int ks = 0; ks < s.s; ++ks) {
              const int off = ks * s.dilW - s.padLeft;
              int lo, hi;
              validColumns(off, s.strideW, s.w, ow, lo, hi);
              float sum = 0.0f;
              if (s.strideW == 1)
                for (int ox = lo; ox <= hi; ++ox)
                  sum += dyrow[ox] * xrow[ox + off];
              else
                for (int ox = lo; ox <= hi; ++ox)
                  sum += dyrow[ox] * xrow[ox * s.strideW + off];
              acc[kr * s.s + ks] += sum;
            }
          }
        }
      }
      for (int t = 0; t < taps; ++t)
        dw[size_t(ko) * taps + t] = float(acc[t]);
    }
  });
}

//===--- general: im2col + SGEMM per group ---------------------------------------------===//

/// col[(cl*r + kr)*s + ks][oy*ow + ox] = x[g*cg + cl][iy][ix] (0 in the padding) for one
/// image `xi` and group `g`.
void im2col(const GroupedConvShape &s, const float *xi, int g, float *col) {
  const int oh = s.oh(), ow = s.ow(), cg = s.cg();
  for (int cl = 0; cl < cg; ++cl) {
    const float *xp = xi + size_t(g * cg + cl) * s.h * s.w;
    for (int kr = 0; kr < s.r; ++kr)
      for (int ks = 0; ks < s.s; ++ks) {
        float *row = col + size_t((cl * s.r + kr) * s.s + ks) * oh * ow;
        const int off = ks * s.dilW - s.padLeft;
        int lo, hi;
        validColumns(off, s.strideW, s.w, ow, lo, hi);
        for (int oy = 0; oy < oh; ++oy) {
          float *out = row + size_t(oy) * ow;
          const int iy = oy * s.strideH - s.padTop + kr * s.dilH;
          if (iy < 0 || iy >= s.h || hi < lo) {
            std::fill(out, out + ow, 0.0f);
            continue;
          }
          const float *xrow = xp + size_t(iy) * s.w;
          std::fill(out, out + lo, 0.0f);
          for (int ox = lo; ox <= hi; ++ox)
            out[ox] = xrow[ox * s.strideW + off];
          std::fill(out + hi + 1, out + ow, 0.0f);
        }
      }
  }
}

/// The inverse scatter: dxi[...] += col[...] for one image and group.
void col2im(const GroupedConvShape &s, const float *col, int g, float *dxi) {
  const int oh = s.oh(), ow = s.ow(), cg = s.cg();
  for (int cl = 0; cl < cg; ++cl) {
    float *dxp = dxi + size_t(g * cg + cl) * s.h * s.w;
    for (int kr = 0; kr < s.r; ++kr)
      for (int ks = 0; ks < s.s; ++ks) {
        const float *row = col + size_t((cl * s.r + kr) * s.s + ks) * oh * ow;
        const int off = ks * s.dilW - s.padLeft;
        int lo, hi;
        validColumns(off, s.strideW, s.w, ow, lo, hi);
        for (int oy = 0; oy < oh; ++oy) {
          const int iy = oy * s.strideH - s.padTop + kr * s.dilH;
          if (iy < 0 || iy >= s.h)
            continue;
          const float *in = row + size_t(oy) * ow;
          float *dxrow = dxp + size_t(iy) * s.w;
          for (int ox = lo; ox <= hi; ++ox)
            dxrow[ox * s.strideW + off] += in[ox];
        }
      }
  }
}

bool unitStride(const GroupedConvShape &s) { return s.strideH == 1 && s.strideW == 1; }

size_t colFloats(const GroupedConvShape &s) {
  return size_t(s.cg()) * s.r * s.s * s.oh() * s.ow();
}

} // namespace

void groupedConv2dForward(const GroupedConvShape &s, const float *x, const float *w, float *y,
                          float *, const float *bias, bool relu) {
  if (s.depthwise())
    return unitStride(s) ? depthwiseForwardUnit(s, x, w, y, bias, relu)
                         : depthwiseForward(s, x, w, y, bias, relu);
  const int ohw = s.oh() * s.ow(), red = s.cg() * s.r * s.s, kg = s.kg();
  parallelFor(s.n, 1, [&](int64_t begin, int64_t end, int thread) {
    float *col = threadScratch(thread, colFloats(s));
    for (int64_t img = begin; img < end; ++img) {
      const float *xi = x + size_t(img) * s.c * s.h * s.w;
      for (int g = 0; g < s.groups; ++g) {
        im2col(s, xi, g, col);
        float *yg = y + (size_t(img) * s.k + size_t(g) * kg) * ohw;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, kg, ohw, red, 1.0f,
                    w + size_t(g) * kg * red, red, col, ohw, 0.0f, yg, ohw);
        for (int j = 0; j < kg; ++j) {
          float *row = yg + size_t(j) * ohw;
          if (bias)
            for (int p = 0; p < ohw; ++p)
              row[p] += bias[g * kg + j];
          epilogue(row, ohw, relu);
        }
      }
    }
  });
}

void groupedConv2dBackwardData(const GroupedConvShape &s, const float *dy, const float *w,
                               float *dx, float *) {
  if (s.depthwise())
    return unitStride(s) ? depthwiseBackwardDataUnit(s, dy, w, dx)
                         : depthwiseBackwardData(s, dy, w, dx);
  const int ohw = s.oh() * s.ow(), red = s.cg() * s.r * s.s, kg = s.kg();
  parallelFor(s.n, 1, [&](int64_t begin, int64_t end, int thread) {
    float *col = threadScratch(thread, colFloats(s));
    for (int64_t img = begin; img < end; ++img) {
      float *dxi = dx + size_t(img) * s.c * s.h * s.w;
      std::fill(dxi, dxi + size_t(s.c) * s.h * s.w, 0.0f);
      for (int g = 0; g < s.groups; ++g) {
        const float *dyg = dy + (size_t(img) * s.k + size_t(g) * kg) * ohw;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, red, ohw, kg, 1.0f,
                    w + size_t(g) * kg * red, red, dyg, ohw, 0.0f, col, ohw);
        col2im(s, col, g, dxi);
      }
    }
  });
}

void groupedConv2dBackwardFilter(const GroupedConvShape &s, const float *dy, const float *x,
                                 float *dw, float *) {
  if (s.depthwise())
    return unitStride(s) ? depthwiseBackwardFilterUnit(s, dy, x, dw)
                         : depthwiseBackwardFilter(s, dy, x, dw);
  const int ohw = s.oh() * s.ow(), red = s.cg() * s.r * s.s, kg = s.kg();
  const size_t wsize = size_t(s.k) * red;
  const int chunks = std::min(s.n, kFilterChunks);
  float *partial = sharedScratch(chunks * wsize);
  parallelChunks(chunks, [&](int chunk, int thread) {
    float *col = threadScratch(thread, colFloats(s));
    float *p = partial + size_t(chunk) * wsize;
    std::fill(p, p + wsize, 0.0f);
    for (int img = chunk * s.n / chunks; img < (chunk + 1) * s.n / chunks; ++img)
      for (int g = 0; g < s.groups; ++g) {
        im2col(s, x + size_t(img) * s.c * s.h * s.w, g, col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, kg, red, ohw, 1.0f,
                    dy + (size_t(img) * s.k + size_t(g) * kg) * ohw, ohw, col, ohw, 1.0f,
                    p + size_t(g) * kg * red, red);
      }
  });
  std::copy(partial, partial + wsize, dw);
  for (int chunk = 1; chunk < chunks; ++chunk)
    for (size_t i = 0; i < wsize; ++i)
      dw[i] += partial[size_t(chunk) * wsize + i];
}

} // namespace dlc::cpu
