// --dl-autodiff's rule for dl.concat: one dl.concat_grad splits the incoming gradient at the
// first operand's size along the axis, and each part flows to its branch.
// RUN: dl-opt %s --dl-autodiff | FileCheck %s

module attributes {dl.optimizer = {lr = 1.0e-01 : f32, momentum = 0.0 : f32, weight_decay = 0.0 : f32}} {
  dl.parameter @fa.weight : tensor<5x4xf32> {init = "he_normal"}
  dl.parameter @fb.weight : tensor<2x4xf32> {init = "he_normal"}
  dl.parameter @out.weight : tensor<3x7xf32> {init = "he_normal"}
  func.func @forward(%x: tensor<?x4xf32>, %y: tensor<?xi32>) -> (tensor<f32>, tensor<f32>) {
    %wa = dl.param @fa.weight : tensor<5x4xf32>
    %a = dl.matmul %x, %wa {transpose_b} : (tensor<?x4xf32>, tensor<5x4xf32>) -> tensor<?x5xf32>
    %wb = dl.param @fb.weight : tensor<2x4xf32>
    %b = dl.matmul %x, %wb {transpose_b} : (tensor<?x4xf32>, tensor<2x4xf32>) -> tensor<?x2xf32>
    %c = dl.concat %a, %b {axis = 1 : i64} : (tensor<?x5xf32>, tensor<?x2xf32>) -> tensor<?x7xf32>
    %wo = dl.param @out.weight : tensor<3x7xf32>
    %l = dl.matmul %c, %wo {transpose_b} : (tensor<?x7xf32>, tensor<3x7xf32>) -> tensor<?x3xf32>
    %loss = dl.softmax_xent %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    %acc = dl.accuracy %l, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    return %loss, %acc : tensor<f32>, tensor<f32>
  }
}

// CHECK-LABEL: func.func @train_step
// CHECK: %[[DC:.*]] = dl.matmul %{{.*}}, %{{.*}} : (tensor<?x3xf32>, tensor<3x7xf32>) -> tensor<?x7xf32>
// CHECK: %[[DA:.*]], %[[DB:.*]] = dl.concat_grad %[[DC]] {axis = 1 : i64, lhs_size = 5 : i64} : (tensor<?x7xf32>) -> (tensor<?x5xf32>, tensor<?x2xf32>)
// CHECK-DAG: dl.matmul %[[DA]], %arg0 {transpose_a} : (tensor<?x5xf32>, tensor<?x4xf32>) -> tensor<5x4xf32>
// CHECK-DAG: dl.matmul %[[DB]], %arg0 {transpose_a} : (tensor<?x2xf32>, tensor<?x4xf32>) -> tensor<2x4xf32>
// CHECK: return
