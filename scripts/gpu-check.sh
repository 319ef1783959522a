#!/usr/bin/env bash
# GPU check of the rollout engine (lrpo-rollout-cuda), about 5 minutes on one H100:
#   1. builds the plugin with its CUDA sampling kernels (feature `cuda`, NVRTC at run time);
#   2. runs the CPU-vs-CUDA sampling parity test on fixed logits and uniforms;
#   3. generates 8 prompts x 4 samples x 64 tokens with SmolLM2-135M on the GPU and prints tokens/s.
# Needs the project venv (scripts/setup.sh) with a CUDA build of torch (its NVRTC is used), and
# the imported SmolLM2.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-$PWD/.venv}"
export LIBTORCH_USE_PYTORCH=1 PATH="$VENV/bin:$PATH"

echo "== build (features cuda)"
cargo build --release -p lrpo-rollout-cuda --features cuda --example throughput
echo "== CPU vs CUDA sampling parity"
cargo test --release -p lrpo-rollout-cuda --features cuda --test cuda_parity -- --include-ignored --nocapture
echo "== SmolLM2-135M rollouts on the GPU"
cargo run --release -p lrpo-rollout-cuda --features cuda --example throughput -- cuda 3
echo "== the same on CPU for reference"
cargo run --release -p lrpo-rollout-cuda --features cuda --example throughput -- cpu 1
