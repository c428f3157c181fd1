//===- DLDialect.h - the dl dialect -----------------------------*- C++ -*-===//
#pragma once

#include "mlir/IR/Dialect.h"

#include "dialects/dl/DLOpsDialect.h.inc"
