// --dl-fuse-epilogues folds bias_add and relu into the conv2d / matmul feeding them.
// RUN: dl-opt %s --dl-fuse-epilogues | FileCheck %s

dl.parameter @w : tensor<4x3x3x3xf32> {init = "he_normal"}
dl.parameter @b : tensor<4xf32> {init = "zeros"}
dl.parameter @fw : tensor<5x64xf32> {init = "he_normal"}
dl.parameter @fb : tensor<5xf32> {init = "zeros"}

// CHECK-LABEL: func.func @conv_bias_relu
func.func @conv_bias_relu(%x: tensor<2x3x8x8xf32>) -> tensor<2x4x8x8xf32> {
  // The bias read moves above the conv that now uses it.
  // CHECK: %[[B:.*]] = dl.param @b
  // CHECK: %[[Y:.*]] = dl.conv2d %{{.*}}, %{{.*}}, %[[B]] {padding = array<i64: 1, 1>, relu, stride = array<i64: 1, 1>}
  // CHECK-NOT: dl.bias_add
  // CHECK-NOT: dl.relu
  // CHECK: return %[[Y]]
  %w = dl.param @w : tensor<4x3x3x3xf32>
  %c = dl.conv2d %x, %w {padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x8x8xf32>
  %b = dl.param @b : tensor<4xf32>
  %cb = dl.bias_add %c, %b {axis = 1 : i64} : (tensor<2x4x8x8xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
  %r = dl.relu %cb : (tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  return %r : tensor<2x4x8x8xf32>
}

// A pre-activation value with another reader stays: only the bias is folded.
// CHECK-LABEL: func.func @linear_shared
func.func @linear_shared(%x: tensor<2x64xf32>) -> (tensor<2x5xf32>, tensor<2x5xf32>) {
  // CHECK: %[[M:.*]] = dl.matmul %{{.*}}, %{{.*}}, %{{.*}} {transpose_b} :
  // CHECK: %[[R:.*]] = dl.relu %[[M]]
  // CHECK: return %[[R]], %[[M]]
  %fw = dl.param @fw : tensor<5x64xf32>
  %m = dl.matmul %x, %fw {transpose_b} : (tensor<2x64xf32>, tensor<5x64xf32>) -> tensor<2x5xf32>
  %fb = dl.param @fb : tensor<5xf32>
  %mb = dl.bias_add %m, %fb {axis = 1 : i64} : (tensor<2x5xf32>, tensor<5xf32>) -> tensor<2x5xf32>
  %r = dl.relu %mb : (tensor<2x5xf32>) -> tensor<2x5xf32>
  return %r, %mb : tensor<2x5xf32>, tensor<2x5xf32>
}

// A relu alone (no conv/matmul producer) is left as it is.
// CHECK-LABEL: func.func @plain_relu
// CHECK: dl.relu
func.func @plain_relu(%x: tensor<2x5xf32>) -> tensor<2x5xf32> {
  %r = dl.relu %x : (tensor<2x5xf32>) -> tensor<2x5xf32>
  return %r : tensor<2x5xf32>
}
