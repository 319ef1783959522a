//! Finding plugin libraries and opening one, with a clear error for each way it can be wrong.
//!
//! The host's part is policy: where to look, and a pre-check of the file (it exists; it is an
//! ELF shared object whose segments lie inside it) before the dynamic loader maps it. The ABI
//! checks, `init` and the manifest are `lrpo_sdk::host::PluginLibrary::open`.

use lrpo_core::{Error, Result};
use lrpo_sdk::host::PluginLibrary;
use std::path::{Path, PathBuf};

/// `lrpo_router_bandit` -> `liblrpo_router_bandit.so`.
pub fn library_file_name(name: &str) -> String {
    format!("lib{name}.so")
}

/// Checks a configured `plugin` value. It is either a library name (`lrpo_router_bandit`:
/// letters, digits, `_`, `-`, `.`, not starting with `.`), searched as `lib<name>.so` in the
/// plugin directories, or, on purpose, a path to the library file (`./libmine.so`,
/// `/opt/plugins/libmine.so`): anything with a `/` must end in `.so` and have no `..` part, so a
/// name can never reach outside the plugin directories by accident or by trickery.
pub fn check_plugin_name(name: &str) -> std::result::Result<(), String> {
    if name.contains('/') {
        if !name.ends_with(".so") {
            return Err(format!("`{name}` has a `/` but is not a path to a `.so` file; give a library name (e.g. lrpo_router_bandit) or the path of the .so"));
        }
        if Path::new(name).components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(format!("`{name}`: a plugin path may not contain `..`"));
        }
        return Ok(());
    }
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !plain {
        return Err(format!(
            "`{name}` is not a library name (letters, digits, `_`, `-`, `.`; e.g. lrpo_router_bandit)"
        ));
    }
    Ok(())
}

/// Looks for `lib<name>.so` in each directory, in order; a path (see [`check_plugin_name`]) is
/// taken as it is.
pub fn find_library(name: &str, dirs: &[PathBuf]) -> Result<PathBuf> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let file = library_file_name(name);
    for path in dirs.iter().map(|d| d.join(&file)) {
        // Only a library that is not there sends the search on: one that cannot be looked at
        // (a directory without search permission, a symlink loop) must not silently give way
        // to a library of the same name further down the path.
        match std::fs::metadata(&path) {
            Ok(_) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(plugin_error(&path, format!("cannot be read: {e}"))),
        }
    }
    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let mut present: Vec<String> =
        dirs.iter().flat_map(|d| list_libraries(d)).filter_map(|p| plugin_name(&p)).collect();
    present.sort();
    present.dedup();
    let searched =
        if searched.is_empty() { "no plugin directory given (use --plugins DIR)".into() } else { searched.join(", ") };
    let present = if present.is_empty() { "none".to_string() } else { present.join(", ") };
    Err(Error::Plugin {
        plugin: file,
        message: format!("file missing: searched {searched}; libraries found there: {present}"),
    })
}

/// Checks a plugin directory: it exists, is a directory and can be listed. The message says
/// which, with the system's reason (e.g. "permission denied"), not just "missing".
pub fn check_plugin_dir(dir: &Path) -> std::result::Result<(), String> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("{shown} is not a directory (it does not exist)"))
        }
        Err(e) => Err(format!("{shown}: cannot be read: {e}")),
        Ok(m) if !m.is_dir() => Err(format!("{shown} is not a directory")),
        Ok(_) => std::fs::read_dir(dir).map(|_| ()).map_err(|e| format!("{shown}: cannot be read: {e}")),
    }
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

/// Checks the file, then opens and initialises it. `threads` is the budget handed to the plugin.
pub fn open_library(path: &Path, threads: usize) -> Result<PluginLibrary> {
    if !path.exists() {
        return Err(plugin_error(path, "file missing"));
    }
    super::elf::check_shared_object(path).map_err(|m| plugin_error(path, m))?;
    PluginLibrary::open(path, threads)
}
