// Verifier and shape-rule errors.
// RUN: dl-opt %s -split-input-file -verify-diagnostics

func.func @conv_channels(%x: tensor<?x3x8x8xf32>, %w: tensor<4x2x3x3xf32>) {
  // expected-error @+2 {{conv2d: input has 3 channels but the filter expects 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.conv2d %x, %w {padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x3x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @conv_wrong_result(%x: tensor<?x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+2 {{inferred type(s) 'tensor<?x4x6x6xf32>' are incompatible with return type(s) of operation 'tensor<?x4x8x8xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.conv2d %x, %w {padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

func.func @conv_rank(%x: tensor<?x192xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+2 {{conv2d: input (NCHW) must be 4-D, got 2-D}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.conv2d %x, %w {padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x192xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @pool_too_big(%x: tensor<?x3x2x2xf32>) {
  // expected-error @+2 {{maxpool2d: a 3x3 window does not fit a 2x2 input}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.maxpool2d %x {kernel = array<i64: 3, 3>, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x3x2x2xf32>) -> tensor<?x3x1x1xf32>
  return
}

// -----

func.func @pool_stride(%x: tensor<?x3x8x8xf32>) {
  // expected-error @+2 {{maxpool2d: stride must be >= 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.maxpool2d %x {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, stride = array<i64: 0, 2>} : (tensor<?x3x8x8xf32>) -> tensor<?x3x4x4xf32>
  return
}

// -----

func.func @matmul_inner(%a: tensor<?x400xf32>, %b: tensor<120x300xf32>) {
  // expected-error @+2 {{matmul: inner dimensions differ: 400 vs 300}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.matmul %a, %b {transpose_b} : (tensor<?x400xf32>, tensor<120x300xf32>) -> tensor<?x120xf32>
  return
}

// -----

func.func @bias_size(%x: tensor<?x120xf32>, %b: tensor<84xf32>) {
  // expected-error @+2 {{bias_add: bias has 84 elements but input axis 1 has 120}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.bias_add %x, %b {axis = 1 : i64} : (tensor<?x120xf32>, tensor<84xf32>) -> tensor<?x120xf32>
  return
}

// -----

func.func @add_shapes(%a: tensor<?x10xf32>, %b: tensor<?x12xf32>) {
  // expected-error @+2 {{add: lhs and rhs must have the same shape}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.add %a, %b : (tensor<?x10xf32>, tensor<?x12xf32>) -> tensor<?x10xf32>
  return
}

// -----

func.func @reshape_count(%a: tensor<?x400xf32>) {
  // expected-error @+2 {{reshape: cannot reshape 400 elements per example into 300}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.reshape %a {shape = array<i64: 3, 10, 10>} : (tensor<?x400xf32>) -> tensor<?x3x10x10xf32>
  return
}

// -----

func.func @xent_rows(%l: tensor<8x10xf32>, %y: tensor<4xi32>) {
  // expected-error @+2 {{softmax_xent: logits have 8 rows but there are 4 labels}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.softmax_xent %l, %y : (tensor<8x10xf32>, tensor<4xi32>) -> tensor<f32>
  return
}

// -----

// expected-error @+1 {{'dl.parameter' op unknown init 'random'}}
dl.parameter @w : tensor<4xf32> {init = "random"}

// -----

// expected-error @+1 {{'dl.parameter' op type must be a statically shaped f32 tensor}}
dl.parameter @w : tensor<?xf32> {init = "zeros"}

// -----

func.func @unknown_param() {
  // expected-error @+1 {{'dl.param' op refers to unknown parameter @nope}}
  %0 = dl.param @nope : tensor<4xf32>
  return
}

// -----

dl.parameter @w : tensor<4xf32> {init = "zeros"}
func.func @param_type() {
  // expected-error @+1 {{'dl.param' op result type 'tensor<5xf32>' does not match parameter type 'tensor<4xf32>'}}
  %0 = dl.param @w : tensor<5xf32>
  return
}

// -----

dl.parameter @w : tensor<4xf32> {init = "zeros"}
dl.parameter @m : tensor<4xf32> {init = "zeros", role = "state"}
func.func @sgd_types(%g: tensor<5xf32>) {
  // expected-error @+1 {{'dl.sgd_update' op parameter, state and gradient types must match}}
  dl.sgd_update @w, %g, @m {lr = 1.0e-02 : f32, momentum = 9.0e-01 : f32, weight_decay = 0.0 : f32} : tensor<5xf32>
  return
}

// -----

func.func @fused_bias_size(%x: tensor<2x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<5xf32>) {
  // expected-error @+2 {{conv2d: bias has 5 elements but there are 4 output channels}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.conv2d %x, %w, %b {padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<5xf32>) -> tensor<2x4x6x6xf32>
  return
}

// -----

func.func @lrn_rank(%x: tensor<2x8xf32>) {
  // expected-error @+2 {{lrn: input (NCHW) must be 4-D, got 2-D}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.lrn %x {alpha = 1.0e-04 : f32, beta = 0.75 : f32, bias = 1.0 : f32, depth_radius = 2 : i64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @lrn_bias(%x: tensor<2x8x3x3xf32>) {
  // expected-error @+2 {{lrn: bias must be positive, got 0}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.lrn %x {alpha = 1.0e-04 : f32, beta = 0.75 : f32, bias = 0.0 : f32, depth_radius = 2 : i64} : (tensor<2x8x3x3xf32>) -> tensor<2x8x3x3xf32>
  return
}

// -----

func.func @lrn_radius(%x: tensor<2x8x3x3xf32>) {
  // expected-error @+2 {{lrn: depth_radius must be >= 0, got -1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.lrn %x {alpha = 1.0e-04 : f32, beta = 0.75 : f32, bias = 1.0 : f32, depth_radius = -1 : i64} : (tensor<2x8x3x3xf32>) -> tensor<2x8x3x3xf32>
  return
}

// -----

func.func @lrn_grad_shapes(%dy: tensor<2x8x3x3xf32>, %x: tensor<2x4x3x3xf32>) {
  // expected-error @+2 {{lrn_grad: grad, input and output must have the same shape}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.lrn_grad %dy, %x, %dy {alpha = 1.0e-04 : f32, beta = 0.75 : f32, bias = 1.0 : f32, depth_radius = 2 : i64} : (tensor<2x8x3x3xf32>, tensor<2x4x3x3xf32>, tensor<2x8x3x3xf32>) -> tensor<2x4x3x3xf32>
  return
}

// -----

func.func @time_step_range(%x: tensor<2x28x5xf32>) {
  // expected-error @+2 {{time_step: step 28 is outside [0, 28)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.time_step %x {step = 28 : i64} : (tensor<2x28x5xf32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @lstm_cell_gates(%g: tensor<2x12xf32>, %c: tensor<2x4xf32>) {
  // expected-error @+2 {{lstm_cell: gates must be [N, 4H] for a state [N, H], got [2, 12] and [2, 4]}}
  // expected-error @+1 {{failed to infer returned types}}
  %h, %c1 = dl.lstm_cell %g, %c {forget_bias = 1.0 : f32} : (tensor<2x12xf32>, tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>)
  return
}

// -----

func.func @lstm_weight_ih(%x: tensor<?x5x3xf32>, %wih: tensor<8x4xf32>, %whh: tensor<8x2xf32>, %b: tensor<8xf32>) {
  // expected-error @+2 {{lstm: weight_ih must be [8, 3], got [8, 4]}}
  // expected-error @+1 {{failed to infer returned types}}
  %h, %r = dl.lstm %x, %wih, %whh, %b {forget_bias = 1.0 : f32} : (tensor<?x5x3xf32>, tensor<8x4xf32>, tensor<8x2xf32>, tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x62xf32>)
  return
}

// -----

func.func @lstm_weight_hh(%x: tensor<?x5x3xf32>, %wih: tensor<8x3xf32>, %whh: tensor<6x2xf32>, %b: tensor<8xf32>) {
  // expected-error @+2 {{lstm: weight_hh must be [4H, H] and the sequence at least one step, got [6, 2] over 5 steps}}
  // expected-error @+1 {{failed to infer returned types}}
  %h, %r = dl.lstm %x, %wih, %whh, %b {forget_bias = 1.0 : f32} : (tensor<?x5x3xf32>, tensor<8x3xf32>, tensor<6x2xf32>, tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x62xf32>)
  return
}

// -----

func.func @lstm_bias(%x: tensor<?x5x3xf32>, %wih: tensor<8x3xf32>, %whh: tensor<8x2xf32>, %b: tensor<2xf32>) {
  // expected-error @+2 {{lstm: bias must be [8], got [2]}}
  // expected-error @+1 {{failed to infer returned types}}
  %h, %r = dl.lstm %x, %wih, %whh, %b {forget_bias = 1.0 : f32} : (tensor<?x5x3xf32>, tensor<8x3xf32>, tensor<8x2xf32>, tensor<2xf32>) -> (tensor<?x2xf32>, tensor<?x62xf32>)
  return
}

// -----

func.func @lstm_grad_reserve(%x: tensor<4x5x3xf32>, %whh: tensor<8x2xf32>, %r: tensor<4x61xf32>, %dh: tensor<4x2xf32>) {
  // expected-error @+2 {{lstm_grad: reserve must be [4, 62], got [4, 61]}}
  // expected-error @+1 {{failed to infer returned types}}
  %a, %b, %c = dl.lstm_grad %x, %whh, %r, %dh {forget_bias = 1.0 : f32} : (tensor<4x5x3xf32>, tensor<8x2xf32>, tensor<4x61xf32>, tensor<4x2xf32>) -> (tensor<8x3xf32>, tensor<8x2xf32>, tensor<8xf32>)
  return
}

// -----

func.func @zeros_shape(%x: tensor<2x3xf32>) {
  // expected-error @+2 {{zeros: shape entries must be positive}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.zeros %x {shape = array<i64: 0>} : (tensor<2x3xf32>) -> tensor<2x0xf32>
  return
}

// -----

func.func @sigmoid_grad_shapes(%dy: tensor<?x5xf32>, %y: tensor<?x4xf32>) {
  // expected-error @+2 {{sigmoid_grad: operands must have the same shape}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.sigmoid_grad %dy, %y : (tensor<?x5xf32>, tensor<?x4xf32>) -> tensor<?x5xf32>
  return
}

// -----

func.func @sigmoid_type(%x: tensor<?x5xf32>) {
  // expected-error @+2 {{'dl.sigmoid' op inferred type(s) 'tensor<?x5xf32>' are incompatible with return type(s) of operation 'tensor<?x4xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.sigmoid %x : (tensor<?x5xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @mul_shapes(%a: tensor<?x5xf32>, %b: tensor<?x4xf32>) {
  // expected-error @+2 {{mul: operands must have the same shape}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.mul %a, %b : (tensor<?x5xf32>, tensor<?x4xf32>) -> tensor<?x5xf32>
  return
}

// -----

func.func @sub_shapes(%a: tensor<?x5xf32>, %b: tensor<?x5x1xf32>) {
  // expected-error @+2 {{sub: operands must have the same shape}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.sub %a, %b : (tensor<?x5xf32>, tensor<?x5x1xf32>) -> tensor<?x5xf32>
  return
}

// -----

func.func @leaky_relu_needs_slope(%x: tensor<?x5xf32>) {
  // expected-error @+1 {{'dl.leaky_relu' op requires attribute 'slope'}}
  %0 = dl.leaky_relu %x : (tensor<?x5xf32>) -> tensor<?x5xf32>
  return
}

// -----

func.func @softmax_grad_shapes(%dy: tensor<?x5xf32>, %y: tensor<?x6xf32>) {
  // expected-error @+2 {{softmax_grad: operands must have the same shape}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.softmax_grad %dy, %y : (tensor<?x5xf32>, tensor<?x6xf32>) -> tensor<?x5xf32>
  return
}

// -----

func.func @dropout_needs_counter(%x: tensor<?x5xf32>) {
  // expected-error @+1 {{'dl.dropout_train' op requires attribute 'step'}}
  %0 = dl.dropout_train %x {rate = 0.5 : f32, seed = 7} : (tensor<?x5xf32>) -> tensor<?x5xf32>
  return
}

// -----

func.func @dropout_type(%x: tensor<?x5xf32>) {
  // expected-error @+2 {{'dl.dropout_grad' op inferred type(s) 'tensor<?x5xf32>' are incompatible with return type(s) of operation 'tensor<?x4xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.dropout_grad %x {rate = 0.5 : f32, seed = 7, step = @drop.step} : (tensor<?x5xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @concat_batch_axis(%a: tensor<?x5xf32>, %b: tensor<?x5xf32>) {
  // expected-error @+2 {{concat: axis 0 is not a dimension of a 2-D tensor other than the batch (0)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.concat %a, %b {axis = 0 : i64} : (tensor<?x5xf32>, tensor<?x5xf32>) -> tensor<?x10xf32>
  return
}

// -----

func.func @concat_ranks(%a: tensor<?x5xf32>, %b: tensor<?x5x1xf32>) {
  // expected-error @+2 {{concat: operands [?, 5] and [?, 5, 1] must agree on every dimension but axis 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.concat %a, %b {axis = 1 : i64} : (tensor<?x5xf32>, tensor<?x5x1xf32>) -> tensor<?x10xf32>
  return
}

// -----

func.func @concat_grad_split(%dy: tensor<?x5xf32>) {
  // expected-error @+2 {{concat_grad: lhs_size 5 must leave both parts of 5 non-empty}}
  // expected-error @+1 {{failed to infer returned types}}
  %0:2 = dl.concat_grad %dy {axis = 1 : i64, lhs_size = 5 : i64} : (tensor<?x5xf32>) -> (tensor<?x5xf32>, tensor<?x0xf32>)
  return
}

// -----

func.func @mse_shapes(%x: tensor<?x16xf32>, %t: tensor<?x15xf32>) {
  // expected-error @+2 {{mse: operands must have the same shape}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.mse %x, %t : (tensor<?x16xf32>, tensor<?x15xf32>) -> tensor<f32>
  return
}

// -----

func.func @bce_result(%x: tensor<?x16xf32>) {
  // expected-error @+2 {{'dl.bce_with_logits' op inferred type(s) 'tensor<f32>' are incompatible with return type(s) of operation 'tensor<?x16xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.bce_with_logits %x, %x : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @mse_grad_shapes(%x: tensor<?x16xf32>, %t: tensor<?x15xf32>) {
  // expected-error @+2 {{mse_grad: operands must have the same shape}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.mse_grad %x, %t : (tensor<?x16xf32>, tensor<?x15xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @matmul_rank1(%a: tensor<16xf32>, %b: tensor<8x16xf32>) {
  // expected-error @+2 {{matmul: operands must have rank 2 or more, got 1 and 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.matmul %a, %b {transpose_b} : (tensor<16xf32>, tensor<8x16xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @conv_groups_channels(%x: tensor<?x8x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+2 {{conv2d: input has 8 channels but the filter expects 3 x 2 groups}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.conv2d %x, %w {groups = 2 : i64, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x8x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @matmul_nd_inner(%a: tensor<?x28x16xf32>, %b: tensor<8x15xf32>) {
  // expected-error @+2 {{matmul: inner dimensions differ: 16 vs 15}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.matmul %a, %b {transpose_b} : (tensor<?x28x16xf32>, tensor<8x15xf32>) -> tensor<?x28x8xf32>
  return
}

// -----

func.func @conv_groups_filters(%x: tensor<?x8x8x8xf32>, %w: tensor<3x4x3x3xf32>) {
  // expected-error @+2 {{conv2d: 2 groups do not divide the 3 output channels}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.conv2d %x, %w {groups = 2 : i64, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x8x8x8xf32>, tensor<3x4x3x3xf32>) -> tensor<?x3x6x6xf32>
  return
}

// -----

func.func @layer_norm_rank1(%x: tensor<8xf32>, %g: tensor<8xf32>) {
  // expected-error @+2 {{layer_norm: input must have a batch dimension and features}}
  // expected-error @+1 {{failed to infer returned types}}
  %0:3 = dl.layer_norm %x, %g, %g {eps = 1.0e-5 : f32} : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<8xf32>, tensor<f32>, tensor<f32>)
  return
}

// -----

func.func @conv_dilation(%x: tensor<?x8x8x8xf32>, %w: tensor<4x8x3x3xf32>) {
  // expected-error @+2 {{conv2d: dilation must be >= 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.conv2d %x, %w {dilation = array<i64: 0, 1>, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<?x8x8x8xf32>, tensor<4x8x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @layer_norm_eps(%x: tensor<?x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+2 {{layer_norm: eps must be positive}}
  // expected-error @+1 {{failed to infer returned types}}
  %0:3 = dl.layer_norm %x, %g, %g {eps = 0.0 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<?x8xf32>, tensor<?xf32>, tensor<?xf32>)
  return
}

// -----

func.func @conv_padding_count(%x: tensor<?x8x8x8xf32>, %w: tensor<4x8x3x3xf32>) {
  // expected-error @+2 {{conv2d: padding must have 2 or 4 values, got 3}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.conv2d %x, %w {padding = array<i64: 0, 0, 1>, stride = array<i64: 1, 1>} : (tensor<?x8x8x8xf32>, tensor<4x8x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @layer_norm_weight(%x: tensor<?x8xf32>, %g: tensor<7xf32>, %b: tensor<8xf32>) {
  // expected-error @+2 {{layer_norm: weight has 7 elements but the last axis has 8}}
  // expected-error @+1 {{failed to infer returned types}}
  %0:3 = dl.layer_norm %x, %g, %b {eps = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<7xf32>, tensor<8xf32>) -> (tensor<?x8xf32>, tensor<?xf32>, tensor<?xf32>)
  return
}

// -----

func.func @layer_norm_grad_stats(%x: tensor<4x8xf32>, %g: tensor<8xf32>, %m: tensor<3xf32>) {
  // expected-error @+2 {{layer_norm_grad: mean and rstd must have the input's shape without its last axis}}
  // expected-error @+1 {{failed to infer returned types}}
  %0:3 = dl.layer_norm_grad %x, %x, %g, %m, %m : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<8xf32>, tensor<3xf32>, tensor<3xf32>) -> (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @transpose_batch(%x: tensor<?x4x5xf32>) {
  // expected-error @+2 {{transpose: perm[0] must be 0: the batch stays first}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.transpose %x {perm = array<i64: 1, 0, 2>} : (tensor<?x4x5xf32>) -> tensor<4x?x5xf32>
  return
}

// -----

func.func @transpose_not_permutation(%x: tensor<?x4x5xf32>) {
  // expected-error @+2 {{transpose: perm must be a permutation of 0 to 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.transpose %x {perm = array<i64: 0, 1, 1>} : (tensor<?x4x5xf32>) -> tensor<?x4x4xf32>
  return
}

// -----

func.func @transpose_rank(%x: tensor<?x4x5xf32>) {
  // expected-error @+2 {{transpose: perm has 2 entries but the input has 3 axes}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.transpose %x {perm = array<i64: 0, 1>} : (tensor<?x4x5xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @conv_dilated_too_big(%x: tensor<?x8x4x4xf32>, %w: tensor<4x8x3x3xf32>) {
  // expected-error @+2 {{conv2d: a 3x3 dilated window does not fit a 4x4 input with padding 0,0,1,1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.conv2d %x, %w {dilation = array<i64: 3, 3>, padding = array<i64: 0, 0, 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x8x4x4xf32>, tensor<4x8x3x3xf32>) -> tensor<?x4x1x1xf32>
  return
}

// -----

func.func @embedding_float_indices(%t: tensor<?x8xf32>, %w: tensor<5x3xf32>) {
  // expected-error @+1 {{operand #0 must be tensor of 32-bit signless integer values}}
  %0 = dl.embedding %t, %w : (tensor<?x8xf32>, tensor<5x3xf32>) -> tensor<?x8x3xf32>
  return
}

// -----

func.func @embedding_weight_rank(%t: tensor<?x8xi32>, %w: tensor<5xf32>) {
  // expected-error @+2 {{embedding: weight must be 2-D, got 1-D (tensor<5xf32>)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.embedding %t, %w : (tensor<?x8xi32>, tensor<5xf32>) -> tensor<?x8x5xf32>
  return
}

// -----

func.func @embedding_grad_rank(%t: tensor<?x8xi32>, %dy: tensor<?x8xf32>) {
  // expected-error @+2 {{embedding_grad: the gradient must have one dimension more than the indices}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.embedding_grad %t, %dy {vocab = 5 : i64} : (tensor<?x8xi32>, tensor<?x8xf32>) -> tensor<5x8xf32>
  return
}

// -----

func.func @xent_per_position_rows(%l: tensor<?x8x3xf32>, %y: tensor<?x7xi32>) {
  // expected-error @+2 {{softmax_xent: logits have 8 rows but there are 7 labels (dimension 1)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.softmax_xent %l, %y : (tensor<?x8x3xf32>, tensor<?x7xi32>) -> tensor<f32>
  return
}

// -----

func.func @xent_label_rank(%l: tensor<?x8x3xf32>, %y: tensor<?xi32>) {
  // expected-error @+2 {{softmax_xent: labels must be 2-D for 3-D logits, got 1-D}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.softmax_xent %l, %y : (tensor<?x8x3xf32>, tensor<?xi32>) -> tensor<f32>
  return
}

// -----

func.func @attention_width(%qkv: tensor<?x16x90xf32>) {
  // expected-error @+2 {{attention: qkv's last axis (90) must be 3 x heads x head size with 4 heads}}
  // expected-error @+1 {{failed to infer returned types}}
  %y, %p = dl.attention %qkv {heads = 4 : i64} : (tensor<?x16x90xf32>) -> (tensor<?x16x30xf32>, tensor<?x4x16x16xf32>)
  return
}

// -----

func.func @attention_mask_steps(%qkv: tensor<?x16x96xf32>, %mask: tensor<?x12xi32>) {
  // expected-error @+2 {{attention: mask must be [batch, steps] = [?, 16], got [?, 12]}}
  // expected-error @+1 {{failed to infer returned types}}
  %y, %p = dl.attention %qkv, %mask {heads = 4 : i64} : (tensor<?x16x96xf32>, tensor<?x12xi32>) -> (tensor<?x16x32xf32>, tensor<?x4x16x16xf32>)
  return
}

// -----

func.func @attention_mask_float(%qkv: tensor<?x16x96xf32>, %mask: tensor<?x16xf32>) {
  // expected-error @+1 {{operand #1 must be}}
  %y, %p = dl.attention %qkv, %mask {heads = 4 : i64} : (tensor<?x16x96xf32>, tensor<?x16xf32>) -> (tensor<?x16x32xf32>, tensor<?x4x16x16xf32>)
  return
}

// -----

func.func @attention_grad_probs(%dy: tensor<8x16x32xf32>, %qkv: tensor<8x16x96xf32>, %p: tensor<8x2x16x16xf32>) {
  // expected-error @+2 {{attention_grad: probs must be [batch, heads, steps, steps]}}
  // expected-error @+1 {{failed to infer returned types}}
  %d = dl.attention_grad %dy, %qkv, %p, %dy {heads = 4 : i64} : (tensor<8x16x32xf32>, tensor<8x16x96xf32>, tensor<8x2x16x16xf32>, tensor<8x16x32xf32>) -> tensor<8x16x96xf32>
  return
}

// -----

func.func @position_add_too_long(%x: tensor<?x10x8xf32>, %t: tensor<9x8xf32>) {
  // expected-error @+2 {{position_add: the input's 10 steps exceed the table's 9 positions}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = dl.position_add %x, %t : (tensor<?x10x8xf32>, tensor<9x8xf32>) -> tensor<?x10x8xf32>
  return
}

// -----

func.func @position_add_width(%x: tensor<?x10x8xf32>, %t: tensor<12x6xf32>) {
  // expected-error @+2 {{position_add: the table's rows have 6 features, the input 8}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = dl.position_add %x, %t : (tensor<?x10x8xf32>, tensor<12x6xf32>) -> tensor<?x10x8xf32>
  return
}

// -----

func.func @position_add_grad_positions(%dy: tensor<4x10x8xf32>) {
  // expected-error @+2 {{position_add_grad: positions (9) must be positive and cover the gradient's steps}}
  // expected-error @+1 {{failed to infer returned types}}
  %dt = dl.position_add_grad %dy {positions = 9 : i64} : (tensor<4x10x8xf32>) -> tensor<9x8xf32>
  return
}
