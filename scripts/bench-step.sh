#!/usr/bin/env bash
# The whole LRPO training step against TRL's GRPOTrainer on this machine, f32 and bf16, side by
# side in one run, with per-phase times, ratios and GFLOP/s (issue 20; docs/benchmarks.md,
# "Whole LRPO step vs TRL GRPOTrainer").
#
#   scripts/bench-step.sh
#
# Installs TRL into the project venv when it lacks it (scripts/requirements/bench/trl.txt),
# builds the `whole_step` example of lrpo-rollout-cuda and the grpo plugin library in release
# mode, and runs the example, which steps TRL (plugins/rollout-cuda/examples/whole_step/
# trl_step.py) in lock-step with ours. The log and a JSON file of every figure go to
# $LRPO_BENCH_OUT (default target/bench-step). Settings (environment, see the example's docs):
# LRPO_BENCH_THREADS (2), LRPO_BENCH_REPS (1), LRPO_BENCH_WARMUP (1), LRPO_BENCH_DTYPES
# (f32,bf16), LRPO_BENCH_NEW_TOKENS (64), LRPO_BENCH_BF16_NEW_TOKENS, LRPO_BENCH_BF16_WARMUP,
# LRPO_BENCH_BF16_REPS, LRPO_BENCH_SPLIT_REFERENCE (1), LRPO_BENCH_QUIET_CORES (0.25),
# LRPO_BENCH_QUIET_WAIT_S (900: how long each step may wait for other processes to go quiet).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

source scripts/bench-requirements.sh
bench_requirements trl

printf '== build (release): lrpo-rollout-cuda example whole_step, lrpo-optim-grpo library\n'
cargo build --release -p lrpo-rollout-cuda -p lrpo-optim-grpo --lib --example whole_step

target="${CARGO_TARGET_DIR:-target}"
out="${LRPO_BENCH_OUT:-$target/bench-step}"
mkdir -p "$out"
export LRPO_BENCH_JSON="${LRPO_BENCH_JSON:-$out/whole-step.json}"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
flags="$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|amx_bf16)$' | tr '\n' ' ')"
printf '== machine: %s cores, %s (%s), %s GiB; load average %s\n' "$(nproc)" "$cpu" "${flags% }" \
    "$(free -g | awk '/^Mem/ {print $2}')" "$(cut -d' ' -f1-3 /proc/loadavg)"
"$target/release/examples/whole_step" 2>&1 | tee "$out/whole-step.log"
printf '== load average after: %s; log %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$out/whole-step.log"
