//===- Checkpoint.h - save and restore a plan's persistent state -*- C++ -*-===//
#pragma once

#include "runtime/plan/Plan.h"

#include <string>

namespace dlc {
/// Both choose the format by the path's extension: `.safetensors` is the safetensors format
/// PyTorch reads (Safetensors.h: parameter names and layouts, optimizer state under `optim.`);
/// any other is dlc's own "DLCCKPT1" format (Checkpoint.cpp).
///
/// Writes every parameter and optimizer-state buffer (by name) atomically to `path`: to
/// `path`.tmp.PID, fsynced, then renamed, so a reader finds the old file or the complete new
/// one. First removes the temp files of earlier saves of `path` whose process is gone (killed).
bool saveCheckpoint(const plan::Plan &plan, const uint8_t *arena, const std::string &path,
                    std::string &error);
/// Restores them; every parameter of the plan must be present with the same size.
bool loadCheckpoint(const plan::Plan &plan, uint8_t *arena, const std::string &path,
                    std::string &error);
} // namespace dlc
