//! `lrpo-host plugins list`.

use crate::cli::GlobalArgs;
use crate::plugin::{check_plugin_dir, list_libraries, open_library, Manifest};
use lrpo_core::{Error, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Serialize)]
struct Entry {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest: Option<Manifest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Opens every library in the plugin dirs (`--plugins` and `plugins.dirs`). A library that
/// fails to load is listed with its error; the command then exits with status 2.
pub fn list_plugins(global: &GlobalArgs, json: bool) -> Result<(String, bool)> {
    let mut dirs: Vec<PathBuf> = global.plugins.clone();
    if dirs.is_empty() {
        dirs = super::resolved_config(global)?.plugin_dirs;
    }
    if dirs.is_empty() {
        return Err(Error::config("--plugins", "no plugin directory given: pass --plugins DIR"));
    }
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut entries = Vec::new();
    for dir in &dirs {
        check_plugin_dir(dir).map_err(|m| Error::config("--plugins", m))?;
        for path in list_libraries(dir) {
            let (manifest, error) = match open_library(&path, threads) {
                Ok(p) => (Some(p.manifest), None),
                Err(e) => (None, Some(e.to_string())),
            };
            entries.push(Entry { path: path.display().to_string(), manifest, error });
        }
    }
    let all_ok = entries.iter().all(|e| e.error.is_none());
    if json {
        return Ok((serde_json::to_string_pretty(&entries).unwrap_or_default(), all_ok));
    }
    let mut out = String::new();
    if entries.is_empty() {
        let _ = writeln!(
            out,
            "no plugin libraries (lib*.so) in {}",
            dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    for e in &entries {
        let _ = writeln!(out, "{}", e.path);
        match (&e.manifest, &e.error) {
            (Some(m), _) => {
                for line in m.to_string().lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
            (_, Some(err)) => {
                let _ = writeln!(out, "  error: {err}");
            }
            _ => {}
        }
    }
    Ok((out, all_ok))
}
