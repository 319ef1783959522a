//! Shared helpers for the parity tests: the project venv's python, reference scripts, tolerances.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use tch::Tensor;

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py").join(name)
}

/// Runs a reference script and returns its stdout; fails the test with its stderr otherwise.
pub fn run_python(script_name: &str, args: &[&str]) -> String {
    let out = Command::new(lrpo_testkit::python())
        .arg(script(script_name))
        .args(args)
        .env("TOKENIZERS_PARALLELISM", "false")
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "{script_name} {args:?} failed (run scripts/setup.sh if transformers is missing):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// A tensor from a reference safetensors file.
pub fn reference(path: &Path, name: &str) -> Tensor {
    let all = Tensor::read_safetensors(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    all.into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{} has no `{name}`", path.display())).1
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    (a.to_kind(tch::Kind::Double) - b.to_kind(tch::Kind::Double)).abs().max().double_value(&[])
}

/// A model directory from the cache, failing with the set-up command when it is not imported.
pub fn imported_model(name: &str) -> PathBuf {
    lrpo_testkit::cached_model(name, lrpo_torch::import::MARKER)
}
