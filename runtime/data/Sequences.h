//===- Sequences.h - token sequences for language models -----------*- C++ -*-===//
//
// The sequence data formats: `text` (a file's bytes are the tokens, vocabulary 256) and
// `tokens` (a little-endian uint16 file, nanoGPT's train.bin). The last `testFraction` of the
// file is the test set, the rest the training set; each part is cut into non-overlapping
// windows of seqLen tokens at multiples of seqLen, whose targets are the same window shifted
// by one token (nanoGPT's get_batch, at fixed places instead of random offsets: an epoch then
// sees every token once, and shuffling permutes the windows).
//
#pragma once

#include "runtime/data/Datasets.h"

#include <cstdint>
#include <string>

namespace dlc::data {

/// The largest sequence file read: token counts stay below 2^31 (int32 indices).
constexpr uint64_t kMaxSequenceFileBytes = 1ull << 31;

/// Loads the training (`train`) or test part of `path` as `d.count` windows of `seqLen` tokens
/// (d.seqLen, d.tokens). `uint16`: the tokens format, else bytes. Every token of the file must
/// be below `vocab`. `limit` > 0 keeps at most that many windows. On failure returns false,
/// leaves `d` unchanged and sets `error` to one line starting with the path, e.g.
///   "/x/tiny.txt: the test part (the last 10% of the file) has 40 tokens, fewer than
///    seq_len + 1 = 65"
///   "/x/train.bin: token 50257 at position 1234 is not below the model's vocabulary of 50257"
bool loadSequences(const std::string &path, bool uint16, int64_t seqLen, float testFraction,
                   bool train, int64_t vocab, Dataset &d, std::string &error, int64_t limit = 0);

/// Example `e` of `d`: its window (`next` false) or its targets, the window shifted by one
/// (`next` true), as int32 into `out` (d.seqLen values).
void sequenceWindow(const Dataset &d, int64_t e, bool next, int32_t *out);

} // namespace dlc::data
