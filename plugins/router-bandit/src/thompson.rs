//! `thompson`: Gaussian Thompson sampling on the same normalised group rewards as the bandit
//! (spec §3.9 steps 1-6), for A/B tests against the softmax policy.
//!
//! Each (key, language) has a Normal posterior over its mean normalised reward, with known
//! observation noise. A row draws one sample per language from the sum of its topic posterior
//! and (regional topic only) its region posterior, and takes the argmax.

use crate::assign::{assign_languages, GroupRules};
use crate::config::non_negative;
use crate::feedback::{GroupNorm, Normalisation, RewardBuffer};
use crate::log::COMPOSED_PREFIX;
use crate::rng::{self, RngState};
use crate::state::{self, STATE_VERSION};
use crate::uniform::{default_codes, parse_languages};
use crate::win_probability::win_probabilities;
use indexmap::IndexMap;
use lrpo_core::{ContextReport, Error, Lang, Result, RouteFeedback, RouteRequest, Router, RouterReport, RouterUpdate};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ThompsonConfig {
    pub languages: Vec<String>,
    pub orig_lang_min: usize,
    pub update_every: u64,
    pub group_norm: GroupNorm,
    pub group_norm_eps: f64,
    /// Std of the Normal prior on every value (mean 0).
    pub prior_std: f64,
    /// Assumed std of one normalised observation.
    pub noise_std: f64,
    pub regional_topic: String,
    pub aggregate_non_regional: bool,
    pub log_every: u64,
    pub log_max_keys: usize,
    pub seed: u64,
}

impl Default for ThompsonConfig {
    fn default() -> Self {
        ThompsonConfig {
            languages: default_codes(),
            orig_lang_min: 0,
            update_every: 1,
            group_norm: GroupNorm::Zscore,
            group_norm_eps: 1e-6,
            prior_std: 1.0,
            noise_std: 1.0,
            regional_topic: "Regional Knowledge".into(),
            aggregate_non_regional: false,
            log_every: 0,
            log_max_keys: 10,
            seed: 42,
        }
    }
}

/// Normal posterior per language: means and precisions (1/variance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Posterior {
    pub mean: Vec<f64>,
    pub precision: Vec<f64>,
}

pub struct ThompsonRouter {
    config: ThompsonConfig,
    languages: Vec<Lang>,
    index: HashMap<Lang, usize>,
    normalisation: Normalisation,
    topics: IndexMap<String, Posterior>,
    regions: IndexMap<String, Posterior>,
    step: u64,
    buffer: RewardBuffer,
    rng: ChaCha8Rng,
}

#[derive(Serialize, Deserialize)]
struct ThompsonState {
    version: u32,
    component: String,
    languages: Vec<Lang>,
    step: u64,
    topics: IndexMap<String, Posterior>,
    regions: IndexMap<String, Posterior>,
    buffer: RewardBuffer,
    rng: RngState,
}

fn posterior<'a>(
    table: &'a mut IndexMap<String, Posterior>,
    key: &str,
    len: usize,
    prior_precision: f64,
) -> &'a mut Posterior {
    if !table.contains_key(key) {
        table.insert(key.to_string(), Posterior { mean: vec![0.0; len], precision: vec![prior_precision; len] });
    }
    table.get_mut(key).expect("inserted above")
}

impl ThompsonRouter {
    pub const NAME: &'static str = "thompson";

