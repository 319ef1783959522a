//! One function per subcommand. Each returns what it prints, or an error.

mod plugins;
mod train;

pub use plugins::list_plugins;
pub use train::train;

use crate::cli::GlobalArgs;
use crate::config::{self, ResolvedConfig, Sources};
use lrpo_core::Result;
use std::path::PathBuf;

/// Loads and resolves the configuration from the global flags.
pub fn resolved_config(global: &GlobalArgs) -> Result<ResolvedConfig> {
    let sources = Sources { file: global.config.clone(), overrides: global.set.clone(), env: true };
    let raw = config::load(&sources)?;
    let base: PathBuf = match &global.config {
        Some(file) => file
            .canonicalize()
            .ok()
            .and_then(|f| f.parent().map(|p| p.to_path_buf()))
            .unwrap_or_else(|| PathBuf::from(".")),
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    config::resolve(raw, &global.plugins, &base)
}

pub fn show_config(global: &GlobalArgs) -> Result<String> {
    Ok(resolved_config(global)?.to_toml())
}
