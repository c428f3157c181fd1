// --dl-autodiff's rule for dl.sigmoid: one dl.sigmoid_grad from the incoming gradient and the
// forward output, feeding the gradient of what came before; lowered to the sigmoid and
// sigmoid_bwd kernels.
// RUN: dl-opt %s --dl-autodiff | FileCheck %s

module attributes {dl.optimizer = {lr = 1.0e-01 : f32, momentum = 0.0 : f32, weight_decay = 0.0 : f32}} {
  dl.parameter @fc1.weight : tensor<5x4xf32> {init = "he_normal"}
  dl.parameter @fc2.weight : tensor<3x5xf32> {init = "he_normal"}
  func.func @forward(%x: tensor<?x4xf32>, %y: tensor<?xi32>) -> (tensor<f32>, tensor<f32>) {
    %w1 = dl.param @fc1.weight : tensor<5x4xf32>
    %h = dl.matmul %x, %w1 {transpose_b} : (tensor<?x4xf32>, tensor<5x4xf32>) -> tensor<?x5xf32>
    %s = dl.sigmoid %h : (tensor<?x5xf32>) -> tensor<?x5xf32>
    %w2 = dl.param @fc2.weight : tensor<3x5xf32>
    %l = dl.matmul %s, %w2 {transpose_b} : (tensor<?x5xf32>, tensor<3x5xf32>) -> tensor<?x3xf32>
    %loss = dl.softmax_xent %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    %acc = dl.accuracy %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    return %loss, %acc : tensor<f32>, tensor<f32>
  }
}

// CHECK-LABEL: func.func @train_step
// CHECK: %[[H:.*]] = dl.matmul %arg0
// CHECK: %[[S:.*]] = dl.sigmoid %[[H]]
// CHECK: %[[L:.*]] = dl.matmul %[[S]]
// CHECK: %[[DL:.*]] = dl.softmax_xent_grad %[[L]], %arg1
// CHECK: %[[DS:.*]] = dl.matmul %[[DL]]
// CHECK: %[[DH:.*]] = dl.sigmoid_grad %[[DS]], %[[S]] : (tensor<?x5xf32>, tensor<?x5xf32>) -> tensor<?x5xf32>
// CHECK: dl.matmul %[[DH]], %arg0 {transpose_a}
// CHECK-NOT: sigmoid_grad
// CHECK: return
