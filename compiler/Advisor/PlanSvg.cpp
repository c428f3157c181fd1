//===- PlanSvg.cpp - draw a memory plan as SVG -------------------*- C++ -*-===//
#include "compiler/Advisor/PlanSvg.h"

#include <algorithm>
#include <cstdio>

using namespace dlc;

namespace {
const char *colour(plan::BufferKind k) {
  switch (k) {
  case plan::BufferKind::Parameter: return "#4e79a7";
  case plan::BufferKind::OptimizerState: return "#a0cbe8";
  case plan::BufferKind::Input: return "#59a14f";
  case plan::BufferKind::Activation: return "#f28e2b";
  case plan::BufferKind::Gradient: return "#e15759";
  case plan::BufferKind::Workspace: return "#b07aa1";
  case plan::BufferKind::Output: return "#76b7b2";
  case plan::BufferKind::ModelState: return "#9c755f";
  case plan::BufferKind::WeightCopy: return "#edc948";
  case plan::BufferKind::NumKinds: break;
  }
  return "#bab0ac";
}

std::string escape(const std::string &s) {
  std::string out;
  for (char c : s)
    out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return out;
}

std::string fmt(const char *f, double a, double b, double c, double d) {
  char buf[160];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}
} // namespace

std::string advisor::planSvg(const plan::Plan &p, const std::string &programName) {
  const plan::Program *prog = p.program(programName);
  int32_t index = prog ? int32_t(prog - p.programs.data()) : -2;
  double steps = prog ? std::max<size_t>(1, prog->kernels.size()) : 1;
  double top = std::max<double>(1, p.persistentBytes + (prog ? prog->peakBytes : 0));
  const double w = 1000, h = 560, left = 70, bottom = 40, right = 190;
  double plotW = w - left - right, plotH = h - bottom - 40;
  auto x = [&](double step) { return left + plotW * step / steps; };
  auto y = [&](double bytes) { return h - bottom - plotH * bytes / top; };

  std::string s = fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
                      w, h, w, h);
  s += "<title>memory plan of " + escape(p.model) + ", program " + escape(programName) +
       "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + std::to_string(int(left)) + "\" y=\"22\" font-size=\"15\">" +
       escape(p.model) + ": " + escape(programName) + " step, batch " +
       std::to_string(p.train.batch) + "</text>\n";
  for (const plan::Buffer &b : p.buffers) {
    if (b.program != index && b.program != -1)
      continue;
    double x0 = b.program < 0 ? x(0) : x(b.first), x1 = b.program < 0 ? x(steps) : x(b.last + 1);
    double y0 = y(b.offset + b.bytes), y1 = y(b.offset);
    s += fmt("<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"", x0, y0,
             std::max(0.5, x1 - x0), std::max(0.5, y1 - y0));
    s += std::string(" fill=\"") + colour(b.kind) + "\" stroke=\"white\" stroke-width=\"0.3\">";
    s += "<title>" + escape(b.name) + " (" + plan::bufferKindName(b.kind) + ", " +
         std::to_string(b.bytes) + " bytes, steps " + std::to_string(b.first) + "-" +
         std::to_string(b.last) + ")</title></rect>\n";
  }
  // Peak line, axes, labels.
  s += fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\" "
           "stroke-dasharray=\"6 4\"/>\n",
           left, y(top), left + plotW, y(top));
  char label[128];
  std::snprintf(label, sizeof label, "peak %.2f MiB", top / 1048576.0);
  s += fmt("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">", left + plotW, y(top) - 4, 0, 0) +
       label + "</text>\n";
  s += fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>\n", left,
           h - bottom, left + plotW, h - bottom);
  s += fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>\n", left,
           h - bottom, left, y(top));
  s += fmt("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">kernel step (0-%.0f)</text>\n",
           left + plotW / 2, h - 12, steps - 1, 0);
  s += fmt("<text x=\"16\" y=\"%.2f\" transform=\"rotate(-90 16 %.2f)\" text-anchor=\"middle\">"
           "arena offset</text>\n",
           h / 2, h / 2, 0, 0);
  double ly = 50;
  for (int k = 0; k < int(plan::BufferKind::NumKinds); ++k) {
    auto kind = plan::BufferKind(k);
    s += fmt("<rect x=\"%.2f\" y=\"%.2f\" width=\"14\" height=\"14\"", w - right + 20, ly, 0, 0) +
         " fill=\"" + colour(kind) + "\"/>";
    s += fmt("<text x=\"%.2f\" y=\"%.2f\">", w - right + 40, ly + 12, 0, 0) +
         plan::bufferKindName(kind) + "</text>\n";
    ly += 22;
  }
  s += "</svg>\n";
  return s;
}
