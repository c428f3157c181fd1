//===- MpiPlugin.cpp - libdlc-mpi.so: the MPI calls of dlrun -----*- C++ -*-===//
//
// The one file that includes mpi.h, built as a loadable module so that dlrun itself never
// links libmpi: a dlrun started without mpirun does not load (or need) MPI at all, and
// starts exactly as it did before MPI support. See runtime/dist/Communicator.h.
//
#include "runtime/dist/MpiPlugin.h"

// The C API only: Open MPI's and MPICH's mpi.h otherwise pull in the deprecated C++ bindings,
// whose symbols live in another library.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

namespace {
/// Copies MPI's message for `code` after `what` into `error`; returns 1.
int fail(int code, const char *what, char *error, size_t errorBytes) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    std::snprintf(text, sizeof text, "MPI error %d", code);
  std::snprintf(error, errorBytes, "%s failed: %s", what, text);
  return 1;
}

/// MPI counts are ints: larger reductions go in pieces.
constexpr uint64_t kChunk = uint64_t(INT_MAX) / 2;

template <typename T>
int allreduce(T *data, uint64_t count, MPI_Datatype type, char *error, size_t errorBytes) {
  for (uint64_t done = 0; done < count; done += kChunk) {
    int n = int(count - done < kChunk ? count - done : kChunk);
    int rc = MPI_Allreduce(MPI_IN_PLACE, data + done, n, type, MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
      return fail(rc, "MPI_Allreduce", error, errorBytes);
  }
  return 0;
}
/// What MPI_Init_thread granted.
bool serialized = false;
} // namespace

extern "C" int dlc_mpi_serialized(void) { return serialized ? 1 : 0; }

extern "C" int dlc_mpi_init(int *rank, int *size, int *localSize, char *error,
                            size_t errorBytes) {
  // A rank waiting in the allreduce for a slower one yields its core instead of spinning
  // (Open MPI spins by default unless oversubscribed): ranks share the machine's cores
  // with each other's kernel threads. On the 2-core development machine under load this
  // doubled 2-rank throughput (docs/architecture.md). An explicit setting wins.
  setenv("OMPI_MCA_mpi_yield_when_idle", "1", /*overwrite=*/0);
  // A data-parallel step runs its buckets' allreduces on a communication thread while the
  // backward goes on (DataParallel.cpp), never two at once: MPI_THREAD_SERIALIZED.
  int provided = MPI_THREAD_SINGLE;
  int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
  if (rc != MPI_SUCCESS)
    return fail(rc, "MPI_Init_thread", error, errorBytes);
  serialized = provided >= MPI_THREAD_SERIALIZED;
  // Errors come back as values (and become one-line messages) instead of aborting the job.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, rank);
  MPI_Comm_size(MPI_COMM_WORLD, size);
  MPI_Comm node;
  rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, *rank, MPI_INFO_NULL, &node);
  if (rc != MPI_SUCCESS)
    return fail(rc, "MPI_Comm_split_type", error, errorBytes);
  MPI_Comm_size(node, localSize);
  MPI_Comm_free(&node);
  return 0;
}

extern "C" int dlc_mpi_allreduce_sum_f32(float *data, uint64_t count, char *error,
                                         size_t errorBytes) {
  return allreduce(data, count, MPI_FLOAT, error, errorBytes);
}

extern "C" int dlc_mpi_allreduce_sum_f64(double *data, uint64_t count, char *error,
                                         size_t errorBytes) {
  return allreduce(data, count, MPI_DOUBLE, error, errorBytes);
}

extern "C" int dlc_mpi_allgather(const void *mine, uint64_t bytes, void *all, char *error,
                                 size_t errorBytes) {
  if (bytes > uint64_t(INT_MAX)) {
    std::snprintf(error, errorBytes, "MPI_Allgather of %llu bytes is too large",
                  (unsigned long long)bytes);
    return 1;
  }
  int rc = MPI_Allgather(mine, int(bytes), MPI_BYTE, all, int(bytes), MPI_BYTE, MPI_COMM_WORLD);
  return rc == MPI_SUCCESS ? 0 : fail(rc, "MPI_Allgather", error, errorBytes);
}

extern "C" int dlc_mpi_broadcast(void *data, uint64_t bytes, int root, char *error,
                                 size_t errorBytes) {
  if (bytes > uint64_t(INT_MAX)) {
    std::snprintf(error, errorBytes, "MPI_Bcast of %llu bytes is too large",
                  (unsigned long long)bytes);
    return 1;
  }
  int rc = MPI_Bcast(data, int(bytes), MPI_BYTE, root, MPI_COMM_WORLD);
  return rc == MPI_SUCCESS ? 0 : fail(rc, "MPI_Bcast", error, errorBytes);
}

extern "C" int dlc_mpi_finalize(char *error, size_t errorBytes) {
  int rc = MPI_Finalize();
  return rc == MPI_SUCCESS ? 0 : fail(rc, "MPI_Finalize", error, errorBytes);
}

extern "C" void dlc_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
