// CPU kernels for the recurrent ops: zero fill, one time step of a sequence, and the
// elementwise part of an LSTM step (forward and backward). The matmuls of a step are the
// ordinary Matmul kernel.
//
// Like the rest of the kernel library: pure functions over raw pointers, split over the
// thread pool by batch rows, every output fully overwritten.
#pragma once

#include <cstdint>

namespace dlc::cpu {

/// y[0, count) = 0.
void zeros(int64_t count, float *y);

/// y[n][f] = x[n][step][f] for x [n][steps][features].
void timeStep(int n, int steps, int features, int step, const float *x, float *y);

/// gates [n][4 units] (i, f, g, o pre-activations), cPrev [n][units]:
/// c = sigmoid(f + forgetBias) * cPrev + sigmoid(i) * tanh(g); h = sigmoid(o) * tanh(c).
void lstmCellForward(int n, int units, float forgetBias, const float *gates, const float *cPrev,
                     float *h, float *c);
/// The gradient of lstmCellForward with respect to gates and cPrev, given those of h and c;
/// the activations are recomputed from gates. dgates and dcPrev overwritten.
void lstmCellBackward(int n, int units, float forgetBias, const float *gates, const float *cPrev,
                      const float *dh, const float *dc, float *dgates, float *dcPrev);

/// The sigmoid and tanh both kernels use (exp by range reduction and a degree-6 polynomial,
/// within about 2 ulp of expf; written so that GCC vectorises the loops that call them).
float sigmoid(float x);
float tanhApprox(float x);

}  // namespace dlc::cpu
