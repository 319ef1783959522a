#!/usr/bin/env bash
# Data-parallel step time on this machine: the same global batch (4 questions x 4 rollouts of
# SmolLM2-135M-Instruct, at most 32 new tokens, every real plugin) trained by 1 rank and by 2
# ranks under torchrun over gloo, each rank on 1 thread; prints the median step time of each
# (the first step, which warms up, left out), its phases, the all-reduce time per step, and the
# ratio. A benchmark, not a test: `scripts/bench-dist.sh [STEPS]` (default 5), release build.
#
# On a machine with GPUs: LRPO_BENCH_DEVICE=cuda LRPO_BENCH_RANKS=8 scripts/bench-dist.sh puts
# the sampler and the optimizer on each rank's GPU in bf16 (NCCL), 1 rank against N.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
steps="${1:-5}"
device="${LRPO_BENCH_DEVICE:-cpu}"
ranks="${LRPO_BENCH_RANKS:-2}"
if [[ "$device" == cpu ]]; then
    on_device=""
else
    on_device=", device = \"$device\", dtype = \"bf16\""
fi
cargo build --release --workspace --lib --bins
rel="$ROOT/${CARGO_TARGET_DIR:-target}/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/plugins"
for p in router_bandit langid_fasttext reward_calibrated rollout_cuda optim_grpo; do
    cp "$rel/liblrpo_$p.so" "$work/plugins/"
done
cat > "$work/run.toml" <<TOML
[run]
name = "bench"
out_dir = "runs"
threads = 1

[model]
path = "{cache}/models/smollm2-135m-instruct"

[data]
train_files = ["{repo}/examples/data/prepared/train.parquet"]
train_batch_size = $((16 * ranks / 2))
group_size = 4
prompt_style = "instruction"

[trainer]
total_steps = $steps
save_freq = 0
max_new_tokens = 32
samples_per_step = 0

[components.router.lrpo]
plugin = "lrpo_router_bandit"
kind = "lrpo-bandit"

[components.language_id.lid176]
plugin = "lrpo_langid_fasttext"
kind = "fasttext"

[components.reward_model.e5]
plugin = "lrpo_reward_calibrated"
kind = "calibrated-embedding"
config = { pair_stats = "{cache}/calibration/multilingual-e5-small.parallel.csv" }

[components.rollout_engine.smollm2]
plugin = "lrpo_rollout_cuda"
kind = "sampler"
config = { ${on_device#, } }

[components.optimizer.grpo]
plugin = "lrpo_optim_grpo"
kind = "grpo"
config = { lr = 1e-6, kl_coef = 0.001$on_device }
TOML
sed -i "s|{repo}|$ROOT|g" "$work/run.toml"

echo "== 1 rank, 1 thread"
(cd "$work" && "$rel/lrpo-host" --plugins plugins --config run.toml --set run.name=one train > one.log 2>&1) \
    || { tail -20 "$work/one.log"; exit 1; }
echo "== $ranks ranks (torchrun), 1 thread each"
(cd "$work" && OMP_NUM_THREADS=1 "$VENV/bin/torchrun" --standalone --nproc-per-node "$ranks" --no-python \
    "$rel/lrpo-host" --plugins plugins --config run.toml --set run.name=two train > two.log 2>&1) \
    || { tail -20 "$work/two.log"; exit 1; }

"$VENV/bin/python" - "$work/runs/one/metrics.jsonl" "$work/runs/two/metrics.jsonl" "$ranks" <<'PY'
import json, statistics, sys

def load(path):
    rows = [json.loads(l) for l in open(path) if json.loads(l).get("phase") == "train"]
    return rows[1:]  # the first step warms up (allocations, thread pools)

def med(rows, f):
    return statistics.median(f(r) for r in rows)

one, two = load(sys.argv[1]), load(sys.argv[2])
phases = ["generate", "reward", "gather", "optimize", "weight_sync", "step"]
ranks = sys.argv[3]
print(f"{'median over steps 2..':<24}{'1 rank':>10}{ranks + ' ranks':>10}{'ratio':>8}")
for p in phases:
    a = med(one, lambda r: r["time"].get(p, 0.0))
    b = med(two, lambda r: r["time"].get(p, 0.0))
    print(f"{p + ' (s)':<24}{a:>10.2f}{b:>10.2f}{(a / b if b else float('nan')):>8.2f}")
ar = med(two, lambda r: r["optimizer"].get("allreduce_s", 0.0))
print(f"{'all-reduce (s)':<24}{'-':>10}{ar:>10.2f}")
tok = lambda r: r["tokens_per_second"]
print(f"{'tokens/s per device':<24}{med(one, tok):>10.1f}{med(two, tok):>10.1f}")
a, b = med(one, lambda r: r["time"]["step"]), med(two, lambda r: r["time"]["step"])
print(f"{ranks} ranks take {b / a:.2f}x the 1-rank step time: a speed-up of {a / b:.2f}x on the same global batch")
PY
