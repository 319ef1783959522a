#!/usr/bin/env bash
# The whole test suite, set-up included: venv, models, build, every test.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
printf '\n== build (workspace: host, plugins, fixtures)\n'
cargo build --workspace --all-targets
printf '\n== tests\n'
cargo test --workspace --no-fail-fast
