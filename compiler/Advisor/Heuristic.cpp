//===- Heuristic.cpp - the design's GPU-memory heuristic --------*- C++ -*-===//
#include "compiler/Advisor/Heuristic.h"

#include "dialects/dl/DLOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <map>

using namespace mlir;
using namespace dlc::advisor;

static int64_t perExample(Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  int64_t n = 1;
  for (int64_t d : t.getShape().drop_front())
    n *= d;
  return n;
}

HeuristicCounts dlc::advisor::countForHeuristic(ModuleOp imported) {
  HeuristicCounts c;
  for (auto p : imported.getOps<dl::ParameterOp>())
    if (p.getRole() == "weight")
      c.weights += cast<RankedTensorType>(p.getType()).getNumElements();
  auto fn = imported.lookupSymbol<func::FuncOp>("forward");
  std::map<int64_t, int64_t> windows; // window elements -> convolutions using it
  fn.walk([&](Operation *op) {
    if (isa<dl::Conv2dOp, dl::MatmulOp, dl::MaxPool2dOp, dl::AvgPool2dOp, dl::AddOp>(op))
      c.nodes += perExample(op->getResult(0));
    if (auto conv = dyn_cast<dl::Conv2dOp>(op)) {
      auto w = cast<RankedTensorType>(conv.getFilter().getType()).getShape();
      if (w[2] * w[3] > 1)
        ++windows[w[2] * w[3]];
    }
  });
  int64_t best = 0;
  for (auto [elements, count] : windows)
    if (count >= best) { // ascending keys: a tie goes to the larger window
      best = count;
      c.maskElements = elements;
    }
  return c;
}
