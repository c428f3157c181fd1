// --dl-autodiff seeds from a regression loss: dl.mse_grad of the loss's input against its
// target, feeding the layers before; the target (here the input data) gets no gradient, as
// PyTorch's target.detach(). @forward returns the loss alone (no accuracy).
// RUN: dl-opt %s --dl-autodiff | FileCheck %s
// RUN: sed 's/dl.mse /dl.bce_with_logits /' %s | dl-opt --dl-autodiff | FileCheck %s --check-prefix=BCE
// RUN: sed 's/%loss = dl.mse %r, %x/%loss = dl.mse %x, %x/' %s | dl-opt --dl-autodiff | FileCheck %s --check-prefix=CONST

module attributes {dl.optimizer = {lr = 1.0e-01 : f32, momentum = 0.0 : f32, weight_decay = 0.0 : f32}} {
  dl.parameter @fc.weight : tensor<4x4xf32> {init = "he_normal"}
  func.func @forward(%x: tensor<?x4xf32>, %y: tensor<?xi32>) -> tensor<f32> {
    %w = dl.param @fc.weight : tensor<4x4xf32>
    %r = dl.matmul %x, %w {transpose_b} : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
    %loss = dl.mse %r, %x : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<f32>
    return %loss : tensor<f32>
  }
}

// CHECK-LABEL: func.func @train_step
// CHECK: %[[R:.*]] = dl.matmul %[[X:[^,]*]], %{{.*}} {transpose_b}
// CHECK: %[[LOSS:.*]] = dl.mse %[[R]], %[[X]]
// CHECK: %[[D:.*]] = dl.mse_grad %[[R]], %[[X]] : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: %[[DW:.*]] = dl.matmul %[[D]], %[[X]] {transpose_a}
// CHECK: dl.sgd_update @fc.weight, %[[DW]]
// CHECK: return %[[LOSS]] : tensor<f32>

// BCE: dl.bce_with_logits_grad
// BCE: dl.sgd_update @fc.weight

// A loss that no parameter reaches: no gradient, no update.
// CONST-LABEL: func.func @train_step
// CONST-NOT: dl.mse_grad
// CONST-NOT: dl.sgd_update
