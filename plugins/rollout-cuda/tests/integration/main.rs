//! The integration tests of lrpo-rollout-cuda, one module per former test file. One binary rather
//! than one per file: each test binary links libtorch, which makes the build slow and target/
//! large. `tests/cuda_parity.rs` stays a binary of its own: it exists only with `--features
//! cuda`, and scripts/test.sh and scripts/gpu-check.sh run it by name.

mod bf16;
mod common;
mod cuda_reference;
mod sampling;
mod smollm2;
mod tiny;
