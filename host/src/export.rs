//! `lrpo-host export`: the policy of a run or checkpoint as a Hugging Face model directory
//! (config.json, model.safetensors or shards with an index, tokenizer files with the chat
//! template, generation_config.json) that transformers and vLLM load as they load any model.
//!
//! The weights come from the run's own optimizer plugin: it is built from the run's recorded
//! config, given the checkpoint's state and asked for its weights, so the export works for any
//! optimizer and never reads a plugin's private checkpoint format.

use crate::cli::GlobalArgs;
use crate::config::{self, Sources};
use crate::plugin::Registry;
use crate::train::checkpoint;
use lrpo_core::{ComponentKind, DType, Error, Optimizer, Result};
use lrpo_sdk::hf::{self, WriteOptions};
use std::fmt;
use std::path::{Path, PathBuf};

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    pub dir: PathBuf,
    pub tensors: usize,
    pub bytes: u64,
    pub dtype: DType,
}

impl fmt::Display for Exported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wrote {}: {} tensors, {} ({})",
            self.dir.display(),
            self.tensors,
            checkpoint::human_bytes(self.bytes),
            hf::torch_dtype_name(self.dtype)
        )
    }
}

/// `config.json`'s `tie_word_embeddings` (transformers' default: true).
fn tied_embeddings(model_dir: &Path) -> Result<bool> {
    let path = model_dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::input(path.display().to_string(), format!("not JSON: {e}")))?;
    Ok(json.get("tie_word_embeddings").and_then(|v| v.as_bool()).unwrap_or(true))
}

/// A generation_config.json from config.json's special token ids, for models that ship none
/// (vLLM and `generate` read their stop tokens from it).
fn write_generation_config(dir: &Path) -> Result<()> {
    let path = dir.join("generation_config.json");
    if path.is_file() {
        return Ok(());
    }
    let config = dir.join("config.json");
    let text = std::fs::read_to_string(&config).map_err(|e| Error::io(config.display(), e))?;
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut out = serde_json::Map::new();
    for key in ["bos_token_id", "eos_token_id", "pad_token_id"] {
        if let Some(v) = json.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    let text = serde_json::to_string_pretty(&out).map_err(|e| Error::runtime(e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(|e| Error::io(path.display(), e))
}

/// Writes `optimizer`'s current policy to `out` as an HF model directory, with `model_dir`'s
/// config and tokenizer files. The directory is built beside `out` and renamed into place, so
/// `out` is either the previous export or the new one, never half of one.
pub fn write_model(
    optimizer: &mut dyn Optimizer,
    model_dir: Option<&Path>,
    out: &Path,
    dtype: DType,
) -> Result<Exported> {
    let model_dir = model_dir.ok_or_else(|| {
        Error::config("model.path", "an export copies the policy's config.json and tokenizer from it: set [model] path")
    })?;
    let mut weights = optimizer.export_weights()?;
    let tied = tied_embeddings(model_dir)?;
    if tied {
        // Tied checkpoints store the embedding once; transformers ties lm_head to it on load.
        weights.tensors.retain(|t| t.name != "lm_head.weight");
    } else if weights.get("lm_head.weight").is_none() {
        return Err(Error::runtime(format!(
            "{} says the embeddings are untied, but the optimizer has no lm_head.weight",
            model_dir.join("config.json").display()
        )));
    }
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into());
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
    let partial = parent.join(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    let files = hf::write_weights(&weights, &partial, &WriteOptions { dtype: Some(dtype), ..WriteOptions::default() })?;
    let tensors = weights.tensors.len();
    drop(weights);
    hf::copy_model_files(model_dir, &partial, Some(dtype))?;
    write_generation_config(&partial)?;
    let bytes = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let old = parent.join(format!(".{name}.old"));
    let _ = std::fs::remove_dir_all(&old);
    if out.exists() {
        std::fs::rename(out, &old).map_err(|e| Error::io(out.display(), e))?;
    }
    std::fs::rename(&partial, out).map_err(|e| Error::io(out.display(), e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(Exported { dir: out.to_path_buf(), tensors, bytes, dtype })
}

/// The run directory and checkpoint that `path` names: a checkpoint directory (holding
/// host.json) or a run directory (its newest complete checkpoint).
fn locate(path: &Path) -> Result<(PathBuf, PathBuf)> {
    let show = path.display().to_string();
    if !path.is_dir() {
        return Err(Error::input(show, "not a directory: give a run directory or one of its checkpoints"));
    }
    if path.join("host.json").is_file() {
        let run =
            path.parent().and_then(Path::parent).ok_or_else(|| Error::input(show, "a checkpoint outside a run"))?;
        return Ok((run.to_path_buf(), path.to_path_buf()));
    }
    if path.join("config.toml").is_file() {
        let ckpt = checkpoint::latest(path).ok_or_else(|| {
            Error::input(
                show.clone(),
                "holds no complete checkpoint yet (trainer.save_freq decides when they are written)",
            )
        })?;
        return Ok((path.to_path_buf(), ckpt));
    }
    // An A/B run: one directory per arm.
    let arms = checkpoint::arm_names(path)?;
    if arms.is_empty() {
        Err(Error::input(show, "not a run directory (no config.toml) nor a checkpoint (no host.json)"))
    } else {
        Err(Error::input(show, format!("holds the arms {}: export one of them", arms.join(", "))))
    }
}

/// `lrpo-host export PATH --out DIR --dtype D`.
pub fn export_command(global: &GlobalArgs, path: &Path, out: &Path, dtype: DType, force: bool) -> Result<String> {
    if out.exists() && std::fs::read_dir(out).map_or(true, |mut d| d.next().is_some()) && !force {
        return Err(Error::config(
            "--out",
            format!(
                "{} exists and is not empty; choose another directory or pass --force to replace it",
                out.display()
            ),
        ));
    }
    let (run_dir, ckpt) = locate(path)?;
    let sources = Sources { file: Some(run_dir.join("config.toml")), overrides: global.set.clone(), env: true };
    let cfg = config::resolve(config::load(&sources)?, &global.plugins, &run_dir)?;
    let arm = match cfg.arms.as_slice() {
        [one] => one,
        many => {
            let name = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            many.iter().find(|a| a.name == name).ok_or_else(|| {
                Error::input(
                    run_dir.display().to_string(),
                    format!("is not the directory of one of the arms of {}", run_dir.join("config.toml").display()),
                )
            })?
        }
    };
    let instance = arm.instances.get(&ComponentKind::Optimizer).ok_or_else(|| {
        Error::config("components.optimizer", format!("the run's arm `{}` has no optimizer to export from", arm.name))
    })?;
    let inst = &cfg.raw.components.of(ComponentKind::Optimizer)[instance];
    let state = checkpoint::load_component(&ckpt, "optimizer")?
        .ok_or_else(|| Error::input(ckpt.display().to_string(), "holds no optimizer.state"))?;
    eprintln!("loading optimizer `{instance}` ({}:{}) with {}", inst.plugin, inst.kind, ckpt.display());
    let mut registry = Registry::new(cfg.plugin_dirs.clone(), cfg.threads, cfg.raw.plugins.libtorch_version.clone())
        .with_policy(cfg.policy_defaults());
    let mut optimizer =
        Box::<dyn Optimizer>::try_from(registry.instantiate(ComponentKind::Optimizer, instance, inst)?)?;
    optimizer.load_state(&state)?;
    let written = write_model(optimizer.as_mut(), cfg.raw.model.path.as_deref(), out, dtype)?;
    Ok(format!("{written}\n"))
}
