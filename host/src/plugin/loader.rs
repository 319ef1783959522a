//! Opening one plugin library, with a clear error for each way it can be wrong.
//!
//! Order of checks: the file exists; it is an ELF shared object; the dynamic loader accepts
//! it; it exports the lrpo ABI symbol; the ABI version matches; abi_stable's layout check of
//! the root module passes. Libraries are never unloaded (their code may still be referenced
//! by objects they created).

use super::log_bridge::{filter_directives, host_log};
use super::Manifest;
use lrpo_core::{Error, Result};
use lrpo_sdk::abi_stable::library::{lib_header_from_raw_library, LibraryError, RawLibrary};
use lrpo_sdk::{HostContext, PluginModRef, ABI_MAJOR, ABI_MINOR, ABI_SYMBOL};
use std::path::{Path, PathBuf};

pub struct LoadedPlugin {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub module: PluginModRef,
}

/// `lrpo_router_bandit` -> `liblrpo_router_bandit.so`.
pub fn library_file_name(name: &str) -> String {
    format!("lib{name}.so")
}

/// Looks for `lib<name>.so` in each directory, in order.
pub fn find_library(name: &str, dirs: &[PathBuf]) -> Result<PathBuf> {
    let file = library_file_name(name);
    if let Some(found) = dirs.iter().map(|d| d.join(&file)).find(|p| p.exists()) {
        return Ok(found);
    }
    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let mut present: Vec<String> = dirs.iter().flat_map(|d| list_libraries(d)).filter_map(|p| plugin_name(&p)).collect();
    present.sort();
    present.dedup();
    let searched = if searched.is_empty() { "no plugin directory given (use --plugins DIR)".into() } else { searched.join(", ") };
    let present = if present.is_empty() { "none".to_string() } else { present.join(", ") };
    Err(Error::Plugin {
        plugin: file,
        message: format!("file missing: searched {searched}; libraries found there: {present}"),
    })
}

/// Every `lib*.so` in a directory, sorted.
pub fn list_libraries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| plugin_name(p).is_some())
        .collect();
    out.sort();
    out
}

fn plugin_name(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    Some(file.strip_prefix("lib")?.strip_suffix(".so")?.to_string())
}

fn plugin_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Plugin { plugin: path.display().to_string(), message: message.into() }
}

/// Opens, checks and initialises one library. `threads` is the budget handed to the plugin.
pub fn open_library(path: &Path, threads: usize) -> Result<LoadedPlugin> {
    if !path.exists() {
        return Err(plugin_error(path, "file missing"));
    }
    super::elf::check_shared_object(path).map_err(|m| plugin_error(path, m))?;
    let raw = RawLibrary::load_at(path).map_err(|e| match e {
        LibraryError::OpenError { err, .. } => {
            plugin_error(path, format!("the dynamic loader refused it (truncated or corrupt?): {err}"))
        }
        other => plugin_error(path, other.to_string()),
    })?;

    // Safety: the symbol, when an lrpo plugin exports it, is `extern "C" fn() -> u32`
    // (written by `export_plugin!`).
    let version = unsafe { raw.get::<extern "C" fn() -> u32>(format!("{ABI_SYMBOL}\0").as_bytes()) }
        .map_err(|_| plugin_error(path, format!("a shared library, but not an lrpo plugin (no `{ABI_SYMBOL}` symbol)")))?;
    let version = (*version)();
    let (major, minor) = ((version >> 16) as u16, (version & 0xffff) as u16);
    if major != ABI_MAJOR || minor > ABI_MINOR {
        return Err(plugin_error(
            path,
            format!("built against lrpo-sdk ABI {major}.{minor}, this host speaks {ABI_MAJOR}.{ABI_MINOR}"),
        ));
    }

    let module = unsafe { lib_header_from_raw_library(&raw) }
        .and_then(|header| header.init_root_module::<PluginModRef>())
        .map_err(|e| plugin_error(path, format!("ABI check failed: {e}")))?;
    std::mem::forget(raw);

    (module.init())(HostContext {
        log: host_log,
        log_filter: filter_directives().into(),
        threads: threads.max(1) as u32,
    });
    let manifest: Manifest = (module.manifest())().into();
    Ok(LoadedPlugin { path: path.to_path_buf(), manifest, module })
}
