#!/usr/bin/env bash
# Sets up, builds, and runs the whole test suite: GoogleTest unit tests and lit tests, via ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
ctest --test-dir build --output-on-failure -j "$(nproc)"
