#!/usr/bin/env bash
# GPU checks of the rollout plugin's fused CUDA sampling kernel and the tch plugins on CUDA.
#
# The GPU machines lent to this project have the CUDA driver and NVRTC but neither a Rust
# toolchain nor libtorch 2.13 (tch's), and reach no network, so the check comes in halves:
#
#   scripts/gpu-check.sh prepare   here: builds lrpo-cuda-check (no libtorch) into gpu-check/
#   scripts/gpu-check.sh device    on the GPU machine, with gpu-check/ carried: NVRTC compiles
#                                  the kernel, it runs on a fixed 384 x 49,152 fixture, every
#                                  row is compared with the f64 reference (which the CPU tests
#                                  tie to the libtorch sampling path), and the kernel is timed
#   scripts/gpu-check.sh full      on a CUDA machine with the project's toolchain and venv: all
#                                  CUDA tests (the kernel, decoders, GRPO step; --include-ignored)
#                                  and SmolLM2 rollouts on the GPU and on CPU, in tokens/s
#
# Each half finishes in well under 5 minutes (device: seconds after the machine starts).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
prepare)
    source scripts/env.sh
    cargo build --release -p lrpo-cuda-check
    mkdir -p gpu-check
    cp -f target/release/lrpo-cuda-check gpu-check/
    strip gpu-check/lrpo-cuda-check 2>/dev/null || true
    ls -l gpu-check/
    echo "now: device run 'bash scripts/gpu-check.sh device' with carry [\"gpu-check\"]"
    ;;
device)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    # NVRTC: the CUDA toolkit's or a pip nvidia package's, whichever the image has.
    nvrtc="$(find /usr/local/cuda*/ /usr/lib /opt -name 'libnvrtc.so.*' ! -name '*builtins*' ! -name '*alt*' 2>/dev/null | sort | head -1 || true)"
    if [[ -n "$nvrtc" ]]; then
        export LD_LIBRARY_PATH="$(dirname "$nvrtc")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "NVRTC: $nvrtc"
    fi
    gpu-check/lrpo-cuda-check
    ;;
full)
    source scripts/env.sh
    echo "== build (features cuda)"
    cargo build --release -p lrpo-rollout-cuda --features cuda --example throughput
    echo "== CUDA tests: sampling kernel, decoders, GRPO step"
    cargo test --release -p lrpo-rollout-cuda --features cuda --test cuda_parity -- --include-ignored --nocapture
    cargo test --release -p lrpo-torch --test integration parity_tiny::cuda -- --include-ignored --nocapture
    cargo test --release -p lrpo-optim-grpo --test integration parity::cuda -- --include-ignored --nocapture
    echo "== SmolLM2-135M rollouts on the GPU"
    cargo run --release -p lrpo-rollout-cuda --features cuda --example throughput -- cuda 3
    echo "== the same on CPU for reference"
    cargo run --release -p lrpo-rollout-cuda --features cuda --example throughput -- cpu 1
    ;;
*)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
