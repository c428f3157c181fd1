#!/usr/bin/env bash
# Sets up, builds, and runs the whole test suite: GoogleTest unit tests, bounded fuzz runs and
# lit tests, via ctest.
#
#   scripts/test.sh                     the suite (what CI runs first)
#   scripts/test.sh --sanitize          everything built with ASan+UBSan in build-sanitize/,
#                                       the whole suite under them (long: the compiler too)
#   scripts/test.sh --sanitize-runtime  the runtime, dlrun and every test that needs no MLIR
#                                       built with ASan+UBSan in build-asan/ (test plans made
#                                       by build/'s dlc) and run; what CI runs second
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in
  "" | --sanitize | --sanitize-runtime) ;;
  *) echo "usage: scripts/test.sh [--sanitize | --sanitize-runtime]" >&2; exit 2 ;;
esac

scripts/setup.sh build
jobs=$(nproc)
# Sanitizer reports are failures; leaks too (dlc, dlrun and the tests free what they allocate).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:max_allocation_size_mb=4096}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case "$mode" in
  "")
    ctest --test-dir build --output-on-failure -j "$jobs"
    ;;
  --sanitize)
    if [ ! -f build-sanitize/build.ninja ]; then
      cmake -G Ninja -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLC_SANITIZE=ON
    fi
    cmake --build build-sanitize -j "$jobs"
    ctest --test-dir build-sanitize --output-on-failure -j "$jobs"
    ;;
  --sanitize-runtime)
    if [ ! -f build-asan/build.ninja ]; then
      cmake -G Ninja -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLC_SANITIZE=ON \
            -DDLC_RUNTIME_ONLY=ON -DDLC_HOST_DLC="$PWD/build/bin/dlc"
    fi
    cmake --build build-asan -j "$jobs"
    ctest --test-dir build-asan --output-on-failure -j "$jobs"
    ;;
esac
