#!/usr/bin/env bash
# The GPU acceptance check (issue 12 item 6): on a machine with NVIDIA GPUs, the driver and
# the CUDA 13 toolkit, one command builds dlc and runs everything this project can only check
# with a GPU, into one report file. Meant to take under 10 minutes on one modern GPU.
#
#   scripts/gpu-check.sh [REPORT.md]        (default: gpu-check-report.md)
#
# Steps (each PASS / FAIL / SKIP with its time and the last lines of its output):
#   1. the GPUs (nvidia-smi) and their architecture (sm_XY for dlc --arch);
#   2. build (scripts/setup.sh build, as the README's test command does);
#   3. the GPU-only unit tests (ctest -R Cuda: LeNet's steps against the CPU executor,
#      dlrun --validate's logic on the device) and the lit tests that need /dev/nvidia0;
#   4. dlrun --validate (every kernel call of one training step and one evaluation step,
#      GPU against CPU) on every shipped model, at a small batch and input size;
#   5. mixed precision: LeNet and the row-attention block with --precision mixed-bf16 and
#      mixed-fp16, two training steps, losses beside the fp32 run;
#   6. LeNet trained on cuda:0 for 5 epochs beside the CPU's accuracy (both must reach 88%);
#   7. throughput on cuda:0 (steps/s and examples/s of LeNet, ResNet-50 at batch 32, char-gpt);
#   8. with 2+ GPUs: LeNet placed on 2 GPUs (dlrun --device cuda:0,cuda:1, NCCL when installed)
#      trains like one GPU at the same global batch, throughput per device count (1, 2, all);
#      LeNet as a 2-stage pipeline on cuda:0,cuda:1 (one micro-batch and two) trains like one GPU.
# Exits 1 when a step failed. Nothing here runs without a GPU: the script says so and stops.
set -uo pipefail
cd "$(dirname "$0")/.."
report=${1:-gpu-check-report.md}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

say() { printf '%s\n' "$*" | tee -a "$report"; }
# step NAME COMMAND...: runs the command, records PASS/FAIL, its seconds and output's tail.
step() {
  local name=$1
  shift
  local t0=$SECONDS
  if "$@" > "$work/out" 2>&1; then
    say "- PASS $name ($((SECONDS - t0)) s)"
  else
    say "- FAIL $name ($((SECONDS - t0)) s)"
    failures=$((failures + 1))
  fi
  { echo '  ```'; tail -n 15 "$work/out" | sed 's/^/  /'; echo '  ```'; } >> "$report"
}

: > "$report"
say "# dlc GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null)"
if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L > "$work/gpus" 2>&1; then
  say "no NVIDIA GPU here (nvidia-smi -L fails): nothing to check"
  exit 1
fi
gpus=$(grep -c '^GPU ' "$work/gpus")
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')
arch=sm_${cap}
say "GPUs: $gpus ($(sed -n 1p "$work/gpus")); dlc --arch $arch"
say ""

build=build
step "build" scripts/setup.sh "$build"
dlc=$build/bin/dlc
dlrun=$build/bin/dlrun
step "GPU unit tests (ctest -R Cuda)" ctest --test-dir "$build" -R Cuda --output-on-failure
step "lit tests needing a GPU" /usr/lib/llvm-19/build/utils/lit/lit.py -v "$build/test/Driver/dlrun_validate.test" "$build/test/Driver/dlrun_device.test"

