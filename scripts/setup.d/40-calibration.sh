#!/usr/bin/env bash
# Pair statistics for the default reward encoder (multilingual-e5-small), computed by
# lrpo-calibrate from the bundled parallel subset, so the calibration matches the model in use
# (the reference's CSV was measured with mmBERT). Redone only when the corpus changes.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LRPO_CACHE_DIR="${LRPO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lrpo}"
corpus="$repo_root/examples/data/parallel.jsonl"
out_dir="$LRPO_CACHE_DIR/calibration"
out="$out_dir/multilingual-e5-small.parallel.csv"
stamp="$out.source-sha256"
want="$(sha256sum "$corpus" | cut -d' ' -f1)"

if [[ -f "$out" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
    echo "calibration: $out up to date"
    exit 0
fi
mkdir -p "$out_dir"
echo "calibration: computing pair statistics for multilingual-e5-small from $corpus"
(cd "$repo_root" && cargo run --quiet --release -p lrpo-reward-calibrated --bin lrpo-calibrate -- \
    --parallel "$corpus" --out "$out.tmp")
mv -f "$out.tmp" "$out"
echo "$want" > "$stamp"
echo "calibration: wrote $out"
