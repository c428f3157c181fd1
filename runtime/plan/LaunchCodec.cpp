//===- LaunchCodec.cpp - launch records <-> the plan's text form -*- C++ -*-===//
//
// Text rather than another binary layout: the plan's checksum already guards the bytes, and a
// line per kernel can be read with `dlrun --dump`-style tools and diffed in tests.
//
#include "runtime/plan/CudaLaunch.h"

#include <sstream>

using namespace dlc::cuda;

std::string dlc::cuda::encodeLaunches(const std::vector<CudaLaunch> &launches) {
  std::ostringstream os;
  for (const CudaLaunch &l : launches) {
    const CudnnConv &c = l.library.conv;
    const CublasGemm &g = l.library.gemm;
    os << l.kernel << ' ' << (l.function.empty() ? "-" : l.function) << ' ' << l.grid.x << ' '
       << l.grid.y << ' ' << l.grid.z << ' ' << l.block.x << ' ' << l.block.y << ' '
       << l.block.z << ' ' << int(l.library.kind) << ' ' << c.n << ' ' << c.c << ' ' << c.h
       << ' ' << c.w << ' ' << c.k << ' ' << c.r << ' ' << c.s << ' ' << c.padH << ' '
       << c.padW << ' ' << c.strideH << ' ' << c.strideW << ' ' << c.outH << ' ' << c.outW
       << ' ' << g.transA << ' ' << g.transB << ' ' << g.m << ' ' << g.n << ' ' << g.k << ' '
       << g.lda << ' ' << g.ldb << ' ' << g.ldc << ' ' << g.aArg << ' ' << g.bArg << ' '
       << l.library.workspaceBytes << ' ' << l.library.epilogue << ' ' << l.library.biasArg
       << ' ' << c.dilH << ' ' << c.dilW << ' ' << c.groups << '\n';
  }
  return os.str();
}

bool dlc::cuda::decodeLaunches(const std::string &text, std::vector<CudaLaunch> &out,
                               std::string &error) {
  std::istringstream lines(text);
  std::string line;
  std::vector<CudaLaunch> launches;
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    CudaLaunch l;
    CudnnConv &c = l.library.conv;
    CublasGemm &g = l.library.gemm;
    int kind = 0;
    in >> l.kernel >> l.function >> l.grid.x >> l.grid.y >> l.grid.z >> l.block.x >> l.block.y >>
        l.block.z >> kind >> c.n >> c.c >> c.h >> c.w >> c.k >> c.r >> c.s >> c.padH >> c.padW >>
        c.strideH >> c.strideW >> c.outH >> c.outW >> g.transA >> g.transB >> g.m >> g.n >> g.k >>
        g.lda >> g.ldb >> g.ldc >> g.aArg >> g.bArg >> l.library.workspaceBytes >>
        l.library.epilogue >> l.library.biasArg >> c.dilH >> c.dilW >> c.groups;
    std::string extra;
    if (!in || (in >> extra) || kind < 0 || kind > int(CudaLibraryKind::CublasGemm) ||
        l.kernel != int32_t(launches.size())) {
      error = "malformed CUDA launch record " + std::to_string(launches.size()) + ": '" + line +
              "'";
      return false;
    }
    if (l.function == "-")
      l.function.clear();
    l.library.kind = CudaLibraryKind(kind);
    launches.push_back(std::move(l));
  }
  out = std::move(launches);
  return true;
}

bool dlc::cuda::libraryCallFor(const plan::Plan &plan, const plan::Kernel &k, CudaLibraryKind kind,
                               CudaLibraryCall &call) {
  using plan::KernelKind;
  const std::vector<int64_t> &i = k.ints;
  call = CudaLibraryCall();
  call.kind = kind;
  call.epilogue = plan::kernelEpilogue(k);
  bool bias = call.epilogue & plan::kEpilogueBias;
  switch (kind) {
  case CudaLibraryKind::CudnnConvFwd:
  case CudaLibraryKind::CudnnConvBwdData:
  case CudaLibraryKind::CudnnConvBwdFilter: {
    KernelKind expected = kind == CudaLibraryKind::CudnnConvFwd       ? KernelKind::Conv2dFwd
                          : kind == CudaLibraryKind::CudnnConvBwdData ? KernelKind::Conv2dBwdData
                                                                      : KernelKind::Conv2dBwdFilter;
    KernelKind general = kind == CudaLibraryKind::CudnnConvFwd ? KernelKind::Conv2dGeneralFwd
                         : kind == CudaLibraryKind::CudnnConvBwdData
                             ? KernelKind::Conv2dGeneralBwdData
                             : KernelKind::Conv2dGeneralBwdFilter;
    bool isGeneral = k.kind == general && i.size() >= 16;
    if ((k.kind != expected && !isGeneral) || i.size() < 11 || k.args.size() < 4)
      return false;
    // cuDNN pads symmetrically only.
    if (isGeneral && (i[9] != i[11] || i[10] != i[12]))
      return false;
    CudnnConv &c = call.conv;
    c.n = int(i[0]), c.c = int(i[1]), c.h = int(i[2]), c.w = int(i[3]);
    c.k = int(i[4]), c.r = int(i[5]), c.s = int(i[6]);
    c.strideH = int(i[7]), c.strideW = int(i[8]), c.padH = int(i[9]), c.padW = int(i[10]);
    if (isGeneral)
      c.dilH = int(i[13]), c.dilW = int(i[14]), c.groups = int(i[15]);
    c.outH = (c.h + 2 * c.padH - c.dilH * (c.r - 1) - 1) / c.strideH + 1;
    c.outW = (c.w + 2 * c.padW - c.dilW * (c.s - 1) - 1) / c.strideW + 1;
    call.workspaceBytes = plan.buffers[k.args[3]].bytes;
    call.biasArg = bias ? 4 : -1;
    return true;
  }
  case CudaLibraryKind::CublasGemm: {
    if (k.kind != KernelKind::Matmul || i.size() < 5)
      return false;
    // Row-major C[M][N] = op(A) op(B) as column-major C^T = op(B)^T op(A)^T.
    const int64_t m = i[0], n = i[1], kk = i[2];
    const bool transA = i[3], transB = i[4];
    CublasGemm &g = call.gemm;
    g.transA = transB;
    g.transB = transA;
    g.m = int(n), g.n = int(m), g.k = int(kk);
    g.lda = int(transB ? kk : n);
    g.ldb = int(transA ? m : kk);
    g.ldc = int(n);
    g.aArg = 1;
    g.bArg = 0;
    call.biasArg = bias ? 3 : -1;
    return true;
  }
  case CudaLibraryKind::None:
    return false;
  }
  return false;
}

