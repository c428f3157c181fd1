// --dl-unroll-lstm rewrites a whole-layer dl.lstm (3 steps here) into its steps for the CUDA
// target: time_step, the input projection with its bias, from the second step the
// recurrent matmul and add, and lstm_cell from a zeros state; the last h replaces the
// layer's. --dl-autodiff then differentiates the steps op by op; without the unrolling the
// layer's gradient is one dl.lstm_grad reading the reserve, and unrolling after that is
// refused.
// RUN: dl-opt %s --dl-unroll-lstm | FileCheck %s
// RUN: dl-opt %s --dl-autodiff | FileCheck %s --check-prefix=GRAD
// RUN: not dl-opt %s --dl-autodiff --dl-unroll-lstm 2>&1 | FileCheck %s --check-prefix=LATE

module attributes {dl.optimizer = {lr = 1.0e-01 : f32, momentum = 0.0 : f32, weight_decay = 0.0 : f32}} {
  dl.parameter @wih : tensor<8x3xf32> {init = "glorot_uniform"}
  dl.parameter @whh : tensor<8x2xf32> {init = "glorot_uniform"}
  dl.parameter @b : tensor<8xf32> {init = "zeros"}
  dl.parameter @fc : tensor<4x2xf32> {init = "glorot_uniform"}
  func.func @forward(%x: tensor<?x3x3xf32>, %y: tensor<?xi32>) -> (tensor<f32>, tensor<f32>) {
    %wih = dl.param @wih : tensor<8x3xf32>
    %whh = dl.param @whh : tensor<8x2xf32>
    %b = dl.param @b : tensor<8xf32>
    %h, %r = dl.lstm %x, %wih, %whh, %b {forget_bias = 1.0 : f32} : (tensor<?x3x3xf32>, tensor<8x3xf32>, tensor<8x2xf32>, tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x38xf32>)
    %fw = dl.param @fc : tensor<4x2xf32>
    %l = dl.matmul %h, %fw {transpose_b} : (tensor<?x2xf32>, tensor<4x2xf32>) -> tensor<?x4xf32>
    %loss = dl.softmax_xent %l, %y : (tensor<?x4xf32>, tensor<?xi32>) -> tensor<f32>
    %acc = dl.accuracy %l, %y : (tensor<?x4xf32>, tensor<?xi32>) -> tensor<f32>
    return %loss, %acc : tensor<f32>, tensor<f32>
  }
}

// CHECK-NOT: dl.lstm %
// CHECK: %[[X0:.*]] = dl.time_step %arg0 {step = 0 : i64}
// CHECK: %[[P0:.*]] = dl.matmul %[[X0]], %0 {transpose_b}
// CHECK: %[[G0:.*]] = dl.bias_add %[[P0]], %2 :
// CHECK: %[[Z:.*]] = dl.zeros %[[X0]] {shape = array<i64: 2>}
// CHECK: %[[H0:.*]], %[[C0:.*]] = dl.lstm_cell %[[G0]], %[[Z]] {forget_bias = 1.000000e+00 : f32}
// CHECK: %[[X1:.*]] = dl.time_step %arg0 {step = 1 : i64}
// CHECK: %[[P1:.*]] = dl.matmul %[[X1]], %0 {transpose_b}
// CHECK: %[[B1:.*]] = dl.bias_add %[[P1]], %2
// CHECK: %[[R1:.*]] = dl.matmul %[[H0]], %1 {transpose_b}
// CHECK: %[[G1:.*]] = dl.add %[[B1]], %[[R1]]
// CHECK: %[[H1:.*]], %[[C1:.*]] = dl.lstm_cell %[[G1]], %[[C0]]
// CHECK: dl.time_step %arg0 {step = 2 : i64}
// CHECK: %[[H2:.*]], %{{.*}} = dl.lstm_cell
// CHECK-NOT: dl.lstm_cell
// CHECK: dl.matmul %[[H2]], %{{.*}} {transpose_b}

// GRAD: func.func @train_step
// GRAD: %[[H:.*]], %[[R:.*]] = dl.lstm %arg0
// GRAD: %[[DWIH:.*]], %[[DWHH:.*]], %[[DB:.*]] = dl.lstm_grad %arg0, %{{.*}}, %[[R]], %{{.*}} {forget_bias = 1.000000e+00 : f32} : (tensor<?x3x3xf32>, tensor<8x2xf32>, tensor<?x38xf32>, tensor<?x2xf32>) -> (tensor<8x3xf32>, tensor<8x2xf32>, tensor<8xf32>)
// GRAD-DAG: dl.sgd_update @wih, %[[DWIH]]
// GRAD-DAG: dl.sgd_update @whh, %[[DWHH]]
// GRAD-DAG: dl.sgd_update @b, %[[DB]]

// LATE: error: 'dl.lstm' op cannot be unrolled once its gradient reads the reserve: run --dl-unroll-lstm before --dl-autodiff
