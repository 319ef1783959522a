//! The host end of the log bridge: plugin events arrive already filtered by the plugin
//! (with the host's `RUST_LOG` directives) and are re-emitted under the `plugin` target,
//! which the host's own filter always lets through.

use abi_stable::std_types::RStr;

pub(crate) extern "C" fn host_log(level: u8, target: RStr<'_>, message: RStr<'_>) {
    let (target, message) = (target.as_str(), message.as_str());
    match level {
        1 => tracing::error!(target: "plugin", "{target}: {message}"),
        2 => tracing::warn!(target: "plugin", "{target}: {message}"),
        3 => tracing::info!(target: "plugin", "{target}: {message}"),
        4 => tracing::debug!(target: "plugin", "{target}: {message}"),
        _ => tracing::trace!(target: "plugin", "{target}: {message}"),
    }
}

/// The directives plugins filter with: `RUST_LOG`, or `info` when unset.
pub fn filter_directives() -> String {
    std::env::var("RUST_LOG").ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "info".into())
}
