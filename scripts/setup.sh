#!/usr/bin/env bash
# Installs what dlc needs on Debian 12 (only what is missing), then configures and builds it.
# Usage: scripts/setup.sh [build-dir]     (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}

PACKAGES=(cmake ninja-build ccache g++ python3 pkg-config
          llvm-19-dev libmlir-19-dev mlir-19-tools llvm-19-tools
          libyaml-cpp-dev libgtest-dev libopenblas-dev zlib1g-dev
          libdnnl-dev # oneDNN, the CPU convolutions (optional: in-house kernels without it)
          openmpi-bin libopenmpi-dev
          dataset-fashion-mnist
          libonnx-dev libprotobuf-dev # the ONNX importer (compiler/Import/OnnxImporter.cpp)
          libonnx-testdata            # the ONNX backend node tests (scripts/onnx-node-tests.py)
          python3-torch) # PyTorch, for the step-by-step parity tests (test/parity)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc)
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -G Ninja -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD" -j "$jobs"
