//! `lrpo-bandit`: the LRPO contextual bandit (spec §3).

use crate::assign::{assign_languages, GroupRules};
use crate::config::BanditConfig;
use crate::feedback::{Normalisation, RewardBuffer};
use crate::log::LogInput;
use crate::mix::{parse_mixes, prior_logits, router_languages};
use crate::rng::{self, RngState};
use crate::schedule::Schedule;
use crate::state::{self, STATE_VERSION};
use crate::values::{effective, softmax, sum_logits, ValueTable};
use lrpo_core::{Error, Lang, Result, RouteContext, RouteFeedback, RouteRequest, Router, RouterReport, RouterUpdate};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Softmax (Boltzmann) + ε-greedy bandit over languages, with EMA values per topic and region.
pub struct LrpoBandit {
    instance: String,
    config: BanditConfig,
    temperature_schedule: Schedule,
    epsilon_schedule: Schedule,
    languages: Vec<Lang>,
    index: HashMap<Lang, usize>,
    normalisation: Normalisation,
    q_topic: ValueTable,
    q_region: ValueTable,
    temperature: f64,
    epsilon: f64,
    /// Completed router steps (update calls): the k of the schedules.
    step: u64,
    buffer: RewardBuffer,
    rng: ChaCha8Rng,
}

#[derive(Serialize, Deserialize)]
struct BanditState {
    version: u32,
    component: String,
    languages: Vec<Lang>,
    step: u64,
    temperature: f64,
    epsilon: f64,
    q_topic: ValueTable,
    q_region: ValueTable,
    buffer: RewardBuffer,
    rng: RngState,
}

impl LrpoBandit {
    pub const NAME: &'static str = "lrpo-bandit";

    pub fn new(instance: &str, config: BanditConfig) -> Result<Self> {
        config.validate()?;
        let topic_mixes = parse_mixes("topic_mixes", &config.topic_mixes)?;
        let region_mixes = parse_mixes("region_mixes", &config.region_mixes)?;
        let extra: Vec<Lang> = config.extra_languages.iter().map(Lang::new).collect();
        let languages = router_languages(topic_mixes.values().chain(region_mixes.values()), &extra);
        let mut q_topic = ValueTable::new();
        for (topic, mix) in &topic_mixes {
            q_topic.insert(topic, prior_logits(mix, &languages));
        }
        let mut q_region = ValueTable::new();
        for (region, mix) in &region_mixes {
            q_region.insert(region, prior_logits(mix, &languages));
        }
        let normalisation = Normalisation {
            norm: config.group_norm,
            eps: config.group_norm_eps,
            pool_non_regional: config.aggregate_non_regional.then(|| config.regional_topic.clone()),
        };
        let index = languages.iter().enumerate().map(|(i, l)| (l.clone(), i)).collect();
        tracing::debug!(instance, languages = languages.len(), "lrpo-bandit ready");
        Ok(LrpoBandit {
            instance: instance.to_string(),
            temperature_schedule: config.temperature_schedule(),
            epsilon_schedule: config.epsilon_schedule(),
            // Constructor values, overwritten by the schedules at the first route.
            temperature: config.temperature,
            epsilon: config.epsilon,
            rng: rng::seeded(config.seed),
            config,
            languages,
            index,
            normalisation,
            q_topic,
            q_region,
            step: 0,
            buffer: RewardBuffer::default(),
        })
    }

