// --dl-autodiff's rules for the issue-10 ops: softmax's gradient from its output; sub passes
// the gradient to its first operand and a dl.neg of it to its second; mul multiplies it by
// the other operand; leaky_relu and gelu keep their attributes (slope, approximate_tanh) on
// their gradient ops, which read the forward input; the three gradients of %h are summed.
// RUN: dl-opt %s --dl-autodiff | FileCheck %s

module attributes {dl.optimizer = {lr = 1.0e-01 : f32, momentum = 0.0 : f32, weight_decay = 0.0 : f32}} {
  dl.parameter @fc1.weight : tensor<5x4xf32> {init = "he_normal"}
  dl.parameter @fc2.weight : tensor<3x5xf32> {init = "he_normal"}
  func.func @forward(%x: tensor<?x4xf32>, %y: tensor<?xi32>) -> (tensor<f32>, tensor<f32>) {
    %w1 = dl.param @fc1.weight : tensor<5x4xf32>
    %h = dl.matmul %x, %w1 {transpose_b} : (tensor<?x4xf32>, tensor<5x4xf32>) -> tensor<?x5xf32>
    %a = dl.leaky_relu %h {slope = 0.2 : f32} : (tensor<?x5xf32>) -> tensor<?x5xf32>
    %g = dl.gelu %h {approximate_tanh} : (tensor<?x5xf32>) -> tensor<?x5xf32>
    %m = dl.mul %a, %g : (tensor<?x5xf32>, tensor<?x5xf32>) -> tensor<?x5xf32>
    %d = dl.sub %m, %h : (tensor<?x5xf32>, tensor<?x5xf32>) -> tensor<?x5xf32>
    %s = dl.softmax %d : (tensor<?x5xf32>) -> tensor<?x5xf32>
    %w2 = dl.param @fc2.weight : tensor<3x5xf32>
    %l = dl.matmul %s, %w2 {transpose_b} : (tensor<?x5xf32>, tensor<3x5xf32>) -> tensor<?x3xf32>
    %loss = dl.softmax_xent %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    %acc = dl.accuracy %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    return %loss, %acc : tensor<f32>, tensor<f32>
  }
}

// CHECK-LABEL: func.func @train_step
// CHECK: %[[H:.*]] = dl.matmul %arg0
// CHECK: %[[A:.*]] = dl.leaky_relu %[[H]] {slope = 2.000000e-01 : f32}
// CHECK: %[[G:.*]] = dl.gelu %[[H]] {approximate_tanh}
// CHECK: %[[S:.*]] = dl.softmax
// CHECK: %[[DS:.*]] = dl.matmul %{{.*}}, %{{.*}} : (tensor<?x3xf32>, tensor<3x5xf32>) -> tensor<?x5xf32>
// CHECK: %[[DD:.*]] = dl.softmax_grad %[[DS]], %[[S]] : (tensor<?x5xf32>, tensor<?x5xf32>) -> tensor<?x5xf32>
// CHECK: %[[NEG:.*]] = dl.neg %[[DD]]
// CHECK: %[[DA:.*]] = dl.mul %[[DD]], %[[G]]
// CHECK: %[[DG:.*]] = dl.mul %[[DD]], %[[A]]
// CHECK: %[[GG:.*]] = dl.gelu_grad %[[DG]], %[[H]] {approximate_tanh}
// CHECK: %[[SUM:.*]] = dl.add %[[NEG]], %[[GG]]
// CHECK: %[[LG:.*]] = dl.leaky_relu_grad %[[DA]], %[[H]] {slope = 2.000000e-01 : f32}
// CHECK: %[[DH:.*]] = dl.add %[[SUM]], %[[LG]]
// CHECK: dl.matmul %[[DH]], %arg0 {transpose_a}
// CHECK: return
