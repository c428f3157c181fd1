#!/usr/bin/env bash
# Regenerates docs/dl/ (op and pass reference) from the ODS and pass definitions.
set -euo pipefail
cd "$(dirname "$0")/.."
TBLGEN=/usr/lib/llvm-19/bin/mlir-tblgen
$TBLGEN -gen-op-doc -I dialects/dl -I /usr/lib/llvm-19/include dialects/dl/DLOps.td -o docs/dl/DLOps.md
$TBLGEN -gen-pass-doc -I /usr/lib/llvm-19/include compiler/Transforms/Passes.td -o docs/dl/Passes.md
$TBLGEN -gen-op-interface-docs -I /usr/lib/llvm-19/include dialects/dl/DLInterfaces.td -o docs/dl/DLInterfaces.md
