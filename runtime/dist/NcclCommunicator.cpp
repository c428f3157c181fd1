//===- NcclCommunicator.cpp - ncclAllReduce of a GPU's gradient pack -----------===//
#include "runtime/dist/NcclCommunicator.h"

#include "runtime/device/PackedStep.h"

#if DLC_HAVE_CUDA_RUNTIME && DLC_HAVE_NCCL_HEADER
#include "runtime/cuda/CudaSymbols.h"

#include <cstring>
#include <vector>
#endif

using namespace dlc;

#if DLC_HAVE_CUDA_RUNTIME && DLC_HAVE_NCCL_HEADER
namespace {
using cuda::CudaLibrary;

std::string ncclError(ncclResult_t r, const char *what) {
  return std::string(what) + ": " + cuda::cudaSymbols().ncclGetErrorString(r);
}

class NcclCommunicator final : public Communicator {
public:
  NcclCommunicator(Communicator &host, ncclComm_t comm) : hostComm(host), comm(comm) {}
  ~NcclCommunicator() override { cuda::cudaSymbols().ncclCommDestroy(comm); }

  int rank() const override { return hostComm.rank(); }
  int size() const override { return hostComm.size(); }
  int localSize() const override { return hostComm.localSize(); }
  bool allreduceSum(float *data, size_t count, std::string &error) override {
    return hostComm.allreduceSum(data, count, error);
  }
  bool allreduceSum(double *data, size_t count, std::string &error) override {
    return hostComm.allreduceSum(data, count, error);
  }
  bool allgather(const void *mine, size_t bytes, void *all, std::string &error) override {
    return hostComm.allgather(mine, bytes, all, error);
  }
  bool broadcast(void *data, size_t bytes, int root, std::string &error) override {
    return hostComm.broadcast(data, bytes, root, error);
  }
  /// In place on the pack's stream; ncclAvg divides the sum by the ranks. The replicas end up
  /// bit-identical: NCCL's allreduce hands every rank the same reduced values.
  /// Buckets queue one after another on that stream, behind the kernels that wrote them.
  bool allreducePack(PackedStep &pack, size_t at, size_t count, std::string &error) override {
    if (!pack.deviceAddress())
      return hostComm.allreducePack(pack, at, count, error);
    void *data = reinterpret_cast<void *>(pack.deviceAddress() + at * sizeof(float));
    ncclResult_t r = cuda::cudaSymbols().ncclAllReduce(data, data, count, ncclFloat32, ncclAvg,
                                                       comm, cudaStream_t(pack.stream()));
    if (r == ncclSuccess)
      return true;
    error = ncclError(r, "ncclAllReduce");
    return false;
  }
  void finish(int exitCode) override { hostComm.finish(exitCode); }
  bool oneProcess() const override { return hostComm.oneProcess(); }
  bool threadedCollectives() const override { return hostComm.threadedCollectives(); }
  const char *kind() const override { return hostComm.kind(); }
  const char *members() const override { return hostComm.members(); }
  const char *allreduceName() const override { return "ncclAllReduce"; }

private:
  Communicator &hostComm;
  ncclComm_t comm;
};

/// Every rank's `mine` (0 or 1): whether all are set, and the first rank that is not.
bool allAgree(Communicator &host, int32_t mine, int &firstNot, std::string &error) {
  std::vector<int32_t> all(size_t(host.size()));
  if (!host.allgather(&mine, sizeof mine, all.data(), error))
    return false;
  firstNot = -1;
  for (size_t r = 0; r < all.size() && firstNot < 0; ++r)
    if (!all[r])
      firstNot = int(r);
  return true;
}

/// One process, K GPUs: rank 0 makes every rank's communicator with ncclCommInitAll and
/// hands each its own (the handles are addresses in this process).
bool initAll(Communicator &host, int ordinal, ncclComm_t &mine, std::string &error) {
  const size_t ranks = size_t(host.size());
  std::vector<int32_t> ordinals(ranks);
  const int32_t o = ordinal;
  if (!host.allgather(&o, sizeof o, ordinals.data(), error))
    return false;
  // [0]: ncclResult_t of ncclCommInitAll; [1 + r]: rank r's communicator.
  std::vector<uint64_t> made(ranks + 1, 0);
  if (host.rank() == 0) {
    std::vector<ncclComm_t> comms(ranks, nullptr);
    std::vector<int> devices(ordinals.begin(), ordinals.end());
    made[0] = uint64_t(cuda::cudaSymbols().ncclCommInitAll(comms.data(), int(ranks),
                                                           devices.data()));
    for (size_t r = 0; r < ranks; ++r)
      made[1 + r] = reinterpret_cast<uint64_t>(comms[r]);
  }
  if (!host.broadcast(made.data(), made.size() * sizeof(uint64_t), 0, error))
    return false;
  if (made[0] != uint64_t(ncclSuccess)) {
    std::string devices;
    for (int32_t d : ordinals)
      devices += (devices.empty() ? "cuda:" : ",cuda:") + std::to_string(d);
    error = ncclError(ncclResult_t(made[0]), ("ncclCommInitAll over " + devices).c_str());
    return false;
  }
  mine = reinterpret_cast<ncclComm_t>(made[1 + size_t(host.rank())]);
  return true;
}

/// Processes (mpirun): rank 0's unique id, broadcast, then ncclCommInitRank on every rank.
bool initRank(Communicator &host, ncclComm_t &mine, std::string &error) {
  struct {
    int32_t result;
    ncclUniqueId id;
  } shared{};
  if (host.rank() == 0)
    shared.result = cuda::cudaSymbols().ncclGetUniqueId(&shared.id);
  if (!host.broadcast(&shared, sizeof shared, 0, error))
    return false;
  if (shared.result != ncclSuccess) {
    error = ncclError(ncclResult_t(shared.result), "ncclGetUniqueId on rank 0");
    return false;
  }
  ncclResult_t r = cuda::cudaSymbols().ncclCommInitRank(&mine, host.size(), shared.id, host.rank());
  if (r != ncclSuccess) {
    error = ncclError(r, ("ncclCommInitRank on rank " + std::to_string(host.rank())).c_str());
    return false;
  }
  return true;
}
} // namespace
#endif

std::unique_ptr<Communicator> dlc::connectNccl(Communicator &host, int ordinal,
                                               std::string &note, std::string &error) {
#if DLC_HAVE_CUDA_RUNTIME && DLC_HAVE_NCCL_HEADER
  std::string why;
  const bool loaded = cuda::loadCudaLibrary(CudaLibrary::Nccl, why);
  int missing = -1;
  if (!allAgree(host, loaded, missing, error))
    return nullptr;
  if (missing >= 0) {
    note = loaded ? "NCCL is missing on rank " + std::to_string(missing) : "NCCL not found (" + why + ")";
    return nullptr;
  }
  // NCCL sets the CUDA runtime's device while it makes communicators (ncclCommInitAll each of
  // them): this thread's context stays its own GPU's.
  const cuda::CudaSymbols &s = cuda::cudaSymbols();
  CUcontext context = nullptr;
  if (s.cuCtxGetCurrent)
    s.cuCtxGetCurrent(&context);
  ncclComm_t comm = nullptr;
  const bool made =
      host.oneProcess() ? initAll(host, ordinal, comm, error) : initRank(host, comm, error);
  if (context)
    s.cuCtxSetCurrent(context);
  if (!made)
    return nullptr;
  return std::make_unique<NcclCommunicator>(host, comm);
#else
  (void)host, (void)ordinal, (void)error;
  note = "this dlrun was built without NCCL (no nccl.h at build time)";
  return nullptr;
#endif
}
