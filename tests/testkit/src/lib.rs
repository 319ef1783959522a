//! Where the tests, examples and benchmarks of every crate find the repository, the shared real
//! data, the project venv's python and the imported models. One place, so that a venv moved
//! with `LRPO_VENV` is found by all of them. Only ever a dev-dependency: the host and the plugins
//! never depend on it.
//!
//! Every helper fails (never skips) when what it looks for is missing, naming the path and the
//! set-up command: a test that silently skips on a machine without the venv would prove nothing.

use std::path::{Path, PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_root_is_the_workspace() {
        assert!(repo_root().join("scripts/test.sh").is_file());
    }

    #[test]
    #[should_panic(expected = "is not imported")]
    fn a_model_without_its_marker_is_refused() {
        cached_model("no-such-model-for-testkit", "lrpo-import.json");
    }
}
