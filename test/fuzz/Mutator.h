//===- Mutator.h - a small deterministic input mutator for fuzz tests -*- C++ -*-===//
//
// The bounded fuzz runs in ctest (test/fuzz/BoundedFuzz.cpp) need mutations that are the same
// on every machine and every run, so that a failure in CI is a failure on a laptop: everything
// here is driven by one 64-bit seed through splitmix64, never by std:: distributions, whose
// output differs between standard libraries. The mutations are libFuzzer's staples, the ones
// that find size and parser bugs: bit flips, bytes and integers replaced by boundary values
// (both endians, since the data formats are big-endian and the checkpoint little-endian),
// decimal numbers in text replaced by boundary numbers, truncation, erased, duplicated and
// inserted ranges, dictionary tokens, and splices with another corpus entry.
//
// Reusable by any fuzz target: `Mutator m(seed, dictionary); m.mutate(bytes, corpus);`.
//
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace dlc::fuzz {

using Bytes = std::vector<uint8_t>;

/// splitmix64: tiny and fully specified.
class Rng {
public:
  explicit Rng(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform enough in [0, n) for fuzzing; n must be positive.
  uint64_t below(uint64_t n) { return next() % n; }
  bool oneIn(uint64_t n) { return below(n) == 0; }

private:
  uint64_t state;
};

class Mutator {
public:
  /// `dictionary`: tokens worth inserting or substituting (field names, op names, magic
  /// numbers as bytes); `maxSize` bounds every result.
  Mutator(uint64_t seed, std::vector<std::string> dictionary = {}, size_t maxSize = 1 << 20)
      : rng(seed), dictionary(std::move(dictionary)), maxSize(maxSize) {}

  Rng &random() { return rng; }

  /// Applies 1 to 8 random mutations to `data` (stacked, as libFuzzer does); `corpus` supplies
  /// splice partners (may be empty).
  void mutate(Bytes &data, const std::vector<Bytes> &corpus) {
    int n = 1 + int(rng.below(8));
    for (int i = 0; i < n; ++i)
      mutateOnce(data, corpus);
    if (data.size() > maxSize)
      data.resize(maxSize);
  }

  /// Boundary values for integers of any width: around 0, the powers of two where int8..int64
  /// and uint8..uint64 wrap, and sizes that overflow when multiplied.
  static const std::vector<uint64_t> &interestingIntegers() {
    static const std::vector<uint64_t> values = {
        0, 1, 2, 3, 4, 7, 8, 9, 10, 16, 28, 32, 64, 100, 127, 128, 255, 256, 512, 1000, 1024,
        3072, 3073, 4096, 32767, 32768, 65535, 65536, 65537, 100000, 1000000, 16777216,
        1000000000, 0x7fffffffULL, 0x80000000ULL, 0xffffffffULL, 0x100000000ULL,
        0x7fffffffffffffffULL, 0x8000000000000000ULL, ~0ULL, ~0ULL - 1, uint64_t(-2),
        uint64_t(-128), uint64_t(-129), uint64_t(-32768), uint64_t(-2147483648LL)};
    return values;
  }

  /// The same as text, plus the spellings a YAML scalar may take.
  static const std::vector<std::string> &interestingNumbers() {
    static const std::vector<std::string> values = {
        "0", "-1", "1", "2", "3", "65536", "2147483647", "2147483648", "-2147483648",
        "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "1000000000", "1e9", "1e308", "1e309", "-0", "0.5", ".nan", ".inf", "-.inf", "0x10",
        "18446744073709551616", "99999999999999999999999"};
    return values;
  }

private:
  Rng rng;
  std::vector<std::string> dictionary;
  size_t maxSize;

  size_t pos(const Bytes &d) { return d.empty() ? 0 : size_t(rng.below(d.size())); }

  void putInt(Bytes &d, size_t at, uint64_t v, int width, bool bigEndian) {
    for (int i = 0; i < width && at + size_t(i) < d.size(); ++i) {
      int shift = 8 * (bigEndian ? width - 1 - i : i);
      d[at + size_t(i)] = uint8_t(v >> shift);
    }
  }

  void mutateOnce(Bytes &d, const std::vector<Bytes> &corpus) {
    switch (rng.below(12)) {
    case 0: // flip one bit
      if (!d.empty())
        d[pos(d)] ^= uint8_t(1u << rng.below(8));
      break;
    case 1: // set one byte to a random or boundary value
      if (!d.empty())
        d[pos(d)] = rng.oneIn(2) ? uint8_t(rng.next()) : uint8_t(interestingIntegers()[rng.below(
                                                               interestingIntegers().size())]);
      break;
    case 2: { // overwrite an integer (1, 2, 4 or 8 bytes, either endian) with a boundary value
      if (d.empty())
        break;
      static const int widths[] = {1, 2, 4, 8};
      const auto &v = interestingIntegers();
      putInt(d, pos(d), v[rng.below(v.size())], widths[rng.below(4)], rng.oneIn(2));
      break;
    }
    case 3: // truncate
      d.resize(d.empty() ? 0 : size_t(rng.below(d.size() + 1)));
      break;
    case 4: { // erase a range
      if (d.empty())
        break;
      size_t at = pos(d), n = 1 + size_t(rng.below(std::min<size_t>(d.size() - at, 64)));
      d.erase(d.begin() + long(at), d.begin() + long(at + n));
      break;
    }
    case 5: { // duplicate a range in place (repeats a layer, a record, a tensor)
      if (d.empty())
        break;
      size_t at = pos(d), n = 1 + size_t(rng.below(std::min<size_t>(d.size() - at, 256)));
      Bytes copy(d.begin() + long(at), d.begin() + long(at + n));
      d.insert(d.begin() + long(at), copy.begin(), copy.end());
      break;
    }
    case 6: { // insert random bytes
      size_t at = d.empty() ? 0 : size_t(rng.below(d.size() + 1)), n = 1 + size_t(rng.below(8));
      for (size_t i = 0; i < n; ++i)
        d.insert(d.begin() + long(at), uint8_t(rng.next()));
      break;
    }
    case 7:
    case 8: // replace a decimal number in text (a shape, units, steps) with a boundary number
      replaceNumber(d);
      break;
    case 9: { // insert or overwrite with a dictionary token
      if (dictionary.empty())
        break;
      const std::string &t = dictionary[rng.below(dictionary.size())];
      size_t at = d.empty() ? 0 : size_t(rng.below(d.size() + 1));
      if (rng.oneIn(2) || at + t.size() > d.size())
        d.insert(d.begin() + long(at), t.begin(), t.end());
      else
        std::memcpy(d.data() + at, t.data(), t.size());
      break;
    }
    case 10: { // splice: our prefix, another entry's suffix
      if (corpus.empty())
        break;
      const Bytes &other = corpus[rng.below(corpus.size())];
      size_t keep = d.empty() ? 0 : size_t(rng.below(d.size() + 1));
      size_t from = other.empty() ? 0 : size_t(rng.below(other.size() + 1));
      d.resize(keep);
      d.insert(d.end(), other.begin() + long(from), other.end());
      break;
    }
    case 11: { // copy a range over another place in the same input (swaps fields, layers)
      if (d.size() < 2)
        break;
      size_t from = pos(d), to = pos(d);
      size_t n = 1 + size_t(rng.below(std::min<size_t>(d.size() - std::max(from, to), 64)));
      std::memmove(d.data() + to, d.data() + from, n);
      break;
    }
    }
  }

  void replaceNumber(Bytes &d) {
    std::vector<std::pair<size_t, size_t>> numbers; // [begin, end) of each run of digits
    for (size_t i = 0; i < d.size();) {
      if (d[i] >= '0' && d[i] <= '9') {
        size_t j = i;
        while (j < d.size() && d[j] >= '0' && d[j] <= '9')
          ++j;
        numbers.push_back({i, j});
        i = j;
      } else {
        ++i;
      }
    }
    if (numbers.empty())
      return;
    auto [b, e] = numbers[rng.below(numbers.size())];
    const auto &v = interestingNumbers();
    const std::string &n = v[rng.below(v.size())];
    d.erase(d.begin() + long(b), d.begin() + long(e));
    d.insert(d.begin() + long(b), n.begin(), n.end());
  }
};

} // namespace dlc::fuzz
