// --dl-infer-shapes fixes the batch and re-types every op and the signature.
// RUN: dl-opt %s --dl-infer-shapes=batch=32 | FileCheck %s
// RUN: dl-opt %s --dl-infer-shapes | FileCheck %s --check-prefix=DYN
// RUN: not dl-opt %s --dl-infer-shapes=batch=-3 2>&1 | FileCheck %s --check-prefix=NEG

dl.parameter @w : tensor<6x1x3x3xf32> {init = "he_normal"}

// CHECK-LABEL: func.func @forward(%{{.*}}: tensor<32x1x28x28xf32>, %{{.*}}: tensor<32xi32>) -> (tensor<f32>, tensor<32x1176xf32>)
// DYN-LABEL: func.func @forward(%{{.*}}: tensor<?x1x28x28xf32>, %{{.*}}: tensor<?xi32>) -> (tensor<f32>, tensor<?x1176xf32>)
func.func @forward(%x: tensor<?x1x28x28xf32>, %y: tensor<?xi32>) -> (tensor<f32>, tensor<?x1176xf32>) {
  %w = dl.param @w : tensor<6x1x3x3xf32>
  // CHECK: dl.conv2d {{.*}} -> tensor<32x6x28x28xf32>
  %c = dl.conv2d %x, %w {padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x1x28x28xf32>, tensor<6x1x3x3xf32>) -> tensor<?x6x28x28xf32>
  // CHECK: dl.maxpool2d {{.*}} -> tensor<32x6x14x14xf32>
  %p = dl.maxpool2d %c {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<?x6x28x28xf32>) -> tensor<?x6x14x14xf32>
  // CHECK: dl.flatten {{.*}} -> tensor<32x1176xf32>
  %f = dl.flatten %p : (tensor<?x6x14x14xf32>) -> tensor<?x1176xf32>
  %l = dl.matmul %f, %f {transpose_b} : (tensor<?x1176xf32>, tensor<?x1176xf32>) -> tensor<?x?xf32>
  %loss = dl.softmax_xent %l, %y : (tensor<?x?xf32>, tensor<?xi32>) -> tensor<f32>
  return %loss, %f : tensor<f32>, tensor<?x1176xf32>
}
// NEG: batch must be positive, got -3
