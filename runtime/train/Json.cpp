//===- Json.cpp - a strict, bounded JSON parser for file headers -*- C++ -*-===//
//
// Recursive descent; the recursion is bounded by kMaxJsonDepth, every read by the text's end.
//
#include "runtime/train/Json.h"

#include <cstdio>

using namespace dlc::json;

const Value *Value::find(const std::string &key) const {
  for (const auto &[k, v] : members)
    if (k == key)
      return &v;
  return nullptr;
}

std::string dlc::json::printable(const std::string &s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 80; ++i) {
    unsigned char c = s[i];
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return s.size() > 80 ? out + "..." : out;
}

namespace {
constexpr uint64_t kMaxInteger = uint64_t(1) << 53;

struct Parser {
  const char *p, *end, *begin;
  std::string error;
  size_t values = 0;

  bool fail(const std::string &what) {
    if (error.empty())
      error = "header JSON: " + what + " at byte " + std::to_string(p - begin);
    return false;
  }
  void space() {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
      ++p;
  }
  bool expect(char c) {
    space();
    if (p >= end || *p != c)
      return fail(std::string("expected '") + c + "'");
    ++p;
    return true;
  }
  static int hexDigit(char c) {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  }
  bool string(std::string &out) {
    if (!expect('"'))
      return false;
    for (;;) {
      if (p >= end)
        return fail("unterminated string");
      unsigned char c = *p++;
      if (c == '"')
        return true;
      if (c < 0x20)
        return --p, fail("control character in a string");
      if (c != '\\') {
        out += char(c);
        continue;
      }
      if (p >= end)
        return fail("unterminated string");
      switch (char e = *p++) {
      case '"': case '\\': case '/': out += e; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        unsigned cp = 0;
        for (int i = 0; i < 4; ++i) {
          int d = p < end ? hexDigit(*p) : -1;
          if (d < 0)
            return fail("bad \\u escape");
          cp = cp * 16 + unsigned(d), ++p;
        }
        // Surrogate pairs never occur in tensor names dlc writes; refusing them keeps the
        // output valid UTF-8 without pairing logic.
        if (cp >= 0xd800 && cp < 0xe000)
          return fail("surrogate \\u escape");
        if (cp < 0x80) {
          out += char(cp);
        } else if (cp < 0x800) {
          out += char(0xc0 | (cp >> 6)), out += char(0x80 | (cp & 0x3f));
        } else {
          out += char(0xe0 | (cp >> 12)), out += char(0x80 | ((cp >> 6) & 0x3f));
          out += char(0x80 | (cp & 0x3f));
        }
        break;
      }
      default:
        return --p, fail("bad escape in a string");
      }
    }
  }
  bool value(Value &v, int depth) {
    if (depth > kMaxJsonDepth)
      return fail("nested deeper than " + std::to_string(kMaxJsonDepth));
    if (++values > kMaxJsonValues)
      return fail("more than " + std::to_string(kMaxJsonValues) + " values");
    space();
    if (p >= end)
      return fail("unexpected end");
    if (*p == '{') {
      ++p;
      v.kind = Value::Object;
      space();
      if (p < end && *p == '}')
        return ++p, true;
      for (;;) {
        std::string key;
        const char *at = p;
        if (!string(key))
          return false;
        if (v.find(key))
          return p = at, fail("duplicate key \"" + printable(key) + "\"");
        Value member;
        if (!expect(':') || !value(member, depth + 1))
          return false;
        v.members.emplace_back(std::move(key), std::move(member));
        space();
        if (p < end && *p == ',') {
          ++p;
          continue;
        }
        return expect('}');
      }
    }
    if (*p == '[') {
      ++p;
      v.kind = Value::Array;
      space();
      if (p < end && *p == ']')
        return ++p, true;
      for (;;) {
        v.items.emplace_back();
        if (!value(v.items.back(), depth + 1))
          return false;
        space();
        if (p < end && *p == ',') {
          ++p;
          continue;
        }
        return expect(']');
      }
    }
    if (*p == '"') {
      v.kind = Value::String;
      return string(v.string);
    }
    if (*p >= '0' && *p <= '9') {
      v.kind = Value::Integer;
      if (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9')
        return fail("leading zero in a number");
      uint64_t n = 0;
      while (p < end && *p >= '0' && *p <= '9') {
        n = n * 10 + uint64_t(*p++ - '0');
        if (n > kMaxInteger)
          return fail("integer larger than 2^53");
      }
      if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
        return fail("a fractional number (only non-negative integers are expected)");
      v.integer = n;
      return true;
    }
    return fail("unexpected character (only objects, arrays, strings and non-negative "
                "integers are expected)");
  }
};
} // namespace

bool dlc::json::parse(const char *text, size_t size, Value &out, std::string &error) {
  Parser ps{text, text + size, text, {}, 0};
  out = Value();
  if (!ps.value(out, 1))
    return error = ps.error, false;
  ps.space();
  if (ps.p != ps.end)
    return ps.fail("trailing text after the JSON value"), error = ps.error, false;
  return true;
}
