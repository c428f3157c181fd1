// --dl-extract-inference adds @infer: @forward returning the loss's prediction operand, the
// loss, the accuracy and the labels argument gone.
// RUN: dl-opt %s --dl-extract-inference | FileCheck %s

module {
  dl.parameter @fc.weight : tensor<3x4xf32> {init = "glorot_uniform"}
  func.func @forward(%x: tensor<?x4xf32> {dl.name = "x"}, %y: tensor<?xi32> {dl.classes = 3 : i64, dl.name = "label"}) -> (tensor<f32>, tensor<f32>) {
    %w = dl.param @fc.weight : tensor<3x4xf32> loc("fc")
    %z = dl.matmul %x, %w {transpose_b} : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32> loc("fc")
    %r = dl.relu %z : (tensor<?x3xf32>) -> tensor<?x3xf32> loc("act")
    %l = dl.softmax_xent %r, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    %c = dl.accuracy %r, %y : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
    return %l, %c : tensor<f32>, tensor<f32>
  }
}
// CHECK-LABEL: func.func @forward
// CHECK: dl.softmax_xent
// CHECK-LABEL: func.func @infer(%arg0: tensor<?x4xf32> {dl.name = "x"}) -> (tensor<?x3xf32> {dl.name = "act"})
// CHECK-NEXT: %[[W:.*]] = dl.param @fc.weight
// CHECK-NEXT: %[[Z:.*]] = dl.matmul %arg0, %[[W]] {transpose_b}
// CHECK-NEXT: %[[R:.*]] = dl.relu %[[Z]]
// CHECK-NEXT: return %[[R]] : tensor<?x3xf32>
// CHECK-NEXT: }
