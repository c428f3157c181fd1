// CPU kernels of the concat layer: two tensors joined along one axis, and the gradient that
// splits one back into two. With the axis at position k of a row-major shape, each operand is
// [outer][inner] with outer the product of the dimensions before k and inner that of the
// dimensions from k on: concatenation joins rows, [outer][aInner] and [outer][bInner] into
// [outer][aInner + bInner].
#pragma once

#include <cstdint>

namespace dlc::cpu {

/// y[o] = a[o] followed by b[o], for each of the `outer` rows.
void concat(int64_t outer, int64_t aInner, int64_t bInner, const float *a, const float *b,
            float *y);
/// The inverse: da[o] and db[o] are the two parts of dy[o] (both overwritten).
void concatBackward(int64_t outer, int64_t aInner, int64_t bInner, const float *dy, float *da,
                    float *db);

} // namespace dlc::cpu
