// --dl-autodiff's rule for dl.lrn: one dl.lrn_grad from the forward input and output with
// the same attributes, feeding the gradient of what came before.
// RUN: dl-opt %s --dl-autodiff | FileCheck %s

module attributes {dl.optimizer = {lr = 1.0e-01 : f32, momentum = 0.0 : f32, weight_decay = 0.0 : f32}} {
  dl.parameter @conv.weight : tensor<4x1x3x3xf32> {init = "he_normal"}
  dl.parameter @fc.weight : tensor<3x144xf32> {init = "he_normal"}
  func.func @forward(%x: tensor<?x1x6x6xf32>, %y: tensor<?xi32>) -> (tensor<f32>, tensor<f32>) {
    %w = dl.param @conv.weight : tensor<4x1x3x3xf32>
    %c = dl.conv2d %x, %w {padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x1x6x6xf32>, tensor<4x1x3x3xf32>) -> tensor<?x4x6x6xf32>
    %n = dl.lrn %c {alpha = 2.0e-01 : f32, beta = 0.75 : f32, bias = 2.0 : f32, depth_radius = 1 : i64} : (tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32>
    %f = dl.flatten %n : (tensor<?x4x6x6xf32>) -> tensor<?x144xf32>
    %fw = dl.param @fc.weight : tensor<3x144xf32>
    %l = dl.matmul %f, %fw {transpose_b} : (tensor<?x144xf32>, tensor<3x144xf32>) -> tensor<?x3xf32>
    %loss = dl.softmax_xent %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    %acc = dl.accuracy %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    return %loss, %acc : tensor<f32>, tensor<f32>
  }
}

// CHECK-LABEL: func.func @train_step
// CHECK: %[[C:.*]] = dl.conv2d
// CHECK: %[[N:.*]] = dl.lrn %[[C]]
// CHECK: %[[DN:.*]] = dl.reshape
// CHECK: %[[DC:.*]] = dl.lrn_grad %[[DN]], %[[C]], %[[N]] {alpha = 2.000000e-01 : f32, beta = 7.500000e-01 : f32, bias = 2.000000e+00 : f32, depth_radius = 1 : i64}
// CHECK: dl.conv2d_grad_filter %[[DC]], %arg0
// CHECK-NOT: conv2d_grad_input
// CHECK: return
