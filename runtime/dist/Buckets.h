//===- Buckets.h - the gradient pack cut into allreduce buckets --*- C++ -*-===//
//
// A data-parallel replica (DataParallel.h) packs its gradients in the order the train program
// produces them: the backward writes the last layer's gradients first. Like PyTorch's
// DistributedDataParallel, the pack is cut into buckets of about `bucketBytes` (the first one
// smaller, so that communication starts early in the backward): as soon as a bucket's last
// gradient is in the pack, its allreduce can start while the backward goes on.
//
// A bucket is a run of whole gradients, in pack order; it closes once it holds at least its
// limit (DDP's rule: a gradient larger than the limit is a bucket of its own). The floats
// after the gradients (model state, loss, correct count) are known only at the end of the step
// and join the last bucket. A limit of 0 is one bucket: the whole pack in one allreduce.
//
#pragma once

#include <cstddef>
#include <vector>

namespace dlc {

struct PackBucket {
  size_t firstGradient, endGradient; // gradients [first, end) in pack order
  size_t at, floats;                 // pack floats [at, at + floats)
};

/// PyTorch DDP's default bucket cap (bucket_cap_mb=25) and first bucket (1 MiB).
constexpr double kDefaultBucketMiB = 25;
constexpr size_t kFirstBucketBytes = size_t(1) << 20;

/// Cuts a pack of gradients of `gradientFloats[i]` floats (in pack order, contiguous from
/// float 0), followed by `tailFloats` more, into buckets: the first closes at
/// min(bucketBytes, kFirstBucketBytes), the others at bucketBytes; bucketBytes 0 gives one.
std::vector<PackBucket> assignBuckets(const std::vector<size_t> &gradientFloats,
                                      size_t tailFloats, size_t bucketBytes);

/// Parses a --bucket-mib value: a finite number >= 0 (0: one pack), at most 1 TiB as bytes.
/// False for anything else.
bool parseBucketMiB(const char *text, double &mib);

} // namespace dlc
