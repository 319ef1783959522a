//! The libraries a run uses, opened on first need, and the components built from them.

use super::{check_plugin_name, find_library, open_library, AnyComponent, PluginLibrary};
use crate::config::{with_suggestion, Arm, ComponentsConfig, InstanceConfig};
use lrpo_core::{ComponentKind, Error, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct Registry {
    dirs: Vec<PathBuf>,
    threads: usize,
    expected_libtorch: Option<String>,
    loaded: BTreeMap<String, PluginLibrary>,
}

impl Registry {
    pub fn new(dirs: Vec<PathBuf>, threads: usize, expected_libtorch: Option<String>) -> Self {
        Registry { dirs, threads, expected_libtorch, loaded: BTreeMap::new() }
    }

    /// Opens `lib<name>.so` once; later calls return the same library.
    pub fn load(&mut self, name: &str) -> Result<&PluginLibrary> {
        if !self.loaded.contains_key(name) {
            let path = find_library(name, &self.dirs)?;
            let plugin = open_library(&path, self.threads)?;
            self.check_libtorch(&plugin)?;
            tracing::debug!("loaded {}", plugin.manifest.to_string().trim_end());
            self.loaded.insert(name.to_string(), plugin);
        }
        Ok(&self.loaded[name])
    }

    pub fn loaded(&self) -> impl Iterator<Item = &PluginLibrary> {
        self.loaded.values()
    }

    /// One process holds one libtorch: every tch plugin must agree with the first one
    /// loaded, and with `plugins.libtorch_version` when set.
    fn check_libtorch(&self, plugin: &PluginLibrary) -> Result<()> {
        let Some(theirs) = &plugin.manifest.libtorch_version else { return Ok(()) };
        let path = plugin.path.display().to_string();
        if let Some(want) = &self.expected_libtorch {
            if want != theirs {
                return Err(Error::Plugin {
                    plugin: path,
                    message: format!("built against libtorch {theirs}, but plugins.libtorch_version is {want}"),
                });
            }
        }
        for other in self.loaded.values() {
            if let Some(v) = other.manifest.libtorch_version.as_ref().filter(|v| *v != theirs) {
                return Err(Error::Plugin {
                    plugin: path,
                    message: format!(
                        "built against libtorch {theirs}, but {} uses libtorch {v}; one process can hold only one libtorch",
                        other.path.display()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Builds one component instance from its config table.
    pub fn instantiate(&mut self, kind: ComponentKind, instance: &str, cfg: &InstanceConfig) -> Result<AnyComponent> {
        let json = serde_json::to_string(&cfg.config)
            .map_err(|e| Error::config(format!("components.{}.{instance}.config", kind.key()), e.to_string()))?;
        check_plugin_name(&cfg.plugin)
            .map_err(|m| Error::config(format!("components.{}.{instance}.plugin", kind.key()), m))?;
        let library = self.load(&cfg.plugin)?;
        library.instantiate(kind, &cfg.kind, instance, &json).map_err(|e| match e {
            // Plugins report unknown config keys with serde's list of valid ones.
            Error::Config { key, message } => Error::Config { key, message: with_suggestion(&message) },
            other => other,
        })
    }

    /// Builds every component an arm names, in the arm's kind order (fresh instances: arms
    /// never share state); `ArmComponents::assemble` checks that they make a whole arm.
    pub fn build_arm(&mut self, arm: &Arm, comps: &ComponentsConfig) -> Result<Vec<AnyComponent>> {
        arm.instances
            .iter()
            .map(|(&kind, instance)| self.instantiate(kind, instance, &comps.of(kind)[instance]))
            .collect()
    }
}
