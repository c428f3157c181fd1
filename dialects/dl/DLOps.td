//===- DLOps.td - dl dialect ops --------------------------------*- tablegen -*-===//
//
// Every op here documents itself (summary, description, example); `mlir-tblgen -gen-op-doc`
// turns these into docs/dl/DLOps.md. Forward ops and gradient ops alike infer their result
// types (InferTypeOpAdaptor), which is what `--dl-infer-shapes` and the importer rely on.
//
#ifndef DL_OPS
#define DL_OPS

include "DLDialect.td"
include "DLInterfaces.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def DL_FloatTensor : TensorOf<[F32]>;
def DL_LabelTensor : TensorOf<[I32]>;

// Per-op rules (DLInterfaces.td), implemented per family in dialects/dl/*Rules.cpp.
defvar DL_Differentiable = DeclareOpInterfaceMethods<DL_GradientOpInterface>;
defvar DL_Lowered = DeclareOpInterfaceMethods<DL_KernelOpInterface>;

/// An op that infers its result types and lowers to kernel calls.
class DL_InferOp<string mnemonic, list<Trait> traits = []> :
    DL_Op<mnemonic, !listconcat([Pure, InferTypeOpAdaptor, DL_Lowered], traits)>;
/// An elementwise op: operands and result all of one shape (inferElementwise in DLOps.cpp),
/// so a new one needs no shape rule of its own.
class DL_ElementwiseOp<string mnemonic, list<Trait> traits = []> :
    DL_InferOp<mnemonic, traits> {
  let extraClassDefinition = [{
    ::mlir::LogicalResult $cppClass::inferReturnTypes(::mlir::MLIRContext *ctx,
        std::optional<::mlir::Location> loc, Adaptor a,
        ::llvm::SmallVectorImpl<::mlir::Type> &out) {
      return ::mlir::dl::inferElementwise(ctx, loc, getOperationName(), a.getOperands(), out);
    }
  }];
}
/// A gradient op: its results are planned as gradients.
class DL_GradOp<string mnemonic, list<Trait> traits = []> :
    DL_InferOp<mnemonic, !listconcat([DL_GradientResults], traits)>;

//===----------------------------------------------------------------------===//
// Parameters and optimizer state
//===----------------------------------------------------------------------===//

