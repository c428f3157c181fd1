//===- DLInterfaces.cpp - per-op rule interfaces ----------------*- C++ -*-===//
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;

#include "dialects/dl/DLInterfaces.cpp.inc"

void GradientBuilder::accumulate(Value v, Value g) {
  if (!needsGrad.contains(v))
    return;
  Value &slot = grads[v];
  slot = slot ? b.create<AddOp>(g.getLoc(), slot, g).getResult() : g;
}
