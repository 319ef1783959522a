# Environment shared by the project scripts (sourced, not run).
# LRPO_VENV and LRPO_CACHE_DIR may be set by the caller to move the venv or the model cache.
# LRPO_TORCH_VERSION builds against another torch release's libtorch (docs/gpu.md): its own venv
# (.venv-torch<V>) and target directory (target-torch<V>), so the default build is left alone.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The torch tch 0.26 is made for; the default build, tests and CI use it.
export LRPO_TORCH_DEFAULT=2.13.0
export LRPO_TORCH_VERSION="${LRPO_TORCH_VERSION:-$LRPO_TORCH_DEFAULT}"
if [[ "$LRPO_TORCH_VERSION" == "$LRPO_TORCH_DEFAULT" ]]; then
    export VENV="${LRPO_VENV:-$ROOT/.venv}"
else
    export VENV="${LRPO_VENV:-$ROOT/.venv-torch$LRPO_TORCH_VERSION}"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target-torch$LRPO_TORCH_VERSION}"
    # torch-sys 0.26 refuses any torch but 2.13.0 unless told otherwise; its C++ wrappers are
    # compiled against the chosen torch's own headers, so a missing operator fails the build
    # rather than a run (docs/gpu.md says which releases compile and pass the tests).
    export LIBTORCH_BYPASS_VERSION_CHECK=1
    # Stand-ins for the wrapped operators that release lacks, where the wrappers need them.
    compat="$ROOT/scripts/torch-compat/tch0.26-torch$LRPO_TORCH_VERSION.h"
    if [[ -f "$compat" ]]; then
        export CXXFLAGS="${CXXFLAGS:+$CXXFLAGS }-include $compat"
    fi
    unset compat
    # The parity tests' Python references run on the same torch as the Rust side (this venv);
    # .cargo/config.toml names the default venv's python, and the environment wins over it.
    export LRPO_VENV_PYTHON="$VENV/bin/python"
    # A second build of everything: no debug info beyond what backtraces need, to save disk.
    export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-0}"
    export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-0}"
fi
export LRPO_CACHE_DIR="${LRPO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lrpo}"
# The models and tools the project uses are all local; keep Python libraries off the network.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# tch (torch-sys) asks the venv's python where libtorch is: the venv's torch wheel.
export VIRTUAL_ENV="$VENV" LIBTORCH_USE_PYTORCH=1
# lrpo-host embeds the venv's python for data-parallel runs; pyo3 builds against it.
export PYO3_PYTHON="$VENV/bin/python"
export PATH="$VENV/bin:$PATH"
