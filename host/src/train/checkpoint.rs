//! Checkpoints: `<run>/checkpoints/step_000010/` holding the host's state (step, data cursor,
//! config hash) and each component's state bytes. A checkpoint is written into a hidden
//! temporary directory and renamed into place, so a run killed at any moment leaves either a
//! complete checkpoint or none; the temporary leftovers are ignored and cleaned up.

use crate::data::SamplerState;
use lrpo_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    /// Last completed training step.
    pub step: u64,
    pub sampler: SamplerState,
    /// Hash of the resolved config; resuming under another config is refused.
    pub config_hash: String,
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(tmp.display(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path.display(), e))
}

pub fn checkpoint_dir(run_dir: &Path, step: u64) -> PathBuf {
    run_dir.join("checkpoints").join(format!("step_{step:06}"))
}

/// Saves host state and component states (name -> bytes) as one checkpoint.
pub fn save(run_dir: &Path, state: &HostState, components: &[(&str, Vec<u8>)]) -> Result<PathBuf> {
    let root = run_dir.join("checkpoints");
    std::fs::create_dir_all(&root).map_err(|e| Error::io(root.display(), e))?;
    let tmp = root.join(format!(".tmp-step_{:06}", state.step));
    let saved = write_and_publish(run_dir, &tmp, state, components);
    if saved.is_err() {
        // A half-written checkpoint is never read (no rename), but it holds disk the run may need.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    saved
}

fn write_and_publish(run_dir: &Path, tmp: &Path, state: &HostState, components: &[(&str, Vec<u8>)]) -> Result<PathBuf> {
    let _ = std::fs::remove_dir_all(tmp);
    std::fs::create_dir_all(tmp).map_err(|e| Error::io(tmp.display(), e))?;
    let host = serde_json::to_vec_pretty(state).map_err(|e| Error::runtime(e.to_string()))?;
    std::fs::write(tmp.join("host.json"), host).map_err(|e| Error::io(tmp.display(), e))?;
    for (name, bytes) in components {
        std::fs::write(tmp.join(format!("{name}.state")), bytes).map_err(|e| Error::io(tmp.display(), e))?;
    }
    // Make the files durable before the rename publishes them.
    for entry in std::fs::read_dir(tmp).map_err(|e| Error::io(tmp.display(), e))?.flatten() {
        if let Ok(f) = std::fs::File::open(entry.path()) {
            let _ = f.sync_all();
        }
    }
    let dir = checkpoint_dir(run_dir, state.step);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(tmp, &dir).map_err(|e| Error::io(dir.display(), e))?;
    Ok(dir)
}

/// Every complete checkpoint directory, oldest first.
pub fn complete(run_dir: &Path) -> Vec<(u64, PathBuf)> {
    let root = run_dir.join("checkpoints");
    let Ok(entries) = std::fs::read_dir(&root) else { return vec![] };
    let mut steps: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let step = name.strip_prefix("step_")?.parse::<u64>().ok()?;
            e.path().join("host.json").is_file().then(|| (step, e.path()))
        })
        .collect();
    steps.sort();
    steps
}

/// The newest complete checkpoint directory, if any.
pub fn latest(run_dir: &Path) -> Option<PathBuf> {
    complete(run_dir).pop().map(|(_, p)| p)
}

