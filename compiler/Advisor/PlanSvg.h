//===- PlanSvg.h - draw a memory plan as SVG ---------------------*- C++ -*-===//
#pragma once

#include "runtime/plan/Plan.h"

#include <string>

namespace dlc::advisor {
/// The picture people draw for memory planners: kernel steps across, arena offset up, one box
/// per buffer of `program` (and the persistent ones) coloured by kind, the peak marked, a
/// legend; hovering a box names the buffer. Viewable in any browser.
std::string planSvg(const plan::Plan &p, const std::string &program);
} // namespace dlc::advisor
