//===- Init.h - seeded parameter initialisation ------------------*- C++ -*-===//
#pragma once

#include "runtime/plan/Plan.h"

namespace dlc {
/// Fills every parameter and optimizer-state buffer from its recipe (he_normal,
/// glorot_uniform, normal, zeros, ones) or with its starting values (init "values"). Deterministic: the stream of each parameter depends
/// only on the plan's seed and the parameter's name, not on the platform's <random>
/// distributions.
void initParameters(const plan::Plan &plan, uint8_t *arena);
} // namespace dlc
