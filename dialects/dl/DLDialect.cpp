//===- DLDialect.cpp - the dl dialect ---------------------------*- C++ -*-===//
#include "dialects/dl/DLDialect.h"
#include "dialects/dl/DLOps.h"

using namespace mlir;
using namespace mlir::dl;

#include "dialects/dl/DLOpsDialect.cpp.inc"

void DLDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/dl/DLOps.cpp.inc"
      >();
}
