// dl.conv2d and its gradient ops with groups, dilation and 4-value (asymmetric) padding:
// round trip, and the shape rule's output sizes.
// RUN: dl-opt %s | dl-opt | FileCheck %s

// CHECK-LABEL: func.func @grouped
func.func @grouped(%x: tensor<?x8x10x10xf32>, %dw: tensor<16x1x3x3xf32>, %g: tensor<4x4x3x3xf32>, %e: tensor<4x8x2x2xf32>) {
  // Depthwise, multiplier 2, stride 2: (10 + 2 - 3) / 2 + 1 = 5.
  // CHECK: dl.conv2d %{{.*}}, %{{.*}} {groups = 8 : i64, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<?x8x10x10xf32>, tensor<16x1x3x3xf32>) -> tensor<?x16x5x5xf32>
  %0 = dl.conv2d %x, %dw {groups = 8 : i64, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<?x8x10x10xf32>, tensor<16x1x3x3xf32>) -> tensor<?x16x5x5xf32>
  // Two groups, dilation 2 (a 5x5 extent), no padding: 10 - 5 + 1 = 6.
  // CHECK: dl.conv2d %{{.*}}, %{{.*}} {dilation = array<i64: 2, 2>, groups = 2 : i64, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x8x10x10xf32>, tensor<4x4x3x3xf32>) -> tensor<?x4x6x6xf32>
  %1 = dl.conv2d %x, %g {dilation = array<i64: 2, 2>, groups = 2 : i64, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x8x10x10xf32>, tensor<4x4x3x3xf32>) -> tensor<?x4x6x6xf32>
  // PyTorch's 'same' for a 2x2 window: 0 before, 1 after.
  // CHECK: dl.conv2d %{{.*}}, %{{.*}} {padding = array<i64: 0, 0, 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x8x10x10xf32>, tensor<4x8x2x2xf32>) -> tensor<?x4x10x10xf32>
  %2 = dl.conv2d %x, %e {padding = array<i64: 0, 0, 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x8x10x10xf32>, tensor<4x8x2x2xf32>) -> tensor<?x4x10x10xf32>
  // CHECK: dl.conv2d_grad_input %{{.*}}, %{{.*}} {dilation = array<i64: 2, 2>, groups = 2 : i64, input_size = array<i64: 10, 10>, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>) -> tensor<?x8x10x10xf32>
  %3 = dl.conv2d_grad_input %1, %g {dilation = array<i64: 2, 2>, groups = 2 : i64, input_size = array<i64: 10, 10>, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>) -> tensor<?x8x10x10xf32>
  // CHECK: dl.conv2d_grad_filter %{{.*}}, %{{.*}} {groups = 8 : i64, kernel = array<i64: 3, 3>, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<?x16x5x5xf32>, tensor<?x8x10x10xf32>) -> tensor<16x1x3x3xf32>
  %4 = dl.conv2d_grad_filter %0, %x {groups = 8 : i64, kernel = array<i64: 3, 3>, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<?x16x5x5xf32>, tensor<?x8x10x10xf32>) -> tensor<16x1x3x3xf32>
  return
}
