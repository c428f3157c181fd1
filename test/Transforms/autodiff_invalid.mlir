// RUN: not dl-opt %s --dl-autodiff 2>&1 | FileCheck %s
// CHECK: the first result of @forward must be a loss (dl.softmax_xent, dl.mse or dl.bce_with_logits)
func.func @forward(%x: tensor<4x3xf32>, %y: tensor<4xi32>) -> (tensor<4x3xf32>) {
  return %x : tensor<4x3xf32>
}
