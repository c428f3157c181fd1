//===- UnrollLstm.cpp - whole-layer dl.lstm into its time steps -*- C++ -*-===//
//
// The CPU runs a dl.lstm as one kernel each way (runtime/cpu/RecurrentKernels.h); the CUDA
// target has no such kernel, so before autodiff it rewrites each layer into the ops of its
// steps, whose gradients and kernels both targets have: per step t, x_t = time_step(x, t),
// gates = bias_add(matmul(x_t, W_ih^T), b) [+ matmul(h_{t-1}, W_hh^T)], (h_t, c_t) =
// lstm_cell(gates, c_{t-1}), from c_{-1} = zeros (and no h term at t = 0).
//
#include "compiler/Transforms/Passes.h"

namespace mlir::dl {
#define GEN_PASS_DEF_UNROLLLSTM
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::dl

using namespace mlir;
using namespace mlir::dl;

namespace {
struct UnrollLstmPass : public dl::impl::UnrollLstmBase<UnrollLstmPass> {
  void runOnOperation() override {
    SmallVector<LstmOp> layers;
    getOperation().walk([&](LstmOp op) { layers.push_back(op); });
    for (LstmOp op : layers) {
      if (!op.getReserve().use_empty()) {
        op.emitOpError("cannot be unrolled once its gradient reads the reserve: run "
                       "--dl-unroll-lstm before --dl-autodiff");
        return signalPassFailure();
      }
      OpBuilder b(op);
      Location loc = op.getLoc();
      Value seq = op.getInput(), wih = op.getWeightIh(), whh = op.getWeightHh(),
            bias = op.getBias();
      const int64_t steps = shapeOf(seq)[1], units = shapeOf(op.getH())[1];
      Value h, c;
      for (int64_t t = 0; t < steps; ++t) {
        Value xs = b.create<TimeStepOp>(loc, seq, b.getI64IntegerAttr(t));
        Value gates = b.create<MatmulOp>(loc, xs, wih, Value(), false, true);
        gates = b.create<BiasAddOp>(loc, gates, bias, 1);
        if (t == 0) {
          c = b.create<ZerosOp>(loc, xs, ArrayRef<int64_t>{units});
        } else {
          Value rec = b.create<MatmulOp>(loc, h, whh, Value(), false, true);
          gates = b.create<AddOp>(loc, gates, rec);
        }
        auto cell = b.create<LstmCellOp>(loc, gates, c, op.getForgetBiasAttr());
        h = cell.getH();
        c = cell.getC();
      }
      op.getH().replaceAllUsesWith(h);
      op.erase();
    }
  }
};
} // namespace
