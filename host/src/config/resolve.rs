//! Stage two: check the raw config and make it concrete.

use super::{closest, RawConfig};
use lrpo_core::{ComponentKind, Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One arm of the experiment: an instance name per component kind it uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    pub name: String,
    pub instances: BTreeMap<ComponentKind, String>,
    /// With `[[reward.parts]]`: the reward model instances combined (then `instances` has no
    /// reward model).
    pub rewards: Vec<ArmRewardPart>,
}

/// One resolved `[[reward.parts]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmRewardPart {
    pub instance: String,
    pub weight: f64,
    /// Index into the arm's `rewards`.
    pub gated_by: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    /// The config with every path made absolute.
    pub raw: RawConfig,
    /// `--plugins` dirs first, then `plugins.dirs`.
    pub plugin_dirs: Vec<PathBuf>,
    pub arms: Vec<Arm>,
    /// Threads for host and plugins (never 0).
    pub threads: usize,
}

impl ResolvedConfig {
    /// The resolved config as TOML, as `config show` prints and runs record.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.raw).unwrap_or_default()
    }

    /// How data files without some LRPO columns are read (`data.default_language`,
    /// `data.default_topic`); checked at resolve.
    pub fn read_options(&self) -> crate::data::ReadOptions {
        let d = &self.raw.data;
        crate::data::ReadOptions {
            default_language: d.default_language.as_deref().and_then(lrpo_core::Lang::from_name_or_code),
            default_topic: d.default_topic.clone(),
            columns: d
                .columns
                .iter()
                .filter_map(|(key, file)| {
                    let (ours, _) = crate::data::RENAMABLE.iter().find(|(_, k)| k == key)?;
                    Some((ours.to_string(), file.clone()))
                })
                .collect(),
        }
    }

    /// `model.path`, when set, must be a model directory: a typo would otherwise fall back to
    /// ChatML prompts and estimated lengths and train on them without a word.
    pub fn check_model_path(&self) -> Result<()> {
        let Some(dir) = &self.raw.model.path else { return Ok(()) };
        if !dir.join("config.json").is_file() && !dir.join("tokenizer.json").is_file() {
            return Err(Error::config(
                "model.path",
                format!(
                    "{} is not a model directory (no config.json or tokenizer.json); the default models come from {}",
                    dir.display(),
                    lrpo_core::paths::SETUP_COMMAND
                ),
            ));
        }
        Ok(())
    }

    /// What the run hands to its policy-side components (`plugin::policy`).
    pub fn policy_defaults(&self) -> crate::plugin::PolicyDefaults {
        crate::plugin::PolicyDefaults {
            model_dir: self.raw.model.path.clone(),
            temperature: f64::from(self.raw.trainer.temperature),
        }
    }

    /// "2048 rows = 256 questions x 8 rollouts" for the start-up summary.
    pub fn batch_layout(&self) -> String {
        let d = &self.raw.data;
        format!(
            "{} rollouts per step = {} questions x {} rollouts per question",
            d.train_batch_size,
            d.train_batch_size / d.group_size.max(1),
            d.group_size
        )
    }
}

/// Checks `raw` and resolves relative paths against `base` (the config file's directory,
/// or the working directory without one).
pub fn resolve(mut raw: RawConfig, cli_plugin_dirs: &[PathBuf], base: &Path) -> Result<ResolvedConfig> {
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let abs = |p: &Path, base: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };

    let mut plugin_dirs: Vec<PathBuf> = cli_plugin_dirs.iter().map(|d| abs(d, &cwd)).collect();
    plugin_dirs.extend(raw.plugins.dirs.iter().map(|d| abs(d, base)));
    for (i, dir) in plugin_dirs.iter().enumerate() {
        if let Err(message) = crate::plugin::check_plugin_dir(dir) {
            let key = if i < cli_plugin_dirs.len() { "--plugins".to_string() } else { "plugins.dirs".to_string() };
            return Err(Error::config(key, message));
        }
    }
    raw.plugins.dirs = raw.plugins.dirs.iter().map(|d| abs(d, base)).collect();
    raw.data.train_files = raw.data.train_files.iter().map(|d| abs(d, base)).collect();
    raw.data.val_files = raw.data.val_files.iter().map(|d| abs(d, base)).collect();
    raw.run.out_dir = abs(&raw.run.out_dir, base);
    raw.trainer.model_dir = raw.trainer.model_dir.as_ref().map(|d| abs(d, base));
    raw.model.path = raw.model.path.as_ref().map(|d| abs(d, base));
    merge_model_path(&mut raw)?;
    if lrpo_sdk::hf::parse_float_dtype(&raw.trainer.export_dtype).is_none() {
        return Err(Error::config(
            "trainer.export_dtype",
            format!("`{}` is not a weight dtype: use f32, bf16 or f16", raw.trainer.export_dtype),
        ));
    }

    check_run_name(&raw.run.name)?;
    check_data(&raw)?;
    check_sampling(&raw)?;
    let arms = arms(&raw)?;
    let threads = match raw.run.threads {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    };
    Ok(ResolvedConfig { raw, plugin_dirs, arms, threads })
}

