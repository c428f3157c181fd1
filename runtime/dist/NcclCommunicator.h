//===- NcclCommunicator.h - gradient packs averaged on the GPUs by NCCL -*- C++ -*-===//
//
// Replicas on GPUs (dlrun --device cuda:0,cuda:1, or mpirun -np N dlrun PLAN --device cuda)
// keep their gradient pack in device memory (runtime/device/PackedStep.h). NCCL averages it
// there, in place, with one ncclAllReduce on the device's stream, as PyTorch's DDP and Horovod
// do; everything else (ranks, evaluation sums, the agreement check) stays with the host
// communicator it wraps (threads, or MPI).
//
// libnccl.so.2 is loaded at run time with the other CUDA libraries (runtime/cuda/
// CudaSymbols.h). The communicator is made the way NCCL documents for each setting: one
// process driving K GPUs makes all K with ncclCommInitAll (called by rank 0, so that a
// failure cannot leave the others waiting); ranks of mpirun each call ncclCommInitRank with
// a unique id that rank 0 broadcasts over MPI.
//
#pragma once

#include "runtime/dist/Communicator.h"

#include <memory>
#include <string>

namespace dlc {

/// NCCL for the replica on GPU `ordinal`, whose context is current on this thread, wrapping
/// `host`. Collective: every rank of `host` calls it. Null in two ways: with `error` set, a
/// failure that ends the run (NCCL was found on every rank but could not connect them); with
/// only `note` set, NCCL is unavailable on some rank ("libnccl.so.2: cannot open shared
/// object file ...") and the packs are averaged through host memory by `host` itself, which
/// the caller says in one line.
std::unique_ptr<Communicator> connectNccl(Communicator &host, int ordinal, std::string &note,
                                          std::string &error);

} // namespace dlc
