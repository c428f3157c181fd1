// Round trip of the scheduled optimizers' ops (errors: optimizer_invalid.mlir).
// RUN: dl-opt %s | dl-opt | FileCheck %s

dl.parameter @optimizer.state : tensor<4xf32> {init = "zeros", role = "state"}
dl.parameter @w : tensor<3x4xf32> {init = "he_normal", fan_in = 4 : i64}
dl.parameter @w.m : tensor<3x4xf32> {init = "zeros", role = "state"}
dl.parameter @w.v : tensor<3x4xf32> {init = "zeros", role = "state"}
// CHECK-LABEL: func.func @step
func.func @step(%g: tensor<3x4xf32>) {
  // CHECK: dl.lr_schedule @optimizer.state {gamma = 5.000000e-01 : f32, lr = 1.000000e-01 : f32, min_lr = 0.000000e+00 : f32, schedule = 1 : i64, step_size = 10 : i64, total_steps = 0 : i64, warmup_steps = 2 : i64}
  dl.lr_schedule @optimizer.state {gamma = 5.000000e-01 : f32, lr = 1.000000e-01 : f32, min_lr = 0.000000e+00 : f32, schedule = 1 : i64, step_size = 10 : i64, total_steps = 0 : i64, warmup_steps = 2 : i64}
  // CHECK: dl.grad_sumsq %{{.*}}, @optimizer.state : tensor<3x4xf32>
  dl.grad_sumsq %g, @optimizer.state : tensor<3x4xf32>
  // CHECK: dl.clip_scale @optimizer.state {max_norm = 1.000000e+00 : f32}
  dl.clip_scale @optimizer.state {max_norm = 1.000000e+00 : f32}
  // CHECK: dl.sgd_step @w, %{{.*}}, @w.m, @optimizer.state {momentum = 0.899999976 : f32, nesterov = true, weight_decay = 0.000000e+00 : f32} : tensor<3x4xf32>
  dl.sgd_step @w, %g, @w.m, @optimizer.state {momentum = 0.9 : f32, nesterov = true, weight_decay = 0.0 : f32} : tensor<3x4xf32>
  // CHECK: dl.adam_update @w, %{{.*}}, @w.m, @w.v, @optimizer.state {beta1 = 0.899999976 : f32, beta2 = 9.990000e-01 : f32, decoupled = true, eps = 9.99999993E-9 : f32, weight_decay = 0.00999999977 : f32} : tensor<3x4xf32>
  dl.adam_update @w, %g, @w.m, @w.v, @optimizer.state {beta1 = 0.9 : f32, beta2 = 0.999 : f32, decoupled = true, eps = 1.0e-8 : f32, weight_decay = 0.01 : f32} : tensor<3x4xf32>
  return
}
