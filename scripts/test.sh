#!/usr/bin/env bash
# The whole test suite, set-up included: venv, models, build, every test.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
# A clean run takes about 12 GB of disk (venv 5.1, vLLM venv 1.7 beside the venv's torch it
# links, target/ 3.2, model cache 1.2, cargo registry 0.6) and about 42 minutes on 2 cores
# (measured on a clean clone, 2026-12-01). What is free is said after each phase, so a full disk shows where it filled up.
disk() {
    printf '== disk: %s free in %s%s\n' "$(df -h --output=avail . | tail -1 | tr -d ' ')" "$ROOT" \
        "$( [[ -d target ]] && printf ', target/ %s' "$(du -sh target 2>/dev/null | cut -f1)")"
}
disk
bash scripts/setup.sh
disk
# Style first: a formatting slip or a new clippy warning fails the run before the long build.
printf '\n== style (cargo fmt --check; cargo clippy -D warnings)\n'
cargo fmt --all --check || { echo "formatting differs: run cargo fmt --all"; exit 1; }
cargo clippy --workspace --all-targets -- -D warnings
printf '\n== build (workspace: host, plugins, fixtures)\n'
cargo build --workspace --all-targets
disk
printf '\n== tests\n'
log="$(mktemp)"
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
disk
summary() {
    awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
         END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
}
if [[ $status -ne 0 ]]; then
    summary
    exit "$status"
fi

printf '\n== the default run, shortened (debug build)\n'
plugins="$(mktemp -d)"
runs="$(mktemp -d)"
trap 'rm -rf "$plugins" "$runs" "$log"' EXIT
for p in router_bandit langid_fasttext reward_calibrated rollout_cuda optim_grpo; do
    cp "target/debug/liblrpo_$p.so" "$plugins/"
done
target/debug/lrpo-host --plugins "$plugins" --set run.out_dir="$runs" \
    --set trainer.total_steps=1 --set trainer.max_new_tokens=8 --set trainer.test_freq=1 --set trainer.val_max_questions=2
test -s "$runs/default/metrics.jsonl"
echo "default run: ok"

# Last, because it rebuilds the rollout plugin with its CUDA kernels: the kernel must compile
# (NVRTC from the torch wheel; no GPU needed). The GPU parity test is in scripts/gpu-check.sh.
printf '\n== the CUDA sampling kernel compiles (NVRTC)\n'
set +e
cargo test -p lrpo-rollout-cuda --features cuda --test cuda_parity 2>&1 | tee -a "$log"
status=${PIPESTATUS[0]}
set -e
summary
exit "$status"
