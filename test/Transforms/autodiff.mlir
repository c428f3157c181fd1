// --dl-autodiff builds @train_step: forward, backward in reverse order, one sgd_update per
// trainable parameter placed after its gradient and its last reader.
// RUN: dl-opt %s --dl-autodiff | FileCheck %s
// RUN: dl-opt %s --dl-infer-shapes=batch=4 --dl-autodiff | FileCheck %s --check-prefix=STATIC

module attributes {dl.optimizer = {lr = 5.0e-02 : f32, momentum = 0.5 : f32, weight_decay = 0.0 : f32}} {
  dl.parameter @conv.weight : tensor<2x1x3x3xf32> {init = "he_normal"}
  dl.parameter @conv.bias : tensor<2xf32> {init = "zeros"}
  dl.parameter @fc.weight : tensor<3x18xf32> {init = "he_normal"}
  // CHECK-DAG: dl.parameter @conv.weight.momentum : tensor<2x1x3x3xf32> {init = "zeros", role = "state"}
  // CHECK-DAG: dl.parameter @fc.weight.momentum : tensor<3x18xf32> {init = "zeros", role = "state"}

  // The evaluation step stays as it was.
  // CHECK-LABEL: func.func @forward
  // CHECK-NOT: sgd_update
  // CHECK: return
  func.func @forward(%x: tensor<?x1x6x6xf32>, %y: tensor<?xi32>) -> (tensor<f32>, tensor<f32>) {
    %w = dl.param @conv.weight : tensor<2x1x3x3xf32>
    %b = dl.param @conv.bias : tensor<2xf32>
    %c = dl.conv2d %x, %w {padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x1x6x6xf32>, tensor<2x1x3x3xf32>) -> tensor<?x2x6x6xf32>
    %cb = dl.bias_add %c, %b {axis = 1 : i64} : (tensor<?x2x6x6xf32>, tensor<2xf32>) -> tensor<?x2x6x6xf32>
    %r = dl.relu %cb : (tensor<?x2x6x6xf32>) -> tensor<?x2x6x6xf32>
    %p = dl.maxpool2d %r {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<?x2x6x6xf32>) -> tensor<?x2x3x3xf32>
    %f = dl.flatten %p : (tensor<?x2x3x3xf32>) -> tensor<?x18xf32>
    %fw = dl.param @fc.weight : tensor<3x18xf32>
    %l = dl.matmul %f, %fw {transpose_b} : (tensor<?x18xf32>, tensor<3x18xf32>) -> tensor<?x3xf32>
    %loss = dl.softmax_xent %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    %acc = dl.accuracy %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    return %loss, %acc : tensor<f32>, tensor<f32>
  }
}
// CHECK-LABEL: func.func @train_step
// CHECK: %[[L:.*]] = dl.matmul %[[F:.*]], %[[FW:.*]] {transpose_b}
// CHECK: %[[DL:.*]] = dl.softmax_xent_grad %[[L]]
// dF = dL . W
// CHECK: %[[DF:.*]] = dl.matmul %[[DL]], %[[FW]] :
// dW = dL^T . F  for  L = F . W^T
// CHECK: %[[DFW:.*]] = dl.matmul %[[DL]], %[[F]] {transpose_a}
// The fc weight is updated once its gradient and the dF matmul (its last reader) are done.
// CHECK-NEXT: dl.sgd_update @fc.weight, %[[DFW]], @fc.weight.momentum {lr = 5.000000e-02 : f32, momentum = 5.000000e-01 : f32, weight_decay = 0.000000e+00 : f32}
// CHECK: dl.reshape %[[DF]] {shape = array<i64: 2, 3, 3>}
// CHECK: dl.maxpool2d_grad
// CHECK: %[[DR:.*]] = dl.relu_grad
// CHECK: %[[DB:.*]] = dl.bias_add_grad %[[DR]] :
// CHECK: dl.sgd_update @conv.bias, %[[DB]], @conv.bias.momentum
// The input needs no gradient, so there is no conv2d_grad_input.
// CHECK-NOT: conv2d_grad_input
// CHECK: %[[DW:.*]] = dl.conv2d_grad_filter %[[DR]], %{{.*}} {kernel = array<i64: 3, 3>
// CHECK: dl.sgd_update @conv.weight, %[[DW]], @conv.weight.momentum
// CHECK: return
// STATIC: dl.conv2d_grad_filter {{.*}} : (tensor<4x2x6x6xf32>, tensor<4x1x6x6xf32>) -> tensor<2x1x3x3xf32>
