//! The `calibrated-embedding` component end to end on the real multilingual-e5-small, built as
//! the host builds it (config JSON through the SDK). Needs `scripts/setup.sh`.

use crate::common;
use lrpo_core::{ComponentKind, Lang, LangPrediction, RewardInput, RewardModel};
use lrpo_reward_calibrated::{embedding_reward, CalibratedEmbedding, Calibrator, PairStats};
use lrpo_sdk::Component;

fn build(json: &str) -> lrpo_core::Result<CalibratedEmbedding> {
    let config = lrpo_sdk::parse_config::<CalibratedEmbedding>(ComponentKind::RewardModel, "reward", json)?;
    CalibratedEmbedding::new("reward", config)
}

fn input(response: &str, reference: &str, target: &str, reference_lang: &str, detected: Option<&str>) -> RewardInput {
    RewardInput::new(
        response,
        reference,
        Lang::new(target),
        Lang::new(reference_lang),
        LangPrediction { lang: detected.map(Lang::new), prob: if detected.is_some() { 0.9 } else { 0.0 } },
    )
}

#[test]
fn config_errors_name_the_field() {
    let err = build(r#"{"shrinkage": 1}"#).unwrap_err().to_string();
    assert!(err.contains("components.reward_model.reward.config") && err.contains("shrinkage"), "{err}");
    let err = build(r#"{"encoder": {"batch_size": 0}}"#).unwrap_err().to_string();
    assert!(err.contains("encoder.batch_size"), "{err}");
    let err = build(r#"{"encoder": {"model": "no-such-model"}}"#).unwrap_err().to_string();
    assert!(err.contains("scripts/setup.sh"), "{err}");
    let err = build(r#"{"pair_stats": "/nonexistent/stats.csv"}"#).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/stats.csv"), "{err}");
}

#[test]
fn rewards_follow_calibration_and_gate() {
    common::e5_dir();
    let stats_path = lrpo_testkit::shared_data().join("lrpo_pair_stats.csv");
    let json = serde_json::json!({ "pair_stats": stats_path, "encoder": { "batch_size": 4 } }).to_string();
    let mut reward = build(&json).unwrap();
    let reference = "The capital of France is Paris.";
    let inputs = vec![
        input("Die Hauptstadt von Frankreich ist Paris.", reference, "de", "en", Some("de")),
        input("Die Hauptstadt von Frankreich ist Paris.", reference, "zh", "en", Some("de")),
        input("", reference, "de", "en", None),
        input("The capital of France is Paris.", reference, "en", "en", Some("en")),
        input("法国的首都是巴黎。", reference, "zh", "en", Some("zh")),
        input("Photosynthesis turns light into chemical energy.", reference, "en", "en", Some("en")),
    ];
    let out = reward.score(&inputs).unwrap();
    assert_eq!(out.len(), inputs.len());
    let cal = Calibrator::new(Some(PairStats::from_csv_path(&stats_path).unwrap()), 0.0, true).unwrap();
    for (i, (r, x)) in out.iter().zip(&inputs).enumerate() {
        let want = cal.calibrate(r.raw_cosine, &x.reference_lang, x.detected.lang.as_ref());
        assert_eq!(r.calibrated_cosine, want, "row {i}");
        assert_eq!(r.r_emb, embedding_reward(want), "row {i}");
        assert_eq!(r.detected, x.detected);
        assert!((0.0..=1.0).contains(&r.value), "row {i}: {r:?}");
    }
    assert_eq!((out[0].gate, out[0].value), (1.0, out[0].r_emb));
    // Wrong language: gated to 0 but the embedding score is kept.
    assert_eq!((out[1].gate, out[1].value), (0.0, 0.0));
    assert_eq!(out[1].r_emb, out[0].r_emb);
    assert_eq!(out[2].value, 0.0);
    // English–English is missing from the reference table: passes through uncalibrated.
    assert_eq!(out[3].calibrated_cosine, out[3].raw_cosine);
    assert!(out[3].raw_cosine > 0.99, "identical text: {}", out[3].raw_cosine);
    // e5 puts unrelated text fairly high too (≈ 0.75), but translations clearly above it.
    assert!(out[0].raw_cosine > out[5].raw_cosine + 0.1 && out[4].raw_cosine > out[5].raw_cosine + 0.03, "{out:?}");
    assert!(reward.score(&[]).unwrap().is_empty());
}
