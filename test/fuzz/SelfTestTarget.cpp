//===- SelfTestTarget.cpp - a target that fails on purpose, to test the driver -*- C++ -*-===//
//
// A fuzz run that passes proves nothing unless the driver can fail: this target crashes, aborts
// or hangs on its seeds, and ctest checks that BoundedFuzz reports each one as a failure with a
// reproducer (test fuzz-driver-selftest).
//
#include "test/fuzz/FuzzTarget.h"

#include <csignal>
#include <string>

const char *const dlc::fuzz::kTargetName = "selftest";

std::vector<dlc::fuzz::Bytes> dlc::fuzz::builtinSeeds() {
  std::vector<Bytes> seeds;
  for (std::string s : {"fine", "segv", "abort", "hang"})
    seeds.emplace_back(s.begin(), s.end());
  return seeds;
}

std::vector<std::string> dlc::fuzz::dictionary() { return {}; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string s(reinterpret_cast<const char *>(data), size);
  if (s == "segv")
    std::raise(SIGSEGV);
  dlc::fuzz::require(s != "abort", "the input says abort");
  if (s == "hang")
    for (volatile bool forever = true; forever;) {
    }
  return 0;
}
