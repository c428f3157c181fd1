//===- PipelineSplit.h - layers split into pipeline stages across GPUs -*- C++ -*-===//
//
// `dlc mem --gpus K` weighs pipeline placement beside data placement: the layers cut into K
// contiguous stages, one per GPU, each running a 1F1B schedule (PipeDream-Flush: stage s keeps
// the activations of at most min(M, K - s) micro-batches in flight). The split minimises the
// slowest stage's estimated time subject to every stage fitting its GPU.
//
// An estimate read off one device's plan compiled at the micro-batch: every kernel belongs to
// the layer its name gives (`kind@layer`, an update `@param` to the parameter's layer, the
// loss to the last layer); a layer's cost is its kernels' roofline time, its memory its
// persistent buffers (parameters, optimizer and model state), the buffers its forward keeps
// for the backward (per micro-batch in flight), and its largest transient buffers. Activations
// crossing a stage boundary and communication time are not counted: this answers "would it
// fit", not "how fast it runs". `dlc compile --placement pipeline` uses the same split on
// the plan it compiled (at batch/M with --microbatches M; assignStages) to place a plan's
// kernels (compiler/Planning/StagePlacement.h, MicroBatch.h).
//
#pragma once

#include "compiler/Hardware/Catalog.h"
#include "runtime/plan/Plan.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dlc::advisor {

/// What one layer of the training step costs on one GPU at the micro-batch of its plan.
struct LayerCost {
  std::string name;
  double seconds = 0;      // roofline time of its forward, backward and update kernels
  uint64_t persistent = 0; // parameters, optimizer state, model state
  uint64_t saved = 0;      // kept from its forward for its backward, per micro-batch
  uint64_t transient = 0;  // its other step buffers (gradients, workspaces), all at once
};

/// The layers of `plan`'s train program in forward order with their costs on `gpu`; with
/// `kernelLayer`, also the layer (an index into the result) of each of its kernels.
std::vector<LayerCost> layerCosts(const plan::Plan &plan, const hw::Gpu &gpu,
                                  std::vector<size_t> *kernelLayer = nullptr);

struct Stage {
  size_t first = 0, end = 0; // layers [first, end)
  uint64_t bytes = 0;        // estimated peak on its GPU
  double seconds = 0;        // per micro-batch, forward + backward + update
  int64_t inFlight = 1;      // micro-batches whose activations it holds at once
};

/// The split of `layers` into `stages` contiguous stages minimising the slowest stage's time
/// with every stage's bytes <= `capacity` at `microbatches` micro-batches (1F1B); nullopt if
/// no split fits (or there are fewer layers than stages).
std::optional<std::vector<Stage>> splitStages(const std::vector<LayerCost> &layers, int stages,
                                              int64_t microbatches, uint64_t capacity);

/// For `dlc compile --placement pipeline`: the stage of every kernel of `plan`'s training step
/// by the split of its layers into `stages` minimising the slowest stage on `gpu` (one
/// micro-batch, every stage within `capacity`), with each stage's first and last layer;
/// nullopt when no split fits.
struct StageAssignment {
  std::vector<int32_t> kernelStage;
  std::vector<std::pair<std::string, std::string>> names;
  std::vector<Stage> stages;
  size_t layers = 0;
};
std::optional<StageAssignment> assignStages(const plan::Plan &plan, const hw::Gpu &gpu,
                                            int stages, uint64_t capacity);

/// Bytes of one stage of `layers` [first, end) at pipeline position `index` of `stages`.
uint64_t stageBytes(const std::vector<LayerCost> &layers, size_t first, size_t end, int index,
                    int stages, int64_t microbatches);

} // namespace dlc::advisor
