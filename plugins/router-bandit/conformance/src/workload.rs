//! The benchmark workload, public so the host's through-FFI bench measures the same thing.

use lrpo_core::{default_languages, Lang, RouteContext, RouteFeedback, RouteRequest};
use lrpo_core::{LRPO_REGIONS as REFERENCE_REGIONS, LRPO_TOPICS as REFERENCE_TOPICS};
use rand::{Rng, SeedableRng};

/// Questions per batch and copies per question of the reference run (2048 rows).
pub const BENCH_QUESTIONS: usize = 256;
pub const BENCH_GROUP_SIZE: usize = 8;

/// The `run_lrpo.sh` router settings (spec §3.11), logging off so the bench measures routing.
pub fn bench_config() -> serde_json::Value {
    serde_json::json!({
        "update_every": 5,
        "temperature": 1.0,
        "temperature_min": 0.3,
        "temperature_decay": 0.999,
        "epsilon_init": 0.2,
        "epsilon_min": 0.0,
        "epsilon_decay": 0.995,
        "orig_lang_min": 2,
        "group_norm": "zscore",
        "log_every": 0,
        "log_max_keys": 100
    })
}

/// One training step's routing request (256 questions × 8 copies over the 5 reference topics,
/// 24 regions and 15 languages) and feedback for its 2048 rollouts, with seeded rewards in [0, 1].
pub fn bench_workload() -> (RouteRequest, Vec<RouteFeedback>) {
    let langs = default_languages();
    let groups: Vec<RouteContext> = (0..BENCH_QUESTIONS)
        .map(|q| RouteContext {
            group_id: q as u64,
            topic: REFERENCE_TOPICS[q % REFERENCE_TOPICS.len()].to_string(),
            region: Some(REFERENCE_REGIONS[q % REFERENCE_REGIONS.len()].to_string()),
            orig_lang: langs[q % langs.len()].clone(),
            fixed_lang: None,
        })
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2048);
    let feedback = groups
        .iter()
        .flat_map(|g| (0..BENCH_GROUP_SIZE).map(move |c| (g, c)))
        .map(|(g, c)| RouteFeedback {
            topic: g.topic.clone(),
            region: g.region.clone(),
            lang: langs[(g.group_id as usize + c) % langs.len()].clone(),
            reward: rng.gen::<f64>(),
        })
        .collect();
    let request = RouteRequest { step: 1, n: BENCH_GROUP_SIZE, groups, training: true };
    (request, feedback)
}

/// Feedback for the languages a router actually picked, so a learning router sees its own
/// choices; reward = fixed per-language quality plus seeded noise.
pub fn feedback_for(request: &RouteRequest, picks: &[Vec<Lang>], seed: u64) -> Vec<RouteFeedback> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    request
        .groups
        .iter()
        .zip(picks)
        .flat_map(|(g, langs)| langs.iter().map(move |l| (g, l)))
        .map(|(g, lang)| {
            let quality = f64::from(lang.as_str().bytes().map(u32::from).sum::<u32>() % 7) / 10.0;
            RouteFeedback {
                topic: g.topic.clone(),
                region: g.region.clone(),
                lang: lang.clone(),
                reward: (quality + 0.3 * rng.gen::<f64>()).min(1.0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_has_2048_rows_over_15_languages() {
        let (request, feedback) = bench_workload();
        assert_eq!(request.groups.len() * request.n, 2048);
        assert_eq!(feedback.len(), 2048);
        let mut langs: Vec<&Lang> = feedback.iter().map(|f| &f.lang).collect();
        langs.sort();
        langs.dedup();
        assert_eq!(langs.len(), 15);
    }
}
