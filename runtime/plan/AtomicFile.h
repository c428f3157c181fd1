//===- AtomicFile.h - write a file so that readers see the old or the whole new one -*- C++ -*-===//
//
// Plans and checkpoints are read by other processes (a dlrun started while dlc writes, a
// resumed run after a kill): they must find either the previous file or the complete new one,
// never a prefix. One entry point for both writers.
//
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlc::plan {

/// Writes `bytes` to PATH.tmp.PID, fsyncs it and renames it over `path`; first removes the
/// PATH.tmp.* files of earlier writes whose process is gone (killed mid-write). On failure the
/// temp file is removed, `path` is untouched, and `error` is "cannot write WHAT'PATH': why"
/// (`what`: e.g. "checkpoint " or "").
bool writeFileAtomically(const std::string &path, const std::vector<uint8_t> &bytes,
                         const std::string &what, std::string &error);

} // namespace dlc::plan
