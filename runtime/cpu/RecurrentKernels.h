// CPU kernels for the recurrent ops: zero fill, one time step of a sequence, and the
// elementwise part of an LSTM step (forward and backward). The matmuls of a step are the
// ordinary Matmul kernel.
//
// Like the rest of the kernel library: pure functions over raw pointers, split over the
// thread pool by batch rows, every output fully overwritten.
#pragma once

#include <cstddef>
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

/// Where lstmSequenceForward keeps what the backward reads, in floats from the reserve's
/// start: gates [n][steps][4 units] (pre-activations with the bias), hPrev [n][steps][units]
/// (h_{t-1}, zero at t = 0), cPrev [n][steps + 1][units] (c_{t-1}, zero at t = 0).
struct LstmReserve {
  size_t gates, hPrev, cPrev, floats;
};
LstmReserve lstmReserve(int n, int steps, int units);

/// A whole LSTM layer over x [n][steps][inputs] (weights as torch.nn.LSTM's: wih
/// [4 units][inputs], whh [4 units][units], one bias [4 units], gates i, f, g, o), from zero
/// state: hLast [n][units] is the last step's h; reserve (lstmReserve floats) keeps what the
/// backward needs. The input projection of every step is one GEMM; each step then adds
/// h_{t-1} whh^T and runs the cell (lstmCellForward).
void lstmSequenceForward(int n, int steps, int inputs, int units, float forgetBias, const float *x,
                         const float *wih, const float *whh, const float *bias, float *hLast,
                         float *reserve);
/// Backpropagation through time of lstmSequenceForward from the last h's gradient dhLast:
/// the weight gradients dwih, dwhh, db (overwritten), each one GEMM or reduction over every
/// step once the steps' gate gradients are known. They are written over the reserve's gates,
/// which the reserve's one reader, this kernel, leaves spent; the workspace holds
/// plan::lstmSequenceWorkspaceFloats(n, units) floats (two pairs of dh, dc rows).
void lstmSequenceBackward(int n, int steps, int inputs, int units, float forgetBias,
                          const float *x, const float *whh, float *reserve,
                          const float *dhLast, float *dwih, float *dwhh, float *db,
                          float *workspace);

/// The sigmoid and tanh both kernels use (exp by range reduction and a degree-6 polynomial,
/// within about 2 ulp of expf; written so that GCC vectorises the loops that call them).
float sigmoid(float x);
float tanhApprox(float x);

}  // namespace dlc::cpu
