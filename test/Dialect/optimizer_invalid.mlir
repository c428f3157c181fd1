// Symbol checks of the scheduled optimizers' ops: the optimizer state is 4 floats; a
// parameter and its moments have the gradient's type.
// RUN: dl-opt %s -split-input-file -verify-diagnostics

dl.parameter @s : tensor<3xf32> {init = "zeros", role = "state"}
func.func @short_state() {
  // expected-error @+1 {{'dl.lr_schedule' op optimizer state @s must have 4 elements, has type 'tensor<3xf32>'}}
  dl.lr_schedule @s {gamma = 1.0 : f32, lr = 0.1 : f32, min_lr = 0.0 : f32, schedule = 0 : i64, step_size = 1 : i64, total_steps = 0 : i64, warmup_steps = 0 : i64}
  return
}

// -----

func.func @unknown_state(%g: tensor<4xf32>) {
  // expected-error @+1 {{'dl.grad_sumsq' op refers to unknown parameter @nope}}
  dl.grad_sumsq %g, @nope : tensor<4xf32>
  return
}

// -----

dl.parameter @s : tensor<4xf32> {init = "zeros", role = "state"}
dl.parameter @w : tensor<4xf32> {init = "zeros"}
dl.parameter @m : tensor<5xf32> {init = "zeros", role = "state"}
func.func @momentum_type(%g: tensor<4xf32>) {
  // expected-error @+1 {{'dl.sgd_step' op parameter @m has type 'tensor<5xf32>', the gradient 'tensor<4xf32>'}}
  dl.sgd_step @w, %g, @m, @s {momentum = 0.9 : f32, nesterov = false, weight_decay = 0.0 : f32} : tensor<4xf32>
  return
}

// -----

dl.parameter @s : tensor<4xf32> {init = "zeros", role = "state"}
dl.parameter @w : tensor<4xf32> {init = "zeros"}
dl.parameter @m : tensor<4xf32> {init = "zeros", role = "state"}
dl.parameter @big : tensor<8xf32> {init = "zeros", role = "state"}
func.func @adam_state(%g: tensor<4xf32>) {
  // expected-error @+1 {{'dl.adam_update' op optimizer state @big must have 4 elements, has type 'tensor<8xf32>'}}
  dl.adam_update @w, %g, @m, @m, @big {beta1 = 0.9 : f32, beta2 = 0.999 : f32, decoupled = false, eps = 1.0e-8 : f32, weight_decay = 0.0 : f32} : tensor<4xf32>
  return
}
