//! Where the tests, examples and benchmarks of every crate find the repository, the shared real
//! data, the project venv's python and the imported models. One place, so that a venv moved
//! with `LRPO_VENV` is found by all of them. Only ever a dev-dependency: the host and the plugins
//! never depend on it.
//!
//! Every helper fails (never skips) when what it looks for is missing, naming the path and the
//! set-up command: a test that silently skips on a machine without the venv would prove nothing.

pub mod bench;
pub mod judge;
pub mod vllm;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The repository root (this crate lives in `tests/testkit`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// The shared real data directory, `../shared/data` next to the repository.
pub fn shared_data() -> PathBuf {
    let dir = repo_root().join("../shared/data");
    assert!(dir.is_dir(), "{} is missing (the shared real data)", dir.display());
    dir
}

/// The project venv's python: `LRPO_VENV_PYTHON`, which scripts/setup.sh writes into the cargo
/// environment (.cargo/config.toml) wherever `LRPO_VENV` put the venv, else `<repo>/.venv`.
pub fn python() -> PathBuf {
    let python = std::env::var_os("LRPO_VENV_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(python.is_file(), "{} is missing: run scripts/setup.sh to create the project venv", python.display());
    python
}

/// The model cache directory of `name`, checked to hold `marker` (the file an importer writes
/// last, such as `lrpo_torch::import::MARKER`), so a half-imported model is never used.
pub fn cached_model(name: &str, marker: &str) -> PathBuf {
    let dir = lrpo_core::paths::model_dir(name);
    assert!(dir.join(marker).is_file(), "{} is not imported: run {}", dir.display(), lrpo_core::paths::SETUP_COMMAND);
    dir
}

/// Runs the venv's python with `args` (a script and its arguments, or `-c` and code), the JSON of
/// `input` on its standard input, and parses its standard output as JSON: how the parity tests
/// ask a Python reference for its answer. A failing script fails the test with its stderr.
pub fn python_json<T: DeserializeOwned>(args: &[&OsStr], input: &impl Serialize) -> T {
    let mut child = python_command(args).stdin(Stdio::piped()).spawn().expect("start the venv's python");
    // A script that dies early closes its stdin; its stderr, below, says why.
    let _ = child.stdin.take().expect("stdin").write_all(serde_json::to_string(input).expect("JSON input").as_bytes());
    let out = succeeded(args, child.wait_with_output().expect("wait for python"));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("python {} printed no valid JSON: {e}", script_name(args)))
}

/// Runs the venv's python with `args` for a reference script that writes its answer into files
/// (a model, expected tensors) rather than printing it. A failing script fails the test with its
/// stderr.
pub fn python_run(args: &[&OsStr]) {
    succeeded(args, python_command(args).stdin(Stdio::null()).output().expect("run the venv's python"));
}

fn python_command(args: &[&OsStr]) -> Command {
    let mut command = Command::new(python());
    command.args(args).env("TOKENIZERS_PARALLELISM", "false").stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

/// The script and its first argument, enough to tell which reference failed.
fn script_name(args: &[&OsStr]) -> String {
    args.iter().map(|a| a.to_string_lossy()).take(2).collect::<Vec<_>>().join(" ")
}

fn succeeded(args: &[&OsStr], out: Output) -> Output {
    assert!(
        out.status.success(),
        "python {} failed (scripts/setup.sh installs the reference packages):\n{}",
        script_name(args),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The largest absolute elementwise difference of two equally long slices, computed in f64 (the
/// parity tests compare f32 and f64 outputs alike). NaN anywhere gives NaN, so that a tolerance
/// check `max_abs_diff(..) < tol` fails on it; empty slices give 0.
pub fn max_abs_diff<T: Copy + Into<f64>>(a: &[T], b: &[T]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x.into() - y.into()).abs())
        .fold(0.0, |max, d| if d.is_nan() || d > max { d } else { max })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_root_is_the_workspace() {
        assert!(repo_root().join("scripts/test.sh").is_file());
    }

    #[test]
    fn python_json_round_trips_through_the_venv() {
        let code = "import json, sys; print(json.dumps([x * 2 for x in json.load(sys.stdin)]))";
        let doubled: Vec<i64> = python_json(&["-c".as_ref(), code.as_ref()], &[1, 2, 3]);
        assert_eq!(doubled, [2, 4, 6]);
    }

    #[test]
    #[should_panic(expected = "failed")]
    fn a_failing_python_script_fails_the_test() {
        let _: serde_json::Value = python_json(&["-c".as_ref(), "raise SystemExit(3)".as_ref()], &());
    }

    #[test]
    #[should_panic(expected = "is not imported")]
    fn a_model_without_its_marker_is_refused() {
        cached_model("no-such-model-for-testkit", "lrpo-import.json");
    }

    #[test]
    fn python_run_runs_a_script() {
        python_run(&["-c".as_ref(), "import sys; sys.exit(0)".as_ref()]);
    }

    #[test]
    #[should_panic(expected = "failed")]
    fn a_failing_python_run_fails_the_test() {
        python_run(&["-c".as_ref(), "raise SystemExit(3)".as_ref()]);
    }

    #[test]
    fn max_abs_diff_is_the_largest_difference() {
        assert_eq!(max_abs_diff(&[1.0f32, -2.0, 3.0], &[1.5, 2.0, 3.0]), 4.0);
        assert_eq!(max_abs_diff(&[0.25f64], &[0.25]), 0.0);
        assert_eq!(max_abs_diff::<f32>(&[], &[]), 0.0);
        // 1e8 - 1 rounds back to 1e8 in f32; the f64 difference is exact.
        assert_eq!(max_abs_diff(&[1e8f32], &[1.0]), 99_999_999.0);
        assert!(max_abs_diff(&[f32::NAN, 0.0], &[0.0, 5.0]).is_nan(), "NaN must not hide behind a larger difference");
        assert!(max_abs_diff(&[0.0, f32::NAN], &[5.0, 0.0]).is_nan());
    }

    #[test]
    #[should_panic(expected = "lengths differ")]
    fn max_abs_diff_refuses_slices_of_different_lengths() {
        max_abs_diff(&[1.0f32], &[1.0, 2.0]);
    }
}
