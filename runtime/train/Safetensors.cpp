//===- Safetensors.cpp - checkpoints PyTorch reads (safetensors) -*- C++ -*-===//
//
// The writer lays the tensors out in plan order, F32, and pads the header with spaces to a
// multiple of 8 bytes as the safetensors library does (so data is aligned when mapped). The
// reader checks the whole header against the file's size before touching the arena, then
// reads each plan tensor straight from the file into its buffer. Little-endian hosts only,
// like the rest of the runtime's file formats.
//
#include "runtime/train/Safetensors.h"

#include "runtime/plan/AtomicFile.h"
#include "runtime/train/Json.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>

using namespace dlc;

namespace {

/// The shape a parameter is saved with: the plan's when it accounts for the buffer's bytes,
/// else flat (scalars such as the optimizer state vector).
std::vector<int64_t> savedShape(const plan::Plan &plan, const plan::Parameter &p) {
  const uint64_t floats = plan.buffers[p.buffer].bytes / 4;
  uint64_t n = 1;
  for (int64_t d : p.shape)
    n = d < 0 ? 0 : n * uint64_t(d);
  if (!p.shape.empty() && n == floats)
    return p.shape;
  return {int64_t(floats)};
}

void appendJsonString(std::string &out, const std::string &s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\', out += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  out += '"';
}

/// Bytes per element of every dtype the safetensors format names; 0 for an unknown one.
uint64_t dtypeBytes(const std::string &d) {
  static const std::map<std::string, uint64_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"U16", 2},
      {"I16", 2},  {"F16", 2}, {"BF16", 2}, {"U32", 4},    {"I32", 4},     {"F32", 4},
      {"U64", 8},  {"I64", 8}, {"F64", 8}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

struct Entry {
  std::string name, dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

/// Checks one tensor's header entry and fills `e`; false with `why` otherwise.
bool readEntry(const std::string &name, const json::Value &v, uint64_t dataBytes, Entry &e,
               std::string &why) {
  e.name = name;
  const std::string shown = json::printable(name);
  if (v.kind != json::Value::Object)
    return why = "tensor '" + shown + "' is not a JSON object", false;
  for (const auto &[key, member] : v.members)
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      return why = "tensor '" + shown + "' has an unknown field '" + json::printable(key) + "'", false;
  const json::Value *dtype = v.find("dtype"), *shape = v.find("shape"),
                    *offsets = v.find("data_offsets");
  if (!dtype || !shape || !offsets)
    return why = "tensor '" + shown + "' lacks " +
                 (!dtype ? "dtype" : !shape ? "shape" : "data_offsets"),
           false;
  if (dtype->kind != json::Value::String || dtypeBytes(dtype->string) == 0)
    return why = "tensor '" + shown + "' has an unknown dtype", false;
  e.dtype = dtype->string;
  if (shape->kind != json::Value::Array)
    return why = "tensor '" + shown + "' has a shape that is not a list of integers", false;
  // The element count, checked against overflow: every byte must lie inside the file.
  uint64_t bytes = dtypeBytes(e.dtype);
  for (const json::Value &d : shape->items) {
    if (d.kind != json::Value::Integer)
      return why = "tensor '" + shown + "' has a shape that is not a list of integers", false;
    e.shape.push_back(int64_t(d.integer));
    if (d.integer != 0 && bytes > dataBytes / d.integer)
      bytes = dataBytes + 1; // more than the file holds; stays so (refused below)
    else
      bytes *= d.integer;
  }
  if (offsets->kind != json::Value::Array || offsets->items.size() != 2 ||
      offsets->items[0].kind != json::Value::Integer ||
      offsets->items[1].kind != json::Value::Integer)
    return why = "tensor '" + shown + "' has data_offsets that are not [begin, end]", false;
  e.begin = offsets->items[0].integer, e.end = offsets->items[1].integer;
  if (e.begin > e.end || e.end > dataBytes)
    return why = "tensor '" + shown + "' has data_offsets [" + std::to_string(e.begin) + ", " +
                 std::to_string(e.end) + "] outside the " + std::to_string(dataBytes) +
                 " data bytes",
           false;
  if (e.end - e.begin != bytes)
    return why = "tensor '" + shown + "' of shape " + shapeText(e.shape) + " " + e.dtype +
                 " has " + std::to_string(e.end - e.begin) + " bytes of data, not " +
                 std::to_string(bytes),
           false;
  return true;
}

struct FileCloser {
  void operator()(FILE *f) const { std::fclose(f); }
};

} // namespace

std::string dlc::shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string dlc::safetensorsName(const plan::Plan &plan, const plan::Parameter &param) {
  const bool optimizer = plan.buffers[param.buffer].kind == plan::BufferKind::OptimizerState;
  return optimizer ? "optim." + param.name : param.name;
}

bool dlc::saveSafetensors(const plan::Plan &plan, const uint8_t *arena, const std::string &path,
                          std::string &error) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\",\"producer\":\"dlc\",\"model\":";
  appendJsonString(header, plan.model);
  header += "}";
  uint64_t at = 0;
  for (const plan::Parameter &p : plan.params) {
    const plan::Buffer &b = plan.buffers[p.buffer];
    header += ",";
    appendJsonString(header, safetensorsName(plan, p));
    header += ":{\"dtype\":\"F32\",\"shape\":[";
    std::vector<int64_t> shape = savedShape(plan, p);
    for (size_t i = 0; i < shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(at) + "," + std::to_string(at + b.bytes) +
              "]}";
    at += b.bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::vector<uint8_t> out(8);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out[i] = uint8_t(n >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.reserve(out.size() + at);
  for (const plan::Parameter &p : plan.params) {
    const plan::Buffer &b = plan.buffers[p.buffer];
    out.insert(out.end(), arena + b.offset, arena + b.offset + b.bytes);
  }
  return plan::writeFileAtomically(path, out, "checkpoint ", error);
}

namespace {
/// A safetensors file whose header has been read and checked: every entry well formed, the
/// entries tiling the data exactly. `f` is positioned anywhere; data starts at `dataStart`.
struct CheckedFile {
  std::unique_ptr<FILE, FileCloser> f;
  uint64_t dataStart = 0;
  std::vector<Entry> entries;
  std::map<std::string, size_t> byName;
};

/// Opens and checks `path` (`what` names it in errors: "checkpoint", "data file").
bool openChecked(const std::string &path, const char *what, CheckedFile &out,
                 std::string &error) {
  auto fail = [&](const std::string &why) {
    error = path + ": " + why;
    return false;
  };
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return error = std::string("cannot open ") + what + " '" + path + "': " + std::strerror(errno),
           false;
  if (!S_ISREG(st.st_mode))
    return fail("not a regular file");
  out.f.reset(std::fopen(path.c_str(), "rb"));
  if (!out.f)
    return error = std::string("cannot open ") + what + " '" + path + "': " + std::strerror(errno),
           false;
  FILE *f = out.f.get();
  const uint64_t fileBytes = uint64_t(st.st_size);
  uint8_t len[8];
  if (fileBytes < 8 || std::fread(len, 1, 8, f) != 8)
    return fail("not a safetensors file (shorter than its 8-byte header length)");
  uint64_t headerBytes = 0;
  for (int i = 0; i < 8; ++i)
    headerBytes |= uint64_t(len[i]) << (8 * i);
  if (headerBytes > fileBytes - 8)
    return fail("safetensors header length " + std::to_string(headerBytes) + " is beyond the " +
                std::to_string(fileBytes) + "-byte file (truncated, or not a safetensors file)");
  if (headerBytes > kMaxSafetensorsHeaderBytes)
    return fail("safetensors header length " + std::to_string(headerBytes) +
                " is more than the 100 MiB allowed");
  std::string header(headerBytes, '\0');
  if (std::fread(header.data(), 1, headerBytes, f) != headerBytes)
    return fail("cannot read the safetensors header: " + std::string(std::strerror(errno)));
  json::Value root;
  std::string why;
  if (!json::parse(header.data(), header.size(), root, why))
    return fail(why);
  if (root.kind != json::Value::Object)
    return fail("the safetensors header is not a JSON object");
  const uint64_t dataBytes = fileBytes - 8 - headerBytes;
  out.dataStart = 8 + headerBytes;
  for (const auto &[name, v] : root.members) {
    if (name == "__metadata__") {
      bool strings = v.kind == json::Value::Object;
      for (const auto &m : v.members)
        strings = strings && m.second.kind == json::Value::String;
      if (!strings)
        return fail("__metadata__ is not an object of strings");
      continue;
    }
    Entry e;
    if (!readEntry(name, v, dataBytes, e, why))
      return fail(why);
    out.byName[name] = out.entries.size();
    out.entries.push_back(std::move(e));
  }
  // The tensors must tile the data exactly, as the format requires: sorted by offset, each
  // starts where the previous ended, and the last ends at the end of the file.
  std::vector<const Entry *> sorted;
  for (const Entry &e : out.entries)
    sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const Entry *a, const Entry *b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t cursor = 0;
  for (const Entry *e : sorted) {
    if (e->begin < cursor)
      return fail("tensor '" + json::printable(e->name) + "' overlaps another tensor's data");
    if (e->begin > cursor)
      return fail("the data has unused bytes before tensor '" + json::printable(e->name) + "'");
    cursor = e->end;
  }
  if (cursor != dataBytes)
    return fail(std::to_string(dataBytes - cursor) + " bytes after the last tensor's data");
  return true;
}

bool readData(const std::string &path, CheckedFile &file, const Entry &e, uint8_t *dst,
              std::string &error) {
  if (::fseeko(file.f.get(), off_t(file.dataStart + e.begin), SEEK_SET) != 0 ||
      std::fread(dst, 1, e.end - e.begin, file.f.get()) != e.end - e.begin)
    return error = path + ": cannot read tensor '" + json::printable(e.name) +
                   "' (file changed while reading?)",
           false;
  return true;
}
} // namespace

bool dlc::loadSafetensors(const plan::Plan &plan, uint8_t *arena, const std::string &path,
                          std::string &error) {
  auto fail = [&](const std::string &why) {
    error = path + ": " + why;
    return false;
  };
  CheckedFile file;
  if (!openChecked(path, "checkpoint", file, error))
    return false;
  // Every plan tensor present, F32, in the plan's shape: then, and only then, the arena.
  for (const plan::Parameter &p : plan.params) {
    const std::string name = safetensorsName(plan, p);
    auto it = file.byName.find(name);
    if (it == file.byName.end())
      return fail("checkpoint has no tensor '" + name + "' (was it saved from another model?)");
    const Entry &e = file.entries[it->second];
    if (e.dtype != "F32")
      return fail("tensor '" + name + "' is " + e.dtype + ", not F32");
    const std::vector<int64_t> want = savedShape(plan, p);
    if (e.shape != want)
      return fail("tensor '" + name + "' has shape " + shapeText(e.shape) +
                  " but the plan expects " + shapeText(want));
  }
  for (const plan::Parameter &p : plan.params) {
    const Entry &e = file.entries[file.byName[safetensorsName(plan, p)]];
    if (!readData(path, file, e, arena + plan.buffers[p.buffer].offset, error))
      return false;
  }
  return true;
}

bool dlc::readSafetensors(const std::string &path, std::map<std::string, SafetensorsTensor> &out,
                          std::string &error) {
  CheckedFile file;
  if (!openChecked(path, "data file", file, error))
    return false;
  out.clear();
  for (const Entry &e : file.entries) {
    SafetensorsTensor &t = out[e.name];
    t.dtype = e.dtype;
    t.shape = e.shape;
    t.data.resize(e.end - e.begin);
    if (!t.data.empty() && !readData(path, file, e, t.data.data(), error))
      return false;
  }
  return true;
}

bool dlc::writeSafetensors(const std::string &path,
                           const std::map<std::string, SafetensorsTensor> &tensors,
                           const std::string &model, std::string &error) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\",\"producer\":\"dlc\",\"model\":";
  appendJsonString(header, model);
  header += "}";
  uint64_t at = 0;
  for (const auto &[name, t] : tensors) {
    header += ",";
    appendJsonString(header, name);
    header += ":{\"dtype\":";
    appendJsonString(header, t.dtype);
    header += ",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(at) + "," +
              std::to_string(at + t.data.size()) + "]}";
    at += t.data.size();
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::vector<uint8_t> out(8);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out[i] = uint8_t(n >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.reserve(out.size() + at);
  for (const auto &entry : tensors)
    out.insert(out.end(), entry.second.data.begin(), entry.second.data.end());
  return plan::writeFileAtomically(path, out, "output ", error);
}
