//! `uniform`: routes uniformly at random under the same group rules and never learns (the
//! no-learning ablation for A/B tests).

use crate::assign::{assign_languages, GroupRules};
use crate::rng::{self, RngState};
use crate::state::{self, STATE_VERSION};
use lrpo_core::{ContextReport, Error, Lang, Result, RouteFeedback, RouteRequest, Router, RouterReport, RouterUpdate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UniformConfig {
    /// Languages drawn from (the 15 LRPO codes, sorted, by default).
    pub languages: Vec<String>,
    /// Copies per question that keep the question's own language (training only).
    pub orig_lang_min: usize,
    /// Seed of the router's own RNG.
    pub seed: u64,
    /// Report every this many updates (0 = never), as the learning routers do, so an A/B run
    /// plots the baseline's (flat) distributions beside theirs.
    pub log_every: u64,
}

impl Default for UniformConfig {
    fn default() -> Self {
        UniformConfig { languages: default_codes(), orig_lang_min: 0, seed: 42, log_every: 1 }
    }
}

pub(crate) fn default_codes() -> Vec<String> {
    lrpo_core::default_languages().iter().map(|l| l.to_string()).collect()
}

/// Parses a configured language list: non-empty, no blanks, no duplicates.
pub(crate) fn parse_languages(codes: &[String]) -> Result<Vec<Lang>> {
    if codes.is_empty() {
        return Err(Error::config("languages", "needs at least one language"));
    }
    let mut out: Vec<Lang> = Vec::with_capacity(codes.len());
    for (i, code) in codes.iter().enumerate() {
        let lang = Lang::new(code);
        if lang.as_str().is_empty() {
            return Err(Error::config(format!("languages[{i}]"), "empty language code"));
        }
        if out.contains(&lang) {
            return Err(Error::config(format!("languages[{i}]"), format!("`{lang}` is listed twice")));
        }
        out.push(lang);
    }
    Ok(out)
}

pub struct UniformRouter {
    languages: Vec<Lang>,
    orig_lang_min: usize,
    log_every: u64,
    /// Updates seen, for the reporting rhythm (saved, so a resumed run reports when the
    /// uninterrupted one would).
    updates: u64,
    rng: ChaCha8Rng,
}

#[derive(Serialize, Deserialize)]
struct UniformState {
    version: u32,
    component: String,
    languages: Vec<Lang>,
    rng: RngState,
    /// Absent in states written before uniform reported.
    #[serde(default)]
    updates: u64,
}

impl UniformRouter {
    pub const NAME: &'static str = "uniform";

    pub fn new(_instance: &str, config: UniformConfig) -> Result<Self> {
        Ok(UniformRouter {
            languages: parse_languages(&config.languages)?,
            orig_lang_min: config.orig_lang_min,
            log_every: config.log_every,
            updates: 0,
            rng: rng::seeded(config.seed),
        })
    }
}

impl Router for UniformRouter {
    fn languages(&self) -> Vec<Lang> {
        self.languages.clone()
    }

    fn route(&mut self, request: &RouteRequest) -> Result<Vec<Vec<Lang>>> {
        let rules = GroupRules { orig_lang_min: self.orig_lang_min, routing: true };
        let (languages, rng) = (&self.languages, &mut self.rng);
        Ok(assign_languages(request, rules, |_| languages[rng.gen_range(0..languages.len())].clone()))
    }

    fn update(&mut self, _step: u64, feedback: &[RouteFeedback]) -> Result<RouterUpdate> {
        // Nothing is learnt, but bad feedback is still reported as it would be by the others.
        if let Some((row, f)) = feedback.iter().enumerate().find(|(_, f)| !f.reward.is_finite()) {
            return Err(Error::input(
                format!("router feedback row {row}"),
                format!("reward must be finite, got {}", f.reward),
            ));
        }
        self.updates += 1;
        if self.log_every == 0 || !self.updates.is_multiple_of(self.log_every) {
            return Ok(RouterUpdate::default());
        }
        // Every context of this step, in order of appearance, with the one flat distribution.
        let flat = vec![1.0 / self.languages.len() as f64; self.languages.len()];
        let mut contexts: Vec<ContextReport> = Vec::new();
        for f in feedback {
            let key = format!("topic:{}", f.topic);
            if !contexts.iter().any(|c| c.key == key) {
                contexts.push(ContextReport { key, probs: flat.clone(), extras: vec![] });
            }
        }
        let report = RouterReport { languages: self.languages.clone(), contexts, extras: vec![] };
        Ok(RouterUpdate { flushed: false, report: Some(report) })
    }

    fn save_state(&self) -> Result<Vec<u8>> {
        state::encode(&UniformState {
            version: STATE_VERSION,
            component: Self::NAME.to_string(),
            languages: self.languages.clone(),
            rng: rng::save(&self.rng),
            updates: self.updates,
        })
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        let s: UniformState = state::decode(bytes, Self::NAME)?;
        state::check_languages(Self::NAME, &s.languages, &self.languages)?;
        self.rng = rng::restore(&s.rng)?;
        self.updates = s.updates;
        Ok(())
    }
}

impl lrpo_sdk::Component for UniformRouter {
    type Config = UniformConfig;
    const NAME: &'static str = UniformRouter::NAME;
    const DESCRIPTION: &'static str = "Uniform random language routing under the LRPO group rules; learns nothing";
    fn new(instance: &str, config: UniformConfig) -> Result<Self> {
        UniformRouter::new(instance, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_list_errors_name_the_entry() {
        let codes = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(parse_languages(&[]).unwrap_err().to_string().contains("config `languages`"));
        let err = parse_languages(&codes(&["en", "EN"])).unwrap_err().to_string();
        assert!(err.contains("languages[1]") && err.contains("twice"), "{err}");
    }
}