/// `trainer.model_dir` is the older spelling of `model.path`: it is moved there, and a config
/// that sets both to different directories is refused rather than guessed at.
fn merge_model_path(raw: &mut RawConfig) -> Result<()> {
    let Some(old) = raw.trainer.model_dir.take() else { return Ok(()) };
    match &raw.model.path {
        Some(path) if *path != old => Err(Error::config(
            "trainer.model_dir",
            format!(
                "{} differs from model.path ({}); set the policy model once, as model.path",
                old.display(),
                path.display()
            ),
        )),
        _ => {
            tracing::warn!(
                "trainer.model_dir is the older spelling of model.path; write [model] path = \"{}\"",
                old.display()
            );
            raw.model.path = Some(old);
            Ok(())
        }
    }
}

/// `run.name` is one directory under `run.out_dir`: a name with `/` or `..` would put the run
/// somewhere else.
fn check_run_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.contains('/') || name.contains('\\') || name == "." || name == ".." {
        return Err(Error::config(
            "run.name",
            format!("`{name}` is not a directory name: use letters, digits, `-`, `_` or `.`, no `/`"),
        ));
    }
    Ok(())
}

/// The rollout settings, here rather than at step 1 when the engine would refuse them.
fn check_sampling(raw: &RawConfig) -> Result<()> {
    let t = &raw.trainer;
    let bad = |key: &str, why: String| Err(Error::config(format!("trainer.{key}"), why));
    if t.max_new_tokens == 0 {
        return bad("max_new_tokens", "must be at least 1 (tokens generated per rollout)".into());
    }
    if !t.temperature.is_finite() || t.temperature < 0.0 {
        return bad("temperature", format!("must be finite and >= 0 (0 = greedy), got {}", t.temperature));
    }
    if !(t.top_p > 0.0 && t.top_p <= 1.0) {
        return bad("top_p", format!("must be in (0, 1], got {}", t.top_p));
    }
    if !(0.0..=1.0).contains(&t.min_p) {
        return bad("min_p", format!("must be in [0, 1], got {}", t.min_p));
    }
    Ok(())
}

fn check_data(raw: &RawConfig) -> Result<()> {
    let d = &raw.data;
    if d.group_size == 0 {
        return Err(Error::config("data.group_size", "must be at least 1 (rollouts per question)"));
    }
    crate::data::validate_train_batch_size(d.train_batch_size, d.group_size)?;
    if let Some(lang) = d.default_language.as_deref().filter(|l| lrpo_core::Lang::from_name_or_code(l).is_none()) {
        return Err(Error::config(
            "data.default_language",
            format!("`{lang}` is not a language name or code (e.g. English, en, Chinese, zh)"),
        ));
    }
    if d.default_topic.trim().is_empty() {
        return Err(Error::config("data.default_topic", "must not be empty"));
    }
    for (key, file) in &d.columns {
        if !crate::data::RENAMABLE.iter().any(|(_, k)| k == key) {
            let keys: Vec<&str> = crate::data::RENAMABLE.iter().map(|(_, k)| *k).collect();
            let hint = closest(key, keys.iter().copied()).map(|b| format!("; did you mean `{b}`?")).unwrap_or_default();
            return Err(Error::config(
                format!("data.columns.{key}"),
                format!("not a renamable column (use {}){hint}", keys.join(", ")),
            ));
        }
        if file.trim().is_empty() {
            return Err(Error::config(format!("data.columns.{key}"), "must name a column"));
        }
    }
    Ok(())
}

