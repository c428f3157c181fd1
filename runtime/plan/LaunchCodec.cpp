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
       << '\n';
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
        l.library.epilogue >> l.library.biasArg;
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
