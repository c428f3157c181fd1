//===- Json.h - a strict, bounded JSON parser for file headers ---*- C++ -*-===//
//
// The safetensors header is JSON written by another program (PyTorch, a user's script), so
// its reader must refuse anything malformed in one line rather than crash or loop. This is
// the subset such headers use: objects, arrays, strings and non-negative integers. Floats,
// negative numbers, true, false and null are refused (no header field takes them), as are
// nesting deeper than kMaxJsonDepth, more than kMaxJsonValues values, duplicate keys, and
// trailing text other than whitespace.
//
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dlc::json {

/// Deep enough for any safetensors header (the document, a tensor, its shape: depth 3).
constexpr int kMaxJsonDepth = 8;
/// Values (objects, arrays, strings, integers) in one document: about 200,000 tensors' worth.
/// A Value takes ~100 bytes, so this caps the tree near 200 MB whatever the text's size (a
/// 100 MiB header of "[0,0,..." would otherwise grow to GBs).
constexpr size_t kMaxJsonValues = size_t(1) << 21;

struct Value {
  enum Kind : uint8_t { Object, Array, String, Integer } kind = Object;
  std::string string;                               // String
  uint64_t integer = 0;                             // Integer (at most 2^53, as JSON readers keep)
  std::vector<std::pair<std::string, Value>> members; // Object, in file order, keys unique
  std::vector<Value> items;                         // Array

  /// The member named `key`, or null.
  const Value *find(const std::string &key) const;
};

/// `s` fit for a one-line message: control bytes and DEL as \xNN, cut at 80 bytes with "...".
/// Names read from a file go through it before they reach an error.
std::string printable(const std::string &s);

/// Parses `text` (`size` bytes) into `out`. On failure returns false with `error` saying what
/// and at which byte offset, e.g. "header JSON: expected ':' at byte 17".
bool parse(const char *text, size_t size, Value &out, std::string &error);

} // namespace dlc::json