    /// Temperature in force (set from the schedule at each `route`).
    pub fn temperature(&self) -> f64 {
        self.temperature
    }
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }
    /// Completed router steps.
    pub fn step(&self) -> u64 {
        self.step
    }
    pub fn topic_values(&self) -> &ValueTable {
        &self.q_topic
    }
    pub fn region_values(&self) -> &ValueTable {
        &self.q_region
    }

    /// The effective distribution a row of this context is drawn from now. Missing keys read
    /// as zeros here without being created.
    pub fn distribution(&self, topic: &str, region: Option<&str>) -> Vec<f64> {
        let zeros = vec![0.0f32; self.languages.len()];
        let mut parts = vec![self.q_topic.get(topic).unwrap_or(&zeros)];
        if let (true, Some(region)) = (topic == self.config.regional_topic, region) {
            parts.push(self.q_region.get(region).unwrap_or(&zeros));
        }
        let z = sum_logits(self.languages.len(), parts);
        effective(&softmax(&z, self.temperature), self.epsilon)
    }

    fn apply_schedules(&mut self) {
        self.temperature = self.temperature_schedule.at(self.step);
        self.epsilon = self.epsilon_schedule.at(self.step);
    }

    /// Logits of one row: topic values, plus region values only for the regional topic.
    /// Reading creates missing keys, as in the reference.
    fn composed_logits(&mut self, ctx: &RouteContext) -> Vec<f64> {
        let len = self.languages.len();
        let mut z = sum_logits(len, [self.q_topic.entry(&ctx.topic, len).as_slice()]);
        if let (true, Some(region)) = (ctx.topic == self.config.regional_topic, &ctx.region) {
            for (zi, q) in z.iter_mut().zip(self.q_region.entry(region, len).iter()) {
                *zi += f64::from(*q);
            }
        }
        z
    }

    fn flush(&mut self) {
        let len = self.languages.len();
        for cell in self.buffer.cell_values(&self.normalisation) {
            self.q_topic.ema(&cell.topic, len, cell.lang, self.config.alpha, cell.value);
            if cell.topic == self.config.regional_topic {
                self.q_region.ema(&cell.region, len, cell.lang, self.config.alpha, cell.value);
            }
        }
        self.buffer.clear();
    }

    fn report(&self) -> RouterReport {
        LogInput {
            languages: &self.languages,
            q_topic: &self.q_topic,
            q_region: &self.q_region,
            regional_topic: &self.config.regional_topic,
            temperature: self.temperature,
            epsilon: self.epsilon,
            max_keys: self.config.log_max_keys,
        }
        .report()
    }
}

/// One draw: uniform with probability ε, else categorical from `p`.
pub(crate) fn draw_index(rng: &mut ChaCha8Rng, p: &[f64], epsilon: f64) -> usize {
    if epsilon > 0.0 && rng.gen::<f64>() < epsilon {
        return rng.gen_range(0..p.len());
    }
    let r: f64 = rng.gen();
    let mut acc = 0.0;
    for (i, pi) in p.iter().enumerate() {
        acc += pi;
        if r < acc {
            return i;
        }
    }
    // Rounding left r above the total: take the last language that has any mass.
    p.iter().rposition(|x| *x > 0.0).unwrap_or(0)
}

impl Router for LrpoBandit {
    fn languages(&self) -> Vec<Lang> {
        self.languages.clone()
    }

    fn route(&mut self, request: &RouteRequest) -> Result<Vec<Vec<Lang>>> {
        self.apply_schedules();
        let rules = GroupRules { orig_lang_min: self.config.orig_lang_min, routing: self.config.enabled };
        // Copies of one group share a context, so its distribution is built once per group.
        let mut last: Option<(*const RouteContext, Vec<f64>)> = None;
        let picks = assign_languages(request, rules, |ctx| {
            if !matches!(&last, Some((ptr, _)) if std::ptr::eq(*ptr, ctx)) {
                let z = self.composed_logits(ctx);
                last = Some((ctx as *const _, softmax(&z, self.temperature)));
            }
            let p = &last.as_ref().expect("set above").1;
            let i = draw_index(&mut self.rng, p, self.epsilon);
            self.languages[i].clone()
        });
        Ok(picks)
    }

    fn update(&mut self, _step: u64, feedback: &[RouteFeedback]) -> Result<RouterUpdate> {
        if !self.config.enabled {
            return Ok(RouterUpdate::default());
        }
        self.buffer.add(feedback, &self.index, &self.normalisation)?;
        self.step += 1;
        let log_every = self.config.log_every;
        // Reported before the flush, so the log shows the values this step sampled from.
        let report = (log_every > 0 && self.step.is_multiple_of(log_every)).then(|| self.report());
        let flushed = self.step.is_multiple_of(self.config.update_every.max(1));
        if flushed {
            self.flush();
        }
        Ok(RouterUpdate { flushed, report })
    }

    fn save_state(&self) -> Result<Vec<u8>> {
        state::encode(&BanditState {
            version: STATE_VERSION,
            component: Self::NAME.to_string(),
            languages: self.languages.clone(),
            step: self.step,
            temperature: self.temperature,
            epsilon: self.epsilon,
            q_topic: self.q_topic.clone(),
            q_region: self.q_region.clone(),
            buffer: self.buffer.clone(),
            rng: rng::save(&self.rng),
        })
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        let s: BanditState = state::decode(bytes, Self::NAME)?;
        state::check_languages(Self::NAME, &s.languages, &self.languages)?;
        let len = self.languages.len();
        state::check_vectors("q_topic", len, s.q_topic.iter())?;
        state::check_vectors("q_region", len, s.q_region.iter())?;
        s.buffer.check(len)?;
        if !(s.temperature.is_finite() && s.temperature >= 0.0 && (0.0..=1.0).contains(&s.epsilon)) {
            return Err(Error::State(format!("temperature {} / epsilon {} out of range", s.temperature, s.epsilon)));
        }
        self.rng = rng::restore(&s.rng)?;
        self.step = s.step;
        self.temperature = s.temperature;
        self.epsilon = s.epsilon;
        self.q_topic = s.q_topic;
        self.q_region = s.q_region;
        self.buffer = s.buffer;
        tracing::debug!(instance = %self.instance, step = self.step, "lrpo-bandit state loaded");
        Ok(())
    }
}

