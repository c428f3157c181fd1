//===- Safetensors.h - checkpoints PyTorch reads (safetensors) ---*- C++ -*-===//
//
// A .safetensors checkpoint holds a plan's persistent state as named float32 tensors in
// PyTorch's names and layouts, so that `safetensors.torch.load_file` returns a state dict:
//   - parameters and model state under their plan names (`fc1.weight`, `bn1.running_mean`);
//     dlc's layouts are already PyTorch's (linear weight [out][in], conv [K][C][R][S]);
//   - optimizer state in the same file under an `optim.` prefix (`optim.fc1.weight.momentum`,
//     `optim.optimizer.state`), so that one atomic write keeps weights and optimizer state
//     together; drop the prefixed keys before `module.load_state_dict`.
// The format (huggingface.co/docs/safetensors): u64 little-endian header length N, N bytes of
// JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the tensors' bytes, offsets relative to the end of the header.
//
#pragma once

#include "runtime/plan/Plan.h"

#include <map>
#include <string>
#include <vector>

namespace dlc {

/// Larger headers are refused before being read (the safetensors library's own limit).
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100u << 20;

/// "[2, 3]": a shape as the reader's errors (and the data format's) show it.
std::string shapeText(const std::vector<int64_t> &shape);

/// The tensor name a plan parameter has in a .safetensors checkpoint.
std::string safetensorsName(const plan::Plan &plan, const plan::Parameter &param);

/// Writes every parameter, model-state and optimizer-state buffer atomically to `path`
/// (plan::writeFileAtomically).
bool saveSafetensors(const plan::Plan &plan, const uint8_t *arena, const std::string &path,
                     std::string &error);

/// Restores them. Refuses, with `error` one line naming the file, a malformed file (header
/// length beyond the file, JSON that does not parse, unknown fields or dtypes, offsets outside
/// the data, overlapping, leaving holes or trailing bytes) and one that lacks a plan tensor or
/// has it with another dtype than F32 or another shape. Tensors the plan does not have are
/// checked and ignored (e.g. torch's `num_batches_tracked`). The arena is only written once
/// the whole header has been checked.
bool loadSafetensors(const plan::Plan &plan, uint8_t *arena, const std::string &path,
                     std::string &error);

/// One tensor of a safetensors file: its dtype name ("F32", "I32", ...), shape and raw bytes.
struct SafetensorsTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};
/// Writes `tensors` (dtype F32 or I32, data as many bytes as the shape says) atomically to
/// `path`, in the names' order, with `model` in the metadata.
bool writeSafetensors(const std::string &path, const std::map<std::string, SafetensorsTensor> &tensors,
                      const std::string &model, std::string &error);
/// Reads every tensor of `path` (the data format `safetensors`: runtime/train/TensorData.h),
/// after the same checks of the header and the data's layout as loadSafetensors.
bool readSafetensors(const std::string &path, std::map<std::string, SafetensorsTensor> &out,
                     std::string &error);

} // namespace dlc
