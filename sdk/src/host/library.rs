//! One opened plugin library and the components built from it.

use super::log_bridge::{filter_directives, host_log};
use super::Manifest;
use crate::collective::{FfiBuffer, FfiWorld};
use crate::language_id::HostLanguageId;
use crate::optimizer::HostOptimizer;
use crate::reward_model::HostRewardModel;
use crate::rollout_engine::HostRolloutEngine;
use crate::router::HostRouter;
use crate::{AnyComponent, FfiError, HostContext, PluginModRef, ABI_MAJOR, ABI_MINOR, ABI_SYMBOL};
use abi_stable::library::{lib_header_from_raw_library, LibraryError, RawLibrary};
use abi_stable::std_types::{RResult, RStr};
use lrpo_core::{ComponentKind, Error, Result};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The host's side of a data-parallel run: its place, and how it sums a buffer over the ranks.
#[derive(Debug, Clone, Copy)]
pub struct HostWorld {
    pub rank: usize,
    pub size: usize,
    pub local_rank: usize,
    pub all_reduce_sum: fn(FfiBuffer) -> Result<()>,
}

static WORLD: OnceLock<HostWorld> = OnceLock::new();

extern "C" fn all_reduce_sum(buffer: FfiBuffer) -> RResult<(), FfiError> {
    match WORLD.get() {
        Some(world) => (world.all_reduce_sum)(buffer).map_err(FfiError::from).into(),
        None => RResult::RErr(Error::runtime("all-reduce outside a data-parallel run").into()),
    }
}

/// Makes every library opened from now on (and the host's own components) part of a
/// data-parallel run; call once, before the first [`PluginLibrary::open`].
pub fn set_world(world: HostWorld) {
    if WORLD.set(world).is_ok() {
        crate::collective::install(ffi_world().expect("just set"));
    }
}

fn ffi_world() -> Option<FfiWorld> {
    WORLD.get().map(|w| FfiWorld {
        rank: w.rank as u32,
        size: w.size as u32,
        local_rank: w.local_rank as u32,
        all_reduce_sum,
    })
}

/// A plugin library that passed every check and was initialised. It is never unloaded: the
/// components it built may still run its code.
pub struct PluginLibrary {
    pub path: PathBuf,
    pub manifest: Manifest,
    module: PluginModRef,
}

impl std::fmt::Debug for PluginLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginLibrary").field("path", &self.path).field("manifest", &self.manifest).finish()
    }
}

fn plugin_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Plugin { plugin: path.display().to_string(), message: message.into() }
}

impl PluginLibrary {
    /// Opens `path` with the dynamic loader and checks, in this order, that it exports the lrpo
    /// ABI symbol, that its ABI version is one this host speaks, and that abi_stable's layout
    /// check of its root module passes; then calls its `init` with the log bridge and
    /// `threads`, and reads its manifest. The file is not checked before the loader maps it:
    /// that is the caller's policy (a truncated ELF file can crash the loader).
    pub fn open(path: &Path, threads: usize) -> Result<PluginLibrary> {
        let raw = RawLibrary::load_at(path).map_err(|e| match e {
            LibraryError::OpenError { err, .. } => {
                plugin_error(path, format!("the dynamic loader refused it (truncated or corrupt?): {err}"))
            }
            other => plugin_error(path, other.to_string()),
        })?;

        // Safety: the symbol, when an lrpo plugin exports it, is `extern "C" fn() -> u32`
        // (written by `export_plugin!`).
        let version =
            unsafe { raw.get::<extern "C" fn() -> u32>(format!("{ABI_SYMBOL}\0").as_bytes()) }.map_err(|_| {
                plugin_error(path, format!("a shared library, but not an lrpo plugin (no `{ABI_SYMBOL}` symbol)"))
            })?;
        let version = (*version)();
        let (major, minor) = ((version >> 16) as u16, (version & 0xffff) as u16);
        if major != ABI_MAJOR || minor > ABI_MINOR {
            return Err(plugin_error(
                path,
                format!("built against lrpo-sdk ABI {major}.{minor}, this host speaks {ABI_MAJOR}.{ABI_MINOR}"),
            ));
        }

        // Safety: abi_stable checks the root module's type layout against ours before use.
        let module = unsafe { lib_header_from_raw_library(&raw) }
            .and_then(|header| header.init_root_module::<PluginModRef>())
            .map_err(|e| plugin_error(path, format!("ABI check failed: {e}")))?;
        std::mem::forget(raw);

        (module.init())(HostContext {
            log: host_log,
            log_filter: filter_directives().into(),
            threads: threads.max(1) as u32,
        });
        if let Some(world) = ffi_world() {
            // A library built before data-parallel runs cannot take part in one: its optimizer
            // would update on its own rank's rows alone, and the ranks would drift apart.
            let set_world = module.set_world().ok_or_else(|| {
                plugin_error(
                    path,
                    format!(
                        "built against lrpo-sdk ABI {major}.{minor}, before data-parallel runs (ABI 2.1); \
                         rebuild it to train on {} ranks",
                        world.size
                    ),
                )
            })?;
            set_world(world);
        }
        let manifest: Manifest = (module.manifest())().into();
        Ok(PluginLibrary { path: path.to_path_buf(), manifest, module })
    }

