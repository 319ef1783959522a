//! Shared helpers for the parity tests: reference scripts and their outputs, tolerances, models.

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py").join(name)
}

/// A tensor from a reference safetensors file.
pub fn reference(path: &Path, name: &str) -> Tensor {
    let all = Tensor::read_safetensors(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    all.into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{} has no `{name}`", path.display())).1
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

/// A model directory from the cache, failing with the set-up command when it is not imported.
pub fn imported_model(name: &str) -> PathBuf {
    lrpo_testkit::cached_model(name, lrpo_torch::import::MARKER)
}
