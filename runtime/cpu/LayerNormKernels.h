// CPU kernels of layer normalisation over the last axis (PyTorch's nn.LayerNorm with one
// normalised dimension): x is [rows][d], each row normalised by its own mean and biased
// variance, then scaled by w and shifted by b ([d] each). Rows run in parallel; the forward
// saves each row's mean and rstd = 1/sqrt(var + eps) for the backward.
#pragma once

#include <cstdint>

namespace dlc::cpu {

/// y[r][j] = (x[r][j] - mean[r]) * rstd[r] * w[j] + b[j], writing mean[r] and
/// rstd[r] = 1 / sqrt(var_r + eps).
void layerNormForward(int64_t rows, int64_t d, float eps, const float *x, const float *w,
                      const float *b, float *y, float *mean, float *rstd);
/// From the forward's mean and rstd, with xhat = (x - mean_r) rstd_r and g = dy * w:
/// dx[r][j] = rstd_r (g[r][j] - mean_j g[r] - xhat[r][j] mean_j(g[r] xhat[r])),
/// dw[j] = sum_r dy[r][j] xhat[r][j], db[j] = sum_r dy[r][j] (dx, dw, db overwritten).
void layerNormBackward(int64_t rows, int64_t d, const float *x, const float *dy,
                       const float *w, const float *mean, const float *rstd, float *dx,
                       float *dw, float *db);

} // namespace dlc::cpu
