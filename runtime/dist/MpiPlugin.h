//===- MpiPlugin.h - the C interface of libdlc-mpi.so ------------*- C++ -*-===//
//
// dlrun does not link MPI: under mpirun it dlopens libdlc-mpi.so (MpiPlugin.cpp, the only
// code that includes mpi.h) and resolves these functions by name (runtime/dist/Communicator.cpp).
// Every function returns 0 on success, or non-zero with a one-line message in `error`.
//
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {
/// MPI_Init_thread asking for MPI_THREAD_SERIALIZED; this process's rank, the number of ranks, and how many of them share its node.
int dlc_mpi_init(int *rank, int *size, int *localSize, char *error, size_t errorBytes);
/// 1 when MPI granted MPI_THREAD_SERIALIZED (any thread may call, one at a time), else 0.
int dlc_mpi_serialized(void);
/// In-place MPI_Allreduce(MPI_SUM) over MPI_COMM_WORLD.
int dlc_mpi_allreduce_sum_f32(float *data, uint64_t count, char *error, size_t errorBytes);
int dlc_mpi_allreduce_sum_f64(double *data, uint64_t count, char *error, size_t errorBytes);
/// MPI_Allgather of `bytes` bytes from every rank into `all` (size * bytes, rank order).
int dlc_mpi_allgather(const void *mine, uint64_t bytes, void *all, char *error,
                      size_t errorBytes);
/// MPI_Bcast of `bytes` bytes at `data` from rank `root`.
int dlc_mpi_broadcast(void *data, uint64_t bytes, int root, char *error, size_t errorBytes);
/// MPI_Finalize (every rank must call it).
int dlc_mpi_finalize(char *error, size_t errorBytes);
/// MPI_Abort: ends every rank of the job with `code`, for errors that other ranks may be
/// blocked waiting on.
void dlc_mpi_abort(int code);
}
