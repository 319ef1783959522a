//! The libraries a run uses, opened on first need, and the components built from them.

use super::{find_library, open_library, LoadedPlugin};
use crate::config::{with_suggestion, Arm, ComponentsConfig, InstanceConfig};
use lrpo_core::{ComponentKind, Error, LanguageId, Optimizer, Result, RewardModel, RolloutEngine, Router};
use lrpo_sdk::abi_stable::std_types::RStr;
use lrpo_sdk::language_id::HostLanguageId;
use lrpo_sdk::optimizer::HostOptimizer;
use lrpo_sdk::reward_model::HostRewardModel;
use lrpo_sdk::rollout_engine::HostRolloutEngine;
use lrpo_sdk::router::HostRouter;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct Registry {
    dirs: Vec<PathBuf>,
    threads: usize,
    expected_libtorch: Option<String>,
    loaded: BTreeMap<String, LoadedPlugin>,
}

/// The components of one arm; a kind the config does not name is `None`.
#[derive(Default)]
pub struct Components {
    pub router: Option<Box<dyn Router>>,
    pub language_id: Option<Box<dyn LanguageId>>,
    pub reward_model: Option<Box<dyn RewardModel>>,
    pub rollout_engine: Option<Box<dyn RolloutEngine>>,
    pub optimizer: Option<Box<dyn Optimizer>>,
}

impl Registry {
    pub fn new(dirs: Vec<PathBuf>, threads: usize, expected_libtorch: Option<String>) -> Self {
        Registry { dirs, threads, expected_libtorch, loaded: BTreeMap::new() }
    }

    /// Opens `lib<name>.so` once; later calls return the same library.
    pub fn load(&mut self, name: &str) -> Result<&LoadedPlugin> {
        if !self.loaded.contains_key(name) {
            let path = find_library(name, &self.dirs)?;
            let plugin = open_library(&path, self.threads)?;
            self.check_libtorch(&plugin)?;
            tracing::debug!("loaded {}", plugin.manifest.to_string().trim_end());
            self.loaded.insert(name.to_string(), plugin);
        }
        Ok(&self.loaded[name])
    }

    pub fn loaded(&self) -> impl Iterator<Item = &LoadedPlugin> {
        self.loaded.values()
    }

    /// One process holds one libtorch: every tch plugin must agree with the first one
    /// loaded, and with `plugins.libtorch_version` when set.
    fn check_libtorch(&self, plugin: &LoadedPlugin) -> Result<()> {
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

    /// Loads the library and checks that it has the component, listing what it has if not.
    fn prepare(&mut self, kind: ComponentKind, instance: &str, cfg: &InstanceConfig) -> Result<(&LoadedPlugin, String)> {
        let plugin = self.load(&cfg.plugin)?;
        if plugin.manifest.component(kind, &cfg.kind).is_none() {
            let have: Vec<String> =
                plugin.manifest.components.iter().map(|c| format!("{} `{}`", c.kind.key(), c.name)).collect();
            let have = if have.is_empty() { "no components".into() } else { have.join(", ") };
            return Err(Error::Plugin {
                plugin: plugin.path.display().to_string(),
                message: format!(
                    "has no {} component `{}` (asked for by components.{}.{instance}); it provides: {have}",
                    kind.key(),
                    cfg.kind,
                    kind.key()
                ),
            });
        }
        let json = serde_json::to_string(&cfg.config).map_err(|e| {
            Error::config(format!("components.{}.{instance}.config", kind.key()), e.to_string())
        })?;
        Ok((plugin, json))
    }

    pub fn router(&mut self, instance: &str, cfg: &InstanceConfig) -> Result<Box<dyn Router>> {
        let (p, json) = self.prepare(ComponentKind::Router, instance, cfg)?;
        let obj = (p.module.new_router())(RStr::from_str(&cfg.kind), RStr::from_str(instance), RStr::from_str(&json))
            .into_result()
            .map_err(Error::from)?;
        Ok(Box::new(HostRouter::new(obj)?))
    }

    pub fn language_id(&mut self, instance: &str, cfg: &InstanceConfig) -> Result<Box<dyn LanguageId>> {
        let (p, json) = self.prepare(ComponentKind::LanguageId, instance, cfg)?;
        let f = p.module.new_language_id();
        let obj = f(RStr::from_str(&cfg.kind), RStr::from_str(instance), RStr::from_str(&json)).into_result()?;
        Ok(Box::new(HostLanguageId(obj)))
    }

    pub fn reward_model(&mut self, instance: &str, cfg: &InstanceConfig) -> Result<Box<dyn RewardModel>> {
        let (p, json) = self.prepare(ComponentKind::RewardModel, instance, cfg)?;
        let f = p.module.new_reward_model();
        let obj = f(RStr::from_str(&cfg.kind), RStr::from_str(instance), RStr::from_str(&json)).into_result()?;
        Ok(Box::new(HostRewardModel(obj)))
    }

    pub fn rollout_engine(&mut self, instance: &str, cfg: &InstanceConfig) -> Result<Box<dyn RolloutEngine>> {
        let (p, json) = self.prepare(ComponentKind::RolloutEngine, instance, cfg)?;
        let f = p.module.new_rollout_engine();
        let obj = f(RStr::from_str(&cfg.kind), RStr::from_str(instance), RStr::from_str(&json)).into_result()?;
        Ok(Box::new(HostRolloutEngine(obj)))
    }

    pub fn optimizer(&mut self, instance: &str, cfg: &InstanceConfig) -> Result<Box<dyn Optimizer>> {
        let (p, json) = self.prepare(ComponentKind::Optimizer, instance, cfg)?;
        let f = p.module.new_optimizer();
        let obj = f(RStr::from_str(&cfg.kind), RStr::from_str(instance), RStr::from_str(&json)).into_result()?;
        Ok(Box::new(HostOptimizer(obj)))
    }

    /// Builds every component an arm names (fresh instances: arms never share state).
    pub fn build_arm(&mut self, arm: &Arm, comps: &ComponentsConfig) -> Result<Components> {
        let mut out = Components::default();
        for (&kind, instance) in &arm.instances {
            let cfg = &comps.of(kind)[instance];
            let built = match kind {
                ComponentKind::Router => self.router(instance, cfg).map(|c| out.router = Some(c)),
                ComponentKind::LanguageId => self.language_id(instance, cfg).map(|c| out.language_id = Some(c)),
                ComponentKind::RewardModel => self.reward_model(instance, cfg).map(|c| out.reward_model = Some(c)),
                ComponentKind::RolloutEngine => self.rollout_engine(instance, cfg).map(|c| out.rollout_engine = Some(c)),
                ComponentKind::Optimizer => self.optimizer(instance, cfg).map(|c| out.optimizer = Some(c)),
            };
            built.map_err(|e| match e {
                // Plugins report unknown config keys with serde's list of valid ones.
                Error::Config { key, message } => Error::Config { key, message: with_suggestion(&message) },
                other => other,
            })?;
        }
        Ok(out)
    }
}
