// --dl-autodiff's rules for the transformer shapes: a linear layer on [B, T, K] (the weight
// gradient contracts over B and T with transpose_a), layer_norm's gradient from its saved
// row statistics (to x, weight and bias), and transpose's, the inverse permutation.
// RUN: dl-opt %s --dl-autodiff | FileCheck %s

module attributes {dl.optimizer = {lr = 1.0e-01 : f32, momentum = 0.0 : f32, weight_decay = 0.0 : f32}} {
  dl.parameter @fc.weight : tensor<8x6xf32> {init = "he_normal"}
  dl.parameter @ln.weight : tensor<8xf32> {init = "ones"}
  dl.parameter @ln.bias : tensor<8xf32> {init = "zeros"}
  dl.parameter @out.weight : tensor<3x32xf32> {init = "he_normal"}
  func.func @forward(%x: tensor<?x4x6xf32>, %y: tensor<?xi32>) -> (tensor<f32>, tensor<f32>) {
    %w = dl.param @fc.weight : tensor<8x6xf32>
    %h = dl.matmul %x, %w {transpose_b} : (tensor<?x4x6xf32>, tensor<8x6xf32>) -> tensor<?x4x8xf32>
    %g = dl.param @ln.weight : tensor<8xf32>
    %b = dl.param @ln.bias : tensor<8xf32>
    %n, %m, %r = dl.layer_norm %h, %g, %b {eps = 1.0e-5 : f32} : (tensor<?x4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<?x4x8xf32>, tensor<?x4xf32>, tensor<?x4xf32>)
    %t = dl.transpose %n {perm = array<i64: 0, 2, 1>} : (tensor<?x4x8xf32>) -> tensor<?x8x4xf32>
    %f = dl.flatten %t : (tensor<?x8x4xf32>) -> tensor<?x32xf32>
    %wo = dl.param @out.weight : tensor<3x32xf32>
    %l = dl.matmul %f, %wo {transpose_b} : (tensor<?x32xf32>, tensor<3x32xf32>) -> tensor<?x3xf32>
    %loss = dl.softmax_xent %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    %acc = dl.accuracy %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    return %loss, %acc : tensor<f32>, tensor<f32>
  }
}

// CHECK-LABEL: func.func @train_step
// CHECK: %[[N:.*]], %[[M:.*]], %[[R:.*]] = dl.layer_norm
// CHECK: %[[DT:.*]] = dl.reshape %{{.*}} {shape = array<i64: 8, 4>} : (tensor<?x32xf32>) -> tensor<?x8x4xf32>
// CHECK: %[[DN:.*]] = dl.transpose %[[DT]] {perm = array<i64: 0, 2, 1>} : (tensor<?x8x4xf32>) -> tensor<?x4x8xf32>
// CHECK: %[[DH:.*]], %[[DG:.*]], %[[DB:.*]] = dl.layer_norm_grad %{{.*}}, %[[DN]], %{{.*}}, %[[M]], %[[R]] : (tensor<?x4x8xf32>, tensor<?x4x8xf32>, tensor<8xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> (tensor<?x4x8xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK-DAG: dl.sgd_update @ln.bias, %[[DB]]
// CHECK-DAG: dl.sgd_update @ln.weight, %[[DG]]
// CHECK: dl.matmul %[[DH]], %arg0 {transpose_a} : (tensor<?x4x8xf32>, tensor<?x4x6xf32>) -> tensor<8x6xf32>
// CHECK: return
