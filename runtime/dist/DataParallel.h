//===- DataParallel.h - one rank of a data-parallel training run -*- C++ -*-===//
//
// Under `mpirun -np N dlrun PLAN` every rank runs the same plan on its own shard of each
// global batch (runtime/train/Trainer.cpp) and the ranks average their gradients once per step,
// so that every rank applies the same update: the update one process would make on the
// whole global batch, since the loss is a mean over the batch.
//
// The train program interleaves optimizer kernels with the backward pass (an sgd_momentum
// runs as soon as its gradient and its parameter's last reader have run, so the gradient's
// memory is reused early). Nothing after an optimizer kernel reads the parameter or the
// momentum it writes, so a rank runs every other kernel first, copying each gradient into
// one contiguous pack where its optimizer kernel would have run; then it sums the pack over
// the ranks with a single MPI_Allreduce, scales it by 1/N, and runs the optimizer kernels
// on the averaged gradients (clipping's grad_sumsq and clip_scale are deferred likewise, so
// the global norm is the averaged gradients'). The pack also carries the step's loss and correct count (the
// trainer reports the global batch's) and any batch-norm running statistics (averaged, so
// that all ranks keep identical persistent state).
//
// Any Device can be a replica: the device does its side of the step (runtime/device/
// PackedStep.h: the CPU without copies, a GPU with the pack in device memory) and the
// communicator averages the pack where it lives (Communicator::allreducePack: NCCL on the GPU,
// the host communicators through host memory).
//
#pragma once

#include "runtime/dist/Buckets.h"
#include "runtime/dist/Communicator.h"
#include "runtime/device/Device.h"

#include <cstdint>
#include <memory>
#include <string>

namespace dlc {

class DataParallelDevice : public Device {
public:
  /// Seconds spent in the gradient allreduces (summed over the buckets, on the communication
  /// thread when they overlap the backward), the seconds the replica waited for them (all
  /// of the former without overlap), the floats they sum per step and in how many buckets.
  virtual double allreduceSeconds() const = 0;
  virtual double allreduceWaitSeconds() const = 0;
  virtual size_t allreduceFloats() const = 0;
  virtual size_t allreduceBuckets() const = 0;
  /// Whether the buckets' allreduces run on a communication thread while the backward goes
  /// on (a pack in host memory and a communicator that allows it).
  virtual bool allreduceOverlaps() const = 0;
};

/// `device` (whose arena mirrors the host `arena`) as one rank of `comm` for `plan`'s train
/// program; its other programs run on `device` as they are. Null with a one-line `error`
/// when the program's optimizer kernels cannot be deferred to the end of the step.
std::unique_ptr<DataParallelDevice> makeDataParallelDevice(const plan::Plan &plan,
                                                           uint8_t *arena,
                                                           std::unique_ptr<Device> device,
                                                           Communicator &comm,
                                                           std::string &error,
                                                           double bucketMiB = kDefaultBucketMiB);

/// makeDataParallelDevice of the CPU device.
std::unique_ptr<DataParallelDevice> makeDataParallelCpuDevice(const plan::Plan &plan,
                                                              uint8_t *arena,
                                                              Communicator &comm,
                                                              std::string &error,
                                                              double bucketMiB = kDefaultBucketMiB);

/// Checks that every rank runs the same plan and holds bit-identical persistent state
/// (parameters, optimizer and model state): false with a one-line `error` naming the
/// first rank that differs from rank 0. `hash` is the state's FNV-1a 64.
bool checkRanksAgree(const plan::Plan &plan, const uint8_t *arena, Communicator &comm,
                     uint64_t &hash, std::string &error);

} // namespace dlc
