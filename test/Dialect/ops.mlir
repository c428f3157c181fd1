// Round trip: every dl op prints and parses back to the same IR.
// RUN: dl-opt %s | dl-opt | FileCheck %s

// CHECK: dl.parameter @w : tensor<6x1x3x3xf32> {fan_in = 9 : i64, init = "he_normal"}
dl.parameter @w : tensor<6x1x3x3xf32> {fan_in = 9 : i64, init = "he_normal"}
// CHECK: dl.parameter @b : tensor<6xf32> {init = "zeros"}
dl.parameter @b : tensor<6xf32> {init = "zeros"}
dl.parameter @fw : tensor<10x1176xf32> {init = "glorot_uniform"}
dl.parameter @fw.m : tensor<10x1176xf32> {init = "zeros", role = "state"}

// CHECK-LABEL: func.func @forward
func.func @forward(%x: tensor<?x1x28x28xf32>, %y: tensor<?xi32>) -> (tensor<f32>, tensor<f32>) {
  // CHECK: dl.param @w : tensor<6x1x3x3xf32>
  %w = dl.param @w : tensor<6x1x3x3xf32>
  %b = dl.param @b : tensor<6xf32>
  // CHECK: dl.conv2d %{{.*}}, %{{.*}} {padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x1x28x28xf32>, tensor<6x1x3x3xf32>) -> tensor<?x6x28x28xf32>
  %c = dl.conv2d %x, %w {padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x1x28x28xf32>, tensor<6x1x3x3xf32>) -> tensor<?x6x28x28xf32>
  // CHECK: dl.bias_add
  %cb = dl.bias_add %c, %b {axis = 1 : i64} : (tensor<?x6x28x28xf32>, tensor<6xf32>) -> tensor<?x6x28x28xf32>
  // CHECK: dl.relu
  %r = dl.relu %cb : (tensor<?x6x28x28xf32>) -> tensor<?x6x28x28xf32>
  // CHECK: dl.maxpool2d
  %p = dl.maxpool2d %r {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<?x6x28x28xf32>) -> tensor<?x6x14x14xf32>
  // CHECK: dl.lrn %{{.*}} {alpha = 5.000000e-01 : f32, beta = 7.500000e-01 : f32, bias = 1.000000e+00 : f32, depth_radius = 4 : i64} : (tensor<?x6x14x14xf32>) -> tensor<?x6x14x14xf32>
  %n = dl.lrn %p {alpha = 0.5 : f32, beta = 0.75 : f32, bias = 1.0 : f32, depth_radius = 4 : i64} : (tensor<?x6x14x14xf32>) -> tensor<?x6x14x14xf32>
  // CHECK: dl.lrn_grad %{{.*}}, %{{.*}}, %{{.*}} {alpha = 5.000000e-01 : f32, beta = 7.500000e-01 : f32, bias = 1.000000e+00 : f32, depth_radius = 4 : i64} : (tensor<?x6x14x14xf32>, tensor<?x6x14x14xf32>, tensor<?x6x14x14xf32>) -> tensor<?x6x14x14xf32>
  %dn = dl.lrn_grad %n, %p, %n {alpha = 0.5 : f32, beta = 0.75 : f32, bias = 1.0 : f32, depth_radius = 4 : i64} : (tensor<?x6x14x14xf32>, tensor<?x6x14x14xf32>, tensor<?x6x14x14xf32>) -> tensor<?x6x14x14xf32>
  // CHECK: dl.add
  %s = dl.add %p, %p : (tensor<?x6x14x14xf32>, tensor<?x6x14x14xf32>) -> tensor<?x6x14x14xf32>
  // CHECK: dl.flatten
  %f = dl.flatten %s : (tensor<?x6x14x14xf32>) -> tensor<?x1176xf32>
  %fw = dl.param @fw : tensor<10x1176xf32>
  // CHECK: dl.matmul %{{.*}}, %{{.*}} {transpose_b} : (tensor<?x1176xf32>, tensor<10x1176xf32>) -> tensor<?x10xf32>
  %l = dl.matmul %f, %fw {transpose_b} : (tensor<?x1176xf32>, tensor<10x1176xf32>) -> tensor<?x10xf32>
  // CHECK: dl.softmax_xent
  %loss = dl.softmax_xent %l, %y : (tensor<?x10xf32>, tensor<?xi32>) -> tensor<f32>
  // CHECK: dl.accuracy
  %acc = dl.accuracy %l, %y : (tensor<?x10xf32>, tensor<?xi32>) -> tensor<f32>
  // CHECK: dl.softmax_xent_grad
  %dl = dl.softmax_xent_grad %l, %y : (tensor<?x10xf32>, tensor<?xi32>) -> tensor<?x10xf32>
  // CHECK: dl.mse %{{.*}}, %{{.*}} : (tensor<?x10xf32>, tensor<?x10xf32>) -> tensor<f32>
  %mse = dl.mse %l, %l : (tensor<?x10xf32>, tensor<?x10xf32>) -> tensor<f32>
  // CHECK: dl.mse_grad %{{.*}}, %{{.*}} : (tensor<?x10xf32>, tensor<?x10xf32>) -> tensor<?x10xf32>
  %dmse = dl.mse_grad %l, %l : (tensor<?x10xf32>, tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: dl.bce_with_logits %{{.*}}, %{{.*}} : (tensor<?x10xf32>, tensor<?x10xf32>) -> tensor<f32>
  %bce = dl.bce_with_logits %l, %l : (tensor<?x10xf32>, tensor<?x10xf32>) -> tensor<f32>
  // CHECK: dl.bce_with_logits_grad %{{.*}}, %{{.*}} : (tensor<?x10xf32>, tensor<?x10xf32>) -> tensor<?x10xf32>
  %dbce = dl.bce_with_logits_grad %l, %l : (tensor<?x10xf32>, tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: dl.matmul %{{.*}}, %{{.*}} {transpose_a}
  %dfw = dl.matmul %dl, %f {transpose_a} : (tensor<?x10xf32>, tensor<?x1176xf32>) -> tensor<10x1176xf32>
  // CHECK: dl.sgd_update @fw, %{{.*}}, @fw.m
  dl.sgd_update @fw, %dfw, @fw.m {lr = 1.0e-02 : f32, momentum = 9.0e-01 : f32, weight_decay = 0.0 : f32} : tensor<10x1176xf32>
  %df = dl.matmul %dl, %fw : (tensor<?x10xf32>, tensor<10x1176xf32>) -> tensor<?x1176xf32>
  // CHECK: dl.reshape %{{.*}} {shape = array<i64: 6, 14, 14>}
  %ds = dl.reshape %df {shape = array<i64: 6, 14, 14>} : (tensor<?x1176xf32>) -> tensor<?x6x14x14xf32>
  // CHECK: dl.maxpool2d_grad
  %dr = dl.maxpool2d_grad %ds, %r {kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<?x6x14x14xf32>, tensor<?x6x28x28xf32>) -> tensor<?x6x28x28xf32>
  // CHECK: dl.relu_grad
  %dc = dl.relu_grad %dr, %r : (tensor<?x6x28x28xf32>, tensor<?x6x28x28xf32>) -> tensor<?x6x28x28xf32>
  // CHECK: dl.sigmoid %{{.*}} : (tensor<?x6x28x28xf32>) -> tensor<?x6x28x28xf32>
  %sg = dl.sigmoid %cb : (tensor<?x6x28x28xf32>) -> tensor<?x6x28x28xf32>
  // CHECK: dl.sigmoid_grad %{{.*}}, %{{.*}} : (tensor<?x6x28x28xf32>, tensor<?x6x28x28xf32>) -> tensor<?x6x28x28xf32>
  %dsg = dl.sigmoid_grad %dr, %sg : (tensor<?x6x28x28xf32>, tensor<?x6x28x28xf32>) -> tensor<?x6x28x28xf32>
  // CHECK: dl.bias_add_grad
  %db = dl.bias_add_grad %dc {axis = 1 : i64} : (tensor<?x6x28x28xf32>) -> tensor<6xf32>
  // CHECK: dl.conv2d_grad_filter
  %dw = dl.conv2d_grad_filter %dc, %x {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x6x28x28xf32>, tensor<?x1x28x28xf32>) -> tensor<6x1x3x3xf32>
  // CHECK: dl.conv2d_grad_input
  %dx = dl.conv2d_grad_input %dc, %w {input_size = array<i64: 28, 28>, padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x6x28x28xf32>, tensor<6x1x3x3xf32>) -> tensor<?x1x28x28xf32>
  return %loss, %acc : tensor<f32>, tensor<f32>
}

// The recurrent ops an lstm layer unrolls into.
// CHECK-LABEL: func.func @recurrent
func.func @recurrent(%seq: tensor<?x28x28xf32>, %gates: tensor<?x512xf32>, %dh: tensor<?x128xf32>) {
  // CHECK: dl.time_step %{{.*}} {step = 3 : i64} : (tensor<?x28x28xf32>) -> tensor<?x28xf32>
  %x = dl.time_step %seq {step = 3 : i64} : (tensor<?x28x28xf32>) -> tensor<?x28xf32>
  // CHECK: dl.zeros %{{.*}} {shape = array<i64: 128>} : (tensor<?x28xf32>) -> tensor<?x128xf32>
  %c0 = dl.zeros %x {shape = array<i64: 128>} : (tensor<?x28xf32>) -> tensor<?x128xf32>
  // CHECK: dl.lstm_cell %{{.*}}, %{{.*}} {forget_bias = 1.000000e+00 : f32} : (tensor<?x512xf32>, tensor<?x128xf32>) -> (tensor<?x128xf32>, tensor<?x128xf32>)
  %h, %c = dl.lstm_cell %gates, %c0 {forget_bias = 1.0 : f32} : (tensor<?x512xf32>, tensor<?x128xf32>) -> (tensor<?x128xf32>, tensor<?x128xf32>)
  // CHECK: dl.lstm_cell_grad
  %dg, %dc = dl.lstm_cell_grad %gates, %c0, %dh, %c {forget_bias = 1.0 : f32} : (tensor<?x512xf32>, tensor<?x128xf32>, tensor<?x128xf32>, tensor<?x128xf32>) -> (tensor<?x512xf32>, tensor<?x128xf32>)
  return
}

// The activation layers, mul, sub, neg, softmax and their gradient ops (issue 10).
// CHECK-LABEL: func.func @activations
func.func @activations(%x: tensor<?x120xf32>, %dy: tensor<?x120xf32>) {
  // CHECK: dl.tanh %{{.*}} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  %tanh = dl.tanh %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.silu %{{.*}} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  %silu = dl.silu %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.relu6 %{{.*}} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  %relu6 = dl.relu6 %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.hardswish %{{.*}} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  %hardswish = dl.hardswish %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.softmax %{{.*}} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  %softmax = dl.softmax %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.neg %{{.*}} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  %neg = dl.neg %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.gelu %{{.*}} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  %gelu = dl.gelu %x : (tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.gelu %{{.*}} {approximate_tanh} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  %gelu_t = dl.gelu %x {approximate_tanh} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.leaky_relu %{{.*}} {slope = 2.000000e-01 : f32} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  %leaky = dl.leaky_relu %x {slope = 0.2 : f32} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.mul %{{.*}}, %{{.*}} : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  %mul = dl.mul %x, %dy : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.sub %{{.*}}, %{{.*}} : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  %sub = dl.sub %x, %dy : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.tanh_grad %{{.*}}, %{{.*}} : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  %dtanh = dl.tanh_grad %dy, %tanh : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.silu_grad %{{.*}}, %{{.*}} : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  %dsilu = dl.silu_grad %dy, %x : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.relu6_grad %{{.*}}, %{{.*}} : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  %drelu6 = dl.relu6_grad %dy, %relu6 : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.hardswish_grad %{{.*}}, %{{.*}} : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  %dhardswish = dl.hardswish_grad %dy, %x : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.softmax_grad %{{.*}}, %{{.*}} : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  %dsoftmax = dl.softmax_grad %dy, %softmax : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.gelu_grad %{{.*}}, %{{.*}} {approximate_tanh} : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  %dgelu = dl.gelu_grad %dy, %x {approximate_tanh} : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.leaky_relu_grad %{{.*}}, %{{.*}} {slope = 2.000000e-01 : f32} : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  %dleaky = dl.leaky_relu_grad %dy, %x {slope = 0.2 : f32} : (tensor<?x120xf32>, tensor<?x120xf32>) -> tensor<?x120xf32>
  return
}

// Dropout: the evaluation form, the training form, its gradient and the counter's step.
// CHECK-LABEL: func.func @dropout
func.func @dropout(%x: tensor<?x120xf32>, %dy: tensor<?x120xf32>) {
  // CHECK: dl.dropout %{{.*}} {rate = 5.000000e-01 : f32, seed = 7 : i64, step = @drop.step} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  %0 = dl.dropout %x {rate = 0.5 : f32, seed = 7, step = @drop.step} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.dropout_train %{{.*}} {rate = 5.000000e-01 : f32, seed = 7 : i64, step = @drop.step} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  %1 = dl.dropout_train %x {rate = 0.5 : f32, seed = 7, step = @drop.step} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.dropout_grad %{{.*}} {rate = 5.000000e-01 : f32, seed = 7 : i64, step = @drop.step} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  %2 = dl.dropout_grad %dy {rate = 0.5 : f32, seed = 7, step = @drop.step} : (tensor<?x120xf32>) -> tensor<?x120xf32>
  // CHECK: dl.increment @drop.step
  dl.increment @drop.step
  return
}

// Concat and its gradient.
// CHECK-LABEL: func.func @concat
func.func @concat(%a: tensor<?x6x4x4xf32>, %b: tensor<?x2x4x4xf32>) {
  // CHECK: dl.concat %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<?x6x4x4xf32>, tensor<?x2x4x4xf32>) -> tensor<?x8x4x4xf32>
  %y = dl.concat %a, %b {axis = 1 : i64} : (tensor<?x6x4x4xf32>, tensor<?x2x4x4xf32>) -> tensor<?x8x4x4xf32>
  // CHECK: dl.concat_grad %{{.*}} {axis = 1 : i64, lhs_size = 6 : i64} : (tensor<?x8x4x4xf32>) -> (tensor<?x6x4x4xf32>, tensor<?x2x4x4xf32>)
  %da, %db = dl.concat_grad %y {axis = 1 : i64, lhs_size = 6 : i64} : (tensor<?x8x4x4xf32>) -> (tensor<?x6x4x4xf32>, tensor<?x2x4x4xf32>)
  return
}

// The transformer shapes: matmul on [B, T, K], layer norm and its gradient, transpose.
// CHECK-LABEL: func.func @shapes
func.func @shapes(%x: tensor<?x28x16xf32>, %w: tensor<8x16xf32>, %g: tensor<8xf32>, %dy: tensor<4x28x8xf32>, %x4: tensor<4x28x8xf32>) {
  // CHECK: dl.matmul %{{.*}}, %{{.*}} {transpose_b} : (tensor<?x28x16xf32>, tensor<8x16xf32>) -> tensor<?x28x8xf32>
  %y = dl.matmul %x, %w {transpose_b} : (tensor<?x28x16xf32>, tensor<8x16xf32>) -> tensor<?x28x8xf32>
  // CHECK: dl.matmul %{{.*}}, %{{.*}} {transpose_a} : (tensor<4x28x8xf32>, tensor<4x28x8xf32>) -> tensor<8x8xf32>
  %dw = dl.matmul %dy, %x4 {transpose_a} : (tensor<4x28x8xf32>, tensor<4x28x8xf32>) -> tensor<8x8xf32>
  // CHECK: dl.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {eps = 9.99999974E-6 : f32} : (tensor<?x28x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<?x28x8xf32>, tensor<?x28xf32>, tensor<?x28xf32>)
  %n, %m, %r = dl.layer_norm %y, %g, %g {eps = 1.0e-5 : f32} : (tensor<?x28x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<?x28x8xf32>, tensor<?x28xf32>, tensor<?x28xf32>)
  // CHECK: dl.layer_norm_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x28x8xf32>, tensor<?x28x8xf32>, tensor<8xf32>, tensor<?x28xf32>, tensor<?x28xf32>) -> (tensor<?x28x8xf32>, tensor<8xf32>, tensor<8xf32>)
  %dx:3 = dl.layer_norm_grad %y, %n, %g, %m, %r : (tensor<?x28x8xf32>, tensor<?x28x8xf32>, tensor<8xf32>, tensor<?x28xf32>, tensor<?x28xf32>) -> (tensor<?x28x8xf32>, tensor<8xf32>, tensor<8xf32>)
  // CHECK: dl.transpose %{{.*}} {perm = array<i64: 0, 2, 1>} : (tensor<?x28x8xf32>) -> tensor<?x8x28xf32>
  %t = dl.transpose %n {perm = array<i64: 0, 2, 1>} : (tensor<?x28x8xf32>) -> tensor<?x8x28xf32>
  return
}

// Embedding, its weight's gradient, and the loss per position of a sequence.
// CHECK-LABEL: func.func @embedding
func.func @embedding(%t: tensor<?x8xi32>, %w: tensor<5x3xf32>, %y: tensor<?x8xi32>) {
  // CHECK: dl.embedding %{{.*}}, %{{.*}} : (tensor<?x8xi32>, tensor<5x3xf32>) -> tensor<?x8x3xf32>
  %e = dl.embedding %t, %w : (tensor<?x8xi32>, tensor<5x3xf32>) -> tensor<?x8x3xf32>
  // CHECK: dl.embedding_grad %{{.*}}, %{{.*}} {vocab = 5 : i64} : (tensor<?x8xi32>, tensor<?x8x3xf32>) -> tensor<5x3xf32>
  %dw = dl.embedding_grad %t, %e {vocab = 5 : i64} : (tensor<?x8xi32>, tensor<?x8x3xf32>) -> tensor<5x3xf32>
  // CHECK: dl.softmax_xent %{{.*}}, %{{.*}} : (tensor<?x8x3xf32>, tensor<?x8xi32>) -> tensor<f32>
  %l = dl.softmax_xent %e, %y : (tensor<?x8x3xf32>, tensor<?x8xi32>) -> tensor<f32>
  // CHECK: dl.accuracy %{{.*}}, %{{.*}} : (tensor<?x8x3xf32>, tensor<?x8xi32>) -> tensor<f32>
  %a = dl.accuracy %e, %y : (tensor<?x8x3xf32>, tensor<?x8xi32>) -> tensor<f32>
  return
}

// Attention over packed q|k|v and its gradient (issue 11).
// CHECK-LABEL: func.func @attention
func.func @attention(%qkv: tensor<?x16x96xf32>, %dy: tensor<8x16x32xf32>, %q8: tensor<8x16x96xf32>, %p: tensor<8x4x16x16xf32>, %mask: tensor<?x16xi32>) {
  // CHECK: dl.attention %{{.*}} {causal, heads = 4 : i64} : (tensor<?x16x96xf32>) -> (tensor<?x16x32xf32>, tensor<?x4x16x16xf32>)
  %y, %pr = dl.attention %qkv {causal, heads = 4 : i64} : (tensor<?x16x96xf32>) -> (tensor<?x16x32xf32>, tensor<?x4x16x16xf32>)
  // CHECK: dl.attention %{{.*}}, %{{.*}} {heads = 4 : i64} : (tensor<?x16x96xf32>, tensor<?x16xi32>) -> (tensor<?x16x32xf32>, tensor<?x4x16x16xf32>)
  %ym, %pm = dl.attention %qkv, %mask {heads = 4 : i64} : (tensor<?x16x96xf32>, tensor<?x16xi32>) -> (tensor<?x16x32xf32>, tensor<?x4x16x16xf32>)
  // CHECK: dl.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {heads = 4 : i64} : (tensor<8x16x32xf32>, tensor<8x16x96xf32>, tensor<8x4x16x16xf32>, tensor<8x16x32xf32>) -> tensor<8x16x96xf32>
  %d = dl.attention_grad %dy, %q8, %p, %dy {heads = 4 : i64} : (tensor<8x16x32xf32>, tensor<8x16x96xf32>, tensor<8x4x16x16xf32>, tensor<8x16x32xf32>) -> tensor<8x16x96xf32>
  return
}

// A position table added to every sequence, and the table's gradient (issue 11).
// CHECK-LABEL: func.func @position_add
func.func @position_add(%x: tensor<?x10x8xf32>, %t: tensor<12x8xf32>, %dy: tensor<4x10x8xf32>) {
  // CHECK: dl.position_add %{{.*}}, %{{.*}} : (tensor<?x10x8xf32>, tensor<12x8xf32>) -> tensor<?x10x8xf32>
  %y = dl.position_add %x, %t : (tensor<?x10x8xf32>, tensor<12x8xf32>) -> tensor<?x10x8xf32>
  // CHECK: dl.position_add_grad %{{.*}} {positions = 12 : i64} : (tensor<4x10x8xf32>) -> tensor<12x8xf32>
  %dt = dl.position_add_grad %dy {positions = 12 : i64} : (tensor<4x10x8xf32>) -> tensor<12x8xf32>
  return
}
