//===- Communicator.h - the processes of a data-parallel run -----*- C++ -*-===//
//
// `mpirun -np N dlrun PLAN` trains data-parallel on N processes (ranks); this is what the
// trainer needs from MPI: who am I, sum these floats over all ranks, gather these bytes.
// The same interface joins the devices of one process (ThreadGroup.h) and, for a pack of
// gradients in GPU memory, NCCL (NcclCommunicator.h): allreducePack is the one collective
// that sees device memory; the host communicators stage it through host memory.
//
// dlrun does not link MPI. When the environment says it was started by mpirun it loads
// libdlc-mpi.so (runtime/dist/MpiPlugin.cpp, next to dlrun in ../lib), the only code linked
// against libmpi, with dlopen. So a plain `dlrun PLAN` neither loads nor needs MPI, and a
// dlrun built without MPI says so in one line when mpirun starts it.
//
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace dlc {

class PackedStep;

class Communicator {
public:
  virtual ~Communicator() = default;
  /// This process's rank in [0, size()), the number of ranks, and how many of them run
  /// on this machine (they share its cores).
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int localSize() const = 0;
  /// Replaces `data` on every rank with its sum over all ranks (MPI_Allreduce).
  virtual bool allreduceSum(float *data, size_t count, std::string &error) = 0;
  virtual bool allreduceSum(double *data, size_t count, std::string &error) = 0;
  /// Writes every rank's `bytes` bytes at `mine` to `all`, in rank order (MPI_Allgather).
  virtual bool allgather(const void *mine, size_t bytes, void *all, std::string &error) = 0;
  /// Copies `bytes` at `data` on rank `root` to `data` on every other rank (MPI_Bcast).
  virtual bool broadcast(void *data, size_t bytes, int root, std::string &error) = 0;
  /// Replaces floats [at, at + count) of a data-parallel step's pack (one bucket of it), on
  /// every rank, with their mean over the ranks (sum, then times 1/size()), wherever the pack
  /// lives. This one stages a GPU's pack through host memory (one copy each way around
  /// allreduceSum); NCCL's communicator averages it in place on the GPU.
  virtual bool allreducePack(PackedStep &pack, size_t at, size_t count, std::string &error);
  /// Whether a thread other than the one that connected may run the collectives, one at a
  /// time (MPI_THREAD_SERIALIZED): a data-parallel step then runs its buckets' allreduces on
  /// a communication thread while the backward goes on.
  virtual bool threadedCollectives() const { return true; }
  /// Ends the run: MPI_Finalize after success (exitCode 0); otherwise MPI_Abort, which ends
  /// every rank, since the others may be waiting for this one in a collective.
  virtual void finish(int exitCode) = 0;
  /// How the trainer names the group in its log: "mpi" and "ranks" for processes,
  /// "devices" and "devices" for the threads of one process (runtime/dist/ThreadGroup.h).
  virtual const char *kind() const { return "mpi"; }
  virtual const char *members() const { return "ranks"; }
  /// The collective that averages the gradient pack, as the log names it.
  virtual const char *allreduceName() const { return "MPI_Allreduce"; }
  /// Whether the ranks are threads of this process (pointers are valid on every rank).
  virtual bool oneProcess() const { return false; }
};

/// Whether this process was started by an MPI launcher with more than one rank
/// (OMPI_COMM_WORLD_SIZE from Open MPI's mpirun, PMI_SIZE from MPICH/Hydra or Slurm);
/// `how` says which variable, e.g. "OMPI_COMM_WORLD_SIZE=2". One rank is an ordinary run.
bool startedByMpi(std::string &how);

/// Loads libdlc-mpi.so (DLC_MPI_PLUGIN overrides its path) and initialises MPI. Null with a
/// one-line `error` when the module is missing (dlrun was built without MPI) or MPI_Init
/// fails.
std::unique_ptr<Communicator> connectMpi(std::string &error);

} // namespace dlc