    pub fn new(_instance: &str, config: ThompsonConfig) -> Result<Self> {
        let languages = parse_languages(&config.languages)?;
        for (key, v) in [("prior_std", config.prior_std), ("noise_std", config.noise_std)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::config(key, format!("must be a finite number > 0, got {v}")));
            }
        }
        non_negative("group_norm_eps", config.group_norm_eps)?;
        let normalisation = Normalisation {
            norm: config.group_norm,
            eps: config.group_norm_eps,
            pool_non_regional: config.aggregate_non_regional.then(|| config.regional_topic.clone()),
        };
        let index = languages.iter().enumerate().map(|(i, l)| (l.clone(), i)).collect();
        Ok(ThompsonRouter {
            rng: rng::seeded(config.seed),
            config,
            languages,
            index,
            normalisation,
            topics: IndexMap::new(),
            regions: IndexMap::new(),
            step: 0,
            buffer: RewardBuffer::default(),
        })
    }

    fn prior_precision(&self) -> f64 {
        1.0 / (self.config.prior_std * self.config.prior_std)
    }

    /// Posterior of one key, prior where never updated.
    pub fn posterior(&self, topic: bool, key: &str) -> Posterior {
        let table = if topic { &self.topics } else { &self.regions };
        table.get(key).cloned().unwrap_or_else(|| Posterior {
            mean: vec![0.0; self.languages.len()],
            precision: vec![self.prior_precision(); self.languages.len()],
        })
    }

    fn flush(&mut self) {
        let (len, tau0) = (self.languages.len(), self.prior_precision());
        let noise_precision = 1.0 / (self.config.noise_std * self.config.noise_std);
        for cell in self.buffer.cell_values(&self.normalisation) {
            let observe = |p: &mut Posterior| {
                let tau = p.precision[cell.lang] + noise_precision;
                p.mean[cell.lang] = (p.precision[cell.lang] * p.mean[cell.lang] + noise_precision * cell.value) / tau;
                p.precision[cell.lang] = tau;
            };
            observe(posterior(&mut self.topics, &cell.topic, len, tau0));
            if cell.topic == self.config.regional_topic {
                observe(posterior(&mut self.regions, &cell.region, len, tau0));
            }
        }
        self.buffer.clear();
    }

    /// Per logged key: the probability that Thompson sampling routes a copy to each language
    /// (the chance its draw is the largest), plus the posterior's `mean` and `std`. Keys are
    /// those with a posterior, then this step's contexts still at the prior (what they were
    /// sampled from). Regional keys are followed, as in the bandit's log, by the composed
    /// topic+region distribution a regional question actually draws from.
    fn report(&self, feedback: &[RouteFeedback]) -> RouterReport {
        let context = |key: String, mean: Vec<f64>, var: Vec<f64>| {
            let std: Vec<f64> = var.iter().map(|v| v.sqrt()).collect();
            ContextReport {
                key,
                probs: win_probabilities(&mean, &std),
                extras: vec![("mean".into(), mean), ("std".into(), std)],
            }
        };
        let variance = |p: &Posterior| -> Vec<f64> { p.precision.iter().map(|t| 1.0 / t).collect() };
        let max = self.config.log_max_keys;
        let keys = |table: &IndexMap<String, Posterior>, seen: Vec<&str>| -> Vec<String> {
            let mut keys: Vec<String> = table.keys().cloned().collect();
            for key in seen {
                if !keys.iter().any(|k| k == key) {
                    keys.push(key.to_string());
                }
            }
            keys.truncate(max);
            keys
        };
        let regional = &self.config.regional_topic;
        let topics = keys(&self.topics, feedback.iter().map(|f| f.topic.as_str()).collect());
        let seen_regions = feedback.iter().filter(|f| f.topic == *regional).filter_map(|f| f.region.as_deref());
        let regions = keys(&self.regions, seen_regions.collect());
        let mut contexts = Vec::new();
        for key in &topics {
            let p = self.posterior(true, key);
            contexts.push(context(format!("topic:{key}"), p.mean.clone(), variance(&p)));
        }
        for key in &regions {
            let p = self.posterior(false, key);
            contexts.push(context(format!("region:{key}"), p.mean.clone(), variance(&p)));
        }
        let topic = self.posterior(true, regional);
        for key in &regions {
            let p = self.posterior(false, key);
            let mean = topic.mean.iter().zip(&p.mean).map(|(a, b)| a + b).collect();
            let var = variance(&topic).iter().zip(variance(&p)).map(|(a, b)| a + b).collect();
            contexts.push(context(format!("{COMPOSED_PREFIX}{regional}|{key}"), mean, var));
        }
        RouterReport { languages: self.languages.clone(), contexts, extras: vec![] }
    }
}

impl Router for ThompsonRouter {
    fn languages(&self) -> Vec<Lang> {
        self.languages.clone()
    }

