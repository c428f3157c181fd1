//===- Communicator.cpp - MPI through libdlc-mpi.so, loaded at run time -===//
#include "runtime/dist/Communicator.h"

#include "runtime/device/PackedStep.h"
#include "runtime/dist/MpiPlugin.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <unistd.h>
#include <vector>

using namespace dlc;

namespace {
/// libdlc-mpi.so beside the running dlrun: <bin>/../lib, as the build lays them out.
std::string pluginPath() {
  if (const char *over = std::getenv("DLC_MPI_PLUGIN"))
    return over;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return "libdlc-mpi.so";
  std::string dir(exe, size_t(n));
  dir = dir.substr(0, dir.rfind('/'));
  return dir.substr(0, dir.rfind('/')) + "/lib/libdlc-mpi.so";
}

class MpiCommunicator final : public Communicator {
public:
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int localSize() const override { return localSize_; }
  bool allreduceSum(float *data, size_t count, std::string &error) override {
    return check(f32(data, count, message, sizeof message), error);
  }
  bool allreduceSum(double *data, size_t count, std::string &error) override {
    return check(f64(data, count, message, sizeof message), error);
  }
  bool allgather(const void *mine, size_t bytes, void *all, std::string &error) override {
    return check(gather(mine, bytes, all, message, sizeof message), error);
  }
  bool broadcast(void *data, size_t bytes, int root, std::string &error) override {
    return check(bcast(data, bytes, root, message, sizeof message), error);
  }
  bool threadedCollectives() const override { return serialized; }
  void finish(int exitCode) override {
    if (exitCode != 0)
      abort(exitCode); // does not return
    else if (finalize(message, sizeof message) != 0)
      std::fprintf(stderr, "dlrun: error: %s\n", message);
  }

  /// Resolves the module's functions and calls MPI_Init.
  bool open(void *handle, std::string &error) {
    bool ok = resolve(handle, "dlc_mpi_init", init) &&
              resolve(handle, "dlc_mpi_allreduce_sum_f32", f32) &&
              resolve(handle, "dlc_mpi_allreduce_sum_f64", f64) &&
              resolve(handle, "dlc_mpi_allgather", gather) &&
              resolve(handle, "dlc_mpi_broadcast", bcast) &&
              resolve(handle, "dlc_mpi_finalize", finalize) &&
              resolve(handle, "dlc_mpi_abort", abort);
    if (!ok) {
      error = std::string("libdlc-mpi.so lacks a function: ") + dlerror();
      return false;
    }
    if (!check(init(&rank_, &size_, &localSize_, message, sizeof message), error))
      return false;
    // An older module without the query: collectives stay on the thread that connected.
    int (*query)(void) = nullptr;
    serialized = resolve(handle, "dlc_mpi_serialized", query) && query() == 1;
    return true;
  }

private:
  template <typename F> static bool resolve(void *handle, const char *name, F &f) {
    f = reinterpret_cast<F>(dlsym(handle, name));
    return f != nullptr;
  }
  bool check(int rc, std::string &error) {
    if (rc == 0)
      return true;
    error = message;
    return false;
  }

  int rank_ = 0, size_ = 1, localSize_ = 1;
  bool serialized = false;
  char message[512] = "";
  decltype(&dlc_mpi_init) init = nullptr;
  decltype(&dlc_mpi_allreduce_sum_f32) f32 = nullptr;
  decltype(&dlc_mpi_allreduce_sum_f64) f64 = nullptr;
  decltype(&dlc_mpi_allgather) gather = nullptr;
  decltype(&dlc_mpi_broadcast) bcast = nullptr;
  decltype(&dlc_mpi_finalize) finalize = nullptr;
  decltype(&dlc_mpi_abort) abort = nullptr;
};
} // namespace

bool Communicator::allreducePack(PackedStep &pack, size_t at, size_t count,
                                 std::string &error) {
  float *data = pack.host() ? pack.host() + at : nullptr;
  std::vector<float> staged;
  if (!data) {
    staged.resize(count);
    data = staged.data();
    if (!pack.download(at, count, data, error))
      return false;
  }
  if (!allreduceSum(data, count, error))
    return false;
  const float scale = 1.0f / float(size());
  for (size_t i = 0; i < count; ++i)
    data[i] *= scale;
  return staged.empty() || pack.upload(at, count, data, error);
}

bool dlc::startedByMpi(std::string &how) {
  for (const char *var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char *v = std::getenv(var);
    if (v && std::atoi(v) > 1) {
      how = std::string(var) + "=" + v;
      return true;
    }
  }
  return false;
}

std::unique_ptr<Communicator> dlc::connectMpi(std::string &error) {
  std::string path = pluginPath();
  // RTLD_GLOBAL: Open MPI dlopens its own components, which need libmpi's symbols.
  if (access(path.c_str(), F_OK) != 0) {
    error = "this dlrun was built without MPI support (no " + path +
            "); install libopenmpi-dev and rebuild, or run dlrun without mpirun";
    return nullptr;
  }
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    error = "cannot load dlrun's MPI module: " + std::string(dlerror());
    return nullptr;
  }
  auto comm = std::make_unique<MpiCommunicator>();
  if (!comm->open(handle, error))
    return nullptr;
  return comm;
}
