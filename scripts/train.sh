#!/usr/bin/env bash
# Set up, build in release mode, install the plugin libraries into plugins/, and run
# lrpo-host with them. Arguments are passed on: `scripts/train.sh --config examples/x.toml`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
printf '\n== build (release)\n'
cargo build --release --workspace --exclude 'lrpo-fixture-*' --exclude lrpo-tests
for lib in target/release/liblrpo_*.so; do
    cp -f "$lib" plugins/
done
printf '\n== lrpo-host --plugins plugins/ %s\n' "$*"
exec target/release/lrpo-host --plugins plugins/ "$@"