    /// Builds component `component` of `kind` as instance `instance` from its config table
    /// (JSON). A library without that component is an error listing what it has; a config key
    /// the plugin names bare (`lr`) is re-rooted to where the user wrote it
    /// (`components.optimizer.<instance>.config.lr`).
    pub fn instantiate(
        &self,
        kind: ComponentKind,
        component: &str,
        instance: &str,
        config: &str,
    ) -> Result<AnyComponent> {
        if self.manifest.component(kind, component).is_none() {
            let have: Vec<String> =
                self.manifest.components.iter().map(|c| format!("{} `{}`", c.kind.key(), c.name)).collect();
            let have = if have.is_empty() { "no components".into() } else { have.join(", ") };
            return Err(Error::Plugin {
                plugin: self.path.display().to_string(),
                message: format!(
                    "has no {kind} component `{component}` (asked for by components.{kind}.{instance}); it provides: {have}"
                ),
            });
        }
        let (c, i, j) = (RStr::from_str(component), RStr::from_str(instance), RStr::from_str(config));
        let m = &self.module;
        // One arm per kind: each factory returns its own FFI object, wrapped here in the host
        // adapter that implements the core trait over it.
        let built: Result<AnyComponent> = match kind {
            ComponentKind::Router => (m.new_router())(c, i, j)
                .into_result()
                .map_err(Error::from)
                .and_then(|o| Ok(AnyComponent::Router(Box::new(HostRouter::new(o)?)))),
            ComponentKind::LanguageId => (m.new_language_id())(c, i, j)
                .into_result()
                .map_err(Error::from)
                .map(|o| AnyComponent::LanguageId(Box::new(HostLanguageId(o)))),
            ComponentKind::RewardModel => (m.new_reward_model())(c, i, j)
                .into_result()
                .map_err(Error::from)
                .map(|o| AnyComponent::RewardModel(Box::new(HostRewardModel(o)))),
            ComponentKind::RolloutEngine => (m.new_rollout_engine())(c, i, j)
                .into_result()
                .map_err(Error::from)
                .map(|o| AnyComponent::RolloutEngine(Box::new(HostRolloutEngine(o)))),
            ComponentKind::Optimizer => (m.new_optimizer())(c, i, j)
                .into_result()
                .map_err(Error::from)
                .map(|o| AnyComponent::Optimizer(Box::new(HostOptimizer(o)))),
        };
        built.map_err(|e| reroot(e, kind, instance))
    }
}

/// `lr` -> `components.<kind>.<instance>.config.lr`; keys already rooted stay as they are.
fn reroot(e: Error, kind: ComponentKind, instance: &str) -> Error {
    match e {
        Error::Config { key, message } if !key.starts_with("components.") => {
            let root = format!("components.{kind}.{instance}.config");
            let key = if key.is_empty() { root } else { format!("{root}.{key}") };
            Error::Config { key, message }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_config_keys_are_rooted_at_the_instance() {
        let e = reroot(Error::config("betas[1]", "must be in [0, 1)"), ComponentKind::Optimizer, "grpo");
        assert_eq!(e, Error::config("components.optimizer.grpo.config.betas[1]", "must be in [0, 1)"));
        let rooted = Error::config("components.router.r.config", "unknown field `x`");
        assert_eq!(reroot(rooted.clone(), ComponentKind::Router, "r"), rooted);
        assert_eq!(
            reroot(Error::config("", "bad"), ComponentKind::Router, "r"),
            Error::config("components.router.r.config", "bad")
        );
        let other = Error::runtime("boom");
        assert_eq!(reroot(other.clone(), ComponentKind::Router, "r"), other);
    }

    #[test]
    fn a_file_that_is_not_a_library_is_refused_by_the_loader() {
        let dir = std::env::temp_dir().join(format!("lrpo-sdk-host-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("libnot.so");
        std::fs::write(&path, b"not a library").unwrap();
        let err = PluginLibrary::open(&path, 1).unwrap_err();
        assert!(err.to_string().contains("the dynamic loader refused it"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
