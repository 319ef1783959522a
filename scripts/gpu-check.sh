#!/usr/bin/env bash
# GPU check of the rollout engine (lrpo-rollout-cuda), about 5 minutes on one H100:
#   1. builds the plugin with its CUDA sampling kernels (feature `cuda`, NVRTC at run time);
#   2. runs the CPU-vs-CUDA sampling parity test on fixed logits and uniforms;
#   3. generates 8 prompts x 4 samples x 64 tokens with SmolLM2-135M on the GPU and prints tokens/s.
# Needs the project venv (scripts/setup.sh) with a CUDA build of torch, and the imported SmolLM2.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-$PWD/.venv}"
export LIBTORCH_USE_PYTORCH=1 PATH="$VENV/bin:$PATH"

# cudarc loads libnvrtc by its unversioned name; point it at the one the torch wheel ships.
site="$("$VENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
nvrtc="$(find "$site/nvidia" -name 'libnvrtc.so*' ! -name '*builtins*' 2>/dev/null | sort | head -1 || true)"
if [[ -n "$nvrtc" ]]; then
  shim="$(mktemp -d)"
  ln -sf "$nvrtc" "$shim/libnvrtc.so"
  for b in "$(dirname "$nvrtc")"/libnvrtc-builtins.so*; do [[ -e "$b" ]] && ln -sf "$b" "$shim/"; done
  export LD_LIBRARY_PATH="$shim:$(dirname "$nvrtc")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

echo "== build (features cuda)"
cargo build --release -p lrpo-rollout-cuda --features cuda --example throughput
echo "== CPU vs CUDA sampling parity"
cargo test --release -p lrpo-rollout-cuda --features cuda --test cuda_parity -- --nocapture
echo "== SmolLM2-135M rollouts on the GPU"
cargo run --release -p lrpo-rollout-cuda --features cuda --example throughput -- cuda 3
echo "== the same on CPU for reference"
cargo run --release -p lrpo-rollout-cuda --features cuda --example throughput -- cpu 1
