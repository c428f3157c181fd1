// --dl-autodiff's rule for a grouped, dilated, asymmetrically padded dl.conv2d: both gradient
// ops carry its padding, dilation and groups.
// RUN: dl-opt %s --dl-autodiff | FileCheck %s

module attributes {dl.optimizer = {lr = 1.0e-01 : f32, momentum = 0.0 : f32, weight_decay = 0.0 : f32}} {
  dl.parameter @c1.weight : tensor<4x1x3x3xf32> {init = "he_normal"}
  dl.parameter @c2.weight : tensor<4x2x2x2xf32> {init = "he_normal"}
  dl.parameter @fc.weight : tensor<3x256xf32> {init = "he_normal"}
  func.func @forward(%x: tensor<?x4x8x8xf32>, %y: tensor<?xi32>) -> (tensor<f32>, tensor<f32>) {
    %w1 = dl.param @c1.weight : tensor<4x1x3x3xf32>
    %h = dl.conv2d %x, %w1 {dilation = array<i64: 2, 2>, groups = 4 : i64, padding = array<i64: 2, 2>, stride = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<4x1x3x3xf32>) -> tensor<?x4x8x8xf32>
    %w2 = dl.param @c2.weight : tensor<4x2x2x2xf32>
    %g = dl.conv2d %h, %w2 {groups = 2 : i64, padding = array<i64: 0, 0, 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<4x2x2x2xf32>) -> tensor<?x4x8x8xf32>
    %f = dl.flatten %g : (tensor<?x4x8x8xf32>) -> tensor<?x256xf32>
    %w3 = dl.param @fc.weight : tensor<3x256xf32>
    %l = dl.matmul %f, %w3 {transpose_b} : (tensor<?x256xf32>, tensor<3x256xf32>) -> tensor<?x3xf32>
    %loss = dl.softmax_xent %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    %acc = dl.accuracy %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    return %loss, %acc : tensor<f32>, tensor<f32>
  }
}

// CHECK-LABEL: func.func @train_step
// CHECK: dl.conv2d_grad_input %{{.*}}, %{{.*}} {groups = 2 : i64, input_size = array<i64: 8, 8>, padding = array<i64: 0, 0, 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<4x2x2x2xf32>) -> tensor<?x4x8x8xf32>
// CHECK: dl.conv2d_grad_filter %{{.*}}, %{{.*}} {groups = 2 : i64, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<4x2x2x2xf32>
// CHECK-NOT: dl.conv2d_grad_input
// CHECK: dl.conv2d_grad_filter %{{.*}}, %arg0 {dilation = array<i64: 2, 2>, groups = 4 : i64, kernel = array<i64: 3, 3>, padding = array<i64: 2, 2>, stride = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<4x1x3x3xf32>
// CHECK: return
