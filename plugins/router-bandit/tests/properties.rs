//! The effective distribution is a probability distribution, whatever the values, temperature,
//! epsilon and feedback history.

use lrpo_core::{RouteFeedback, Router};
use lrpo_router_bandit::{effective, softmax, BanditConfig, GroupNorm, LrpoBandit};
use proptest::prelude::*;

fn sums_to_one(p: &[f64]) -> bool {
    (p.iter().sum::<f64>() - 1.0).abs() < 1e-9 && p.iter().all(|x| (0.0..=1.0).contains(x))
}

const TOPICS: [&str; 3] = ["General Knowledge", "Regional Knowledge", "Translation"];
const REGIONS: [&str; 3] = ["China", "Japan", "None"];

proptest! {
    #[test]
    fn effective_of_any_logits_sums_to_one(
        logits in prop::collection::vec(-1e3f64..1e3, 1..20),
        temperature in 0.0f64..10.0,
        epsilon in 0.0f64..=1.0,
    ) {
        let p = softmax(&logits, temperature);
        prop_assert!(sums_to_one(&p), "softmax {:?}", p);
        let e = effective(&p, epsilon);
        prop_assert!(sums_to_one(&e), "effective {:?}", e);
    }

    #[test]
    fn router_distribution_sums_to_one_after_any_feedback(
        rows in prop::collection::vec((0usize..3, 0usize..3, 0usize..15, 0.0f64..1.0), 0..200),
        alpha in 0.0f64..=1.0,
        norm in prop::sample::select(vec![GroupNorm::None, GroupNorm::Center, GroupNorm::Zscore]),
        temperature in 0.0f64..3.0,
        epsilon in 0.0f64..=1.0,
        pooled in any::<bool>(),
    ) {
        let config = BanditConfig {
            alpha, group_norm: norm, temperature, epsilon, aggregate_non_regional: pooled, log_every: 1,
            ..Default::default()
        };
        let mut router = LrpoBandit::new("prop", config).unwrap();
        let langs = router.languages();
        let feedback: Vec<RouteFeedback> = rows
            .iter()
            .map(|&(t, r, l, reward)| RouteFeedback {
                topic: TOPICS[t].into(),
                region: (r < 2).then(|| REGIONS[r].to_string()),
                lang: langs[l].clone(),
                reward,
            })
            .collect();
        // Two steps: the second log line shows the values after the first flush.
        router.update(1, &feedback).unwrap();
        let report = router.update(2, &feedback).unwrap().report.unwrap();
        for topic in TOPICS {
            for region in REGIONS.iter().map(|r| Some(*r)).chain([None]) {
                let p = router.distribution(topic, region);
                prop_assert!(sums_to_one(&p), "{} / {:?}: {:?}", topic, region, p);
            }
        }
        prop_assert_eq!(&report.languages, &langs);
        for context in &report.contexts {
            prop_assert!(sums_to_one(&context.probs), "report {}: {:?}", context.key, context.probs);
        }
    }
}
