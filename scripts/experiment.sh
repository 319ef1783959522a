#!/usr/bin/env bash
# The LRPO experiment (examples/experiment.toml): three arms that differ only in the router, then
# the A/B report (text and plots in runs/experiment/report/) and each arm's own report.
# An interrupted run continues where it stopped when started again (--resume auto).
# Extra arguments go to lrpo-host before `train`, e.g. `--set trainer.total_steps=10`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
printf '\n== build (release)\n'
cargo build --release -p lrpo-host -p lrpo-router-bandit -p lrpo-langid-fasttext -p lrpo-reward-calibrated \
    -p lrpo-rollout-cuda -p lrpo-optim-grpo
mkdir -p plugins
for p in router_bandit langid_fasttext reward_calibrated rollout_cuda optim_grpo; do
    cp -f "target/release/liblrpo_$p.so" plugins/
done
host=target/release/lrpo-host
started=$(date +%s)
printf '\n== train: %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
"$host" --plugins plugins/ --config examples/experiment.toml "$@" train --resume auto
printf '\n== wall time of the arms: %s s\n' "$(( $(date +%s) - started ))"
printf '\n== ab report\n'
"$host" ab report runs/experiment
for arm in runs/experiment/*/; do
    [[ -f "$arm/metrics.jsonl" ]] || continue # report/ holds the A/B plots
    "$host" report "$arm" >/dev/null
done
echo "plots: runs/experiment/report/ and runs/experiment/<arm>/report/"
