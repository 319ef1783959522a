//! The built library through the SDK's host half, as `lrpo-host` loads it: the manifest, a
//! config handed over as JSON, rewards and errors across the ABI.

use std::path::PathBuf;

use lrpo_core::{ComponentKind, Lang, LangPrediction, RewardInput, RewardModel};
use lrpo_sdk::host::PluginLibrary;

/// The library cargo built for this very test run: `cargo test` compiles the crate's cdylib
/// next to the test executable in `target/<profile>/deps` (it copies it up to
/// `target/<profile>` only for `cargo build`, so that copy may be stale).
fn built_library() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let path = exe.parent().expect("target/<profile>/deps").join("liblrpo_reward_rule.so");
    assert!(path.is_file(), "{} is missing: run this test with `cargo test -p lrpo-reward-rule`", path.display());
    path
}

#[test]
fn the_shared_library_scores_through_the_abi() {
    let lib = PluginLibrary::open(&built_library(), 1).unwrap_or_else(|e| panic!("{e}"));
    let info = lib.manifest.component(ComponentKind::RewardModel, "rule").expect("`rule` in the manifest");
    let schema = info.config_schema.to_string();
    assert!(["mode", "correct_score", "no_answer_score", "abs_tol"].iter().all(|k| schema.contains(k)), "{schema}");

    let config = r#"{"mode": "gsm8k", "incorrect_score": 0.25}"#;
    let any = lib.instantiate(ComponentKind::RewardModel, "rule", "math", config).unwrap_or_else(|e| panic!("{e}"));
    let mut reward = Box::<dyn RewardModel>::try_from(any).unwrap();
    let reference = "3 boxes of 12 pencils is 3 * 12 = 36 pencils; 36 - 9 = 27 are left.\n#### 27";
    let en = Lang::new("en");
    let detected = LangPrediction { lang: Some(en.clone()), prob: 0.9 };
    let inputs: Vec<RewardInput> = ["36 - 9 = 27\n#### 27", "#### 36", "27 pencils"]
        .iter()
        .map(|r| RewardInput::new(*r, reference, en.clone(), en.clone(), detected.clone()))
        .collect();
    let out = reward.score(&inputs).unwrap();
    let values: Vec<f64> = out.iter().map(|r| r.value).collect();
    assert_eq!(values, [1.0, 0.25, 0.0]);
    assert!(out.iter().all(|r| r.gate == 1.0 && r.raw_cosine.is_nan() && r.detected == detected));

    // A bad reference crosses the boundary as an error naming the item.
    let bad = RewardInput::new("#### 1", "no number", en.clone(), en.clone(), detected.clone());
    let err = reward.score(&[inputs[0].clone(), bad]).unwrap_err().to_string();
    assert!(err.contains("reward input 1"), "{err}");
    // A bad value names the key under the instance's table.
    let Err(err) = lib.instantiate(ComponentKind::RewardModel, "rule", "math", r#"{"no_answer_score": -0.5}"#) else {
        panic!("a negative score must be refused");
    };
    let err = err.to_string();
    assert!(err.contains("components.reward_model.math.config.no_answer_score"), "{err}");
}