impl lrpo_sdk::Component for LrpoBandit {
    type Config = BanditConfig;
    const NAME: &'static str = LrpoBandit::NAME;
    const DESCRIPTION: &'static str =
        "LRPO language router: softmax + epsilon-greedy bandit over per-topic and per-region EMA values";
    fn new(instance: &str, config: BanditConfig) -> Result<Self> {
        LrpoBandit::new(instance, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bandit(config: serde_json::Value) -> LrpoBandit {
        LrpoBandit::new("t", serde_json::from_value(config).unwrap()).unwrap()
    }

    fn edited_state(router: &LrpoBandit, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut s: serde_json::Value = serde_json::from_slice(&router.save_state().unwrap()).unwrap();
        edit(&mut s);
        s.to_string().into_bytes()
    }

    #[test]
    fn state_of_another_component_or_language_set_is_refused() {
        let mut router = bandit(json!({}));
        let uniform = crate::UniformRouter::new("u", Default::default()).unwrap();
        let err = router.load_state(&uniform.save_state().unwrap()).unwrap_err().to_string();
        assert!(err.contains("belongs to component `uniform`"), "{err}");
        let small = bandit(json!({ "topic_mixes": { "T": "en:1" }, "region_mixes": {}, "extra_languages": [] }));
        let err = router.load_state(&small.save_state().unwrap()).unwrap_err().to_string();
        assert!(err.contains("saved with languages [en]"), "{err}");
    }

    #[test]
    fn malformed_vectors_and_buffer_are_refused_with_their_key() {
        let mut router = bandit(json!({}));
        let short = edited_state(&router, |s| s["q_region"]["China"] = json!([0.0, 1.0]));
        let err = router.load_state(&short).unwrap_err().to_string();
        assert!(err.contains("q_region[`China`] has 2 values, expected 15"), "{err}");
        let bad_lang = edited_state(&router, |s| {
            s["buffer"] = json!([{ "topic": "T", "region": "None", "lang": 99, "sum": 0.5, "count": 1 }])
        });
        assert!(router.load_state(&bad_lang).unwrap_err().to_string().contains("buffer[0]"));
        let bad_eps = edited_state(&router, |s| s["epsilon"] = json!(2.0));
        assert!(router.load_state(&bad_eps).unwrap_err().to_string().contains("epsilon 2"));
        // A refused state leaves the router as it was.
        assert_eq!(router.step(), 0);
        assert_eq!(router.region_values().get("China").map(<[f32]>::len), Some(15));
    }

    #[test]
    fn reading_a_new_context_creates_its_keys_like_the_reference() {
        let mut router = bandit(json!({ "orig_lang_min": 0 }));
        let ctx = |topic: &str, region: &str| RouteContext {
            group_id: 1,
            topic: topic.into(),
            region: Some(region.into()),
            orig_lang: Lang::new("en"),
            fixed_lang: None,
        };
        let request = RouteRequest {
            step: 1,
            n: 2,
            groups: vec![ctx("Regional Knowledge", "Atlantis"), ctx("Poetry", "Mars")],
            training: true,
        };
        router.route(&request).unwrap();
        assert!(router.region_values().get("Atlantis").is_some());
        assert!(router.topic_values().get("Poetry").is_some());
        // Non-regional rows never read their region.
        assert!(router.region_values().get("Mars").is_none());
    }

    #[test]
    fn draw_follows_the_distribution_edges() {
        let mut rng = rng::seeded(3);
        for _ in 0..100 {
            assert_eq!(draw_index(&mut rng, &[0.0, 1.0, 0.0], 0.0), 1);
        }
        let hits = (0..3000).filter(|_| draw_index(&mut rng, &[1.0, 0.0, 0.0], 1.0) == 2).count();
        assert!((800..1200).contains(&hits), "epsilon = 1 must be uniform, got {hits}/3000 on index 2");
    }
}