    fn route(&mut self, request: &RouteRequest) -> Result<Vec<Vec<Lang>>> {
        let rules = GroupRules { orig_lang_min: self.config.orig_lang_min, routing: true };
        let prior = self.posterior(true, "");
        let (topics, regions, rng) = (&self.topics, &self.regions, &mut self.rng);
        let (languages, regional) = (&self.languages, &self.config.regional_topic);
        Ok(assign_languages(request, rules, |ctx| {
            let mut parts = vec![topics.get(&ctx.topic).unwrap_or(&prior)];
            if let (true, Some(region)) = (ctx.topic == *regional, &ctx.region) {
                parts.push(regions.get(region).unwrap_or(&prior));
            }
            let best = (0..languages.len())
                .map(|l| {
                    let mean: f64 = parts.iter().map(|p| p.mean[l]).sum();
                    let var: f64 = parts.iter().map(|p| 1.0 / p.precision[l]).sum();
                    let z: f64 = StandardNormal.sample(rng);
                    (l, mean + var.sqrt() * z)
                })
                .fold((0, f64::NEG_INFINITY), |best, cur| if cur.1 > best.1 { cur } else { best });
            languages[best.0].clone()
        }))
    }

    fn update(&mut self, _step: u64, feedback: &[RouteFeedback]) -> Result<RouterUpdate> {
        self.buffer.add(feedback, &self.index, &self.normalisation)?;
        self.step += 1;
        let log_every = self.config.log_every;
        let report = (log_every > 0 && self.step.is_multiple_of(log_every)).then(|| self.report(feedback));
        let flushed = self.step.is_multiple_of(self.config.update_every.max(1));
        if flushed {
            self.flush();
        }
        Ok(RouterUpdate { flushed, report })
    }

    fn save_state(&self) -> Result<Vec<u8>> {
        state::encode(&ThompsonState {
            version: STATE_VERSION,
            component: Self::NAME.to_string(),
            languages: self.languages.clone(),
            step: self.step,
            topics: self.topics.clone(),
            regions: self.regions.clone(),
            buffer: self.buffer.clone(),
            rng: rng::save(&self.rng),
        })
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        let s: ThompsonState = state::decode(bytes, Self::NAME)?;
        state::check_languages(Self::NAME, &s.languages, &self.languages)?;
        let len = self.languages.len();
        for (what, table) in [("topics", &s.topics), ("regions", &s.regions)] {
            for (key, p) in table {
                let ok = p.mean.len() == len
                    && p.precision.len() == len
                    && p.mean.iter().all(|m| m.is_finite())
                    && p.precision.iter().all(|t| t.is_finite() && *t > 0.0);
                if !ok {
                    return Err(Error::State(format!(
                        "{what}[`{key}`] needs {len} finite means and positive precisions"
                    )));
                }
            }
        }
        s.buffer.check(len)?;
        self.rng = rng::restore(&s.rng)?;
        self.step = s.step;
        self.topics = s.topics;
        self.regions = s.regions;
        self.buffer = s.buffer;
        Ok(())
    }
}

impl lrpo_sdk::Component for ThompsonRouter {
    type Config = ThompsonConfig;
    const NAME: &'static str = ThompsonRouter::NAME;
    const DESCRIPTION: &'static str = "Gaussian Thompson sampling over languages on group-normalised rewards";
    fn new(instance: &str, config: ThompsonConfig) -> Result<Self> {
        ThompsonRouter::new(instance, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posterior_moves_towards_observations() {
        let mut r = ThompsonRouter::new(
            "t",
            ThompsonConfig { languages: vec!["en".into(), "zh".into()], ..Default::default() },
        )
        .unwrap();
        let fb = |lang: &str, reward| RouteFeedback { topic: "T".into(), region: None, lang: Lang::new(lang), reward };
        r.update(1, &[fb("en", 1.0), fb("zh", 0.0)]).unwrap();
        let p = r.posterior(true, "T");
        // zscore of [1, 0] is ±1/(0.5+eps)·0.5 ≈ ±1; prior precision 1 + noise precision 1.
        assert!((p.mean[0] - 0.5).abs() < 1e-5 && (p.mean[1] + 0.5).abs() < 1e-5, "{p:?}");
        assert_eq!(p.precision, vec![2.0, 2.0]);
    }

    #[test]
    fn bad_std_is_a_config_error() {
        let err = ThompsonRouter::new("t", ThompsonConfig { noise_std: 0.0, ..Default::default() }).err().unwrap();
        assert!(err.to_string().contains("config `noise_std`"));
    }
}
