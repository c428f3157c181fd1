//===- ThreadGroup.h - K devices of one process as communicating ranks -*- C++ -*-===//
//
// `dlrun --device cpu:0,cpu:1` runs a data-placed plan on K CPU devices inside one process:
// one thread, arena and data shard each (runtime/train/Trainer.cpp runs once per device).
// They meet through this Communicator, the host implementation of the interface MPI ranks
// use (runtime/dist/Communicator.h), so the data-parallel step (DataParallel.h) is the same
// code on threads and on processes.
//
// Sums are deterministic: every element is added in rank order by one thread and the result
// copied to every rank, so all replicas hold bit-identical values after each collective. A
// rank that fails calls finish(non-zero): the others' pending and later collectives then
// return an error instead of waiting forever for it.
//
#pragma once

#include "runtime/dist/Communicator.h"

#include <memory>
#include <vector>

namespace dlc {

/// K communicators sharing one group; give communicator r to the thread running rank r.
std::vector<std::unique_ptr<Communicator>> makeThreadGroup(int ranks);

} // namespace dlc
