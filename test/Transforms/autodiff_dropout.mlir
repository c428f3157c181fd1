// --dl-autodiff and dropout: @forward (the evaluation step) keeps dl.dropout, the identity;
// @train_step gets dl.dropout_train, and its gradient rule emits dl.dropout_grad with the same
// rate, seed and counter, then dl.increment of the counter, so the next step draws a new mask.
// RUN: dl-opt %s --dl-autodiff | FileCheck %s

module attributes {dl.optimizer = {lr = 1.0e-01 : f32, momentum = 0.0 : f32, weight_decay = 0.0 : f32}} {
  dl.parameter @fc1.weight : tensor<5x4xf32> {init = "he_normal"}
  dl.parameter @fc2.weight : tensor<3x5xf32> {init = "he_normal"}
  dl.parameter @drop.step : tensor<1xf32> {init = "zeros", role = "buffer"}
  func.func @forward(%x: tensor<?x4xf32>, %y: tensor<?xi32>) -> (tensor<f32>, tensor<f32>) {
    %w1 = dl.param @fc1.weight : tensor<5x4xf32>
    %h = dl.matmul %x, %w1 {transpose_b} : (tensor<?x4xf32>, tensor<5x4xf32>) -> tensor<?x5xf32>
    %d = dl.dropout %h {rate = 0.25 : f32, seed = 42, step = @drop.step} : (tensor<?x5xf32>) -> tensor<?x5xf32>
    %w2 = dl.param @fc2.weight : tensor<3x5xf32>
    %l = dl.matmul %d, %w2 {transpose_b} : (tensor<?x5xf32>, tensor<3x5xf32>) -> tensor<?x3xf32>
    %loss = dl.softmax_xent %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    %acc = dl.accuracy %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    return %loss, %acc : tensor<f32>, tensor<f32>
  }
}

// CHECK-LABEL: func.func @forward
// CHECK: dl.dropout %{{.*}} {rate = 2.500000e-01 : f32, seed = 42 : i64, step = @drop.step}
// CHECK-NOT: dropout_train
// CHECK-LABEL: func.func @train_step
// CHECK-NOT: dl.dropout %
// CHECK: %[[D:.*]] = dl.dropout_train %{{.*}} {rate = 2.500000e-01 : f32, seed = 42 : i64, step = @drop.step}
// CHECK: %[[L:.*]] = dl.matmul %[[D]]
// CHECK: %[[DD:.*]] = dl.matmul %{{.*}}, %{{.*}} : (tensor<?x3xf32>, tensor<3x5xf32>) -> tensor<?x5xf32>
// CHECK: %[[DH:.*]] = dl.dropout_grad %[[DD]] {rate = 2.500000e-01 : f32, seed = 42 : i64, step = @drop.step}
// CHECK-NEXT: dl.increment @drop.step
// CHECK: dl.matmul %[[DH]], %arg0 {transpose_a}
// CHECK: return