# 4. --validate on every shipped model: small inputs, batch 2, the second step.
small() { # MODEL -> a copy at a small input size
  sed -e 's/shape: \[3, 224, 224\]/shape: [3, 64, 64]/' "$1" > "$work/$(basename "$1")"
  echo "$work/$(basename "$1")"
}
for m in models/*.yaml; do
  name=$(basename "$m" .yaml)
  y=$(small "$m")
  step "validate $name" bash -c "'$dlc' compile '$y' --batch 2 --target cuda --arch $arch -o '$work/$name.plan' --quiet &&
    '$dlrun' '$work/$name.plan' --device cuda:0 --validate --steps 2 --limit 8 &&
    '$dlrun' '$work/$name.plan' --device cuda:0 --validate --eval --limit 8"
done

# 5. Mixed precision against fp32 (loss of two steps; the half types round, so close, not equal).
for m in models/lenet.yaml models/row_attention.yaml; do
  name=$(basename "$m" .yaml)
  for p in fp32 mixed-bf16 mixed-fp16; do
    step "$name $p, 2 steps" bash -c "'$dlc' compile '$m' --target cuda --arch $arch --precision $p -o '$work/$name-$p.plan' --quiet &&
      '$dlrun' '$work/$name-$p.plan' --device cuda:0 --steps 2 --log-every 1 --loss-digits 6"
  done
done

# 6. LeNet to the CPU's accuracy.
step "LeNet 5 epochs on cuda:0 (>= 88%)" bash -c "'$dlc' compile models/lenet.yaml --target cuda --arch $arch -o '$work/lenet.plan' --quiet &&
  '$dlrun' '$work/lenet.plan' --device cuda:0 --epochs 5 | tee '$work/lenet.log' &&
  python3 -c \"import re,sys; a=float(re.findall(r'test accuracy ([0-9.]+)%', open('$work/lenet.log').read())[-1]); print(a); sys.exit(a < 88)\""
step "LeNet 5 epochs on the CPU (>= 88%)" bash -c "'$dlrun' '$work/lenet.plan' --device cpu --epochs 5 | tee '$work/lenet-cpu.log' &&
  python3 -c \"import re,sys; a=float(re.findall(r'test accuracy ([0-9.]+)%', open('$work/lenet-cpu.log').read())[-1]); print(a); sys.exit(a < 88)\""

# 7. Throughput (the summary line carries steps/s and examples/s).
step "throughput LeNet batch 100" bash -c "'$dlrun' '$work/lenet.plan' --device cuda:0 --steps 300 --profile | grep -E 'summary|^  [a-z]' | head -20"
step "throughput ResNet-50 batch 32" bash -c "'$dlc' compile models/resnet50.yaml --batch 32 --target cuda --arch $arch -o '$work/r50.plan' --quiet &&
  '$dlrun' '$work/r50.plan' --device cuda:0 --steps 20 --profile | grep -E 'summary|^  [a-z]' | head -20"
if [ -f models/char-gpt.yaml ]; then
  step "throughput char-gpt" bash -c "'$dlc' compile models/char-gpt.yaml --target cuda --arch $arch -o '$work/cg.plan' --quiet &&
    '$dlrun' '$work/cg.plan' --device cuda:0 --steps 100 | grep summary"
fi

# 8. Several GPUs: data placement against one GPU at the same global batch (50 steps, the
#    first epoch of 5000 examples), then throughput per device count.
if [ "$gpus" -ge 2 ]; then
  step "2 GPUs, data placement (losses and parameters as one GPU's, replicas identical)" bash -c "'$dlc' compile models/lenet.yaml --devices 2 --target cuda --arch $arch -o '$work/l2.plan' --quiet &&
    '$dlrun' '$work/lenet.plan' --device cuda:0 --limit 5000 --steps 50 --log-every 1 --loss-digits 9 --quiet --save '$work/l1.ckpt' > '$work/l1.log' &&
    '$dlrun' '$work/l2.plan' --device cuda:0,cuda:1 --limit 5000 --steps 50 --log-every 1 --loss-digits 9 --quiet --save '$work/l2.ckpt' > '$work/l2.log' &&
    grep -E 'NCCL|devices:|summary' '$work/l2.log' &&
    grep -q 'parameters and optimizer state identical on all 2 devices' '$work/l2.log' &&
    python3 test/e2e/compare_runs.py '$work/l1.log' '$work/l2.log' '$work/l1.ckpt' '$work/l2.ckpt' --loss-tol 1e-4 --param-tol 1e-4"
  step "throughput per GPU count (LeNet, global batch 100)" bash -c "'$dlrun' '$work/lenet.plan' --device cuda:0 --steps 300 | grep summary &&
    '$dlrun' '$work/l2.plan' --device cuda:0,cuda:1 --steps 300 | grep -E 'summary|allreduce' &&
    if [ $gpus -gt 2 ] && [ \$((100 % $gpus)) -eq 0 ]; then
      '$dlc' compile models/lenet.yaml --devices $gpus --target cuda --arch $arch -o '$work/lall.plan' --quiet &&
      '$dlrun' '$work/lall.plan' --device cuda:all --steps 300 | grep -E 'summary|allreduce'
    fi"
  step "2 GPUs, pipeline placement, 1 and 2 micro-batches (losses and parameters as one GPU's)" bash -c "'$dlc' compile models/lenet.yaml --devices 2 --placement pipeline --target cuda --arch $arch -o '$work/lp.plan' --quiet &&
    '$dlc' compile models/lenet.yaml --devices 2 --placement pipeline --microbatches 2 --target cuda --arch $arch -o '$work/lp2.plan' --quiet &&
    '$dlrun' '$work/lp.plan' --device cuda:0,cuda:1 --limit 5000 --steps 50 --log-every 1 --loss-digits 9 --quiet --save '$work/lp.ckpt' > '$work/lp.log' &&
    '$dlrun' '$work/lp2.plan' --device cuda:0,cuda:1 --limit 5000 --steps 50 --log-every 1 --loss-digits 9 --quiet --save '$work/lp2.ckpt' > '$work/lp2.log' &&
    grep -E 'pipeline|cuda:|summary' '$work/lp2.log' &&
    python3 test/e2e/compare_runs.py '$work/l1.log' '$work/lp.log' '$work/l1.ckpt' '$work/lp.ckpt' --loss-tol 1e-4 --param-tol 1e-4 &&
    python3 test/e2e/compare_runs.py '$work/l1.log' '$work/lp2.log' '$work/l1.ckpt' '$work/lp2.ckpt' --loss-tol 1e-4 --param-tol 1e-4"
else
  say "- SKIP several GPUs: this machine has one"
fi

say ""
say "$failures step(s) failed; report: $report"
[ "$failures" -eq 0 ]
