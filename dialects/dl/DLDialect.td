//===- DLDialect.td - the dl dialect ----------------------------*- tablegen -*-===//
#ifndef DL_DIALECT
#define DL_DIALECT

include "mlir/IR/OpBase.td"

def DL_Dialect : Dialect {
  let name = "dl";
  let summary = "Graph-level ops of a deep-learning training step.";
  let description = [{
    The `dl` dialect describes a model as the YAML front end imports it and as the compiler
    turns it into a training step. Tensors are ranked, float32 (labels int32), NCHW; dimension
    0 is the batch and may stay dynamic (`?`) until `--dl-infer-shapes` fixes it. Trainable
    parameters and optimizer state are module-level symbols (`dl.parameter`) read with
    `dl.param` and written only by optimizer ops (`dl.sgd_update`), so functions stay pure
    dataflow graphs that the memory planner can reason about.
  }];
  let cppNamespace = "::mlir::dl";
}

class DL_Op<string mnemonic, list<Trait> traits = []> :
    Op<DL_Dialect, mnemonic, traits>;

#endif // DL_DIALECT
