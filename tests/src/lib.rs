//! Small helpers for the integration tests: where the built libraries and binary are, a
//! temporary plugin directory holding chosen libraries, and running `lrpo-host`.
//!
//! The libraries and the binary must be built first (`cargo build --workspace`, which
//! `scripts/test.sh` runs before `cargo test`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `target/<profile>`, found from the running test executable (`target/<profile>/deps/..`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_path_buf()
}

/// The built `lib<name>.so`; fails the test with the command to run when it is missing.
pub fn built_library(name: &str) -> PathBuf {
    let path = target_dir().join(format!("lib{name}.so"));
    assert!(path.exists(), "{} is missing: run `cargo build --workspace` before the tests", path.display());
    path
}

/// A temporary directory with copies of the named built libraries.
pub fn plugin_dir(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in names {
        let src = built_library(name);
        std::fs::copy(&src, dir.path().join(src.file_name().unwrap())).expect("copy plugin");
    }
    dir
}

pub fn host_binary() -> PathBuf {
    let path = target_dir().join("lrpo-host");
    assert!(path.exists(), "{} is missing: run `cargo build --workspace` before the tests", path.display());
    path
}

/// `lrpo-host --plugins plugins --config run.toml train EXTRA...` in `dir`: how the end-to-end
/// tests start a run laid out as `dir/plugins/` and `dir/run.toml`.
pub fn train_command(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(host_binary());
    cmd.current_dir(dir).args(["--plugins", "plugins", "--config", "run.toml", "train"]).args(extra);
    cmd
}

/// Starts a training run in the background with its output discarded (for tests that kill it
/// or race it), and waits until `marker` (a file the run writes) exists or `limit` passes.
pub fn spawn_run_until(dir: &Path, marker: &Path, limit: std::time::Duration) -> std::process::Child {
    let child = train_command(dir, &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start lrpo-host");
    let started = std::time::Instant::now();
    while !marker.exists() && started.elapsed() < limit {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// Runs `lrpo-host` with the given arguments in `cwd`, with a clean `LRPO_` environment.
pub fn run_host(args: &[&str], cwd: &Path) -> Output {
    run_host_with_env(args, cwd, &[])
}

/// [`run_host`] with `env` added to the clean environment.
pub fn run_host_with_env(args: &[&str], cwd: &Path, env: &[(String, String)]) -> Output {
    let mut cmd = Command::new(host_binary());
    cmd.args(args).current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("LRPO_") && k != "LRPO_CACHE_DIR" {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.output().expect("run lrpo-host")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write file");
    p
}

/// A run's `metrics.jsonl` records without the wall-clock fields (`time`, `tokens_per_second`
/// and every `*_s` such as `time_s` or `allreduce_s`, at any depth), which no two runs share.
pub fn run_metrics(run_dir: &Path) -> Vec<serde_json::Value> {
    fn strip(v: &mut serde_json::Value) {
        if let Some(o) = v.as_object_mut() {
            o.retain(|k, _| !(k == "time" || k == "tokens_per_second" || k.ends_with("_s")));
            o.values_mut().for_each(strip);
        }
    }
    let path = run_dir.join("metrics.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("metrics line is JSON");
            strip(&mut v);
            v
        })
        .collect()
}
