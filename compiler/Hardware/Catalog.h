//===- Catalog.h - the GPU hardware catalog ---------------------*- C++ -*-===//
//
// The GPUs the memory planner and the buying guide weigh a model against ("does ResNet-152
// train at batch 32 on a 12 GB RTX 3080 or does it need a 24 GB RTX 3090?"). The figures are
// data, not code: compiler/Hardware/gpus.yaml is embedded at build time, and users can add or
// override entries with a file in the same format. Plain C++ (yaml-cpp, no MLIR or LLVM), so
// the runtime-side tools and unit tests can use it alone.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlc::hw {

/// One GPU. Figures are per GPU; a board carrying several (Tesla K80) says so in
/// `gpusPerBoard`, and its price is per board. See gpus.yaml for how each figure is defined.
struct Gpu {
  std::string id;                   ///< Canonical lowercase name, e.g. "rtx3090", "a100-80gb".
  std::string name;                 ///< Display name, e.g. "GeForce RTX 3090".
  std::vector<std::string> aliases; ///< Other spellings people type, e.g. "3090".
  uint64_t memoryBytes = 0;         ///< Marketed GB * 2^30.
  double bandwidthGBs = 0;          ///< Peak memory bandwidth, 10^9 bytes/s.
  double fp32Tflops = 0;            ///< Peak FP32 (non-tensor).
  double fp16Tflops = 0;            ///< Dense tensor-core FP16 (FP32 accumulate); 0: none.
  std::string computeCapability;    ///< "8.6".
  int cudaCores = 0;
  int gpusPerBoard = 1;
  double priceUsd = 0; ///< Per board; 0: unknown.
  std::string priceNote, source;

  /// sm_XY from the compute capability, e.g. "sm_86"; empty if the capability is malformed.
  std::string smArch() const;
  /// Whether NVRTC in CUDA 13 can compile for this GPU: it targets sm_75 and newer only
  /// (75 80 86 87 88 89 90 100 103 110 120 121). Older cards can be memory-planned but not
  /// compiled for with that toolkit.
  bool nvrtcCanTarget() const;
};

/// A list of GPUs in display order (built-in entries first, then user additions).
struct Catalog {
  std::vector<Gpu> gpus;
};

/// The catalog built into dlc (gpus.yaml, embedded at build time). Parsed once on first use;
/// aborts with a message if the embedded data does not parse, since that is a build defect.
const Catalog &builtinCatalog();

/// Parses a catalog from YAML text into `into`. Entries whose id already exists in `into`
/// replace that entry in place; new ids are appended. On failure returns false, leaves `into`
/// unchanged and sets `error` to one line "path:line:col: error: ..." (`path` is only used for
/// that message): invalid YAML, unknown field (with a suggestion), missing field, wrong type,
/// negative or non-finite number, duplicate id, or a name (id or alias) that clashes with
/// another GPU's.
bool parseCatalog(const std::string &yamlText, const std::string &path, Catalog &into,
                  std::string &error);

/// Reads `path` and parses it with parseCatalog. A file that cannot be read gives
/// "cannot open 'path': <reason>".
bool loadCatalogFile(const std::string &path, Catalog &into, std::string &error);

/// Finds a GPU as people type it. Names compare ignoring case, spaces, '-' and '_' (and a
/// leading "NVIDIA"), against ids and aliases; an exact match wins, otherwise an unambiguous
/// prefix of an id or alias ("h100p" finds h100-pcie). On failure returns null and sets
/// `error` to one line: "unknown GPU 'x'; closest: a, b, c" or
/// "GPU name 'x' is ambiguous: a, b".
const Gpu *findGpu(const Catalog &c, const std::string &name, std::string &error);

/// Resolves "all" (every GPU, catalog order) or a comma-separated list of names, each with
/// findGpu; a GPU named twice is listed once. On failure `out` is unchanged and `error` is the
/// first bad entry's message.
bool selectGpus(const Catalog &c, const std::string &list, std::vector<const Gpu *> &out,
                std::string &error);

} // namespace dlc::hw
