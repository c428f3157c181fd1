// --dl-fuse-epilogues folds bias_add and relu into the conv2d / matmul feeding them, relu into
// batch norm (evaluation and training), relu_grad into maxpool2d_grad, and relu / relu_grad
// of a sum into add_relu / add_relu_grad.
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

// Backward: relu_grad of a pooled relu output folds into the pooling gradient.
// CHECK-LABEL: func.func @pool_grad_relu
// CHECK: %[[D:.*]] = dl.maxpool2d_grad %{{.*}}, %[[Y:[^ ]*]] {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, relu, stride = array<i64: 2, 2>}
// CHECK-NOT: dl.relu_grad
// CHECK: return %[[D]]
func.func @pool_grad_relu(%y: tensor<2x4x8x8xf32>, %dy: tensor<2x4x4x4xf32>) -> tensor<2x4x8x8xf32> {
  %g = dl.maxpool2d_grad %dy, %y {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %d = dl.relu_grad %g, %y : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  return %d : tensor<2x4x8x8xf32>
}

// Not folded: the relu's output is not what was pooled, or the pooling gradient has another
// reader.
// CHECK-LABEL: func.func @pool_grad_no_fold
// CHECK: dl.maxpool2d_grad %{{.*}}, %{{.*}} {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, stride = array<i64: 2, 2>}
// CHECK: dl.relu_grad
// CHECK: dl.maxpool2d_grad %{{.*}}, %{{.*}} {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, stride = array<i64: 2, 2>}
// CHECK: dl.relu_grad
func.func @pool_grad_no_fold(%x: tensor<2x4x8x8xf32>, %y: tensor<2x4x8x8xf32>, %dy: tensor<2x4x4x4xf32>) -> (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) {
  %g = dl.maxpool2d_grad %dy, %x {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %d = dl.relu_grad %g, %y : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %g2 = dl.maxpool2d_grad %dy, %y {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %d2 = dl.relu_grad %g2, %y : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  return %d, %d2, %g2 : tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>
}

// A linear layer on [B, T, K]: its bias is on the last axis, the matmul's columns, and folds;
// a bias along axis 1 (one value per row t) is not per column and stays.
dl.parameter @tw : tensor<5x64xf32> {init = "he_normal"}
dl.parameter @tb : tensor<5xf32> {init = "zeros"}
dl.parameter @rb : tensor<3xf32> {init = "zeros"}
// CHECK-LABEL: func.func @linear_nd
func.func @linear_nd(%x: tensor<2x3x64xf32>) -> (tensor<2x3x5xf32>, tensor<2x3x5xf32>) {
  // CHECK: dl.matmul %{{.*}}, %{{.*}}, %{{.*}} {relu, transpose_b} : (tensor<2x3x64xf32>, tensor<5x64xf32>, tensor<5xf32>) -> tensor<2x3x5xf32>
  // CHECK: %[[M:.*]] = dl.matmul %{{.*}}, %{{.*}} {transpose_b} : (tensor<2x3x64xf32>, tensor<5x64xf32>) -> tensor<2x3x5xf32>
  // CHECK: dl.bias_add %[[M]], %{{.*}} : (tensor<2x3x5xf32>, tensor<3xf32>)
  %w = dl.param @tw : tensor<5x64xf32>
  %m = dl.matmul %x, %w {transpose_b} : (tensor<2x3x64xf32>, tensor<5x64xf32>) -> tensor<2x3x5xf32>
  %b = dl.param @tb : tensor<5xf32>
  %mb = dl.bias_add %m, %b {axis = 2 : i64} : (tensor<2x3x5xf32>, tensor<5xf32>) -> tensor<2x3x5xf32>
  %r = dl.relu %mb : (tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  %m2 = dl.matmul %x, %w {transpose_b} : (tensor<2x3x64xf32>, tensor<5x64xf32>) -> tensor<2x3x5xf32>
  %rb = dl.param @rb : tensor<3xf32>
  %m2b = dl.bias_add %m2, %rb {axis = 1 : i64} : (tensor<2x3x5xf32>, tensor<3xf32>) -> tensor<2x3x5xf32>
  return %r, %m2b : tensor<2x3x5xf32>, tensor<2x3x5xf32>
}

// Batch norm takes a following relu, in evaluation and in training, where the statistics have
// other readers (the backward) but the normalised value only the relu.
dl.parameter @g : tensor<4xf32> {init = "ones"}
dl.parameter @be : tensor<4xf32> {init = "zeros"}
dl.parameter @rm : tensor<4xf32> {init = "zeros", role = "buffer"}
dl.parameter @rv : tensor<4xf32> {init = "ones", role = "buffer"}

// CHECK-LABEL: func.func @batch_norm_relu
func.func @batch_norm_relu(%x: tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32> {
  // CHECK: %[[Y:.*]] = dl.batch_norm %{{.*}}, %{{.*}}, %{{.*}} {eps = {{.*}}, relu, running_mean = @rm
  // CHECK-NOT: dl.relu
  // CHECK: return %[[Y]]
  %g = dl.param @g : tensor<4xf32>
  %be = dl.param @be : tensor<4xf32>
  %y = dl.batch_norm %x, %g, %be {eps = 1.0e-05 : f32, momentum = 1.0e-01 : f32, running_mean = @rm, running_var = @rv} : (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
  %r = dl.relu %y : (tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  return %r : tensor<2x4x8x8xf32>
}

// CHECK-LABEL: func.func @batch_norm_train_relu
func.func @batch_norm_train_relu(%x: tensor<2x4x8x8xf32>) -> (tensor<2x4x8x8xf32>, tensor<4xf32>) {
  // CHECK: %[[Y:.*]], %[[M:.*]], %{{.*}} = dl.batch_norm_train %{{.*}}, %{{.*}}, %{{.*}} {eps = {{.*}}, relu, running_mean = @rm
  // CHECK-NOT: dl.relu
  // CHECK: return %[[Y]], %[[M]]
  %g = dl.param @g : tensor<4xf32>
  %be = dl.param @be : tensor<4xf32>
  %y, %m, %s = dl.batch_norm_train %x, %g, %be {eps = 1.0e-05 : f32, momentum = 1.0e-01 : f32, running_mean = @rm, running_var = @rv} : (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  %r = dl.relu %y : (tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  return %r, %m : tensor<2x4x8x8xf32>, tensor<4xf32>
}

// A normalised value with another reader keeps its relu.
// CHECK-LABEL: func.func @batch_norm_shared
func.func @batch_norm_shared(%x: tensor<2x4x8x8xf32>) -> (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) {
  // CHECK: %[[Y:.*]] = dl.batch_norm %{{.*}} {eps = {{.*}}, momentum = {{.*}}, running_mean = @rm
  // CHECK: %[[R:.*]] = dl.relu %[[Y]]
  // CHECK: return %[[R]], %[[Y]]
  %g = dl.param @g : tensor<4xf32>
  %be = dl.param @be : tensor<4xf32>
  %y = dl.batch_norm %x, %g, %be {eps = 1.0e-05 : f32, momentum = 1.0e-01 : f32, running_mean = @rm, running_var = @rv} : (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
  %r = dl.relu %y : (tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  return %r, %y : tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>
}

// A residual block's output and the gradient at its input: the sum and the relu (or its
// gradient) in one op; a sum something else reads stays.
// CHECK-LABEL: func.func @residual_sums
// CHECK: %[[Y:.*]] = dl.add_relu %arg0, %arg1 : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
// CHECK: %[[DX:.*]] = dl.add_relu_grad %arg2, %arg3, %[[Y]] : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
// CHECK-NOT: dl.relu
// CHECK: return %[[Y]], %[[DX]]
func.func @residual_sums(%a: tensor<2x4x8x8xf32>, %b: tensor<2x4x8x8xf32>, %da: tensor<2x4x8x8xf32>, %db: tensor<2x4x8x8xf32>) -> (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) {
  %s = dl.add %a, %b : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %y = dl.relu %s : (tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %g = dl.add %da, %db : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %dx = dl.relu_grad %g, %y : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  return %y, %dx : tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>
}

// CHECK-LABEL: func.func @shared_sum
// CHECK: %[[S:.*]] = dl.add %arg0, %arg1
// CHECK: %[[Y:.*]] = dl.relu %[[S]]
// CHECK-NOT: dl.add_relu
// CHECK: return %[[S]], %[[Y]]
func.func @shared_sum(%a: tensor<2x4xf32>, %b: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %s = dl.add %a, %b : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = dl.relu %s : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %s, %y : tensor<2x4xf32>, tensor<2x4xf32>
}
