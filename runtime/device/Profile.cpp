//===- Profile.cpp - Chrome trace output --------------------------*- C++ -*-===//
#include "runtime/device/Profile.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

using namespace dlc;

namespace {
/// The trace row of a data-parallel replica's allreduces (the devices' rows are 1..K).
constexpr int kCommRow = 1000;

/// `s` as a JSON string literal.
std::string jsonString(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if ((unsigned char)c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      continue;
    }
    out += c;
  }
  return out + "\"";
}
} // namespace

namespace {
bool writeEvents(const std::vector<device::TraceEvent> &events, const std::string &path,
                 std::string &error) {
  using device::TraceEvent;
  FILE *f = std::fopen(path.c_str(), "w");
  if (!f) {
    error = "cannot write trace '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::fprintf(f, "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n");
  std::fprintf(f, "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 1, "
                  "\"args\": {\"name\": \"dlrun\"}}");
  int32_t devices = 0;
  for (const TraceEvent &e : events)
    devices = std::max(devices, e.device + 1);
  for (int32_t d = 0; devices > 1 && d < devices; ++d) // a pipeline: name each device's row
    std::fprintf(f, ",\n{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": %d, "
                    "\"args\": {\"name\": \"cpu:%d\"}}", d + 1, d);
  // A data-parallel replica's allreduces: a row of their own beside its kernels, so that
  // their overlap with the backward shows.
  for (int32_t d = 0; d < devices; ++d)
    if (std::any_of(events.begin(), events.end(),
                    [&](const TraceEvent &e) { return e.bucket >= 0 && e.device == d; }))
      std::fprintf(f, ",\n{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": %d, "
                      "\"args\": {\"name\": \"cpu:%d allreduce\"}}", kCommRow + d, d);
  for (const TraceEvent &e : events) {
    if (!e.kernel && e.bucket >= 0) {
      std::fprintf(f,
                   ",\n{\"name\": \"allreduce bucket %d\", \"cat\": \"comm\", \"ph\": \"X\", "
                   "\"ts\": %.3f, \"dur\": %.3f, \"pid\": 1, \"tid\": %d, \"args\": {\"step\": "
                   "%lld}}",
                   e.bucket, e.start, e.dur, kCommRow + e.device, (long long)e.run);
      continue;
    }
    if (!e.kernel) { // a pipeline device idle, waiting for another: the bubble
      std::fprintf(f,
                   ",\n{\"name\": \"wait\", \"cat\": \"bubble\", \"ph\": \"X\", \"ts\": %.3f, "
                   "\"dur\": %.3f, \"pid\": 1, \"tid\": %d, \"args\": {\"step\": %lld}}",
                   e.start, e.dur, e.device + 1, (long long)e.run);
      continue;
    }
    std::fprintf(f,
                 ",\n{\"name\": %s, \"cat\": \"%s\", \"ph\": \"X\", \"ts\": %.3f, \"dur\": %.3f, "
                 "\"pid\": 1, \"tid\": %d, \"args\": {\"step\": %lld, \"gflop\": %.6f}}",
                 jsonString(e.kernel->name).c_str(), plan::kernelKindName(e.kernel->kind), e.start,
                 e.dur, e.device + 1, (long long)e.run, e.kernel->flops * 1e-9);
  }
  std::fprintf(f, "\n]}\n");
  if (std::fclose(f) != 0) {
    error = "cannot write trace '" + path + "': " + std::strerror(errno);
    return false;
  }
  return true;
}
} // namespace

bool device::Trace::write(const std::string &path, std::string &error) const {
  return writeEvents(events, path, error);
}

bool device::writeTraces(const std::vector<const Trace *> &traces, const std::string &path,
                         std::string &error) {
  std::vector<TraceEvent> all;
  for (size_t d = 0; d < traces.size(); ++d)
    for (TraceEvent e : traces[d]->events) {
      e.device = int32_t(d);
      e.start += std::chrono::duration<double, std::micro>(traces[d]->origin -
                                                            traces[0]->origin)
                     .count();
      all.push_back(e);
    }
  return writeEvents(all, path, error);
}
