// CPU kernels used by the runtime (float32, NCHW). Functions over raw pointers that split
// their work over the thread pool of Parallel.h and take scratch from it (allocated on first
// use, then reused); results are reproducible for a given thread count.
//
// Every kernel fully overwrites its outputs (gradients included), so callers never need to
// zero buffers beforehand. Buffers must not overlap unless a function says otherwise.
#pragma once
#include <cstddef>
#include <cstdint>

namespace dlc::cpu {

/// Geometry of a 2-D convolution.
struct ConvShape {  // input x[n][c][h][w], filter w[k][c][r][s], output y[n][k][oh][ow]
  int n, c, h, w, k, r, s, strideH, strideW, padH, padW;
  int oh() const { return (h + 2 * padH - r) / strideH + 1; }
  int ow() const { return (w + 2 * padW - s) / strideW + 1; }
};

/// Floats of the `scratch` workspace a conv kernel may use (one image's im2col matrix): the
/// direct kernels need none; the data gradient with stride > 1 falls back to im2col + GEMM.
size_t convScratchFloats(const ConvShape &s);
/// y = conv(x, w), then + bias[k] per output channel when `bias` is given, then max(., 0)
/// when `relu`; zero padding, no dilation, no groups.
void conv2dForward(const ConvShape &s, const float *x, const float *w, float *y, float *scratch,
                   const float *bias = nullptr, bool relu = false);
/// dx = gradient of the convolution w.r.t. its input, given dy; dx is overwritten.
void conv2dBackwardData(const ConvShape &s, const float *dy, const float *w, float *dx, float *scratch);
/// dw = gradient of the convolution w.r.t. its filter, summed over the batch; dw is overwritten.
void conv2dBackwardFilter(const ConvShape &s, const float *dy, const float *x, float *dw, float *scratch);

/// Geometry of a 2-D pooling window; x[n][c][h][w] -> y[n][c][oh][ow].
struct PoolShape { int n, c, h, w, kh, kw, strideH, strideW, padH, padW;
  int oh() const { return (h + 2 * padH - kh) / strideH + 1; }
  int ow() const { return (w + 2 * padW - kw) / strideW + 1; } };

/// Max over each window; padded positions never win (a window lying wholly in padding yields 0).
/// `block` (0, 8 or 16): 0 for NCHW, otherwise x, y, dy and dx in the channel-blocked layout
/// [n][c / block][h][w][block] (runtime/cpu/Layout.h), c a multiple of block.
void maxPool2dForward(const PoolShape &s, const float *x, float *y, int block = 0);
/// Routes dy to the argmax of each window (recomputed from x); dx is overwritten.
/// Ties go to the first maximum in row-major window order, matching the forward pass.
/// With `relu` (x is a ReLU's output), dy is routed only where that maximum is > 0: the
/// fused gradient of maxpool(relu(z)) with respect to z.
void maxPool2dBackward(const PoolShape &s, const float *x, const float *dy, float *dx,
                       bool relu = false, int block = 0);

/// y = max(x, 0); y may alias x.
void reluForward(size_t n, const float *x, float *y);
/// Uses the forward output rather than the input, so x need not be kept alive; dx may alias dy.
void reluBackward(size_t n, const float *dy, const float *y, float *dx);   // dx = y > 0 ? dy : 0

/// y = 1 / (1 + exp(-x)); y may alias x.
void sigmoidForward(size_t n, const float *x, float *y);
/// dx = dy * y * (1 - y) from the forward output y; dx may alias dy.
void sigmoidBackward(size_t n, const float *dy, const float *y, float *dx);

/// y[o][c][i] = x[o][c][i] + b[c]  (outer x channels x inner); y may alias x.
void biasAdd(size_t outer, size_t channels, size_t inner, const float *x, const float *b, float *y);
/// db[c] = sum over outer, inner of dy  (db overwritten)
void biasAddBackward(size_t outer, size_t channels, size_t inner, const float *dy, float *db);

/// C[M][N] = op(A) * op(B), op(A) is MxK, op(B) is KxN, row-major; transA/transB mean the
/// stored matrix is transposed. Then + bias[j] per column when `bias` is given, then
/// max(., 0) when `relu`.
void matmul(int M, int N, int K, bool transA, bool transB, const float *A, const float *B, float *C,
            const float *bias = nullptr, bool relu = false);
/// C = op(A) op(B) + beta C with leading dimensions lda, ldb, ldc (row-major, as
/// cblas_sgemm with alpha 1), split over the pool like matmul: strided operands and
/// accumulation for kernels that walk a bigger tensor (the LSTM's time steps).
void gemm(int M, int N, int K, bool transA, bool transB, const float *A, int lda, const float *B,
          int ldb, float beta, float *C, int ldc);
/// Runs matmul once on zeros of that shape, at the current thread count: oneDNN generates
/// its GEMM kernels on first use (tens of ms on the AVX-512 EPYC), which plan load should
/// pay, not the first step or the first batch of an evaluation. Nothing when oneDNN is off.
void matmulWarmUp(int M, int N, int K, bool transA, bool transB);

/// y = a + b elementwise; y may alias a or b.
void add(size_t n, const float *a, const float *b, float *y);
/// y = max(a + b, 0) (relu of a sum, in one pass).
void addRelu(size_t n, const float *a, const float *b, float *y);
/// dx = y > 0 ? a + b : 0 (relu_grad of a sum of gradients, in one pass).
void addReluBackward(size_t n, const float *a, const float *b, const float *y, float *dx);
/// y = x, n floats (or int32s: the bits are copied).
void copy(size_t n, const float *x, float *y);

/// Mean softmax cross-entropy over the batch; labels are int32 class ids in [0, classes).
void softmaxXentForward(int batch, int classes, const float *logits, const int32_t *labels, float *loss);
/// dlogits = (softmax(logits) - onehot(labels)) / batch
void softmaxXentBackward(int batch, int classes, const float *logits, const int32_t *labels, float *dlogits);

/// *correct = number of rows whose argmax equals the label (as float)
/// Ties go to the lowest class index.
void accuracy(int batch, int classes, const float *logits, const int32_t *labels, float *correct);

/// m = momentum*m + (g + weightDecay*w); w -= lr*m   (PyTorch SGD semantics)
void sgdMomentum(size_t n, float lr, float momentum, float weightDecay, float *w, const float *g, float *m);

}  // namespace dlc::cpu
