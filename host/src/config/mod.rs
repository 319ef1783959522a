//! Configuration, in two stages as in ripgrep: [`RawConfig`] is what serde reads from the
//! layered sources (built-in defaults, TOML file, `LRPO_` environment, `--set` flags);
//! [`resolve`] turns it into a checked [`ResolvedConfig`] with absolute paths, found plugin
//! libraries and the arms to run.

mod load;
mod resolve;
mod suggest;

pub use load::{load, Sources};
pub use resolve::{resolve, Arm, ArmRewardPart, ResolvedConfig};
pub use suggest::{closest, with_suggestion};

use crate::prompt::PromptStyle;
use lrpo_core::ComponentKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    pub run: RunConfig,
    pub plugins: PluginsConfig,
    pub model: ModelConfig,
    pub data: DataConfig,
    pub trainer: TrainerConfig,
    /// `components.<kind>.<instance>`: every component instance, configured once.
    pub components: ComponentsConfig,
    /// Several reward models combined in every arm (`[[reward.parts]]`).
    pub reward: RewardConfig,
    pub experiment: ExperimentConfig,
    /// Data-parallel runs under torchrun (the ranks come from the environment).
    pub distributed: DistributedConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DistributedConfig {
    /// `gloo`, `nccl`, or `auto`: NCCL when the optimizer's `device` is CUDA, gloo otherwise.
    pub backend: String,
    /// Seconds a rank waits at the rendezvous or in any collective before the run ends with
    /// exit 1 (a rank that died or hangs must not hang the others).
    pub timeout_s: u64,
}

impl Default for DistributedConfig {
    fn default() -> Self {
        DistributedConfig { backend: "auto".into(), timeout_s: 1800 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Name of the run; its directory is `<out_dir>/<name>`.
    pub name: String,
    pub out_dir: PathBuf,
    /// Seed of every random choice the host makes (data order, rollout seeds).
    pub seed: u64,
    /// Threads for the host and its plugins; 0 means all cores.
    pub threads: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig { name: "lrpo".into(), out_dir: "runs".into(), seed: 42, threads: 0 }
    }
}

/// The policy model, set once (verl's `actor_rollout_ref.model.path`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Hugging Face model directory of the policy. The prompt builder takes its chat template
    /// and tokenizer from it; the rollout engine and the optimizer (policy and reference) load
    /// it as their `model_dir`, and `export` copies its config and tokenizer files, unless a
    /// component sets its own `model_dir`.
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PluginsConfig {
    /// Directories searched for `lib<plugin>.so`, after those given with `--plugins`.
    pub dirs: Vec<PathBuf>,
    /// If set, every tch plugin must have been built against this libtorch version.
    pub libtorch_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    pub train_files: Vec<PathBuf>,
    pub val_files: Vec<PathBuf>,
    /// Rollouts (rows) per training step, as in LRPO: questions per step x group_size.
    pub train_batch_size: usize,
    /// Rollouts per question (verl's `rollout.n`).
    pub group_size: usize,
    /// Seed of the per-epoch question shuffle (the reference's `data.seed`).
    pub seed: u64,
    pub max_prompt_length: usize,
    /// `tag` (the reference's `<|out_lang_xx|>`) or `instruction` (an instruction in the target language).
    pub prompt_style: PromptStyle,
    pub filter_overlong_prompts: bool,
    /// Language (name or code) of rows whose file gives none; unset: detect it from the
    /// question with the run's language ID before training.
    pub default_language: Option<String>,
    /// Router topic of rows whose file has no `ability` column.
    pub default_topic: String,
    /// Columns the data files name otherwise, e.g. `{ question = "query", answer = "gold" }`;
    /// keys: question, answer, language, topic.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, String>,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            train_files: vec![],
            val_files: vec![],
            train_batch_size: 2048,
            group_size: 8,
            seed: 42,
            max_prompt_length: 512,
            prompt_style: PromptStyle::Tag,
            filter_overlong_prompts: true,
            default_language: None,
            default_topic: "General Knowledge".into(),
            columns: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TrainerConfig {
    /// Stop after this many steps; 0 means run `total_epochs` epochs.
    pub total_steps: u64,
    pub total_epochs: u64,
    /// Validate every this many steps (0 = never).
    pub test_freq: u64,
    /// Checkpoint every this many steps (0 = never).
    pub save_freq: u64,
    /// Keep this many newest complete checkpoints; older ones are removed once a newer one is
    /// complete (0 = keep all).
    pub max_checkpoints_to_keep: usize,
    /// Validate once before the first training step (verl's name), as step 0.
    pub val_before_train: bool,
    /// Write the policy as a Hugging Face model directory to `<run>/final/` when the run ends.
    pub export_final: bool,
    /// Weight dtype of that export: f32, bf16 or f16.
    pub export_dtype: String,
    /// Responses per step written to `<run>/samples.jsonl` (prompt, target and detected
    /// language, reward), for reading what the policy says (0 = none).
    pub samples_per_step: usize,
    pub max_new_tokens: u32,
    /// Rollout sampling (the reference: temperature 1, top-p 1, no top-k).
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: u32,
    pub min_p: f32,
    pub stop_strings: Vec<String>,
    /// Older spelling of `model.path`, still accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_dir: Option<PathBuf>,
    /// Validate on at most this many questions of `data.val_files` (0 = all).
    pub val_max_questions: usize,
    /// Accelerators the run uses, for tokens per second per device.
    pub devices: usize,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            total_steps: 0,
            total_epochs: 4,
            test_freq: 5,
            save_freq: 10,
            max_checkpoints_to_keep: 2,
            val_before_train: false,
            export_final: false,
            export_dtype: "f32".into(),
            samples_per_step: 4,
            max_new_tokens: 1024,
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            stop_strings: vec![],
            model_dir: None,
            val_max_questions: 0,
            devices: 1,
        }
    }
}