/// `[[reward.parts]]` checked against the reward model instances.
fn reward_parts(raw: &RawConfig) -> Result<Vec<ArmRewardPart>> {
    let table = raw.components.of(ComponentKind::RewardModel);
    let parts = &raw.reward.parts;
    let mut out = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        let key = format!("reward.parts[{i}]");
        if !table.contains_key(&p.instance) {
            let hint = closest(&p.instance, table.keys().map(|s| s.as_str()))
                .map(|b| format!("; did you mean `{b}`?"))
                .unwrap_or_default();
            return Err(Error::config(
                format!("{key}.instance"),
                format!("no instance `{}` under [components.reward_model]{hint}", p.instance),
            ));
        }
        if parts[..i].iter().any(|q| q.instance == p.instance) {
            return Err(Error::config(format!("{key}.instance"), format!("`{}` is listed twice", p.instance)));
        }
        if !p.weight.is_finite() || p.weight < 0.0 {
            return Err(Error::config(format!("{key}.weight"), format!("must be finite and >= 0, got {}", p.weight)));
        }
        let gated_by = match &p.gated_by {
            None => None,
            Some(g) if *g == p.instance => {
                return Err(Error::config(format!("{key}.gated_by"), "a part cannot gate itself"))
            }
            Some(g) => Some(parts.iter().position(|q| q.instance == *g).ok_or_else(|| {
                Error::config(format!("{key}.gated_by"), format!("`{g}` is not one of the reward parts"))
            })?),
        };
        out.push(ArmRewardPart { instance: p.instance.clone(), weight: p.weight, gated_by });
    }
    Ok(out)
}

/// `router = "none"` in an arm: no router, so every rollout keeps the question's language.
pub const NO_ROUTER: &str = "none";

