// --dl-autodiff's rule for dl.lstm_cell (backpropagation through time over two unrolled
// steps): the last step's c, which nothing reads, gets a dl.zeros gradient; the first step's
// dl.lstm_cell_grad takes the second's grad_c_prev as its grad_c; time_step and zeros, which
// read no parameter, get no gradient.
// RUN: dl-opt %s --dl-autodiff | FileCheck %s

module attributes {dl.optimizer = {lr = 1.0e-01 : f32, momentum = 0.0 : f32, weight_decay = 0.0 : f32}} {
  dl.parameter @w : tensor<8x3xf32> {init = "glorot_uniform"}
  dl.parameter @u : tensor<8x2xf32> {init = "glorot_uniform"}
  dl.parameter @fc : tensor<4x2xf32> {init = "glorot_uniform"}
  func.func @forward(%x: tensor<?x2x3xf32>, %y: tensor<?xi32>) -> (tensor<f32>, tensor<f32>) {
    %w = dl.param @w : tensor<8x3xf32>
    %u = dl.param @u : tensor<8x2xf32>
    %x0 = dl.time_step %x {step = 0 : i64} : (tensor<?x2x3xf32>) -> tensor<?x3xf32>
    %g0 = dl.matmul %x0, %w {transpose_b} : (tensor<?x3xf32>, tensor<8x3xf32>) -> tensor<?x8xf32>
    %z = dl.zeros %x0 {shape = array<i64: 2>} : (tensor<?x3xf32>) -> tensor<?x2xf32>
    %h0, %c0 = dl.lstm_cell %g0, %z {forget_bias = 1.0 : f32} : (tensor<?x8xf32>, tensor<?x2xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>)
    %x1 = dl.time_step %x {step = 1 : i64} : (tensor<?x2x3xf32>) -> tensor<?x3xf32>
    %a1 = dl.matmul %x1, %w {transpose_b} : (tensor<?x3xf32>, tensor<8x3xf32>) -> tensor<?x8xf32>
    %r1 = dl.matmul %h0, %u {transpose_b} : (tensor<?x2xf32>, tensor<8x2xf32>) -> tensor<?x8xf32>
    %g1 = dl.add %a1, %r1 : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
    %h1, %c1 = dl.lstm_cell %g1, %c0 {forget_bias = 1.0 : f32} : (tensor<?x8xf32>, tensor<?x2xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>)
    %fw = dl.param @fc : tensor<4x2xf32>
    %l = dl.matmul %h1, %fw {transpose_b} : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %loss = dl.softmax_xent %l, %y : (tensor<?x4xf32>, tensor<?xi32>) -> tensor<f32>
    %acc = dl.accuracy %l, %y : (tensor<?x4xf32>, tensor<?xi32>) -> tensor<f32>
    return %loss, %acc : tensor<f32>, tensor<f32>
  }
}

// CHECK-LABEL: func.func @train_step
// CHECK: %[[Z:[a-z0-9_]+]] = dl.zeros
// CHECK: %[[H0:[a-z0-9_]+]], %[[C0:[a-z0-9_]+]] = dl.lstm_cell %[[G0:[a-z0-9_]+]], %[[Z]]
// CHECK: %{{[a-z0-9_]+}}, %[[C1:[a-z0-9_]+]] = dl.lstm_cell %[[G1:[a-z0-9_]+]], %[[C0]]
// CHECK: dl.softmax_xent_grad
// CHECK-NEXT: %[[DH1:[a-z0-9_]+]] = dl.matmul
// CHECK: %[[DC1:[a-z0-9_]+]] = dl.zeros %[[C1]] {shape = array<i64: 2>}
// CHECK-NEXT: %[[DG1:[a-z0-9_]+]], %[[DCP1:[a-z0-9_]+]] = dl.lstm_cell_grad %[[G1]], %[[C0]], %[[DH1]], %[[DC1]] {forget_bias = 1.000000e+00 : f32}
// CHECK-NEXT: %[[DH0:[a-z0-9_]+]] = dl.matmul %[[DG1]], %{{[0-9]+}} :
// CHECK: dl.lstm_cell_grad %[[G0]], %[[Z]], %[[DH0]], %[[DCP1]]
// CHECK: dl.sgd_update @w
// CHECK-NEXT: return
