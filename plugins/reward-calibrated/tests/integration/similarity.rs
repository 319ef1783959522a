//! The real multilingual-e5-small through the reward's embedder: translations score higher than
//! unrelated texts, and cosines match transformers running the same checkpoint.
//! Needs `scripts/setup.sh` (fails, naming it, otherwise).

use crate::common;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn translations_beat_unrelated_pairs_on_xquad() {
    let questions = common::xquad_questions();
    let langs: Vec<&String> = questions.keys().collect();
    assert_eq!(langs.len(), 7);
    let ids: Vec<&String> = questions[langs[0]].keys().collect();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut responses, mut translations, mut unrelated) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..200 {
        let pick: Vec<&&String> = langs.choose_multiple(&mut rng, 2).collect();
        let (a, b) = (pick[0].as_str(), pick[1].as_str());
        let i = rng.gen_range(0..ids.len());
        let j = (i + rng.gen_range(1..ids.len())) % ids.len();
        responses.push(questions[a][ids[i]].as_str());
        translations.push(questions[b][ids[i]].as_str());
        unrelated.push(questions[b][ids[j]].as_str());
    }
    let embedder = common::e5_embedder();
    let same = embedder.pair_cosines(&responses, &translations).unwrap();
    let other = embedder.pair_cosines(&responses, &unrelated).unwrap();
    let wins = same.iter().zip(&other).filter(|(s, o)| s > o).count();
    assert!(wins >= 190, "translation beat the unrelated text in only {wins} of 200 cases");
}

#[test]
fn cosines_match_transformers_with_truncation_and_batching() {
    let questions = common::xquad_questions();
    let contexts = lrpo_reward_calibrated::ParallelCorpus::load(
        &[lrpo_testkit::shared_data().join("xquad/xquad.de.json")],
        Some("context"),
    )
    .unwrap();
    // Far beyond 512 tokens, so both sides must truncate the same way.
    let long: String = contexts.texts.iter().take(6).map(|t| t.text.as_str()).collect::<Vec<_>>().join(" ");
    let (en, zh, ru) = (&questions["en"], &questions["zh"], &questions["ru"]);
    let mut pairs: Vec<(String, String)> = en.iter().take(12).map(|(id, q)| (q.clone(), zh[id].clone())).collect();
    pairs.extend(en.iter().skip(12).take(4).map(|(id, q)| (ru[id].clone(), q.clone())));
    pairs.push((long.clone(), en.values().next().unwrap().clone()));
    pairs.push(("   ".into(), long));
    pairs.push(("Paris.".into(), "  The capital of France is Paris.  ".into()));
    let embedder = common::e5_embedder();
    let responses: Vec<&str> = pairs.iter().map(|p| p.0.as_str()).collect();
    let references: Vec<&str> = pairs.iter().map(|p| p.1.as_str()).collect();
    let ours = embedder.pair_cosines(&responses, &references).unwrap();

    let script = lrpo_testkit::repo_root().join("plugins/reward-calibrated/tests/py/reference_cosines.py");
    let request = serde_json::json!({"pairs": pairs, "prefix": "query: ", "max_length": 512});
    let theirs: Vec<f64> = lrpo_testkit::python_json(&[script.as_ref(), common::e5_dir().as_ref()], &request);
    assert_eq!(theirs.len(), ours.len());
    for (k, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert!(
            (a - b).abs() < 2e-4,
            "pair {k} {:?}: ours {a}, transformers {b}",
            &pairs[k].0.chars().take(40).collect::<String>()
        );
    }
    // Each pair alone (no padding, no sorting) gives the same cosine.
    for k in [0, 12, 16, 17] {
        let alone = embedder.pair_cosines(&responses[k..=k], &references[k..=k]).unwrap()[0];
        assert!((alone - ours[k]).abs() < 1e-4, "pair {k}: alone {alone}, batched {}", ours[k]);
    }
}