fn arms(raw: &RawConfig) -> Result<Vec<Arm>> {
    let comps = &raw.components;
    if comps.of(ComponentKind::Router).contains_key(NO_ROUTER) {
        return Err(Error::config(
            format!("components.router.{NO_ROUTER}"),
            "`none` is reserved (an arm's `router = \"none\"` means no router): rename the instance",
        ));
    }
    let rewards = reward_parts(raw)?;
    // With reward parts, the reward model instances are the parts, in every arm.
    let kinds: Vec<ComponentKind> =
        ComponentKind::ALL.into_iter().filter(|k| rewards.is_empty() || *k != ComponentKind::RewardModel).collect();
    if !rewards.is_empty() {
        if let Some(i) = raw.experiment.arms.iter().position(|a| a.instance(ComponentKind::RewardModel).is_some()) {
            return Err(Error::config(
                format!("experiment.arms[{i}].reward_model"),
                "an arm cannot name its own reward model when [[reward.parts]] combines them for every arm",
            ));
        }
    }
    if raw.experiment.arms.is_empty() {
        let mut instances = BTreeMap::new();
        for kind in kinds.iter().copied() {
            let names: Vec<&String> = comps.of(kind).keys().collect();
            match names.as_slice() {
                [] => {}
                [one] => {
                    instances.insert(kind, (*one).clone());
                }
                many => {
                    let list = many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                    return Err(Error::config(
                        format!("components.{}", kind.key()),
                        format!(
                            "{} instances ({list}) but no [[experiment.arms]]: add arms that name one each",
                            many.len()
                        ),
                    ));
                }
            }
        }
        return Ok(vec![Arm { name: "main".into(), instances, rewards }]);
    }
    let mut out: Vec<Arm> = Vec::new();
    for (i, arm) in raw.experiment.arms.iter().enumerate() {
        let key = format!("experiment.arms[{i}]");
        if arm.name.trim().is_empty() {
            return Err(Error::config(format!("{key}.name"), "every arm needs a name"));
        }
        if out.iter().any(|a| a.name == arm.name) {
            return Err(Error::config(format!("{key}.name"), format!("arm name `{}` is used twice", arm.name)));
        }
        let mut instances = BTreeMap::new();
        for kind in kinds.iter().copied() {
            let table = comps.of(kind);
            let chosen = match arm.instance(kind) {
                // The baseline of plain GRPO: every rollout in the question's own language.
                Some(NO_ROUTER) if kind == ComponentKind::Router => continue,
                Some(name) if table.contains_key(name) => name.to_string(),
                Some(name) => {
                    let hint = closest(name, table.keys().map(|s| s.as_str()))
                        .map(|b| format!("; did you mean `{b}`?"))
                        .unwrap_or_default();
                    return Err(Error::config(
                        format!("{key}.{}", kind.key()),
                        format!("no instance `{name}` under [components.{}]{hint}", kind.key()),
                    ));
                }
                None if table.len() == 1 => table.keys().next().cloned().unwrap_or_default(),
                None if table.is_empty() => continue,
                None => {
                    return Err(Error::config(
                        format!("{key}.{}", kind.key()),
                        format!("arm `{}` must name one of the {} instances", arm.name, kind.key()),
                    ))
                }
            };
            instances.insert(kind, chosen);
        }
        out.push(Arm { name: arm.name.clone(), instances, rewards: rewards.clone() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ArmConfig, InstanceConfig};

    fn inst(plugin: &str) -> InstanceConfig {
        InstanceConfig { plugin: plugin.into(), kind: "k".into(), config: Default::default() }
    }

    #[test]
    fn batch_must_be_a_multiple_of_the_group() {
        let mut raw = RawConfig::default();
        raw.data.train_batch_size = 2050;
        let err = resolve(raw, &[], Path::new("/")).unwrap_err();
        assert!(err.to_string().starts_with("config `data.train_batch_size`: 2050 is not a multiple"), "{err}");
        assert!(err.to_string().ends_with("e.g. 2048 or 2056"), "{err}");
    }

    #[test]
    fn single_instances_form_one_arm() {
        let mut raw = RawConfig::default();
        raw.components.of_mut(ComponentKind::Router).insert("r".into(), inst("p"));
        let cfg = resolve(raw, &[], Path::new("/")).unwrap();
        assert_eq!(cfg.arms.len(), 1);
        assert_eq!(cfg.arms[0].instances[&ComponentKind::Router], "r");
        assert_eq!(cfg.batch_layout(), "2048 rollouts per step = 256 questions x 8 rollouts per question");
    }

    #[test]
    fn two_routers_need_arms_and_arms_must_name_real_instances() {
        let mut raw = RawConfig::default();
        raw.components.of_mut(ComponentKind::Router).insert("bandit".into(), inst("p"));
        raw.components.of_mut(ComponentKind::Router).insert("uniform".into(), inst("p"));
        let err = resolve(raw.clone(), &[], Path::new("/")).unwrap_err();
        assert!(err.to_string().contains("2 instances (bandit, uniform)"), "{err}");
        raw.experiment.arms = vec![
            ArmConfig { name: "A".into(), instances: [(ComponentKind::Router, "bandit".into())].into() },
            ArmConfig { name: "B".into(), instances: [(ComponentKind::Router, "unifrom".into())].into() },
        ];
        let err = resolve(raw.clone(), &[], Path::new("/")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config `experiment.arms[1].router`: no instance `unifrom` under [components.router]; did you mean `uniform`?"
        );
        raw.experiment.arms[1].instances.insert(ComponentKind::Router, "uniform".into());
        let cfg = resolve(raw.clone(), &[], Path::new("/")).unwrap();
        assert_eq!(cfg.arms[1].instances[&ComponentKind::Router], "uniform");
        // `none`: an arm without a router (plain GRPO); the name cannot be an instance's.
        raw.experiment.arms[1].instances.insert(ComponentKind::Router, NO_ROUTER.into());
        let cfg = resolve(raw.clone(), &[], Path::new("/")).unwrap();
        assert!(!cfg.arms[1].instances.contains_key(&ComponentKind::Router));
        raw.components.of_mut(ComponentKind::Router).insert(NO_ROUTER.into(), inst("p"));
        let err = resolve(raw, &[], Path::new("/")).unwrap_err();
        assert!(err.to_string().starts_with("config `components.router.none`: `none` is reserved"), "{err}");
    }

    #[test]
    fn the_old_model_dir_moves_to_model_path_and_a_conflict_names_both_keys() {
        let mut raw = RawConfig::default();
        raw.trainer.model_dir = Some("models/a".into());
        let cfg = resolve(raw.clone(), &[], Path::new("/base")).unwrap();
        assert_eq!(cfg.raw.model.path.as_deref(), Some(Path::new("/base/models/a")));
        assert_eq!(cfg.raw.trainer.model_dir, None);
        assert!(!cfg.to_toml().contains("model_dir"), "resolved configs speak of model.path only");
        raw.model.path = Some("/base/models/a".into());
        resolve(raw.clone(), &[], Path::new("/base")).unwrap();
        raw.model.path = Some("/other".into());
        let err = resolve(raw, &[], Path::new("/base")).unwrap_err().to_string();
        assert_eq!(
            err,
            "config `trainer.model_dir`: /base/models/a differs from model.path (/other); set the policy model once, as model.path"
        );
    }

    #[test]
    fn sampling_settings_are_checked_at_resolve() {
        for (key, value, want) in [
            ("max_new_tokens", "0", "config `trainer.max_new_tokens`: must be at least 1"),
            ("temperature", "-1", "config `trainer.temperature`: must be finite and >= 0"),
            ("top_p", "2", "config `trainer.top_p`: must be in (0, 1], got 2"),
            ("top_p", "0", "config `trainer.top_p`: must be in (0, 1], got 0"),
            ("min_p", "1.5", "config `trainer.min_p`: must be in [0, 1]"),
        ] {
            let mut raw = RawConfig::default();
            match key {
                "max_new_tokens" => raw.trainer.max_new_tokens = value.parse().unwrap(),
                "temperature" => raw.trainer.temperature = value.parse().unwrap(),
                "top_p" => raw.trainer.top_p = value.parse().unwrap(),
                _ => raw.trainer.min_p = value.parse().unwrap(),
            }
            let err = resolve(raw, &[], Path::new("/")).unwrap_err().to_string();
            assert!(err.starts_with(want), "{key}={value}: {err}");
        }
    }

    #[test]
    fn export_dtype_is_checked() {
        let mut raw = RawConfig::default();
        raw.trainer.export_dtype = "int4".into();
        let err = resolve(raw, &[], Path::new("/")).unwrap_err().to_string();
        assert!(err.starts_with("config `trainer.export_dtype`: `int4`"), "{err}");
    }

    #[test]
    fn reward_parts_name_real_instances_and_replace_the_single_reward() {
        use crate::config::RewardPartConfig;
        let mut raw = RawConfig::default();
        raw.components.of_mut(ComponentKind::RewardModel).insert("embedding".into(), inst("p"));
        raw.components.of_mut(ComponentKind::RewardModel).insert("math".into(), inst("q"));
        let part = |i: &str, w: f64, g: Option<&str>| RewardPartConfig {
            instance: i.into(),
            weight: w,
            gated_by: g.map(str::to_string),
        };
        raw.reward.parts = vec![part("embedding", 0.7, None), part("math", 0.3, Some("embedding"))];
        let cfg = resolve(raw.clone(), &[], Path::new("/")).unwrap();
        assert!(!cfg.arms[0].instances.contains_key(&ComponentKind::RewardModel));
        assert_eq!(cfg.arms[0].rewards[1], ArmRewardPart { instance: "math".into(), weight: 0.3, gated_by: Some(0) });
        let bad = |parts: Vec<RewardPartConfig>| {
            let mut r = raw.clone();
            r.reward.parts = parts;
            resolve(r, &[], Path::new("/")).unwrap_err().to_string()
        };
        assert_eq!(
            bad(vec![part("embeding", 1.0, None)]),
            "config `reward.parts[0].instance`: no instance `embeding` under [components.reward_model]; did you mean `embedding`?"
        );
        assert!(bad(vec![part("embedding", -1.0, None)]).starts_with("config `reward.parts[0].weight`"));
        assert!(bad(vec![part("embedding", 1.0, Some("rule"))]).contains("`rule` is not one of the reward parts"));
        assert!(bad(vec![part("embedding", 1.0, Some("embedding"))]).contains("cannot gate itself"));
    }

    #[test]
    fn plugin_dirs_must_exist() {
        let err = resolve(RawConfig::default(), &[PathBuf::from("/no/such/dir")], Path::new("/")).unwrap_err();
        assert_eq!(err.to_string(), "config `--plugins`: /no/such/dir is not a directory (it does not exist)");
    }
}
