//! Where models live. One cache for every model the project fetches or converts.

use std::path::PathBuf;

/// Environment variable that overrides the cache root.
pub const CACHE_ENV: &str = "LRPO_CACHE_DIR";

/// The cache root: `$LRPO_CACHE_DIR`, else `$XDG_CACHE_HOME/lrpo`, else `~/.cache/lrpo`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("lrpo");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("lrpo")
}

/// Directory of one model in the cache: `<cache>/models/<name>`.
pub fn model_dir(name: &str) -> PathBuf {
    cache_dir().join("models").join(name)
}

/// The command that fills the model cache, for error messages about missing models.
pub const SETUP_COMMAND: &str = "scripts/setup.sh";
