//===- Nvrtc.cpp - CUDA C to PTX and CUBIN with NVRTC, cached on disk ----------===//
//
// NVRTC's C API is small and ABI-stable, so its few entry points are declared here and
// resolved with dlsym: no toolkit header or library is needed to build dlc. The library is
// looked for where CMake found the toolkit first, then by soname (13, then 12).
//
// Cache entries are one file per key: a header (magic, the key's text and source length, to
// reject a hash collision), then the PTX and the CUBIN. They are written to a temporary file
// and renamed, so concurrent compiles never see half an entry.
//
//===----------------------------------------------------------------------------===//

#include "compiler/Target/Cuda/Nvrtc.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <mutex>
#include <sstream>
#include <sys/stat.h>
#include <type_traits>
#include <unistd.h>

using namespace dlc;
using namespace dlc::cuda;

namespace {

// NVRTC's types as the library sees them: nvrtcResult is a C enum (int), programs opaque.
using NvrtcResult = int;
constexpr NvrtcResult kNvrtcSuccess = 0;
struct NvrtcProgramImpl;
using NvrtcProgram = NvrtcProgramImpl *;

#define DLC_NVRTC_SYMBOLS(X)                                                                       \
  X(nvrtcVersion, NvrtcResult(int *, int *))                                                       \
  X(nvrtcGetErrorString, const char *(NvrtcResult))                                                \
  X(nvrtcGetNumSupportedArchs, NvrtcResult(int *))                                                 \
  X(nvrtcGetSupportedArchs, NvrtcResult(int *))                                                    \
  X(nvrtcCreateProgram, NvrtcResult(NvrtcProgram *, const char *, const char *, int,               \
                                    const char *const *, const char *const *))                     \
  X(nvrtcDestroyProgram, NvrtcResult(NvrtcProgram *))                                              \
  X(nvrtcCompileProgram, NvrtcResult(NvrtcProgram, int, const char *const *))                      \
  X(nvrtcGetProgramLogSize, NvrtcResult(NvrtcProgram, size_t *))                                   \
  X(nvrtcGetProgramLog, NvrtcResult(NvrtcProgram, char *))                                         \
  X(nvrtcGetPTXSize, NvrtcResult(NvrtcProgram, size_t *))                                          \
  X(nvrtcGetPTX, NvrtcResult(NvrtcProgram, char *))                                                \
  X(nvrtcGetCUBINSize, NvrtcResult(NvrtcProgram, size_t *))                                        \
  X(nvrtcGetCUBIN, NvrtcResult(NvrtcProgram, char *))

struct Nvrtc {
#define DLC_NVRTC_MEMBER(name, type) std::add_pointer_t<type> name = nullptr;
  DLC_NVRTC_SYMBOLS(DLC_NVRTC_MEMBER)
#undef DLC_NVRTC_MEMBER
  int major = 0, minor = 0;
  std::vector<int> archs; // supported sm numbers, e.g. 75 80 86 ...
  std::string error;      // why loading failed; empty once loaded
};

/// Loaded once per process; dlopen handles are never closed (NVRTC keeps global state).
const Nvrtc &nvrtc() {
  static Nvrtc lib;
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> names;
#ifdef DLC_NVRTC_LIBRARY
    names.push_back(DLC_NVRTC_LIBRARY);
#endif
    names.insert(names.end(), {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"});
    void *handle = nullptr;
    std::string why; // the current soname's error reads best in a message
    for (const std::string &name : names) {
      if ((handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)))
        break;
      std::string e = dlerror();
      if (why.empty() || name == "libnvrtc.so.13")
        why = e;
    }
    if (!handle) {
      lib.error = "NVRTC not found (" + why + "); install the CUDA toolkit";
      return;
    }
#define DLC_NVRTC_RESOLVE(name, type)                                                              \
  lib.name = reinterpret_cast<std::add_pointer_t<type>>(dlsym(handle, #name));                     \
  if (!lib.name) {                                                                                 \
    lib.error = "NVRTC library lacks " #name " (too old?)";                                        \
    return;                                                                                        \
  }
    DLC_NVRTC_SYMBOLS(DLC_NVRTC_RESOLVE)
#undef DLC_NVRTC_RESOLVE
    int count = 0;
    if (lib.nvrtcVersion(&lib.major, &lib.minor) != kNvrtcSuccess ||
        lib.nvrtcGetNumSupportedArchs(&count) != kNvrtcSuccess) {
      lib.error = "NVRTC does not answer its version";
      return;
    }
    lib.archs.resize(count);
    lib.nvrtcGetSupportedArchs(lib.archs.data());
  });
  return lib;
}

uint64_t fnv1a64(const std::string &s, uint64_t hash = 14695981039346656037ull) {
  for (unsigned char c : s) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string cacheDir() {
  if (const char *dir = std::getenv("DLC_CACHE_DIR"); dir && *dir)
    return dir;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/dlc/nvrtc";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/dlc/nvrtc";
  return "";
}

bool makeDirs(const std::string &path) {
  for (size_t pos = 1; pos <= path.size(); ++pos)
    if (pos == path.size() || path[pos] == '/')
      if (mkdir(path.substr(0, pos).c_str(), 0755) != 0 && errno != EEXIST)
        return false;
  return true;
}

constexpr char kCacheMagic[8] = {'D', 'L', 'C', 'N', 'V', 'R', 'T', '1'};

void putU64(std::string &out, uint64_t v) {
  for (int b = 0; b < 8; ++b)
    out.push_back(char(v >> (8 * b)));
}
bool getU64(const std::string &in, size_t &pos, uint64_t &v) {
  if (in.size() - pos < 8)
    return false;
  v = 0;
  for (int b = 0; b < 8; ++b)
    v |= uint64_t(uint8_t(in[pos + b])) << (8 * b);
  pos += 8;
  return true;
}
/// A length-prefixed field; false when the entry is too short for it.
bool getBytes(const std::string &in, size_t &pos, std::string &field) {
  uint64_t n;
  if (!getU64(in, pos, n) || in.size() - pos < n)
    return false;
  field.assign(in, pos, n);
  pos += n;
  return true;
}

bool readCache(const std::string &path, const std::string &keyText, uint64_t srcBytes,
               CudaBinary &out) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return false;
  std::string in((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t pos = sizeof kCacheMagic;
  uint64_t size;
  std::string key, ptx, cubin;
  if (in.compare(0, sizeof kCacheMagic, kCacheMagic, sizeof kCacheMagic) != 0 ||
      !getBytes(in, pos, key) || key != keyText || !getU64(in, pos, size) || size != srcBytes ||
      !getBytes(in, pos, ptx) || !getBytes(in, pos, cubin) || pos != in.size() || cubin.empty())
    return false;
  out.ptx = std::move(ptx);
  out.cubin.assign(cubin.begin(), cubin.end());
  out.log.clear();
  out.fromCache = true;
  return true;
}

void writeCache(const std::string &dir, const std::string &path, const std::string &keyText,
                uint64_t srcBytes, const CudaBinary &bin) {
  if (!makeDirs(dir))
    return;
  std::string data(kCacheMagic, sizeof kCacheMagic);
  auto putBytes = [&](const char *p, size_t n) {
    putU64(data, n);
    data.append(p, n);
  };
  putBytes(keyText.data(), keyText.size());
  putU64(data, srcBytes);
  putBytes(bin.ptx.data(), bin.ptx.size());
  putBytes(reinterpret_cast<const char *>(bin.cubin.data()), bin.cubin.size());
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f.write(data.data(), data.size()) || !f.flush()) {
      std::remove(tmp.c_str());
      return;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    std::remove(tmp.c_str());
}

/// The first error line of an NVRTC log and the function it points into: `name.cu(LINE):
/// error: ...` is mapped to the nearest __global__/__device__ definition at or above LINE.
std::string describeFailure(const std::string &log, const std::string &src) {
  std::istringstream lines(log);
  std::string first;
  for (std::string l; std::getline(lines, l);)
    if (l.find("error") != std::string::npos) {
      first = l;
      break;
    }
  if (first.empty())
    first = log.substr(0, log.find('\n'));
  size_t open = first.find('('), close = first.find("):");
  if (open == std::string::npos || close == std::string::npos || close < open)
    return first;
  long line = std::strtol(first.c_str() + open + 1, nullptr, 10);
  std::vector<std::string> srcLines;
  std::istringstream in(src);
  for (std::string l; std::getline(in, l) && long(srcLines.size()) < line;)
    srcLines.push_back(l);
  for (auto it = srcLines.rbegin(); it != srcLines.rend(); ++it) {
    if (it->find("__global__") == std::string::npos && it->find("__device__") == std::string::npos)
      continue;
    size_t paren = it->find('(');
    if (paren == std::string::npos)
      continue;
    size_t begin = paren;
    while (begin > 0 && (std::isalnum(uint8_t((*it)[begin - 1])) || (*it)[begin - 1] == '_'))
      --begin;
    if (begin < paren)
      return "kernel '" + it->substr(begin, paren - begin) + "': " + first;
  }
  return first;
}

} // namespace

bool cuda::loadNvrtc(std::string &error) {
  error = nvrtc().error;
  return error.empty();
}

bool cuda::compileCuda(const std::string &src, const std::string &arch, CudaBinary &out,
                       std::string &error) {
  const Nvrtc &lib = nvrtc();
  if (!lib.error.empty()) {
    error = lib.error;
    return false;
  }
  const std::string version =
      "NVRTC " + std::to_string(lib.major) + "." + std::to_string(lib.minor);
  char *end = nullptr;
  long sm = arch.rfind("sm_", 0) == 0 ? std::strtol(arch.c_str() + 3, &end, 10) : 0;
  if (!end || *end || std::find(lib.archs.begin(), lib.archs.end(), int(sm)) == lib.archs.end()) {
    std::string known;
    for (int a : lib.archs)
      known += " sm_" + std::to_string(a);
    error = "cannot compile for '" + arch + "': " + version + " targets" + known +
            " (older GPUs need an older CUDA toolkit)";
    return false;
  }

  const std::vector<std::string> options = {"--gpu-architecture=" + arch, "--std=c++17"};
  std::string keyText = version;
  for (const std::string &o : options)
    keyText += " " + o;
  const std::string dir = cacheDir();
  char name[17];
  std::snprintf(name, sizeof name, "%016llx",
                static_cast<unsigned long long>(fnv1a64(src, fnv1a64(keyText + '\0'))));
  const std::string path = dir.empty() ? "" : dir + "/" + name + ".nvrtc";
  out = CudaBinary();
  out.arch = arch;
  if (!path.empty() && readCache(path, keyText, src.size(), out))
    return true;

  NvrtcProgram prog = nullptr;
  NvrtcResult rc = lib.nvrtcCreateProgram(&prog, src.c_str(), "dlc.cu", 0, nullptr, nullptr);
  if (rc != kNvrtcSuccess) {
    error = version + ": cannot create a program: " + lib.nvrtcGetErrorString(rc);
    return false;
  }
  std::vector<const char *> argv;
  for (const std::string &o : options)
    argv.push_back(o.c_str());
  rc = lib.nvrtcCompileProgram(prog, int(argv.size()), argv.data());
  size_t size = 0;
  if (lib.nvrtcGetProgramLogSize(prog, &size) == kNvrtcSuccess && size > 1) {
    out.log.resize(size);
    lib.nvrtcGetProgramLog(prog, out.log.data());
    out.log.resize(size - 1); // the terminating NUL
  }
  if (rc != kNvrtcSuccess) {
    error = version + " (" + arch +
            "): " + (out.log.empty() ? lib.nvrtcGetErrorString(rc) : describeFailure(out.log, src));
    lib.nvrtcDestroyProgram(&prog);
    return false;
  }
  bool ok = lib.nvrtcGetPTXSize(prog, &size) == kNvrtcSuccess;
  if (ok) {
    out.ptx.resize(size);
    ok = lib.nvrtcGetPTX(prog, out.ptx.data()) == kNvrtcSuccess;
    out.ptx.resize(size ? size - 1 : 0);
  }
  ok = ok && lib.nvrtcGetCUBINSize(prog, &size) == kNvrtcSuccess && size > 0;
  if (ok) {
    out.cubin.resize(size);
    ok = lib.nvrtcGetCUBIN(prog, reinterpret_cast<char *>(out.cubin.data())) == kNvrtcSuccess;
  }
  lib.nvrtcDestroyProgram(&prog);
  if (!ok) {
    error = version + " (" + arch + "): compiled, but returned no PTX or CUBIN";
    return false;
  }
  if (!path.empty())
    writeCache(dir, path, keyText, src.size(), out);
  return true;
}