bool dlc::cuda::checkLaunches(const plan::Plan &plan, const plan::Program &prog,
                              const std::vector<CudaLaunch> &launches, std::string &error) {
  if (launches.size() != prog.kernels.size()) {
    error = "program '" + prog.name + "' has " + std::to_string(launches.size()) +
            " CUDA launch records for " + std::to_string(prog.kernels.size()) + " kernels";
    return false;
  }
  for (size_t n = 0; n < launches.size(); ++n) {
    const CudaLaunch &l = launches[n];
    const CudaLibraryCall &lib = l.library;
    auto fail = [&](const std::string &why) {
      error = "program '" + prog.name + "' CUDA launch " + std::to_string(n) + ": " + why;
      return false;
    };
    if (l.kernel != int32_t(n))
      return fail("names kernel " + std::to_string(l.kernel));
    if (lib.kind == CudaLibraryKind::None) {
      if (l.function.empty())
        return fail("neither a generated kernel nor a library call");
      // The driver rejects larger blocks; grids are grid-stride loops of any size.
      uint64_t threads = uint64_t(l.block.x) * l.block.y * l.block.z;
      if (threads == 0 || threads > 1024 || l.grid.x == 0 || l.grid.y == 0 || l.grid.z == 0)
        return fail("launch configuration out of range");
      continue;
    }
    // A library call reads and writes its buffers by its own descriptors: they must be
    // exactly those the kernel's checked attributes give, or cuDNN/cuBLAS could be told
    // larger tensors than the buffers hold.
    CudaLibraryCall expected;
    if (!libraryCallFor(plan, prog.kernels[n], lib.kind, expected))
      return fail(std::string(cudaLibraryKindName(lib.kind)) + " for a " +
                  plan::kernelKindName(prog.kernels[n].kind) + " kernel");
    const CudnnConv &a = lib.conv, &b = expected.conv;
    const CublasGemm &g = lib.gemm, &h = expected.gemm;
    bool convSame = a.n == b.n && a.c == b.c && a.h == b.h && a.w == b.w && a.k == b.k && a.r == b.r &&
                    a.s == b.s && a.padH == b.padH && a.padW == b.padW && a.strideH == b.strideH &&
                    a.strideW == b.strideW && a.outH == b.outH && a.outW == b.outW &&
                    a.dilH == b.dilH && a.dilW == b.dilW && a.groups == b.groups;
    bool gemmSame = g.transA == h.transA && g.transB == h.transB && g.m == h.m && g.n == h.n && g.k == h.k &&
                    g.lda == h.lda && g.ldb == h.ldb && g.ldc == h.ldc && g.aArg == h.aArg && g.bArg == h.bArg;
    // cuBLAS and cuDNN are told one storage type for the operands and the result; a 2-byte
    // result's epilogue is a generated kernel, launched after the call.
    const plan::Kernel &k = prog.kernels[n];
    const plan::DType type = plan.buffers[k.args[0]].dtype;
    if (plan.buffers[k.args[1]].dtype != type || plan.buffers[k.args[2]].dtype != type)
      return fail(std::string(cudaLibraryKindName(lib.kind)) + " on buffers of different dtypes");
    const bool generatedEpilogue = lib.epilogue && plan::dtypeBytes(type) == 2;
    if (generatedEpilogue != !l.function.empty())
      return fail(generatedEpilogue ? "no generated epilogue for a 2-byte output"
                                    : "a generated kernel beside a library call");
    if (generatedEpilogue) {
      uint64_t threads = uint64_t(l.block.x) * l.block.y * l.block.z;
      if (threads == 0 || threads > 1024 || l.grid.x == 0 || l.grid.y == 0 || l.grid.z == 0)
        return fail("launch configuration out of range");
    }
    if ((lib.kind == CudaLibraryKind::CublasGemm ? !gemmSame : !convSame) ||
        lib.workspaceBytes > expected.workspaceBytes || lib.epilogue != expected.epilogue ||
        lib.biasArg != expected.biasArg)
      return fail(std::string(cudaLibraryKindName(lib.kind)) +
                  " descriptor does not match the kernel's attributes and buffers");
  }
  return true;
}
