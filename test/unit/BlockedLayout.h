// The channel-blocked layout of runtime/cpu/Layout.h for tests: NCHW reordered into
// [n][c / block][hw][block] (oneDNN's nChw16c / nChw8c), written out index by index.
#pragma once

#include "GradientCheck.h"

namespace dlc::testing {

inline Vec toBlocked(const Vec &x, int n, int c, int hw, int block) {
  Vec y(x.size());
  for (int b = 0; b < n; ++b)
    for (int ch = 0; ch < c; ++ch)
      for (int i = 0; i < hw; ++i)
        y[(((size_t)b * (c / block) + ch / block) * hw + i) * block + ch % block] =
            x[((size_t)b * c + ch) * hw + i];
  return y;
}

} // namespace dlc::testing