/// The arms of an A/B run directory: its sub-directories holding a `config.toml`, by name.
pub fn arm_names(dir: &Path) -> Result<Vec<String>> {
    let mut arms: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir.display(), e))?
        .flatten()
        .filter(|e| e.path().join("config.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    arms.sort();
    Ok(arms)
}

/// Removes all but the newest `keep` complete checkpoints (`keep` 0 keeps all), and the
/// leftovers of interrupted saves and removals. Call it only after a save has completed: the
/// newest checkpoint is then whole, so a kill at any moment leaves at least that one. An old
/// checkpoint is first renamed out of the `step_` namespace, so a removal cut short never
/// leaves a half-deleted directory that looks like a checkpoint.
pub fn prune(run_dir: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    let root = run_dir.join("checkpoints");
    let mut removed = Vec::new();
    if keep > 0 {
        let all = complete(run_dir);
        for (step, dir) in all.iter().take(all.len().saturating_sub(keep)) {
            let doomed = root.join(format!(".old-step_{step:06}"));
            let _ = std::fs::remove_dir_all(&doomed);
            std::fs::rename(dir, &doomed).map_err(|e| Error::io(dir.display(), e))?;
            removed.push(dir.clone());
        }
    }
    for entry in std::fs::read_dir(&root).map_err(|e| Error::io(root.display(), e))?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".old-step_") || name.starts_with(".tmp-step_") {
            std::fs::remove_dir_all(entry.path()).map_err(|e| Error::io(entry.path().display(), e))?;
        }
    }
    Ok(removed)
}

/// Bytes under `path` (files only, links not followed).
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path).map_or(0, |entries| entries.flatten().map(|e| disk_usage(&e.path())).sum())
}

/// `1.6 GB`, `340 MB`, `12 kB`: decimal units, as disk tools print them.
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.0} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.0} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}

pub fn load_host(dir: &Path) -> Result<HostState> {
    let path = dir.join("host.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
    serde_json::from_str(&text).map_err(|e| Error::input(path.display().to_string(), format!("not a host state: {e}")))
}

/// A component's saved bytes; `None` when the checkpoint has none for it.
pub fn load_component(dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let path = dir.join(format!("{name}.state"));
    match std::fs::read(&path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path.display(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(step: u64) -> HostState {
        HostState {
            step,
            sampler: SamplerState { epoch: 0, position: 3, seed: 42, num_questions: 10, n: 2, train_batch_size: 4 },
            config_hash: "h".into(),
        }
    }

    #[test]
    fn newest_complete_checkpoint_wins_and_leftovers_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &state(2), &[("router", vec![1, 2])]).unwrap();
        save(dir.path(), &state(4), &[("router", vec![3])]).unwrap();
        // A checkpoint interrupted before its rename.
        std::fs::create_dir_all(dir.path().join("checkpoints/.tmp-step_000006")).unwrap();
        // A directory without host.json is not complete either.
        std::fs::create_dir_all(dir.path().join("checkpoints/step_000008")).unwrap();
        let last = latest(dir.path()).unwrap();
        assert!(last.ends_with("step_000004"));
        assert_eq!(load_host(&last).unwrap(), state(4));
        assert_eq!(load_component(&last, "router").unwrap(), Some(vec![3]));
        assert_eq!(load_component(&last, "optimizer").unwrap(), None);
    }

    #[test]
    fn pruning_keeps_the_newest_and_clears_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        for step in [2, 4, 6] {
            save(dir.path(), &state(step), &[("optimizer", vec![0; 10])]).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("checkpoints/.tmp-step_000008")).unwrap();
        std::fs::create_dir_all(dir.path().join("checkpoints/.old-step_000000")).unwrap();
        let removed = prune(dir.path(), 2).unwrap();
        assert_eq!(removed, vec![checkpoint_dir(dir.path(), 2)]);
        let left: Vec<u64> = complete(dir.path()).into_iter().map(|(s, _)| s).collect();
        assert_eq!(left, vec![4, 6]);
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["step_000004", "step_000006"]);
        assert!(prune(dir.path(), 0).unwrap().is_empty(), "0 keeps all");
        // host.json (+ its pretty JSON) and 10 state bytes per checkpoint.
        assert!(disk_usage(&dir.path().join("checkpoints")) > 20);
        assert_eq!(human_bytes(1_600_000_000), "1.6 GB");
        assert_eq!(human_bytes(340_000_000), "340 MB");
        assert_eq!(human_bytes(999), "999 B");
    }
}
