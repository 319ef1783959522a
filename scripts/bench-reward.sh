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

PY="$VENV/bin/python"
if [[ ! -x "$PY" ]]; then
    echo "bench-reward: no venv at $VENV: run scripts/setup.sh first" >&2
    exit 1
fi
req=scripts/requirements/bench/sentence-transformers.txt
stamp="$VENV/.lrpo-bench-sentence-transformers.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    printf '== installing %s into %s\n' "$req" "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check --no-cache-dir -r "$req"
    echo "$want" > "$stamp"
fi
exec cargo bench -p lrpo-reward-calibrated --bench reward_throughput
