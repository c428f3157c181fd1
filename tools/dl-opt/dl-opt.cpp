//===- dl-opt.cpp - pass-level driver for the dl dialect --------*- C++ -*-===//
#include "compiler/Transforms/Passes.h"
#include "dialects/dl/DLDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::dl::registerDLPasses();
  mlir::DialectRegistry registry;
  registry.insert<mlir::dl::DLDialect, mlir::func::FuncDialect>();
  return mlir::failed(mlir::MlirOptMain(argc, argv, "dl optimizer driver\n", registry)) ? 1 : 0;
}
