//! Pair statistics computed with the real multilingual-e5-small: XQuAD through the library and
//! the bundled parallel subset with its second phrasings through the `lrpo-calibrate` binary.
//! Needs `scripts/setup.sh` (fails, naming it, otherwise).

use std::process::Command;

use crate::common;
use lrpo_core::Lang;
use lrpo_reward_calibrated::{compute_pair_stats, PairStats, ParallelCorpus};

#[test]
fn xquad_gives_all_21_pairs_of_its_7_languages() {
    let mut corpus = ParallelCorpus::load(&[lrpo_testkit::shared_data().join("xquad")], None).unwrap();
    corpus.limit_ids(30);
    let stats = compute_pair_stats(&common::e5_embedder(), &corpus).unwrap();
    assert_eq!(stats.len(), 21);
    let langs: Vec<Lang> = ["ar", "de", "en", "es", "ru", "vi", "zh"].iter().map(Lang::new).collect();
    for (i, a) in langs.iter().enumerate() {
        assert!(stats.get(a, a).is_none(), "no same-language pair expected for {a}");
        for b in &langs[i + 1..] {
            let s = stats.get(a, b).unwrap_or_else(|| panic!("pair {a}-{b} missing"));
            assert_eq!(s.count, 30, "{a}-{b}");
            // Translations under e5 sit well above unrelated text, below identity.
            assert!(s.mean > 0.7 && s.mean < 1.0 && s.std > 0.0 && s.std < 0.2, "{a}-{b}: {s:?}");
        }
    }
    let mean_of_means = stats.rows().map(|(_, s)| s.mean).sum::<f64>() / 21.0;
    assert!((stats.mu_ref() - mean_of_means).abs() < 1e-12, "equal counts: μ_ref is the plain mean");
    // What the CSV writer gives back reads as the same table.
    let mut csv = Vec::new();
    stats.write_csv(&mut csv).unwrap();
    let back = PairStats::from_csv_reader(csv.as_slice(), "written").unwrap();
    assert_eq!(back.len(), 21);
    assert_eq!(back.get(&"zh".into(), &"ar".into()), stats.get(&"ar".into(), &"zh".into()));
}

#[test]
fn the_binary_calibrates_the_bundled_parallel_subset() {
    common::e5_dir();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pair_stats.csv");
    let data = lrpo_testkit::repo_root().join("examples/data");
    let calibrate = |corpora: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lrpo-calibrate"));
        for c in corpora {
            command.arg("--parallel").arg(data.join(c));
        }
        let run =
            command.arg("--out").arg(&out).args(["--threads", "2", "--model"]).arg(common::e5_dir()).output().unwrap();
        assert!(run.status.success(), "lrpo-calibrate failed:\n{}", String::from_utf8_lossy(&run.stderr));
        (PairStats::from_csv_path(&out).unwrap(), String::from_utf8_lossy(&run.stderr).to_string())
    };
    // 8 languages (de en es fr it ja ru zh), each item in two phrasings: 28 cross-language and
    // 8 same-language rows, each over the 52 items.
    let (stats, said) = calibrate(&["parallel.jsonl", "paraphrases.jsonl"]);
    assert_eq!(stats.len(), 36);
    assert!(stats.rows().all(|(_, s)| s.count == 52), "every item exists in all 8 languages");
    assert!(said.contains("36 pairs (8 same-language)") && !said.contains("no second phrasing"), "{said}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("lang_a,lang_b,count,mean,std\nChinese,Chinese,52,"), "{text}");
    for lang in ["de", "en", "es", "fr", "it", "ja", "ru", "zh"] {
        let l = Lang::new(lang);
        let same = stats.get(&l, &l).unwrap().mean;
        // Two wordings of one answer in one language sit above its translations, below 1.
        let cross = stats.rows().filter(|((a, b), _)| a != b && (*a == l || *b == l)).map(|(_, s)| s.mean);
        let cross = cross.sum::<f64>() / 7.0;
        assert!(same > cross && same < 0.99, "{lang}: same-language {same}, cross-language {cross}");
    }
    // Without the second phrasing there is no diagonal, and the binary says so.
    let (stats, said) = calibrate(&["parallel.jsonl"]);
    assert_eq!(stats.len(), 28);
    assert!(said.contains("no second phrasing for de, en, es, fr, it, ja, ru, zh"), "{said}");

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\": \"a\", \"language\": \"german\"}\n").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_lrpo-calibrate"))
        .args(["--parallel", bad.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("bad.jsonl line 1, field `chosen`"), "{err}");
}
