// CPU kernel of dl.transpose: a row-major tensor of up to 6 axes copied with its axes
// permuted (y's axis j is x's axis perm[j]). Used forward and, with the inverse permutation,
// backward.
#pragma once

#include <cstdint>

namespace dlc::cpu {

/// y = x permuted; dims is x's shape and perm a permutation of 0..5, both of 6 entries
/// (shorter tensors are padded in front with axes of size 1).
void transpose(const int64_t *dims, const int64_t *perm, const float *x, float *y);

} // namespace dlc::cpu
