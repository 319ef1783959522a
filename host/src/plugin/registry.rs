//! The libraries a run uses, opened on first need, and the components built from them.

use super::policy::{check_one_policy, policy_models, PolicyDefaults, PolicyModel};
use super::{check_inputs, check_plugin_name, find_library, open_library, AnyComponent, PluginLibrary};
use crate::config::{with_suggestion, Arm, ComponentsConfig, InstanceConfig};
use lrpo_core::{ComponentKind, Error, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct Registry {
    dirs: Vec<PathBuf>,
    threads: usize,
    expected_libtorch: Option<String>,
    loaded: BTreeMap<String, PluginLibrary>,
    policy: PolicyDefaults,
    run_dir: Option<PathBuf>,
}

impl Registry {
    pub fn new(dirs: Vec<PathBuf>, threads: usize, expected_libtorch: Option<String>) -> Self {
        Registry {
            dirs,
            threads,
            expected_libtorch,
            loaded: BTreeMap::new(),
            policy: PolicyDefaults::default(),
            run_dir: None,
        }
    }

    /// Hands `policy` (the run's model path and rollout temperature) to the policy-side
    /// components that declare those keys and leave them unset (see [`super::policy`]).
    pub fn with_policy(mut self, policy: PolicyDefaults) -> Self {
        self.policy = policy;
        self
    }

    /// The run (or arm) directory handed as `run_dir` to the components built from now on that
    /// declare that key and leave it unset (e.g. the vLLM engine's server log goes there).
    pub fn set_run_dir(&mut self, dir: &Path) {
        self.run_dir = Some(dir.to_path_buf());
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

    /// The config the instance will get: its own table plus what the run hands to it.
    pub fn effective_config(
        &mut self,
        kind: ComponentKind,
        instance: &str,
        cfg: &InstanceConfig,
    ) -> Result<Map<String, Value>> {
        let table = format!("components.{}.{instance}", kind.key());
        let mut json = match serde_json::to_value(&cfg.config) {
            Ok(Value::Object(map)) => map,
            Ok(_) => Map::new(),
            Err(e) => return Err(Error::config(format!("{table}.config"), e.to_string())),
        };
        check_plugin_name(&cfg.plugin).map_err(|m| Error::config(format!("{table}.plugin"), m))?;
        let policy = self.policy.clone();
        let run_dir = self.run_dir.clone();
        let library = self.load(&cfg.plugin)?;
        // A component the library lacks is reported by `instantiate`, with the list it has.
        if let Some(info) = library.manifest.component(kind, &cfg.kind) {
            for (key, source) in policy.fill(kind, &info.config_schema, &mut json) {
                tracing::debug!("{table}.config.{key} = {} (from {source})", json[&key]);
            }
            let declares = |key: &str| info.config_schema.get("properties").and_then(|p| p.get(key)).is_some();
            if let Some(dir) = run_dir.filter(|_| declares("run_dir") && !json.contains_key("run_dir")) {
                json.insert("run_dir".into(), Value::from(dir.display().to_string()));
            }
        }
        Ok(json)
    }

    /// Builds one component instance from its config table.
    pub fn instantiate(&mut self, kind: ComponentKind, instance: &str, cfg: &InstanceConfig) -> Result<AnyComponent> {
        let json = self.effective_config(kind, instance, cfg)?;
        self.instantiate_with(kind, instance, cfg, &json)
    }

    fn instantiate_with(
        &mut self,
        kind: ComponentKind,
        instance: &str,
        cfg: &InstanceConfig,
        json: &Map<String, Value>,
    ) -> Result<AnyComponent> {
        let text = serde_json::to_string(json).map_err(|e| Error::runtime(e.to_string()))?;
        let library = self.load(&cfg.plugin)?;
        library.instantiate(kind, &cfg.kind, instance, &text).map_err(|e| match e {
            // Plugins report unknown config keys with serde's list of valid ones.
            Error::Config { key, message } => Error::Config { key, message: with_suggestion(&message) },
            other => other,
        })
    }

    /// The effective configs of every component an arm names (the arm's instances in kind
    /// order, then its reward parts), checked without building anything: the input files and
    /// directories their schemas declare exist, and the policy-side components read one
    /// tokenizer and chat template. `train` checks every arm so before any model loads.
    pub fn check_arm(&mut self, arm: &Arm, comps: &ComponentsConfig) -> Result<Vec<Map<String, Value>>> {
        let mut configs = Vec::with_capacity(arm.instances.len() + arm.rewards.len());
        let mut models: Vec<PolicyModel> = self
            .policy
            .model_dir
            .iter()
            .map(|dir| PolicyModel { key: "model.path".into(), dir: dir.clone() })
            .collect();
        let parts = arm.rewards.iter().map(|p| (ComponentKind::RewardModel, &p.instance));
        for (kind, instance) in arm.instances.iter().map(|(k, i)| (*k, i)).chain(parts) {
            let cfg = &comps.of(kind)[instance];
            let json = self.effective_config(kind, instance, cfg)?;
            if let Some(info) = self.loaded[&cfg.plugin].manifest.component(kind, &cfg.kind) {
                check_inputs(&format!("components.{}.{instance}", kind.key()), &info.config_schema, &json)?;
            }
            models.extend(policy_models(kind, instance, &json));
            configs.push(json);
        }
        check_one_policy(&models)?;
        Ok(configs)
    }

    /// Builds every component an arm names, in the arm's kind order, then its reward parts
    /// (fresh instances: arms never share state), after [`Registry::check_arm`];
    /// `ArmComponents::assemble` checks that they make a whole arm.
    pub fn build_arm(&mut self, arm: &Arm, comps: &ComponentsConfig) -> Result<Vec<AnyComponent>> {
        let configs = self.check_arm(arm, comps)?;
        let parts = arm.rewards.iter().map(|p| (ComponentKind::RewardModel, &p.instance));
        arm.instances
            .iter()
            .map(|(k, i)| (*k, i))
            .chain(parts)
            .zip(&configs)
            .map(|((kind, instance), json)| self.instantiate_with(kind, instance, &comps.of(kind)[instance], json))
            .collect()
    }
}
