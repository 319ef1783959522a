//! Shared helpers: the PyTorch reference step, the tiny model, its batch and the expected weights.

use std::path::Path;

use lrpo_core::TrainBatch;
use lrpo_optim_grpo::{Grpo, GrpoConfig};
use tch::{Device, Kind, Tensor};

/// Runs the PyTorch reference step with `config` (JSON object of `grpo` config keys) in `dir`;
/// the first call there also creates the tiny model and the batch.
pub fn reference_step(dir: &Path, config: &serde_json::Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/grpo_reference.py");
    lrpo_testkit::python_run(&[script.as_ref(), dir.as_ref(), config.to_string().as_ref()]);
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

/// The largest absolute difference of two tensors of one shape, in f64; the slice maths is
/// lrpo-testkit's, which cannot know tch.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    lrpo_testkit::max_abs_diff(&values(a), &values(b))
}

/// The elements of `t` as f64, flattened, on the CPU.
fn values(t: &Tensor) -> Vec<f64> {
    Vec::try_from(t.detach().to_device(Device::Cpu).to_kind(Kind::Double).reshape([-1])).expect("tensor elements")
}

/// Copies of the policy weights (not views: they must survive later updates).
pub fn snapshot(opt: &Grpo) -> Vec<(String, Tensor)> {
    opt.policy().named_parameters().into_iter().map(|(n, t)| (n, t.detach().copy())).collect()
}
