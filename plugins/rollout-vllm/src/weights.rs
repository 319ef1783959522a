//! Weight sync through the file system: the `WeightSet` is written as an HF model directory
//! under `weights_dir`, and the server is told to reload from it (`/pause`, `/collective_rpc
//! reload_weights`, `/resume`). Each sync gets a fresh directory, renamed into place when
//! complete, so the server never reads a half-written one; the previous one is removed once
//! the server holds the new weights.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lrpo_core::{DType, Device, Error, Result, WeightSet};
use lrpo_sdk::hf::{copy_model_files, write_weights, WriteOptions};
use serde_json::{json, Value};

use crate::client::Client;

#[derive(Debug)]
pub struct WeightSync {
    /// Where we write.
    pub dir: PathBuf,
    /// The same directory as the server sees it (another node may mount it elsewhere).
    pub server_dir: PathBuf,
    pub model_dir: PathBuf,
    /// `None`: as exported.
    pub dtype: Option<DType>,
    /// Remove `dir` itself on drop (it is the engine's private scratch directory).
    pub remove_dir_on_drop: bool,
    version: u64,
    current: Option<PathBuf>,
}

/// Seconds spent in each part of one sync, for the log.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncTimes {
    pub write: f64,
    pub pause: f64,
    pub reload: f64,
    pub resume: f64,
}

impl WeightSync {
    pub fn new(
        dir: PathBuf,
        server_dir: PathBuf,
        model_dir: PathBuf,
        dtype: Option<DType>,
        remove_dir_on_drop: bool,
    ) -> Self {
        WeightSync { dir, server_dir, model_dir, dtype, remove_dir_on_drop, version: 0, current: None }
    }

    /// Writes `weights` and has the server load them.
    pub fn load(&mut self, client: &Client, weights: &WeightSet) -> Result<SyncTimes> {
        if let Some(v) = weights.tensors.iter().find(|v| v.device != Device::Cpu) {
            let Device::Cuda(i) = v.device else { unreachable!("only CPU and CUDA views exist") };
            return Err(Error::input(
                format!("weight `{}`", v.name),
                format!(
                    "is on cuda:{i}; the vllm engine hands weights to the server through files and reads \
                     host memory only: run the optimizer with device = \"cpu\", or have it export host copies"
                ),
            ));
        }
        let mut times = SyncTimes::default();
        let clock = Instant::now();
        self.version += 1;
        let name = format!("step-{:06}-{}", self.version, std::process::id());
        let staging = self.dir.join(format!(".{name}.partial"));
        let target = self.dir.join(&name);
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|e| Error::io(staging.display(), e))?;
        }
        let opts = WriteOptions { dtype: self.dtype, ..WriteOptions::default() };
        let written = write_weights(weights, &staging, &opts).and_then(|_| {
            // config.json's torch_dtype says what the files hold when they were cast.
            copy_model_files(&self.model_dir, &staging, self.dtype)?;
            std::fs::rename(&staging, &target).map_err(|e| Error::io(target.display(), e))
        });
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        times.write = clock.elapsed().as_secs_f64();

        let server_path = self.server_dir.join(&name);
        let reloaded = reload(client, &server_path, &mut times);
        if reloaded.is_err() {
            let _ = std::fs::remove_dir_all(&target);
            reloaded?;
        }
        if let Some(old) = self.current.replace(target) {
            if let Err(e) = std::fs::remove_dir_all(&old) {
                tracing::warn!("vllm: could not remove old weights {}: {e}", old.display());
            }
        }
        tracing::debug!(
            "vllm: weight sync {}: write {:.2} s, pause {:.2} s, reload {:.2} s, resume {:.2} s",
            self.version,
            times.write,
            times.pause,
            times.reload,
            times.resume
        );
        Ok(times)
    }
}

/// Pause, reload from `path`, resume. Once paused the server is always resumed, even when the
/// reload failed, so a failed sync never leaves it refusing work.
fn reload(client: &Client, path: &Path, times: &mut SyncTimes) -> Result<()> {
    let clock = Instant::now();
    // `wait`: requests still in flight (there should be none of ours) finish first; the caches
    // computed with the old weights are dropped.
    client.call("POST", "/pause?mode=wait&clear_cache=true", None)?;
    times.pause = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let body = json!({ "method": "reload_weights", "kwargs": { "weights_path": path.display().to_string() } });
    let reloaded = client.post("/collective_rpc", &body).map(|_| ()).and_then(|_| {
        // Prefix-cache blocks from before the reload must not serve new prompts.
        let reset = client.call("POST", "/reset_prefix_cache", None)?;
        if reset.get("success").and_then(Value::as_bool) == Some(false) {
            tracing::warn!("vllm: {} refused to reset its prefix cache after the reload", client.base());
        }
        Ok(())
    });
    times.reload = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let resumed = client.call("POST", "/resume", None);
    times.resume = clock.elapsed().as_secs_f64();
    reloaded.map_err(|e| Error::runtime(format!("{e} (reloading weights from {})", path.display())))?;
    resumed.map(|_| ())
}

impl Drop for WeightSync {
    fn drop(&mut self) {
        if let Some(dir) = self.current.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if self.remove_dir_on_drop {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrpo_core::{weight_set_from_f32, TensorView};

    #[test]
    fn cuda_views_are_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let mut sync = WeightSync::new(
            dir.path().join("w"),
            dir.path().join("w"),
            dir.path().to_path_buf(),
            Some(DType::BF16),
            false,
        );
        let view = TensorView {
            name: "model.embed_tokens.weight".into(),
            dtype: DType::F32,
            shape: vec![2],
            strides: vec![1],
            device: Device::Cuda(0),
            data: std::ptr::null(),
        };
        // SAFETY: the view is never read: the CUDA check comes first.
        let set = unsafe { WeightSet::borrowed(vec![view]) };
        let client = Client::new("http://127.0.0.1:9", None, std::time::Duration::from_secs(1), 0, None);
        let e = sync.load(&client, &set).unwrap_err().to_string();
        assert!(e.contains("weight `model.embed_tokens.weight`: is on cuda:0"), "{e}");
        assert!(e.contains("device = \"cpu\""), "{e}");
    }

    #[test]
    fn a_failed_reload_leaves_no_directory_behind() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        std::fs::create_dir(&model).unwrap();
        std::fs::write(model.join("config.json"), "{}").unwrap();
        let w = dir.path().join("w");
        let mut sync = WeightSync::new(w.clone(), w.clone(), model, None, false);
        let set = weight_set_from_f32(vec![("a".into(), vec![2], vec![1.0, 2.0])]);
        let port = crate::server::free_port().unwrap();
        let client = Client::new(&format!("http://127.0.0.1:{port}"), None, std::time::Duration::from_secs(2), 0, None);
        let e = sync.load(&client, &set).unwrap_err().to_string();
        assert!(e.contains(&format!("POST http://127.0.0.1:{port}/pause")), "{e}");
        assert_eq!(std::fs::read_dir(&w).unwrap().count(), 0, "the written weights are removed again");
    }
}
