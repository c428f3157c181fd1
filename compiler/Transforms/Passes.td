//===- Passes.td - dl compiler passes ---------------------------*- tablegen -*-===//
#ifndef DL_PASSES
#define DL_PASSES

include "mlir/Pass/PassBase.td"

def InferShapes : Pass<"dl-infer-shapes", "ModuleOp"> {
  let summary = "Fix the batch size and re-infer every tensor type";
  let description = [{
    Rewrites the batch dimension (dimension 0) of every function argument to `batch` (when
    given), then walks each function in order and re-infers every op's result type from its
    operands with the op's own shape rule, updating the function signature to match. It fails
    with the op's diagnostic when a shape rule does, so it doubles as the whole-graph shape
    check. Without `batch` it only re-checks and propagates.
  }];
  let options = [
    Option<"batch", "batch", "int64_t", /*default=*/"0",
           "Batch size to fix dimension 0 to (0 keeps it as it is)">
  ];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def UnrollLstm : Pass<"dl-unroll-lstm", "ModuleOp"> {
  let summary = "Rewrite each whole-layer dl.lstm into its time steps";
  let description = [{
    Each `dl.lstm` (a whole layer over `[N, T, I]`) becomes T steps of `dl.time_step`,
    `dl.matmul` by `weight_ih` with its `dl.bias_add`, `dl.matmul` of the previous h by
    `weight_hh` and `dl.add` (from the second step on), and `dl.lstm_cell`, starting from a
    `dl.zeros` state; the last step's h replaces the layer's. Runs before `--dl-autodiff`
    (the reserve must be unread), for targets without a whole-layer LSTM kernel: the CUDA
    target runs it, the CPU target keeps `dl.lstm` (runtime/cpu/RecurrentKernels.h).
  }];
}

def Autodiff : Pass<"dl-autodiff", "ModuleOp"> {
  let summary = "Build the training step (forward, backward, optimizer update) from @forward";
  let description = [{
    `@forward(inputs..., labels) -> (loss, ...)` returns the loss first. This pass clones it
    into `@train_step`, walks it in reverse from the loss, and emits each op's gradient ops
    (reverse-mode autodiff; gradients of values with several uses are summed with `dl.add`).
    For every trainable `dl.parameter` it declares a `<name>.momentum` state and emits a
    `dl.sgd_update`, placed right after the last use of the parameter's value and its gradient
    so the gradient dies early. Hyper-parameters come from the module's `dl.optimizer`
    dictionary (`lr`, `momentum`, `weight_decay`). `@forward` stays as the evaluation step.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def FuseEpilogues : Pass<"dl-fuse-epilogues", "ModuleOp"> {
  let summary = "Fold bias_add and relu into the conv2d or matmul that feeds them, relu into batch norm and sums, and relu_grad into maxpool2d_grad and sums";
  let description = [{
    `relu(bias_add(conv2d(x, w), b))` becomes `conv2d(x, w, b) {relu}`; the same for
    `matmul` with a per-column bias; `relu(batch_norm(x))` and `relu(batch_norm_train(x))`
    become `batch_norm {relu}` and `batch_norm_train {relu}`. In the backward pass, `relu_grad(maxpool2d_grad(dy, y),
    y)`, where `y` is the relu's output that was pooled, becomes `maxpool2d_grad(dy, y)
    {relu}`. A sum and its relu, `relu(add(a, b))`, become `add_relu(a, b)`, and
    `relu_grad(add(a, b), y)` becomes `add_relu_grad(a, b, y)`. A value is folded only when
    nothing else reads it, so the training step keeps
    every activation its gradient ops need. Runs after `--dl-autodiff`; both the CPU and the
    CUDA targets implement the fused epilogues.
  }];
}

def ExtractInference : Pass<"dl-extract-inference", "ModuleOp"> {
  let summary = "Add @infer: @forward's prediction without its loss, for dlrun --infer";
  let description = [{
    Clones `@forward` into `@infer` and returns, instead of the loss and the correct count,
    the loss's prediction operand (the final layer's output: logits for `softmax_xent`, the
    prediction for `mse` and `bce_with_logits`), named after that layer (`dl.name`). Ops only
    the loss and accuracy read are erased, and so are the arguments nothing reads any more
    (the labels), so `dlrun --infer` feeds the model's inputs alone. A module that already has
    `@infer` (an imported ONNX graph) or has no `@forward` is left as it is.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

#endif // DL_PASSES
