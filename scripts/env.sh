# Environment shared by the project scripts (sourced, not run).
# LRPO_VENV and LRPO_CACHE_DIR may be set by the caller to move the venv or the model cache.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export VENV="${LRPO_VENV:-$ROOT/.venv}"
export LRPO_CACHE_DIR="${LRPO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lrpo}"
# The models and tools the project uses are all local; keep Python libraries off the network.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# tch (torch-sys) asks the venv's python where libtorch is: the torch==2.13.0 wheel.
export VIRTUAL_ENV="$VENV" LIBTORCH_USE_PYTORCH=1
export PATH="$VENV/bin:$PATH"
