//! The `lrpo-bandit` config table (spec §3.11, keys without the `lang_policy_` prefix).

use crate::feedback::GroupNorm;
use crate::mix::{reference_extra_languages, uniform_mix_text, REFERENCE_REGIONS, REFERENCE_TOPICS};
use crate::schedule::Schedule;
use indexmap::IndexMap;
use lrpo_core::{Error, Result};
use schemars::JsonSchema;
use serde::Deserialize;

/// Configuration of the LRPO bandit. Every default is the reference trainer's default, so `{}`
/// reproduces it; `run_lrpo.sh` sets `update_every = 5`, `temperature_min = 0.3`,
/// `temperature_decay = 0.999`, `epsilon_init = 0.2`, `epsilon_decay = 0.995`,
/// `orig_lang_min = 2`, `group_norm = "zscore"`, `log_every = 1`, `log_max_keys = 100`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BanditConfig {
    /// `dynamic_lang_policy`: false turns the router off; every copy keeps its original language.
    pub enabled: bool,
    /// EMA rate of the value update.
    pub alpha: f64,
    /// Flush the reward buffer every this many router steps (0 counts as 1).
    pub update_every: u64,
    /// Softmax temperature; also the fallback of `temperature_init` and `temperature_min`.
    pub temperature: f64,
    pub temperature_init: Option<f64>,
    pub temperature_min: Option<f64>,
    /// Per-step decay of the temperature; 0 or null means 1 (no decay).
    pub temperature_decay: Option<f64>,
    /// Exploration rate; also the fallback of `epsilon_init` and `epsilon_min`.
    pub epsilon: f64,
    pub epsilon_init: Option<f64>,
    pub epsilon_min: Option<f64>,
    /// Per-step decay of epsilon; 0 or null means 1 (no decay).
    pub epsilon_decay: Option<f64>,
    /// Copies per question that keep the question's own language (training only).
    pub orig_lang_min: usize,
    /// Per-(topic, region) normalisation of per-language mean rewards.
    pub group_norm: GroupNorm,
    pub group_norm_eps: f64,
    /// Emit a log line every this many router steps (0 = never).
    pub log_every: u64,
    /// How many topic keys and how many region keys a log line shows.
    pub log_max_keys: usize,
    /// Prior mix per topic (`"code:weight,..."`), in the order given. The router's language
    /// order (arm indices, log listings) is first appearance over these mixes, as in the
    /// reference; lrpo-host passes a config file's table in file order (sorted by key only when
    /// an environment variable or `--set` changed the instance's table).
    #[schemars(with = "std::collections::BTreeMap<String, String>")]
    pub topic_mixes: IndexMap<String, String>,
    /// Prior mix per region; ordered like `topic_mixes`.
    #[schemars(with = "std::collections::BTreeMap<String, String>")]
    pub region_mixes: IndexMap<String, String>,
    /// Languages appended after those of the mixes (the reference's 15 codes by default).
    pub extra_languages: Vec<String>,
    /// The topic whose rows also add their region's values.
    pub regional_topic: String,
    /// Opt-in: pool all regions of a non-regional topic into one normalisation group, so the
    /// update no longer depends on the order in which regions were seen.
    pub aggregate_non_regional: bool,
    /// Seed of the router's own RNG.
    pub seed: u64,
}

impl Default for BanditConfig {
    fn default() -> Self {
        let uniform = uniform_mix_text();
        BanditConfig {
            enabled: true,
            alpha: 0.1,
            update_every: 1,
            temperature: 1.0,
            temperature_init: None,
            temperature_min: None,
            temperature_decay: None,
            epsilon: 0.0,
            epsilon_init: None,
            epsilon_min: None,
            epsilon_decay: None,
            orig_lang_min: 0,
            group_norm: GroupNorm::None,
            group_norm_eps: 1e-6,
            log_every: 0,
            log_max_keys: 10,
            topic_mixes: REFERENCE_TOPICS.iter().map(|t| (t.to_string(), uniform.clone())).collect(),
            region_mixes: REFERENCE_REGIONS.iter().map(|r| (r.to_string(), uniform.clone())).collect(),
            extra_languages: reference_extra_languages(),
            regional_topic: "Regional Knowledge".to_string(),
            aggregate_non_regional: false,
            seed: 42,
        }
    }
}

impl BanditConfig {
    /// Checks ranges; the mixes are checked when they are parsed.
    pub fn validate(&self) -> Result<()> {
        unit_interval("alpha", self.alpha)?;
        non_negative("temperature", self.temperature)?;
        unit_interval("epsilon", self.epsilon)?;
        for (key, v) in [
            ("temperature_init", self.temperature_init),
            ("temperature_min", self.temperature_min),
            ("temperature_decay", self.temperature_decay),
            ("epsilon_decay", self.epsilon_decay),
        ] {
            if let Some(v) = v {
                non_negative(key, v)?;
            }
        }
        for (key, v) in [("epsilon_init", self.epsilon_init), ("epsilon_min", self.epsilon_min)] {
            if let Some(v) = v {
                unit_interval(key, v)?;
            }
        }
        non_negative("group_norm_eps", self.group_norm_eps)?;
        for (i, code) in self.extra_languages.iter().enumerate() {
            if code.trim().is_empty() {
                return Err(Error::config(format!("extra_languages[{i}]"), "empty language code"));
            }
        }
        Ok(())
    }

    pub fn temperature_schedule(&self) -> Schedule {
        Schedule::new(
            self.temperature_init.unwrap_or(self.temperature),
            self.temperature_min.unwrap_or(self.temperature),
            self.temperature_decay,
        )
    }

    pub fn epsilon_schedule(&self) -> Schedule {
        Schedule::new(
            self.epsilon_init.unwrap_or(self.epsilon),
            self.epsilon_min.unwrap_or(self.epsilon),
            self.epsilon_decay,
        )
    }
}

pub(crate) fn non_negative(key: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Error::config(key, format!("must be a finite number >= 0, got {v}")))
    }
}

pub(crate) fn unit_interval(key: &str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::config(key, format!("must lie in [0, 1], got {v}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> std::result::Result<BanditConfig, String> {
        serde_json::from_value(json).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_table_is_the_reference_default() {
        let c = parse(serde_json::json!({})).unwrap();
        c.validate().unwrap();
        assert_eq!((c.alpha, c.update_every, c.orig_lang_min, c.log_max_keys), (0.1, 1, 0, 10));
        assert_eq!(c.topic_mixes.len(), 5);
        assert_eq!(c.region_mixes.keys().next().map(String::as_str), Some("Russia"));
        assert_eq!(c.region_mixes.len(), 24);
        assert_eq!(c.group_norm, GroupNorm::None);
    }

    #[test]
    fn typo_is_an_error() {
        let err = parse(serde_json::json!({"alpah": 0.2})).unwrap_err();
        assert!(err.contains("unknown field `alpah`"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        let c = parse(serde_json::json!({"alpha": 1.5})).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("config `alpha`"));
        let c = parse(serde_json::json!({"epsilon_min": -0.1})).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("config `epsilon_min`"));
        let c = parse(serde_json::json!({"temperature_decay": -1.0})).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("config `temperature_decay`"));
        let c = parse(serde_json::json!({"extra_languages": ["en", " "]})).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("extra_languages[1]"));
    }

    #[test]
    fn schedules_fall_back_to_the_constants() {
        let c = parse(serde_json::json!({"temperature": 0.5, "epsilon": 0.2})).unwrap();
        assert_eq!(c.temperature_schedule().at(100), 0.5);
        assert_eq!(c.epsilon_schedule().at(100), 0.2);
    }
}
