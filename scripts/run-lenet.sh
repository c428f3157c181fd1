#!/usr/bin/env bash
# The main job: set up, compile models/lenet.yaml, train it on Fashion-MNIST on the CPU.
# Extra arguments go to dlrun (e.g. --epochs 1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
build/bin/dlc compile models/lenet.yaml -o lenet.plan
build/bin/dlrun lenet.plan "$@"
