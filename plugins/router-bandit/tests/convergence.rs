//! Learning on a simulated environment: per topic, one language earns a higher mean reward.
//! The bandit (reference settings of `run_lrpo.sh`) must put more than 0.8 of its probability
//! on that language within a stated number of training steps.

use lrpo_core::{default_languages, Lang, RouteContext, RouteFeedback, RouteRequest, Router};
use lrpo_router_bandit::{router_from_json, BanditConfig, LrpoBandit};
use lrpo_router_conformance::workload::bench_config;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOPICS: [&str; 4] = ["General Knowledge", "Reasoning / Logic", "Safety / Ethics", "Chat / Conversational"];
const REGIONS: [&str; 6] = ["Japan", "China", "Europe", "India", "Africa", "Iran"];
const BEST_MEAN: f64 = 0.7;
const OTHER_MEAN: f64 = 0.4;

/// The best language of topic `t` (a different one per topic).
fn best(t: usize) -> Lang {
    default_languages()[(3 * t + 1) % 15].clone()
}

struct Environment {
    rng: ChaCha8Rng,
    langs: Vec<Lang>,
}

impl Environment {
    fn new(seed: u64) -> Self {
        Environment { rng: ChaCha8Rng::seed_from_u64(seed), langs: default_languages() }
    }

    /// 256 questions × 8 copies, topics and regions drawn at random.
    fn batch(&mut self, step: u64) -> RouteRequest {
        let groups = (0..256u64)
            .map(|q| RouteContext {
                group_id: step * 1000 + q,
                topic: TOPICS[self.rng.gen_range(0..TOPICS.len())].to_string(),
                region: Some(REGIONS[self.rng.gen_range(0..REGIONS.len())].to_string()),
                orig_lang: self.langs[self.rng.gen_range(0..15)].clone(),
                fixed_lang: None,
            })
            .collect();
        RouteRequest { step, n: 8, groups, training: true }
    }

    fn rewards(&mut self, request: &RouteRequest, picks: &[Vec<Lang>]) -> Vec<RouteFeedback> {
        let mut out = Vec::new();
        for (g, langs) in request.groups.iter().zip(picks) {
            let t = TOPICS.iter().position(|t| *t == g.topic).expect("known topic");
            for lang in langs {
                let mean = if *lang == best(t) { BEST_MEAN } else { OTHER_MEAN };
                let reward = (mean + self.rng.gen_range(-0.3..0.3f64)).clamp(0.0, 1.0);
                out.push(RouteFeedback {
                    topic: g.topic.clone(),
                    region: g.region.clone(),
                    lang: lang.clone(),
                    reward,
                });
            }
        }
        out
    }
}

/// First step after which every topic gives its best language more than 0.8 probability.
fn steps_to_learn(config: serde_json::Value, max_steps: u64) -> Option<u64> {
    let mut router = LrpoBandit::new("sim", serde_json::from_value::<BanditConfig>(config).unwrap()).unwrap();
    let langs = router.languages();
    let mut env = Environment::new(11);
    for step in 1..=max_steps {
        let request = env.batch(step);
        let picks = router.route(&request).unwrap();
        let feedback = env.rewards(&request, &picks);
        router.update(step, &feedback).unwrap();
        let learnt = (0..TOPICS.len()).all(|t| {
            let p = router.distribution(TOPICS[t], None);
            p[langs.iter().position(|l| *l == best(t)).unwrap()] > 0.8
        });
        if learnt {
            return Some(step);
        }
    }
    None
}

// With the reference settings the values separate within ~50 steps (p_best ≈ 0.62 at T ≈ 0.95);
// crossing 0.8 waits for the temperature to anneal (seen at step 280 with this seed).
#[test]
fn bandit_finds_the_best_language_per_topic() {
    let steps = steps_to_learn(bench_config(), 400);
    println!("reference settings: learnt after {steps:?} steps");
    assert!(steps.is_some(), "not learnt within 400 steps");
}

#[test]
fn pooled_variant_also_learns() {
    let mut config = bench_config();
    config["aggregate_non_regional"] = serde_json::json!(true);
    let steps = steps_to_learn(config, 300);
    println!("aggregate_non_regional: learnt after {steps:?} steps");
    assert!(steps.is_some(), "not learnt within 300 steps");
}

#[test]
fn uniform_router_does_not_learn() {
    // Control: the same environment through the no-learning ablation keeps ~1/15 on the best
    // language, so the bandit's result above is learning, not an artefact of the simulation.
    let mut router = router_from_json("uniform", "sim", serde_json::json!({ "orig_lang_min": 2 })).unwrap();
    let mut env = Environment::new(11);
    let (mut hits, mut total) = (0usize, 0usize);
    for step in 1..=20 {
        let request = env.batch(step);
        let picks = router.route(&request).unwrap();
        for (g, langs) in request.groups.iter().zip(&picks) {
            let t = TOPICS.iter().position(|t| *t == g.topic).unwrap();
            hits += langs[2..].iter().filter(|l| **l == best(t)).count();
            total += 6;
        }
    }
    let share = hits as f64 / total as f64;
    assert!((share - 1.0 / 15.0).abs() < 0.02, "uniform share of best language {share}");
}

#[test]
fn thompson_routes_mostly_to_the_best_language() {
    let mut router =
        router_from_json("thompson", "sim", serde_json::json!({ "orig_lang_min": 2, "update_every": 5 })).unwrap();
    let mut env = Environment::new(11);
    let mut share = 0.0;
    for step in 1..=60 {
        let request = env.batch(step);
        let picks = router.route(&request).unwrap();
        let (mut hits, mut total) = (0usize, 0usize);
        for (g, langs) in request.groups.iter().zip(&picks) {
            let t = TOPICS.iter().position(|t| *t == g.topic).unwrap();
            hits += langs[2..].iter().filter(|l| **l == best(t)).count();
            total += 6;
        }
        share = hits as f64 / total as f64;
        let feedback = env.rewards(&request, &picks);
        router.update(step, &feedback).unwrap();
    }
    println!("thompson: share of routed copies on the best language at step 60: {share:.3}");
    assert!(share > 0.8, "share {share}");
}
