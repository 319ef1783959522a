//! Shared helpers: the project venv's python, the PyTorch reference script, the tiny model.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use lrpo_core::TrainBatch;
use lrpo_optim_grpo::{Grpo, GrpoConfig};
use tch::Tensor;

/// Runs the PyTorch reference step with `config` (JSON object of `grpo` config keys) in `dir`;
/// the first call there also creates the tiny model and the batch.
pub fn reference_step(dir: &Path, config: &serde_json::Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/grpo_reference.py");
    let out = Command::new(lrpo_testkit::python())
        .arg(script)
        .arg(dir)
        .arg(config.to_string())
        .env("TOKENIZERS_PARALLELISM", "false")
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "grpo_reference.py failed (run scripts/setup.sh if torch or transformers is missing):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn batch(dir: &Path) -> TrainBatch {
    let text = std::fs::read_to_string(dir.join("batch.json")).expect("batch.json");
    serde_json::from_str(&text).expect("batch.json parses as a TrainBatch")
}

/// A `grpo` optimizer on the tiny model in `dir` with `config` plus model_dir and one thread.
pub fn optimizer(dir: &Path, config: &serde_json::Value) -> Grpo {
    let mut c = config.clone();
    c["model_dir"] = serde_json::json!(dir.join("model"));
    c["threads"] = serde_json::json!(1);
    let config: GrpoConfig = serde_json::from_value(c).expect("config");
    Grpo::new(config).expect("optimizer")
}

pub fn expected(dir: &Path) -> Vec<(String, Tensor)> {
    Tensor::read_safetensors(dir.join("expected.safetensors")).expect("expected.safetensors")
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    (a.to_kind(tch::Kind::Double) - b.to_kind(tch::Kind::Double)).abs().max().double_value(&[])
}

/// Copies of the policy weights (not views: they must survive later updates).
pub fn snapshot(opt: &Grpo) -> Vec<(String, Tensor)> {
    opt.policy().named_parameters().into_iter().map(|(n, t)| (n, t.detach().copy())).collect()
}