/// One configured component instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// Library name: `<plugins dir>/lib<plugin>.so`.
    pub plugin: String,
    /// The component inside that library (e.g. `lrpo-bandit`).
    pub kind: String,
    /// The component's own table, handed to the plugin as JSON.
    #[serde(default = "empty_table")]
    pub config: toml::Table,
}

fn empty_table() -> toml::Table {
    toml::Table::new()
}

/// `[components.<kind>.<instance>]`, keyed by [`ComponentKind`], so the kinds are listed once
/// (in lrpo-core). A table under an unknown kind is an error listing the valid ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComponentsConfig(BTreeMap<ComponentKind, BTreeMap<String, InstanceConfig>>);

static NO_INSTANCES: BTreeMap<String, InstanceConfig> = BTreeMap::new();

impl ComponentsConfig {
    pub fn of(&self, kind: ComponentKind) -> &BTreeMap<String, InstanceConfig> {
        self.0.get(&kind).unwrap_or(&NO_INSTANCES)
    }

    pub fn of_mut(&mut self, kind: ComponentKind) -> &mut BTreeMap<String, InstanceConfig> {
        self.0.entry(kind).or_default()
    }
}

impl Serialize for ComponentsConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for (kind, instances) in self.0.iter().filter(|(_, i)| !i.is_empty()) {
            map.serialize_entry(kind.key(), instances)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ComponentsConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let by_key = BTreeMap::<String, BTreeMap<String, InstanceConfig>>::deserialize(d)?;
        let mut out = BTreeMap::new();
        for (key, instances) in by_key {
            let kind = ComponentKind::from_key(&key)
                .ok_or_else(|| serde::de::Error::unknown_field(&key, &ComponentKind::KEYS))?;
            out.insert(kind, instances);
        }
        Ok(ComponentsConfig(out))
    }
}

/// How an arm's reward is made from several reward model instances; empty: the arm's one
/// reward model.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RewardConfig {
    /// The reward is the sum over parts of `weight x value` (x the `gated_by` part's language
    /// gate, when set).
    pub parts: Vec<RewardPartConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RewardPartConfig {
    /// A `[components.reward_model.<instance>]`.
    pub instance: String,
    #[serde(default = "one")]
    pub weight: f64,
    /// Another part's instance whose language gate multiplies this part's value (e.g. a rule
    /// reward that only counts in the routed language).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gated_by: Option<String>,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    /// A/B arms; none means one arm made of the only instance of each kind.
    pub arms: Vec<ArmConfig>,
}

/// One arm names an instance per kind (`router = "bandit"`); a kind left out uses its only
/// instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArmConfig {
    pub name: String,
    pub instances: BTreeMap<ComponentKind, String>,
}

impl ArmConfig {
    pub fn instance(&self, kind: ComponentKind) -> Option<&str> {
        self.instances.get(&kind).map(String::as_str)
    }
}

/// `name`, then each kind's key: the fields an arm table may have.
const ARM_FIELDS: [&str; 1 + ComponentKind::ALL.len()] = {
    let mut fields = ["name"; 1 + ComponentKind::ALL.len()];
    let mut i = 0;
    while i < ComponentKind::ALL.len() {
        fields[i + 1] = ComponentKind::KEYS[i];
        i += 1;
    }
    fields
};

impl Serialize for ArmConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("name", &self.name)?;
        for (kind, instance) in &self.instances {
            map.serialize_entry(kind.key(), instance)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ArmConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut arm = ArmConfig::default();
        for (key, value) in BTreeMap::<String, String>::deserialize(d)? {
            match ComponentKind::from_key(&key) {
                Some(kind) => {
                    arm.instances.insert(kind, value);
                }
                None if key == "name" => arm.name = value,
                None => return Err(serde::de::Error::unknown_field(&key, &ARM_FIELDS)),
            }
        }
        Ok(arm)
    }
}

/// The built-in default run (used when no `--config` is given), before its placeholders are
/// filled by [`default_run`].
const DEFAULT_RUN: &str = include_str!("default_run.toml");

/// The default run with its placeholders filled in ([`fill_placeholders`]).
pub fn default_run() -> String {
    fill_placeholders(DEFAULT_RUN)
}

/// Fills `{cache}` (the model cache, `$LRPO_CACHE_DIR` or `~/.cache/lrpo`) and `{repo}` (the
/// source tree this binary was built from, which holds the bundled dataset) in a config's text,
/// so one config file names the set-up's models on every machine.
pub fn fill_placeholders(text: &str) -> String {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(std::path::Path::new("."));
    text.replace("{cache}", &lrpo_core::paths::cache_dir().display().to_string())
        .replace("{repo}", &repo.display().to_string())
}