def DL_ParameterOp : DL_Op<"parameter", [Symbol, HasParent<"ModuleOp">]> {
  let summary = "declares a trainable parameter or a piece of optimizer state";
  let description = [{
    A module-level float32 tensor that lives across training steps. `init` names how the
    runtime fills it before the first step (`he_normal`, `glorot_uniform`, `normal` (mean 0, spread 1: nn.Embedding's), `zeros`, `ones`,
    or `values`: the plan carries the tensor itself, an imported ONNX model's initializer),
    seeded from the model's seed and the symbol name; `fan_in`/`fan_out` feed the initialiser.
    `role` is `weight` for trainable parameters, `state` for optimizer state and `buffer`
    for model state that is not trained (batch norm's running statistics).

    ```mlir
    dl.parameter @conv1.weight : tensor<6x1x3x3xf32> {fan_in = 9 : i64, fan_out = 54 : i64, init = "he_normal", role = "weight"}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$type, StrAttr:$init,
                       DefaultValuedAttr<I64Attr, "0">:$fan_in,
                       DefaultValuedAttr<I64Attr, "0">:$fan_out,
                       DefaultValuedAttr<StrAttr, "\"weight\"">:$role);
  let assemblyFormat = "$sym_name `:` $type attr-dict";
  let hasVerifier = 1;
}

def DL_ParamOp : DL_Op<"param", [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>,
                                 DL_Differentiable, DL_Lowered]> {
  let summary = "reads a parameter's current value";
  let description = [{
    ```mlir
    %w = dl.param @conv1.weight : tensor<6x1x3x3xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

def DL_SGDUpdateOp : DL_Op<"sgd_update", [DeclareOpInterfaceMethods<SymbolUserOpInterface>,
                                          DL_Lowered]> {
  let summary = "SGD with momentum, in place on a parameter";
  let description = [{
    PyTorch's SGD: `m = momentum * m + (g + weight_decay * w); w = w - lr * m`, where `w` is
    the parameter `@param`, `m` the state `@state` and `g` the gradient operand. It is the only
    op that writes parameters, so the step's dataflow stays explicit.

    ```mlir
    dl.sgd_update @fc.weight, %g, @fc.weight.momentum {lr = 1.0e-02 : f32, momentum = 9.0e-01 : f32, weight_decay = 0.0 : f32} : tensor<10x84xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$param, DL_FloatTensor:$grad,
                       FlatSymbolRefAttr:$state, F32Attr:$lr, F32Attr:$momentum,
                       F32Attr:$weight_decay);
  let assemblyFormat = "$param `,` $grad `,` $state attr-dict `:` type($grad)";
}

//===----------------------------------------------------------------------===//
// Forward ops
//===----------------------------------------------------------------------===//

def DL_Conv2dOp : DL_InferOp<"conv2d", [DL_Differentiable]> {
  let summary = "2-D convolution (cross-correlation), NCHW input, KCRS filter";
  let description = [{
    `y[n,k,oh,ow] = sum_{c,r,s} x[n,c,oh*sh+r-ph,ow*sw+s-pw] * w[k,c,r,s]`, zero padding.
    As PyTorch's `nn.Conv2d`, it may also have `groups` (the channels split into that many
    groups, each output channel reading only its group's input channels: the filter is
    `[k, c/groups, r, s]`; depthwise when groups = c), `dilation` (filter taps `dh`/`dw`
    apart: `x[n, g*c/groups + c', oh*sh + r*dh - ph, ow*sw + s*dw - pw]`) and a padding of 4
    values `[top, left, bottom, right]` (what PyTorch's `padding='same'` gives when the
    total is odd: the extra row and column at the bottom and right). Absent, groups and
    dilation are 1.
    The importer emits the bias as a separate `dl.bias_add`; `--dl-fuse-epilogues` folds it
    back in as the optional `bias` operand (one value per output channel), and a following
    `dl.relu` as the `relu` flag, which are applied, in that order, as the output is written.

    ```mlir
    %y = dl.conv2d %x, %w {padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x1x28x28xf32>, tensor<6x1x3x3xf32>) -> tensor<?x6x28x28xf32>
    %z = dl.conv2d %x, %w, %b {padding = array<i64: 1, 1>, relu, stride = array<i64: 1, 1>} : (tensor<?x1x28x28xf32>, tensor<6x1x3x3xf32>, tensor<6xf32>) -> tensor<?x6x28x28xf32>
    %d = dl.conv2d %y, %dw {groups = 6 : i64, padding = array<i64: 2, 2>, dilation = array<i64: 2, 2>, stride = array<i64: 1, 1>} : (tensor<?x6x28x28xf32>, tensor<6x1x3x3xf32>) -> tensor<?x6x28x28xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$filter,
                       Optional<DL_FloatTensor>:$bias,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding,
                       UnitAttr:$relu, OptionalAttr<DenseI64ArrayAttr>:$dilation,
                       OptionalAttr<I64Attr>:$groups);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $filter (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

def DL_MaxPool2dOp : DL_InferOp<"maxpool2d", [DL_Differentiable]> {
  let summary = "2-D max pooling over NCHW";
  let description = [{
    Padding counts as minus infinity.

    ```mlir
    %y = dl.maxpool2d %x {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<?x6x28x28xf32>) -> tensor<?x6x14x14xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_ReluOp : DL_ElementwiseOp<"relu", [DL_Differentiable]> {
  let summary = "rectified linear unit, max(x, 0)";
  let description = [{
    ```mlir
    %y = dl.relu %x : (tensor<?x6x28x28xf32>) -> tensor<?x6x28x28xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_SigmoidOp : DL_ElementwiseOp<"sigmoid", [DL_Differentiable]> {
  let summary = "logistic sigmoid, 1 / (1 + exp(-x))";
  let description = [{
    Elementwise; PyTorch's `torch.sigmoid`.

    ```mlir
    %y = dl.sigmoid %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_BiasAddOp : DL_InferOp<"bias_add", [DL_Differentiable]> {
  let summary = "adds a 1-D bias along one axis";
  let description = [{
    `y = x + b` with `b` broadcast along every axis but `axis` (1 for NCHW channels and for
    the features of a 2-D activation).

    ```mlir
    %y = dl.bias_add %x, %b {axis = 1 : i64} : (tensor<?x120xf32>, tensor<120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$bias,
                       DefaultValuedAttr<I64Attr, "1">:$axis);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input `,` $bias attr-dict `:` functional-type(operands, results)";
}

def DL_AddOp : DL_InferOp<"add", [Commutative, DL_Differentiable]> {
  let summary = "elementwise sum of two tensors of the same shape";
  let description = [{
    ```mlir
    %y = dl.add %a, %b : (tensor<?x64x56x56xf32>, tensor<?x64x56x56xf32>) -> tensor<?x64x56x56xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$lhs, DL_FloatTensor:$rhs);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def DL_AddReluOp : DL_ElementwiseOp<"add_relu"> {
  let summary = "relu of an elementwise sum (a residual block's output)";
  let description = [{
    `y = max(a + b, 0)`, written by `--dl-fuse-epilogues` for `relu(add(a, b))` when nothing
    else reads the sum: one pass over the tensors instead of two. It has no gradient rule
    (it is made after `--dl-autodiff`).

    ```mlir
    %y = dl.add_relu %a, %b : (tensor<?x256x56x56xf32>, tensor<?x256x56x56xf32>) -> tensor<?x256x56x56xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$lhs, DL_FloatTensor:$rhs);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def DL_MatmulOp : DL_InferOp<"matmul", [DL_Differentiable]> {
  let summary = "matrix product with optional transposes";
  let description = [{
    `C = op(A) * op(B)` where `op` transposes when `transpose_a` / `transpose_b` is set. A
    linear layer is `matmul(x, W, transpose_b)` followed by `bias_add`, with W stored
    `[out_features, in_features]` as in PyTorch. `--dl-fuse-epilogues` folds that bias (one
    value per column) and a following relu into the matmul, as for `dl.conv2d`.

    An operand of rank above 2 is the matrix of its leading dimensions' product as rows and
    its last dimension as columns, so a linear layer acts on the last axis as `nn.Linear`
    does: untransposed, `A` keeps its leading dimensions in the result
    (`[B, T, K] x [K, N] -> [B, T, N]`); transposed, the product contracts over them (the
    weight gradient `[B, T, N]^T x [B, T, K] -> [N, K]`).

    ```mlir
    %y = dl.matmul %x, %w {transpose_b} : (tensor<?x400xf32>, tensor<120x400xf32>) -> tensor<?x120xf32>
    %z = dl.matmul %x, %w, %b {relu, transpose_b} : (tensor<?x400xf32>, tensor<120x400xf32>, tensor<120xf32>) -> tensor<?x120xf32>
    %t = dl.matmul %s, %w {transpose_b} : (tensor<?x28x28xf32>, tensor<64x28xf32>) -> tensor<?x28x64xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$lhs, DL_FloatTensor:$rhs,
                       Optional<DL_FloatTensor>:$bias,
                       UnitAttr:$transpose_a, UnitAttr:$transpose_b, UnitAttr:$relu);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

def DL_FlattenOp : DL_InferOp<"flatten", [DL_Differentiable]> {
  let summary = "collapses every dimension but the batch into one";
  let description = [{
    A view: the lowering gives the result the operand's buffer.

    ```mlir
    %y = dl.flatten %x : (tensor<?x16x5x5xf32>) -> tensor<?x400xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_ReshapeOp : DL_InferOp<"reshape", [DL_Differentiable]> {
  let summary = "reshapes every dimension but the batch";
  let description = [{
    The result is `[dim0(input)] ++ shape`; element counts must agree. A view, like flatten.
    Autodiff uses it to undo `dl.flatten`.

    ```mlir
    %y = dl.reshape %x {shape = array<i64: 16, 5, 5>} : (tensor<?x400xf32>) -> tensor<?x16x5x5xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DenseI64ArrayAttr:$shape);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_SoftmaxXentOp : DL_InferOp<"softmax_xent", [DL_Differentiable]> {
  let summary = "mean softmax cross-entropy of logits against integer labels";
  let description = [{
    `loss = -1/N sum_n log softmax(logits[n])[labels[n]]`, a 0-d tensor.

    ```mlir
    %loss = dl.softmax_xent %logits, %labels : (tensor<?x10xf32>, tensor<?xi32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$logits, DL_LabelTensor:$labels);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$logits `,` $labels attr-dict `:` functional-type(operands, results)";
}

def DL_AccuracyOp : DL_InferOp<"accuracy"> {
  let summary = "number of rows whose argmax equals the label";
  let description = [{
    Not differentiable; reported by the runtime as training and test accuracy.

    ```mlir
    %n = dl.accuracy %logits, %labels : (tensor<?x10xf32>, tensor<?xi32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$logits, DL_LabelTensor:$labels);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$logits `,` $labels attr-dict `:` functional-type(operands, results)";
}

def DL_AvgPool2dOp : DL_InferOp<"avgpool2d", [DL_Differentiable]> {
  let summary = "2-D average pooling over NCHW";
  let description = [{
    Padding counts as zeros and the divisor is always the window size (PyTorch's
    `count_include_pad=True`). Global average pooling is a window as large as the input.

    ```mlir
    %y = dl.avgpool2d %x {kernel = array<i64: 7, 7>, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x2048x7x7xf32>) -> tensor<?x2048x1x1xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_BatchNormOp : DL_InferOp<"batch_norm", [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "batch normalisation with the running statistics (inference)";
  let description = [{
    `y = gamma * (x - mean) / sqrt(var + eps) + beta` per channel (axis 1), with `mean` and
    `var` the running statistics `@running_mean` and `@running_var`. This is the form the
    evaluation step uses; `--dl-autodiff` turns it into `dl.batch_norm_train` in the training
    step. With the `relu` flag, set by `--dl-fuse-epilogues` in place of a following `dl.relu`,
    the result is `max(y, 0)`.

    ```mlir
    %y = dl.batch_norm %x, %gamma, %beta {eps = 1.0e-05 : f32, momentum = 1.0e-01 : f32, running_mean = @bn1.running_mean, running_var = @bn1.running_var} : (tensor<?x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64x56x56xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$gamma, DL_FloatTensor:$beta,
                       FlatSymbolRefAttr:$running_mean, FlatSymbolRefAttr:$running_var,
                       F32Attr:$eps, F32Attr:$momentum, UnitAttr:$relu);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input `,` $gamma `,` $beta attr-dict `:` functional-type(operands, results)";
}

def DL_BatchNormTrainOp : DL_Op<"batch_norm_train",
    [InferTypeOpAdaptor, DeclareOpInterfaceMethods<SymbolUserOpInterface>, DL_Differentiable,
     DL_Lowered]> {
  let summary = "batch normalisation with batch statistics (training)";
  let description = [{
    Normalises with the mean and biased variance of the batch (per channel over N, H, W),
    returns them (as mean and 1/sqrt(var + eps)) for the backward pass, and updates the
    running statistics in place, PyTorch's way:
    `running = (1 - momentum) * running + momentum * batch_stat` (unbiased variance). It
    writes module state, so it is not pure. With the `relu` flag (`--dl-fuse-epilogues`, when
    a `dl.relu` was the normalised value's only reader) the result is `max(y, 0)`; the
    backward reads only the input and the statistics, so it is unchanged.

    ```mlir
    %y, %mean, %inv_std = dl.batch_norm_train %x, %gamma, %beta {eps = 1.0e-05 : f32, momentum = 1.0e-01 : f32, running_mean = @bn1.running_mean, running_var = @bn1.running_var} : (tensor<8x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<8x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>)
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$gamma, DL_FloatTensor:$beta,
                       FlatSymbolRefAttr:$running_mean, FlatSymbolRefAttr:$running_var,
                       F32Attr:$eps, F32Attr:$momentum, UnitAttr:$relu);
  let results = (outs DL_FloatTensor:$result, DL_FloatTensor:$mean, DL_FloatTensor:$inv_std);
  let assemblyFormat = "$input `,` $gamma `,` $beta attr-dict `:` functional-type(operands, results)";
}

def DL_LrnOp : DL_InferOp<"lrn", [DL_Differentiable]> {
  let summary = "local response normalisation across channels (TensorFlow's tf.nn.lrn)";
  let description = [{
    For every element of an NCHW input, with `r = depth_radius`:
    `sqr_sum[n,c,h,w] = sum_{c' = max(0, c-r)}^{min(C-1, c+r)} x[n,c',h,w]^2` and
    `y = x / (bias + alpha * sqr_sum)^beta`. These are TensorFlow's semantics: `alpha`
    multiplies the plain sum, it is not divided by the window size as in Caffe and PyTorch
    (whose `alpha` is TensorFlow's times `2r+1`). The CIFAR-10 tutorial's `alpha = 0.001 / 9`
    is written as `1.1111111e-4`. `bias` must be positive and `alpha`, `beta` non-negative,
    so the base of the power is always positive.

    ```mlir
    %y = dl.lrn %x {alpha = 1.11111112E-4 : f32, beta = 7.500000e-01 : f32, bias = 1.000000e+00 : f32, depth_radius = 4 : i64} : (tensor<?x64x12x12xf32>) -> tensor<?x64x12x12xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, I64Attr:$depth_radius, F32Attr:$bias,
                       F32Attr:$alpha, F32Attr:$beta);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Recurrent ops (the importer unrolls an `lstm` layer over its time steps into these,
// matmul, add and bias_add; autodiff then gives backpropagation through time)
//===----------------------------------------------------------------------===//

def DL_ZerosOp : DL_InferOp<"zeros", [DL_Differentiable]> {
  let summary = "a tensor of zeros whose batch size is that of another value";
  let description = [{
    Returns zeros of shape `[N] + shape`, where `N` is dimension 0 of `like` (only its
    shape is read, never its values). It gives an unrolled LSTM its initial cell state and
    autodiff the gradient of a state that nothing reads. Not differentiable (a constant).

    ```mlir
    %c0 = dl.zeros %x {shape = array<i64: 128>} : (tensor<?x28xf32>) -> tensor<?x128xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$like, DenseI64ArrayAttr:$shape);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$like attr-dict `:` functional-type(operands, results)";
}

def DL_TimeStepOp : DL_InferOp<"time_step"> {
  let summary = "one time step of a sequence: x[:, step, :]";
  let description = [{
    Takes a `[N, T, F]` sequence and returns `[N, F]`, the features at time `step`
    (`0 <= step < T`). A copy, not a view: the rows of one step are strided in memory.
    It has no gradient rule: it reads the model's input sequence, which needs none
    (autodiff reports an error if a parameter ever flows into it).

    ```mlir
    %x3 = dl.time_step %seq {step = 3 : i64} : (tensor<?x28x28xf32>) -> tensor<?x28xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, I64Attr:$step);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_LstmCellOp : DL_InferOp<"lstm_cell", [DL_Differentiable]> {
  let summary = "the elementwise part of one LSTM step: gates and c_{t-1} to h_t and c_t";
  let description = [{
    `gates` is `[N, 4H]`, the pre-activations `x_t W^T + h_{t-1} U^T + b` in PyTorch's
    order (input, forget, cell, output), and `c_prev` is `[N, H]`. With `s` the logistic
    sigmoid:
    `i = s(gates[:, 0:H])`, `f = s(gates[:, H:2H] + forget_bias)`, `g = tanh(gates[:, 2H:3H])`,
    `o = s(gates[:, 3H:4H])`, `c = f * c_prev + i * g`, `h = o * tanh(c)`.
    `forget_bias` is TensorFlow's BasicLSTMCell constant (1.0 there), added to the forget
    gate's pre-activation so that a fresh network keeps its state.

    ```mlir
    %h, %c = dl.lstm_cell %gates, %c_prev {forget_bias = 1.000000e+00 : f32} : (tensor<?x512xf32>, tensor<?x128xf32>) -> (tensor<?x128xf32>, tensor<?x128xf32>)
    ```
  }];
  let arguments = (ins DL_FloatTensor:$gates, DL_FloatTensor:$c_prev, F32Attr:$forget_bias);
  let results = (outs DL_FloatTensor:$h, DL_FloatTensor:$c);
  let assemblyFormat = "$gates `,` $c_prev attr-dict `:` functional-type(operands, results)";
}

def DL_LstmOp : DL_InferOp<"lstm", [DL_Differentiable]> {
  let summary = "a whole LSTM layer over a sequence, from zero state, to its last h";
  let description = [{
    `input` is `[N, T, I]`; the weights are `torch.nn.LSTM`'s (`weight_ih` `[4H, I]`,
    `weight_hh` `[4H, H]`) with one bias `[4H]`; each step is `dl.lstm_cell` of
    `x_t weight_ih^T + bias + h_{t-1} weight_hh^T` (`forget_bias` as there), from `h` and `c`
    zero. `h` is the last step's `[N, H]`. `reserve` `[N, T * 6H + H]` holds what the
    gradient reads (every step's gates, `h_{t-1}` and `c_{t-1}`), as cuDNN's RNN reserve
    space. On the CPU one kernel each way runs the whole recurrence (the input projection of
    every step as one product, the batch split over the threads with no barrier per step);
    for the CUDA target `--dl-unroll-lstm` first rewrites it into its steps.

    ```mlir
    %h, %reserve = dl.lstm %x, %wih, %whh, %b {forget_bias = 1.000000e+00 : f32} : (tensor<?x28x28xf32>, tensor<512x28xf32>, tensor<512x128xf32>, tensor<512xf32>) -> (tensor<?x128xf32>, tensor<?x21632xf32>)
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$weight_ih,
                       DL_FloatTensor:$weight_hh, DL_FloatTensor:$bias, F32Attr:$forget_bias);
  let results = (outs DL_FloatTensor:$h, DL_FloatTensor:$reserve);
  let assemblyFormat = [{
    $input `,` $weight_ih `,` $weight_hh `,` $bias attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Gradient ops (built by --dl-autodiff)
//===----------------------------------------------------------------------===//

def DL_Conv2dGradInputOp : DL_GradOp<"conv2d_grad_input"> {
  let summary = "gradient of conv2d with respect to its input";
  let description = [{
    `input_size` gives the input's spatial size, which strides make ambiguous otherwise.
    `padding`, `dilation` and `groups` as for `dl.conv2d`.

    ```mlir
    %dx = dl.conv2d_grad_input %dy, %w {input_size = array<i64: 14, 14>, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x16x10x10xf32>, tensor<16x6x5x5xf32>) -> tensor<?x6x14x14xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$filter,
                       DenseI64ArrayAttr:$input_size, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding, OptionalAttr<DenseI64ArrayAttr>:$dilation,
                       OptionalAttr<I64Attr>:$groups);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $filter attr-dict `:` functional-type(operands, results)";
}

def DL_Conv2dGradFilterOp : DL_GradOp<"conv2d_grad_filter"> {
  let summary = "gradient of conv2d with respect to its filter";
  let description = [{
    `kernel` is the filter's spatial size; its shape is `[k, c/groups, r, s]`. `padding`,
    `dilation` and `groups` as for `dl.conv2d`.

    ```mlir
    %dw = dl.conv2d_grad_filter %dy, %x {kernel = array<i64: 5, 5>, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x16x10x10xf32>, tensor<?x6x14x14xf32>) -> tensor<16x6x5x5xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$input,
                       DenseI64ArrayAttr:$kernel, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding, OptionalAttr<DenseI64ArrayAttr>:$dilation,
                       OptionalAttr<I64Attr>:$groups);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` functional-type(operands, results)";
}

def DL_MaxPool2dGradOp : DL_GradOp<"maxpool2d_grad"> {
  let summary = "gradient of maxpool2d: routes each gradient to its window's maximum";
  let description = [{
    Ties go to the first maximum in row-major window order. With the `relu` flag, set by
    `--dl-fuse-epilogues` when the pooled `input` is a relu's result and the gradient goes on
    to that relu's `dl.relu_grad`, a gradient is routed only where the window's maximum is
    positive: the op then computes the gradient of `maxpool2d(relu(z))` with respect to `z`.

    ```mlir
    %dx = dl.maxpool2d_grad %dy, %x {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<?x6x14x14xf32>, tensor<?x6x28x28xf32>) -> tensor<?x6x28x28xf32>
    %dz = dl.maxpool2d_grad %dy, %x {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, relu, stride = array<i64: 2, 2>} : (tensor<?x6x14x14xf32>, tensor<?x6x28x28xf32>) -> tensor<?x6x28x28xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$input,
                       DenseI64ArrayAttr:$kernel, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding, UnitAttr:$relu);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` functional-type(operands, results)";
}

def DL_ReluGradOp : DL_GradOp<"relu_grad"> {
  let summary = "gradient of relu, computed from its output";
  let description = [{
    `dx = y > 0 ? dy : 0`, where `y` is the relu's result.

    ```mlir
    %dx = dl.relu_grad %dy, %y : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$output);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $output attr-dict `:` functional-type(operands, results)";
}

def DL_AddReluGradOp : DL_ElementwiseOp<"add_relu_grad", [DL_GradientResults]> {
  let summary = "relu_grad of an elementwise sum of two gradients";
  let description = [{
    `dx = y > 0 ? a + b : 0`, written by `--dl-fuse-epilogues` for
    `relu_grad(add(a, b), y)` when nothing else reads the sum (where a residual block's input,
    the previous block's relu output `y`, collects the gradients of both paths).

    ```mlir
    %dx = dl.add_relu_grad %da, %db, %y : (tensor<?x256x56x56xf32>, tensor<?x256x56x56xf32>, tensor<?x256x56x56xf32>) -> tensor<?x256x56x56xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$lhs, DL_FloatTensor:$rhs, DL_FloatTensor:$output);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs `,` $output attr-dict `:` functional-type(operands, results)";
}

def DL_SigmoidGradOp : DL_ElementwiseOp<"sigmoid_grad", [DL_GradientResults]> {
  let summary = "gradient of sigmoid, computed from its output";
  let description = [{
    `dx = dy * y * (1 - y)`, where `y` is the sigmoid's result.

    ```mlir
    %dx = dl.sigmoid_grad %dy, %y : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$output);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $output attr-dict `:` functional-type(operands, results)";
}

def DL_BiasAddGradOp : DL_GradOp<"bias_add_grad"> {
  let summary = "gradient of bias_add with respect to the bias: a sum over all other axes";
  let description = [{
    ```mlir
    %db = dl.bias_add_grad %dy {axis = 1 : i64} : (tensor<?x120xf32>) -> tensor<120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DefaultValuedAttr<I64Attr, "1">:$axis);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad attr-dict `:` functional-type(operands, results)";
}

def DL_SoftmaxXentGradOp : DL_GradOp<"softmax_xent_grad"> {
  let summary = "gradient of the mean softmax cross-entropy with respect to the logits";
  let description = [{
    `dlogits = (softmax(logits) - onehot(labels)) / N`.

    ```mlir
    %d = dl.softmax_xent_grad %logits, %labels : (tensor<?x10xf32>, tensor<?xi32>) -> tensor<?x10xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$logits, DL_LabelTensor:$labels);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$logits `,` $labels attr-dict `:` functional-type(operands, results)";
}

def DL_AvgPool2dGradOp : DL_GradOp<"avgpool2d_grad"> {
  let summary = "gradient of avgpool2d: spreads each gradient evenly over its window";
  let description = [{
    ```mlir
    %dx = dl.avgpool2d_grad %dy {input_size = array<i64: 7, 7>, kernel = array<i64: 7, 7>, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x2048x1x1xf32>) -> tensor<?x2048x7x7xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DenseI64ArrayAttr:$input_size,
                       DenseI64ArrayAttr:$kernel, DenseI64ArrayAttr:$stride,
                       DenseI64ArrayAttr:$padding);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad attr-dict `:` functional-type(operands, results)";
}

def DL_BatchNormGradOp : DL_GradOp<"batch_norm_grad"> {
  let summary = "gradients of batch_norm_train with respect to input, gamma and beta";
  let description = [{
    Uses the batch mean and inverse standard deviation saved by `dl.batch_norm_train`.

    ```mlir
    %dx, %dgamma, %dbeta = dl.batch_norm_grad %x, %dy, %gamma, %mean, %inv_std : (tensor<8x64x56x56xf32>, tensor<8x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<8x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>)
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$grad, DL_FloatTensor:$gamma,
                       DL_FloatTensor:$mean, DL_FloatTensor:$inv_std);
  let results = (outs DL_FloatTensor:$grad_input, DL_FloatTensor:$grad_gamma,
                      DL_FloatTensor:$grad_beta);
  let assemblyFormat = "$input `,` $grad `,` $gamma `,` $mean `,` $inv_std attr-dict `:` functional-type(operands, results)";
}

def DL_LrnGradOp : DL_GradOp<"lrn_grad"> {
  let summary = "gradient of lrn with respect to its input";
  let description = [{
    With `s = bias + alpha * sqr_sum` as in `dl.lrn` and `y` its result:
    `dx[c] = dy[c] * s[c]^-beta - 2 * alpha * beta * x[c] * sum_{c' in window(c)} dy[c'] * y[c'] / s[c']`
    (the window is symmetric, so the channels whose window holds `c` are those in `c`'s own).
    Reads the forward input and output, as TensorFlow's LRNGrad does; `s` is recomputed.

    ```mlir
    %dx = dl.lrn_grad %dy, %x, %y {alpha = 1.11111112E-4 : f32, beta = 7.500000e-01 : f32, bias = 1.000000e+00 : f32, depth_radius = 4 : i64} : (tensor<?x64x12x12xf32>, tensor<?x64x12x12xf32>, tensor<?x64x12x12xf32>) -> tensor<?x64x12x12xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$input, DL_FloatTensor:$output,
                       I64Attr:$depth_radius, F32Attr:$bias, F32Attr:$alpha, F32Attr:$beta);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input `,` $output attr-dict `:` functional-type(operands, results)";
}

def DL_LstmCellGradOp : DL_GradOp<"lstm_cell_grad"> {
  let summary = "gradient of lstm_cell with respect to its gates and c_prev";
  let description = [{
    Takes the forward operands and the gradients of both results (autodiff passes a
    `dl.zeros` for a result nothing reads) and recomputes the activations from `gates`:
    `dc = grad_c + grad_h * o * (1 - tanh(c)^2)`,
    `d_o = grad_h * tanh(c) * o (1 - o)`, `d_i = dc * g * i (1 - i)`,
    `d_f = dc * c_prev * f (1 - f)`, `d_g = dc * i * (1 - g^2)`, `grad_c_prev = dc * f`.

    ```mlir
    %dgates, %dc_prev = dl.lstm_cell_grad %gates, %c_prev, %dh, %dc {forget_bias = 1.000000e+00 : f32} : (tensor<?x512xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x128xf32>) -> (tensor<?x512xf32>, tensor<?x128xf32>)
    ```
  }];
  let arguments = (ins DL_FloatTensor:$gates, DL_FloatTensor:$c_prev, DL_FloatTensor:$grad_h,
                       DL_FloatTensor:$grad_c, F32Attr:$forget_bias);
  let results = (outs DL_FloatTensor:$grad_gates, DL_FloatTensor:$grad_c_prev);
  let assemblyFormat = "$gates `,` $c_prev `,` $grad_h `,` $grad_c attr-dict `:` functional-type(operands, results)";
}

def DL_LstmGradOp : DL_GradOp<"lstm_grad"> {
  let summary = "gradient of lstm with respect to its weights and bias";
  let description = [{
    Backpropagation through time from the last h's gradient `grad_h`, reading the forward's
    `reserve`: the gradients of `weight_ih`, `weight_hh` and `bias`. The input sequence gets
    none (as `dl.time_step`: it is the model's input). Its kernel writes each step's gate
    gradients over that step's gates in the reserve, so it must be the reserve's only reader
    (the lowering refuses otherwise).

    ```mlir
    %dwih, %dwhh, %db = dl.lstm_grad %x, %whh, %reserve, %dh {forget_bias = 1.000000e+00 : f32} : (tensor<?x28x28xf32>, tensor<512x128xf32>, tensor<?x21632xf32>, tensor<?x128xf32>) -> (tensor<512x28xf32>, tensor<512x128xf32>, tensor<512xf32>)
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$weight_hh,
                       DL_FloatTensor:$reserve, DL_FloatTensor:$grad_h, F32Attr:$forget_bias);
  let results = (outs DL_FloatTensor:$grad_weight_ih, DL_FloatTensor:$grad_weight_hh,
                      DL_FloatTensor:$grad_bias);
  let assemblyFormat = [{
    $input `,` $weight_hh `,` $reserve `,` $grad_h attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Scheduled optimizers (issue 10): per-step scalars in the optimizer state `@optimizer.state`
// (4 floats: step, lr, sum of squares of the gradients, clip factor), written and read in
// program order.
//===----------------------------------------------------------------------===//

def DL_LrScheduleOp : DL_Op<"lr_schedule", [DeclareOpInterfaceMethods<SymbolUserOpInterface>,
                                            DL_Lowered]> {
  let summary = "starts a training step: counts it and writes its learning rate";
  let description = [{
    `t = state[0] + 1`; `state[1]` = the learning rate of step `t`; the sum of squares is
    reset to 0 and the clip factor to 1. `schedule`: 0 constant, 1 step (`lr * gamma ^
    floor(u / step_size)`), 2 cosine (`min_lr + (lr - min_lr) (1 + cos(pi p)) / 2`), 3 linear
    (`lr + (min_lr - lr) p`), after a linear warm-up `lr * t / warmup_steps` over the first
    `warmup_steps` steps; `u = t - warmup_steps - 1`, `p = min(u / (total_steps -
    warmup_steps), 1)`.

    ```mlir
    dl.lr_schedule @optimizer.state {gamma = 1.000000e+00 : f32, lr = 1.000000e-03 : f32, min_lr = 0.000000e+00 : f32, schedule = 2 : i64, step_size = 1 : i64, total_steps = 1000 : i64, warmup_steps = 100 : i64}
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$state, I64Attr:$schedule, I64Attr:$warmup_steps,
                       I64Attr:$step_size, I64Attr:$total_steps, F32Attr:$lr, F32Attr:$gamma,
                       F32Attr:$min_lr);
  let assemblyFormat = "$state attr-dict";
}

def DL_GradSumSqOp : DL_Op<"grad_sumsq", [DeclareOpInterfaceMethods<SymbolUserOpInterface>,
                                          DL_Lowered]> {
  let summary = "adds a gradient's sum of squares to the optimizer state";
  let description = [{
    `state[2] += sum(grad^2)`: one per gradient, before `dl.clip_scale`.

    ```mlir
    dl.grad_sumsq %g, @optimizer.state : tensor<10x84xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, FlatSymbolRefAttr:$state);
  let assemblyFormat = "$grad `,` $state attr-dict `:` type($grad)";
}

def DL_ClipScaleOp : DL_Op<"clip_scale", [DeclareOpInterfaceMethods<SymbolUserOpInterface>,
                                          DL_Lowered]> {
  let summary = "the gradients' clip factor from their global norm";
  let description = [{
    `state[3] = min(1, max_norm / (sqrt(state[2]) + 1e-6))`, as
    `torch.nn.utils.clip_grad_norm_`; the update ops multiply each gradient by it.

    ```mlir
    dl.clip_scale @optimizer.state {max_norm = 1.000000e+00 : f32}
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$state, F32Attr:$max_norm);
  let assemblyFormat = "$state attr-dict";
}

def DL_SGDStepOp : DL_Op<"sgd_step", [DeclareOpInterfaceMethods<SymbolUserOpInterface>,
                                      DL_Lowered]> {
  let summary = "SGD (momentum, Nesterov, weight decay) with the step's lr and clip factor";
  let description = [{
    `torch.optim.SGD` on `g * clip`: `d = g + weight_decay * w`; `m = momentum * m + d`;
    `d = nesterov ? d + momentum * m : m`; `w -= lr * d`, with `lr` and `clip` read from
    `@opt_state`. Used when the learning rate is scheduled, the gradients clipped or
    Nesterov asked for (`dl.sgd_update` otherwise).

    ```mlir
    dl.sgd_step @fc.weight, %g, @fc.weight.momentum, @optimizer.state {momentum = 9.000000e-01 : f32, nesterov = true, weight_decay = 0.000000e+00 : f32} : tensor<10x84xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$param, DL_FloatTensor:$grad,
                       FlatSymbolRefAttr:$momentum_buffer, FlatSymbolRefAttr:$opt_state,
                       F32Attr:$momentum, F32Attr:$weight_decay, BoolAttr:$nesterov);
  let assemblyFormat = "$param `,` $grad `,` $momentum_buffer `,` $opt_state attr-dict `:` type($grad)";
}

def DL_AdamUpdateOp : DL_Op<"adam_update", [DeclareOpInterfaceMethods<SymbolUserOpInterface>,
                                            DL_Lowered]> {
  let summary = "Adam or AdamW, in place on a parameter";
  let description = [{
    `torch.optim.Adam` (`decoupled = false`: `g += weight_decay * w`) or `torch.optim.AdamW`
    (`decoupled = true`: `w *= 1 - lr * weight_decay` first) on `g * clip`:
    `m = beta1 m + (1 - beta1) g`; `v = beta2 v + (1 - beta2) g^2`;
    `w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`, with `t`, `lr` and
    `clip` read from `@opt_state`.

    ```mlir
    dl.adam_update @fc.weight, %g, @fc.weight.exp_avg, @fc.weight.exp_avg_sq, @optimizer.state {beta1 = 9.000000e-01 : f32, beta2 = 9.990000e-01 : f32, decoupled = true, eps = 9.99999993E-9 : f32, weight_decay = 0.00999999977 : f32} : tensor<10x84xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$param, DL_FloatTensor:$grad,
                       FlatSymbolRefAttr:$exp_avg, FlatSymbolRefAttr:$exp_avg_sq,
                       FlatSymbolRefAttr:$opt_state, F32Attr:$beta1, F32Attr:$beta2,
                       F32Attr:$eps, F32Attr:$weight_decay, BoolAttr:$decoupled);
  let assemblyFormat = "$param `,` $grad `,` $exp_avg `,` $exp_avg_sq `,` $opt_state attr-dict `:` type($grad)";
}

//===----------------------------------------------------------------------===//
// Activation layers, mul, sub and softmax (issue 10); rules in ActivationRules.cpp
//===----------------------------------------------------------------------===//

def DL_TanhOp : DL_ElementwiseOp<"tanh", [DL_Differentiable]> {
  let summary = "hyperbolic tangent";
  let description = [{
    Elementwise; PyTorch's `torch.tanh`.

    ```mlir
    %y = dl.tanh %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_TanhGradOp : DL_ElementwiseOp<"tanh_grad", [DL_GradientResults]> {
  let summary = "gradient of tanh, computed from its output";
  let description = [{
    `dx = dy * (1 - y^2)`, where `y` is the tanh's result.

    ```mlir
    %dx = dl.tanh_grad %dy, %y : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$output);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $output attr-dict `:` functional-type(operands, results)";
}

def DL_SiluOp : DL_ElementwiseOp<"silu", [DL_Differentiable]> {
  let summary = "SiLU (swish), x * sigmoid(x)";
  let description = [{
    Elementwise; PyTorch's `nn.SiLU`.

    ```mlir
    %y = dl.silu %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_SiluGradOp : DL_ElementwiseOp<"silu_grad", [DL_GradientResults]> {
  let summary = "gradient of silu, computed from its input";
  let description = [{
    `dx = dy * s * (1 + x * (1 - s))` with `s = sigmoid(x)`, `x` the silu's operand.

    ```mlir
    %dx = dl.silu_grad %dy, %x : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$input);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` functional-type(operands, results)";
}

def DL_GeluOp : DL_ElementwiseOp<"gelu", [DL_Differentiable]> {
  let summary = "Gaussian error linear unit, exact or with the tanh approximation";
  let description = [{
    Elementwise `x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))`: PyTorch's `nn.GELU()`. With
    `approximate_tanh`, `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`:
    `nn.GELU(approximate='tanh')`.

    ```mlir
    %y = dl.gelu %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
    %z = dl.gelu %x {approximate_tanh} : (tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, UnitAttr:$approximate_tanh);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_GeluGradOp : DL_ElementwiseOp<"gelu_grad", [DL_GradientResults]> {
  let summary = "gradient of gelu, computed from its input";
  let description = [{
    `dx = dy * (Phi(x) + x phi(x))` (exact form), or the derivative of the tanh form
    with `approximate_tanh`; `x` is the gelu's operand.

    ```mlir
    %dx = dl.gelu_grad %dy, %x {approximate_tanh} : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$input, UnitAttr:$approximate_tanh);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` functional-type(operands, results)";
}

def DL_LeakyReluOp : DL_ElementwiseOp<"leaky_relu", [DL_Differentiable]> {
  let summary = "x for x > 0, else slope * x";
  let description = [{
    Elementwise; PyTorch's `nn.LeakyReLU(negative_slope)`.

    ```mlir
    %y = dl.leaky_relu %x {slope = 0.00999999977 : f32} : (tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, F32Attr:$slope);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_LeakyReluGradOp : DL_ElementwiseOp<"leaky_relu_grad", [DL_GradientResults]> {
  let summary = "gradient of leaky_relu, computed from its input";
  let description = [{
    `dx = x > 0 ? dy : slope * dy`, `x` the leaky_relu's operand (any slope, negative too).

    ```mlir
    %dx = dl.leaky_relu_grad %dy, %x {slope = 0.00999999977 : f32} : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$input, F32Attr:$slope);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` functional-type(operands, results)";
}

def DL_Relu6Op : DL_ElementwiseOp<"relu6", [DL_Differentiable]> {
  let summary = "min(max(x, 0), 6)";
  let description = [{
    Elementwise; PyTorch's `nn.ReLU6`.

    ```mlir
    %y = dl.relu6 %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_Relu6GradOp : DL_ElementwiseOp<"relu6_grad", [DL_GradientResults]> {
  let summary = "gradient of relu6, computed from its output";
  let description = [{
    `dx = 0 < y < 6 ? dy : 0`, where `y` is the relu6's result (PyTorch's: no gradient at
    either corner).

    ```mlir
    %dx = dl.relu6_grad %dy, %y : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$output);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $output attr-dict `:` functional-type(operands, results)";
}

def DL_HardswishOp : DL_ElementwiseOp<"hardswish", [DL_Differentiable]> {
  let summary = "x * relu6(x + 3) / 6";
  let description = [{
    Elementwise; PyTorch's `nn.Hardswish`.

    ```mlir
    %y = dl.hardswish %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_HardswishGradOp : DL_ElementwiseOp<"hardswish_grad", [DL_GradientResults]> {
  let summary = "gradient of hardswish, computed from its input";
  let description = [{
    `dx = x < -3 ? 0 : x <= 3 ? dy * (x / 3 + 1/2) : dy` (PyTorch's), `x` the operand.

    ```mlir
    %dx = dl.hardswish_grad %dy, %x : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$input);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` functional-type(operands, results)";
}

def DL_MulOp : DL_ElementwiseOp<"mul", [Commutative, DL_Differentiable]> {
  let summary = "elementwise product of two tensors of the same shape";
  let description = [{
    PyTorch's `torch.mul` without broadcasting. Gradients: `da = dy * b`, `db = dy * a`.

    ```mlir
    %y = dl.mul %a, %b : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$lhs, DL_FloatTensor:$rhs);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def DL_SubOp : DL_ElementwiseOp<"sub", [DL_Differentiable]> {
  let summary = "elementwise difference of two tensors of the same shape";
  let description = [{
    PyTorch's `torch.sub` without broadcasting. Gradients: `da = dy`, `db = -dy` (a
    `dl.neg`).

    ```mlir
    %y = dl.sub %a, %b : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$lhs, DL_FloatTensor:$rhs);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def DL_NegOp : DL_ElementwiseOp<"neg", [DL_Differentiable]> {
  let summary = "-x";
  let description = [{
    Elementwise; the gradient of `dl.sub`'s second operand.

    ```mlir
    %y = dl.neg %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_SoftmaxOp : DL_ElementwiseOp<"softmax", [DL_Differentiable]> {
  let summary = "softmax over the last axis";
  let description = [{
    `y = exp(x - max) / sum(exp(x - max))` along the last axis; PyTorch's
    `nn.Softmax(dim=-1)`.

    ```mlir
    %y = dl.softmax %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_SoftmaxGradOp : DL_ElementwiseOp<"softmax_grad", [DL_GradientResults]> {
  let summary = "gradient of softmax, computed from its output";
  let description = [{
    `dx = y * (dy - sum(dy * y))` along the last axis, `y` the softmax's result.

    ```mlir
    %dx = dl.softmax_grad %dy, %y : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$output);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $output attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Dropout (issue 10); rules in DropoutRules.cpp
//===----------------------------------------------------------------------===//

/// An elementwise op that reads module state (a dropout counter): the shape rule of
/// DL_ElementwiseOp, without Pure, so that it stays in order with the counter's increment.
class DL_StatefulElementwiseOp<string mnemonic, list<Trait> traits = []> :
    DL_Op<mnemonic, !listconcat([InferTypeOpAdaptor, DL_Lowered], traits)> {
  let extraClassDefinition = [{
    ::mlir::LogicalResult $cppClass::inferReturnTypes(::mlir::MLIRContext *ctx,
        std::optional<::mlir::Location> loc, Adaptor a,
        ::llvm::SmallVectorImpl<::mlir::Type> &out) {
      return ::mlir::dl::inferElementwise(ctx, loc, getOperationName(), a.getOperands(), out);
    }
  }];
}

def DL_DropoutOp : DL_ElementwiseOp<"dropout", [DL_Differentiable]> {
  let summary = "dropout: the identity when evaluating";
  let description = [{
    PyTorch's `nn.Dropout(p = rate)`. As written (and in the evaluation step) it is the
    identity, a view of its operand; `--dl-autodiff` turns it into `dl.dropout_train` in the
    training step. `step` is the layer's step counter (a one-float `buffer` parameter) and
    `seed` mixes the model's seed with the layer's name.

    ```mlir
    %y = dl.dropout %x {rate = 5.000000e-01 : f32, seed = 1234 : i64, step = @drop.step} : (tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, F32Attr:$rate, I64Attr:$seed,
                       FlatSymbolRefAttr:$step);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_DropoutTrainOp : DL_StatefulElementwiseOp<"dropout_train", [DL_Differentiable]> {
  let summary = "dropout while training: zeroes elements with probability rate";
  let description = [{
    `y = keep ? x / (1 - rate) : 0`, where `keep` is false with probability `rate`, a function
    of (`seed`, the counter `@step`, the element's index): the same mask in the forward and
    backward kernels, a new one each step, the same ones when a run is repeated.

    ```mlir
    %y = dl.dropout_train %x {rate = 5.000000e-01 : f32, seed = 1234 : i64, step = @drop.step} : (tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, F32Attr:$rate, I64Attr:$seed,
                       FlatSymbolRefAttr:$step);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_DropoutGradOp : DL_StatefulElementwiseOp<"dropout_grad", [DL_GradientResults]> {
  let summary = "gradient of dropout_train: the same mask and scale on the gradient";
  let description = [{
    `dx = keep ? dy / (1 - rate) : 0` with the forward's mask, recomputed from the same
    `seed` and counter value (the counter is incremented after it, by `dl.increment`).

    ```mlir
    %dx = dl.dropout_grad %dy {rate = 5.000000e-01 : f32, seed = 1234 : i64, step = @drop.step} : (tensor<?x120xf32>) -> tensor<?x120xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, F32Attr:$rate, I64Attr:$seed,
                       FlatSymbolRefAttr:$step);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad attr-dict `:` functional-type(operands, results)";
}

def DL_IncrementOp : DL_Op<"increment", [DL_Lowered]> {
  let summary = "adds 1 to a counter parameter";
  let description = [{
    Ends a dropout layer's part of the training step: its counter moves on, so the next
    step draws a new mask.

    ```mlir
    dl.increment @drop.step
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$counter);
  let assemblyFormat = "$counter attr-dict";
}

//===----------------------------------------------------------------------===//
// Concat (issue 10); rules in ConcatRules.cpp
//===----------------------------------------------------------------------===//

def DL_ConcatOp : DL_InferOp<"concat", [DL_Differentiable]> {
  let summary = "joins two tensors along an axis";
  let description = [{
    PyTorch's `torch.cat([lhs, rhs], dim = axis)`: the operands agree on every dimension
    but `axis` (counted with the batch as 0; not the batch), along which the result has the
    sum of theirs.

    ```mlir
    %y = dl.concat %a, %b {axis = 1 : i64} : (tensor<?x6x4x4xf32>, tensor<?x2x4x4xf32>) -> tensor<?x8x4x4xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$lhs, DL_FloatTensor:$rhs, I64Attr:$axis);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def DL_ConcatGradOp : DL_GradOp<"concat_grad"> {
  let summary = "gradient of concat: the incoming gradient split in two along the axis";
  let description = [{
    The first `lhs_size` entries along `axis` are the gradient of concat's first operand,
    the rest that of its second.

    ```mlir
    %da, %db = dl.concat_grad %dy {axis = 1 : i64, lhs_size = 6 : i64} : (tensor<?x8x4x4xf32>) -> (tensor<?x6x4x4xf32>, tensor<?x2x4x4xf32>)
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, I64Attr:$axis, I64Attr:$lhs_size);
  let results = (outs DL_FloatTensor:$lhs_grad, DL_FloatTensor:$rhs_grad);
  let assemblyFormat = "$grad attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Regression losses (issue 10): a float target of the input's shape
//===----------------------------------------------------------------------===//

def DL_MseOp : DL_InferOp<"mse", [DL_Differentiable]> {
  let summary = "mean squared error of an input against a target of its shape";
  let description = [{
    `loss = 1/N sum (input - target)^2` over all N elements, a 0-d tensor (PyTorch's
    `nn.MSELoss()`, reduction `mean`). The target is data: it gets no gradient even when a
    layer computes it from parameters (PyTorch's `loss(input, target.detach())`).

    ```mlir
    %loss = dl.mse %x, %t : (tensor<?x784xf32>, tensor<?x784xf32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$target);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input `,` $target attr-dict `:` functional-type(operands, results)";
}

def DL_BceWithLogitsOp : DL_InferOp<"bce_with_logits", [DL_Differentiable]> {
  let summary = "mean binary cross-entropy of sigmoid(input) against a target of its shape";
  let description = [{
    `loss = 1/N sum max(x, 0) - x t + log(1 + exp(-|x|))` over all N elements, a 0-d tensor:
    the numerically stable form of `-[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))]`
    (PyTorch's `nn.BCEWithLogitsLoss()`, reduction `mean`). The target, in [0, 1], is data:
    it gets no gradient (PyTorch's `target.detach()`).

    ```mlir
    %loss = dl.bce_with_logits %x, %t : (tensor<?x784xf32>, tensor<?x784xf32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$target);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input `,` $target attr-dict `:` functional-type(operands, results)";
}

def DL_MseGradOp : DL_ElementwiseOp<"mse_grad", [DL_GradientResults]> {
  let summary = "gradient of the mean squared error with respect to its input";
  let description = [{
    `dx = 2 (input - target) / N`; the loss's own gradient, 1, is folded in.

    ```mlir
    %dx = dl.mse_grad %x, %t : (tensor<?x784xf32>, tensor<?x784xf32>) -> tensor<?x784xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$target);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input `,` $target attr-dict `:` functional-type(operands, results)";
}

def DL_BceWithLogitsGradOp : DL_ElementwiseOp<"bce_with_logits_grad", [DL_GradientResults]> {
  let summary = "gradient of bce_with_logits with respect to its input";
  let description = [{
    `dx = (sigmoid(input) - target) / N`; the loss's own gradient, 1, is folded in.

    ```mlir
    %dx = dl.bce_with_logits_grad %x, %t : (tensor<?x784xf32>, tensor<?x784xf32>) -> tensor<?x784xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$target);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input `,` $target attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Transformer shapes (issue 10): layer_norm, transpose; rules in ShapeRules.cpp
//===----------------------------------------------------------------------===//

def DL_LayerNormOp : DL_InferOp<"layer_norm", [DL_Differentiable]> {
  let summary = "layer normalisation over the last axis (PyTorch's nn.LayerNorm)";
  let description = [{
    Per row of the last axis (D features):
    `y = (x - mean) * rstd * weight + bias` with `rstd = 1 / sqrt(var + eps)`, the row's
    mean and biased variance; `weight` and `bias` are `[D]`. The same in training and
    evaluation. The row statistics `mean` and `rstd` (the input's shape without its last
    axis) are results too, for the backward pass, which thus needs no reduction over a
    row before its sums over rows.

    ```mlir
    %y, %mean, %rstd = dl.layer_norm %x, %w, %b {eps = 9.99999974E-6 : f32} : (tensor<?x28x64xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<?x28x64xf32>, tensor<?x28xf32>, tensor<?x28xf32>)
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$weight, DL_FloatTensor:$bias,
                       F32Attr:$eps);
  let results = (outs DL_FloatTensor:$result, DL_FloatTensor:$mean, DL_FloatTensor:$rstd);
  let assemblyFormat = "$input `,` $weight `,` $bias attr-dict `:` functional-type(operands, results)";
}

def DL_LayerNormGradOp : DL_GradOp<"layer_norm_grad"> {
  let summary = "gradients of layer_norm with respect to input, weight and bias";
  let description = [{
    From the row statistics saved by `dl.layer_norm`, with `xhat = (x - mean) * rstd` and
    `g = dy * weight`: `dx = rstd * (g - mean(g) - xhat * mean(g * xhat))` per row,
    `dweight = sum over rows of dy * xhat`, `dbias = sum over rows of dy`.

    ```mlir
    %dx, %dw, %db = dl.layer_norm_grad %x, %dy, %w, %mean, %rstd : (tensor<8x28x64xf32>, tensor<8x28x64xf32>, tensor<64xf32>, tensor<8x28xf32>, tensor<8x28xf32>) -> (tensor<8x28x64xf32>, tensor<64xf32>, tensor<64xf32>)
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$grad, DL_FloatTensor:$weight,
                       DL_FloatTensor:$mean, DL_FloatTensor:$rstd);
  let results = (outs DL_FloatTensor:$grad_input, DL_FloatTensor:$grad_weight,
                      DL_FloatTensor:$grad_bias);
  let assemblyFormat = "$input `,` $grad `,` $weight `,` $mean `,` $rstd attr-dict `:` functional-type(operands, results)";
}

def DL_TransposeOp : DL_InferOp<"transpose", [DL_Differentiable]> {
  let summary = "permutes the axes of a tensor, the batch staying first";
  let description = [{
    `result.shape[i] = input.shape[perm[i]]` (PyTorch's `x.permute(*perm)`, made contiguous).
    `perm` is a permutation of all the axes with `perm[0] = 0`, at most 6 of them. Its
    gradient is the transpose by the inverse permutation.

    ```mlir
    %y = dl.transpose %x {perm = array<i64: 0, 2, 1, 3>} : (tensor<?x16x12x64xf32>) -> tensor<?x12x16x64xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Attention (issue 11): the core of multi-head self-attention; rules in AttentionRules.cpp
//===----------------------------------------------------------------------===//

def DL_AttentionOp : DL_InferOp<"attention", [DL_Differentiable]> {
  let summary = "multi-head scaled dot-product self-attention over packed q, k, v";
  let description = [{
    `qkv` is `[B, T, 3C]`: the queries, keys and values of every position side by side along
    the last axis (GPT-2's `c_attn` output), `C = heads x D`. Per batch and head,
    `P = softmax(q k^T / sqrt(D))` (entries above the diagonal masked to 0 when `causal`)
    and the head's output `P v`; the heads are merged back to `result [B, T, C]`
    (PyTorch: `F.scaled_dot_product_attention(q, k, v, is_causal=causal)` on the split heads,
    then `transpose(1, 2).reshape(B, T, C)`). `probs [B, heads, T, T]` is kept for the
    backward pass. The optional `mask [B, T]` (int32, BERT's `attention_mask`: 1 a token,
    0 padding) gives padding keys -inf before the softmax (PyTorch: `attn_mask` False at
    them); a query whose keys are all masked outputs zeros, where PyTorch gives NaN. The
    gradient needs no mask: `probs` is exactly 0 at masked keys.

    ```mlir
    %y, %p = dl.attention %qkv {causal, heads = 4 : i64} : (tensor<?x16x96xf32>) -> (tensor<?x16x32xf32>, tensor<?x4x16x16xf32>)
    %ym, %pm = dl.attention %qkv, %mask {heads = 4 : i64} : (tensor<?x16x96xf32>, tensor<?x16xi32>) -> (tensor<?x16x32xf32>, tensor<?x4x16x16xf32>)
    ```
  }];
  let arguments = (ins DL_FloatTensor:$qkv, Optional<DL_LabelTensor>:$mask, I64Attr:$heads,
                       UnitAttr:$causal);
  let results = (outs DL_FloatTensor:$result, DL_FloatTensor:$probs);
  let assemblyFormat = "$qkv (`,` $mask^)? attr-dict `:` functional-type(operands, results)";
}

def DL_AttentionGradOp : DL_GradOp<"attention_grad"> {
  let summary = "gradient of attention with respect to the packed q, k, v";
  let description = [{
    From the forward's `probs` and `output`: `dv = P^T dy`, `dP = dy v^T`,
    `dS = P * (dP - w)` with `w = rowsum(dy * output)` (= `rowsum(dP * P)`),
    `dq = dS k / sqrt(D)`, `dk = dS^T q / sqrt(D)`, packed like `qkv`.

    ```mlir
    %dqkv = dl.attention_grad %dy, %qkv, %p, %y {causal, heads = 4 : i64} : (tensor<8x16x32xf32>, tensor<8x16x96xf32>, tensor<8x4x16x16xf32>, tensor<8x16x32xf32>) -> tensor<8x16x96xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, DL_FloatTensor:$qkv, DL_FloatTensor:$probs,
                       DL_FloatTensor:$output, I64Attr:$heads, UnitAttr:$causal);
  let results = (outs DL_FloatTensor:$grad_qkv);
  let assemblyFormat = "$grad `,` $qkv `,` $probs `,` $output attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Embedding (issue 10): int32 token indices into rows of a weight
//===----------------------------------------------------------------------===//

def DL_EmbeddingOp : DL_InferOp<"embedding", [DL_Differentiable]> {
  let summary = "rows of a [vocab, dim] weight picked by int32 indices";
  let description = [{
    PyTorch's `nn.Embedding(vocab, dim)`: `result[..., :] = weight[indices[...], :]`, the
    indices any shape with the batch first, the result that shape plus `dim`. An index outside
    [0, vocab) reads nothing: its row is NaN (the loss then says so), as the loss kernels do
    for a bad label. Only the weight is differentiable.

    ```mlir
    %y = dl.embedding %tokens, %w : (tensor<?x64xi32>, tensor<256x32xf32>) -> tensor<?x64x32xf32>
    ```
  }];
  let arguments = (ins DL_LabelTensor:$indices, DL_FloatTensor:$weight);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$indices `,` $weight attr-dict `:` functional-type(operands, results)";
}

def DL_EmbeddingGradOp : DL_GradOp<"embedding_grad"> {
  let summary = "gradient of embedding with respect to its weight: a scatter-add";
  let description = [{
    `dweight = 0; dweight[indices[...], :] += grad[..., :]` for every position whose index is
    in [0, vocab) (others add nothing). Both devices add the rows in index order, one thread
    per column: deterministic, no atomics, the same sums on the CPU and the GPU.

    ```mlir
    %dw = dl.embedding_grad %tokens, %dy {vocab = 256 : i64} : (tensor<?x64xi32>, tensor<?x64x32xf32>) -> tensor<256x32xf32>
    ```
  }];
  let arguments = (ins DL_LabelTensor:$indices, DL_FloatTensor:$grad, I64Attr:$vocab);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$indices `,` $grad attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Position embedding (issue 11): a learned table added per position; rules in EmbeddingRules.cpp
//===----------------------------------------------------------------------===//

def DL_PositionAddOp : DL_InferOp<"position_add", [DL_Differentiable]> {
  let summary = "rows 0..T-1 of a [positions, dim] table added to every sequence";
  let description = [{
    GPT-2's `wpe`: `result[n, t, :] = input[n, t, :] + table[t, :]` for an input
    `[B, T, dim]` and a table `[positions, dim]` with `T <= positions` (PyTorch:
    `x + wpe(torch.arange(T))`). Both operands are differentiable; the table's gradient is
    the incoming gradient summed over the batch, zero for rows `T` and beyond.

    ```mlir
    %y = dl.position_add %x, %wpe : (tensor<?x64x128xf32>, tensor<128x128xf32>) -> tensor<?x64x128xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DL_FloatTensor:$table);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input `,` $table attr-dict `:` functional-type(operands, results)";
}

def DL_PositionAddGradOp : DL_GradOp<"position_add_grad"> {
  let summary = "gradient of position_add with respect to its table: a sum over the batch";
  let description = [{
    `dtable[t, :] = sum over n of grad[n, t, :]` for `t < T`, zero for `T <= t < positions`.
    Each entry adds the batch in order on both devices: the same sums on the CPU and the GPU.

    ```mlir
    %dt = dl.position_add_grad %dy {positions = 128 : i64} : (tensor<8x64x128xf32>) -> tensor<128x128xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$grad, I64Attr:$positions);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$grad attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Imported graphs' general ops (issue 14): the elementwise functions, broadcasting binary
// ops, reductions and whole-tensor reshapes and permutations that ONNX graphs use. Shapes are
// static (the importer fixes the batch); no gradients yet. Rules in TensorRules.cpp.
//===----------------------------------------------------------------------===//

def DL_UnaryOp : DL_ElementwiseOp<"unary"> {
  let summary = "an elementwise function named by `fn`";
  let description = [{
    `y = fn(x)` per element, `fn` one of runtime/plan/TensorFunctions.def's unary functions
    (`abs`, `exp`, `log`, `sqrt`, `erf`, `elu`, `clip`, ...), `alpha` and `beta` its
    parameters where it has any (elu's and leaky_relu's alpha, hard_sigmoid's alpha and beta,
    clip's min and max, affine's `alpha * x + beta`).

    ```mlir
    %y = dl.unary %x {fn = "exp"} : (tensor<3x4xf32>) -> tensor<3x4xf32>
    %z = dl.unary %x {alpha = 0.0 : f32, beta = 6.0 : f32, fn = "clip"} : (tensor<3x4xf32>) -> tensor<3x4xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, StrAttr:$fn,
                       DefaultValuedAttr<F32Attr, "0.0f">:$alpha,
                       DefaultValuedAttr<F32Attr, "0.0f">:$beta);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def DL_BinaryOp : DL_InferOp<"binary"> {
  let summary = "an elementwise binary function with NumPy broadcasting";
  let description = [{
    `y = fn(lhs, rhs)`, `fn` one of `add`, `sub`, `mul`, `div`, `pow`, `max`, `min`, `prelu`,
    `fmod` (runtime/plan/TensorFunctions.def); the operands broadcast as in NumPy and ONNX:
    aligned at their last axes, a dimension of 1 stretched to the other's. At most 6 axes.

    ```mlir
    %y = dl.binary %a, %b {fn = "add"} : (tensor<3x4x5xf32>, tensor<5xf32>) -> tensor<3x4x5xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$lhs, DL_FloatTensor:$rhs, StrAttr:$fn);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def DL_ReduceOp : DL_InferOp<"reduce"> {
  let summary = "reduces `count` consecutive axes from `axis` with `fn`";
  let description = [{
    `fn` one of `sum`, `mean`, `max`, `min`, `prod`, `sum_square`, `l1`, `l2`, `log_sum`,
    `log_sum_exp`, accumulated in double. With `keepdims` the reduced axes stay as 1s.

    ```mlir
    %y = dl.reduce %x {axis = 1 : i64, count = 2 : i64, fn = "mean", keepdims} : (tensor<2x3x4x5xf32>) -> tensor<2x1x1x5xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, StrAttr:$fn, I64Attr:$axis, I64Attr:$count,
                       UnitAttr:$keepdims);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_ViewOp : DL_InferOp<"view"> {
  let summary = "the same elements in another whole shape";
  let description = [{
    ONNX's Reshape, Flatten, Squeeze and Unsqueeze on a tensor of static shape: `shape` is the
    result's, every axis (unlike `dl.reshape`, which keeps the batch). A view: the result
    shares the operand's buffer.

    ```mlir
    %y = dl.view %x {shape = array<i64: 12, 5>} : (tensor<3x4x5xf32>) -> tensor<12x5xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DenseI64ArrayAttr:$shape);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_PermuteOp : DL_InferOp<"permute"> {
  let summary = "permutes every axis of a tensor of static shape";
  let description = [{
    ONNX's Transpose: `result.shape[i] = input.shape[perm[i]]`, any permutation of up to 6
    axes (`dl.transpose` keeps the batch first). The transpose kernel.

    ```mlir
    %y = dl.permute %x {perm = array<i64: 2, 0, 1>} : (tensor<3x4x5xf32>) -> tensor<5x3x4xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def DL_SliceOp : DL_InferOp<"slice"> {
  let summary = "every `steps`-th element from `starts`, `sizes` of them per axis";
  let description = [{
    ONNX's Slice, Split and Gather with constant indices on a tensor of static shape:
    `y[i0, i1, ...] = x[starts[0] + i0 * steps[0], starts[1] + i1 * steps[1], ...]`, the
    result of shape `sizes`; a negative step walks an axis backwards. A strided copy (the
    broadcast_binary kernel reading one operand).

    ```mlir
    %y = dl.slice %x {sizes = array<i64: 2, 2>, starts = array<i64: 1, 0>, steps = array<i64: 1, 2>} : (tensor<3x4xf32>) -> tensor<2x2xf32>
    ```
  }];
  let arguments = (ins DL_FloatTensor:$input, DenseI64ArrayAttr:$starts,
                       DenseI64ArrayAttr:$steps, DenseI64ArrayAttr:$sizes);
  let results = (outs DL_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

#endif // DL_OPS
