//===- Buckets.cpp - the gradient pack cut into allreduce buckets --------===//
#include "runtime/dist/Buckets.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

using namespace dlc;

std::vector<PackBucket> dlc::assignBuckets(const std::vector<size_t> &gradientFloats,
                                           size_t tailFloats, size_t bucketBytes) {
  std::vector<PackBucket> out;
  PackBucket open{0, 0, 0, 0};
  for (size_t g = 0; g < gradientFloats.size(); ++g) {
    open.endGradient = g + 1;
    open.floats += gradientFloats[g];
    const size_t limit = out.empty() ? std::min(bucketBytes, kFirstBucketBytes) : bucketBytes;
    if (bucketBytes > 0 && open.floats * sizeof(float) >= limit && g + 1 < gradientFloats.size()) {
      out.push_back(open);
      open = PackBucket{g + 1, g + 1, open.at + open.floats, 0};
    }
  }
  open.floats += tailFloats;
  out.push_back(open);
  return out;
}

bool dlc::parseBucketMiB(const char *text, double &mib) {
  if (!text || !*text)
    return false;
  char *end = nullptr;
  const double v = std::strtod(text, &end);
  if (*end != '\0' || !std::isfinite(v) || v < 0 || v > 1048576.0)
    return false;
  mib = v;
  return true;
}
