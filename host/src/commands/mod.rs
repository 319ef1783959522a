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

/// `lrpo-host calibrate`: the encoder lives in a tch plugin and the host never links libtorch,
/// so the work is done by the reward plugin's `lrpo-calibrate` binary, found beside this one.
pub fn calibrate(args: &[String]) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| lrpo_core::Error::io("lrpo-host", e))?;
    let tool = exe.with_file_name("lrpo-calibrate");
    if !tool.is_file() {
        return Err(lrpo_core::Error::config(
            "calibrate",
            format!("{} is missing: build it with `cargo build --release -p lrpo-reward-calibrated` (scripts/setup.sh does)", tool.display()),
        ));
    }
    let status =
        std::process::Command::new(&tool).args(args).status().map_err(|e| lrpo_core::Error::io(tool.display(), e))?;
    if status.success() {
        Ok(())
    } else {
        Err(lrpo_core::Error::runtime(format!("lrpo-calibrate failed ({status})")))
    }
}

pub fn show_config(global: &GlobalArgs) -> Result<String> {
    Ok(resolved_config(global)?.to_toml())
}
