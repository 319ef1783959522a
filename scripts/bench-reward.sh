#!/usr/bin/env bash
# The reward's throughput against its Python peers, side by side in one run (docs/benchmarks.md,
# docs/benchmarks/reward.md): `calibrated-embedding` scoring XQuAD pairs against
# sentence-transformers' encode and against transformers with two batching strategies, on the
# same multilingual-e5-small checkpoint.
#
#   scripts/bench-reward.sh
#
# Installs sentence-transformers into the project venv when it lacks it
# (scripts/requirements/bench/sentence-transformers.txt), then runs
# `cargo bench -p lrpo-reward-calibrated --bench reward_throughput`. Settings (environment):
# LRPO_BENCH_THREADS (all cores), LRPO_BENCH_PAIRS (2000), LRPO_BENCH_REPEATS (3).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

source scripts/bench-requirements.sh
bench_requirements sentence-transformers
exec cargo bench -p lrpo-reward-calibrated --bench reward_throughput
