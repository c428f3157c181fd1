// --dl-autodiff's rule for dl.embedding: the weight's gradient is one dl.embedding_grad, a
// scatter-add of the incoming gradient's rows by the same indices; the indices (data) get
// none. The per-position loss's gradient is one softmax_xent_grad over [batch, T, classes].
// RUN: dl-opt %s --dl-autodiff | FileCheck %s

module attributes {dl.optimizer = {lr = 1.0e-01 : f32, momentum = 0.0 : f32, weight_decay = 0.0 : f32}} {
  dl.parameter @emb.weight : tensor<5x5xf32> {init = "normal"}
  func.func @forward(%t: tensor<?x8xi32>, %y: tensor<?x8xi32>) -> (tensor<f32>, tensor<f32>) {
    %w = dl.param @emb.weight : tensor<5x5xf32>
    %e = dl.embedding %t, %w : (tensor<?x8xi32>, tensor<5x5xf32>) -> tensor<?x8x5xf32>
    %loss = dl.softmax_xent %e, %y : (tensor<?x8x5xf32>, tensor<?x8xi32>) -> tensor<f32>
    %acc = dl.accuracy %e, %y : (tensor<?x8x5xf32>, tensor<?x8xi32>) -> tensor<f32>
    return %loss, %acc : tensor<f32>, tensor<f32>
  }
}

// CHECK-LABEL: func.func @train_step
// CHECK: %[[DE:.*]] = dl.softmax_xent_grad %{{.*}}, %arg1 : (tensor<?x8x5xf32>, tensor<?x8xi32>) -> tensor<?x8x5xf32>
// CHECK: %[[DW:.*]] = dl.embedding_grad %arg0, %[[DE]] {vocab = 5 : i64} : (tensor<?x8xi32>, tensor<?x8x5xf32>) -> tensor<5x5xf32>
// CHECK: dl.sgd_update @emb.weight, %[[DW]]
// CHECK: return
