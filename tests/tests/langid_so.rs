//! The fastText LanguageId built as a plugin and loaded through the host's loader gives the
//! reference answers (MODELS.md: fastText C++ on lid.176.ftz) and the spec's weak-text rule.

use lrpo_core::{ComponentKind, Lang, LanguageId};
use lrpo_host::config::InstanceConfig;
use lrpo_host::plugin::Registry;
use lrpo_tests::*;

#[test]
fn detects_through_the_loaded_library() {
    let plugins = plugin_dir(&["lrpo_langid_fasttext"]);
    let mut reg = Registry::new(vec![plugins.path().to_path_buf()], 2, None);
    let inst =
        InstanceConfig { plugin: "lrpo_langid_fasttext".into(), kind: "fasttext".into(), config: Default::default() };
    let mut lid = reg
        .instantiate(ComponentKind::LanguageId, "lid", &inst)
        .and_then(Box::<dyn LanguageId>::try_from)
        .expect("the model is in the cache (scripts/setup.sh puts it there)");
    let texts: Vec<String> = [
        "The quick brown fox jumps over the lazy dog.",
        "Der schnelle braune Fuchs springt über den faulen Hund.",
        "Le renard brun rapide saute par-dessus le chien paresseux.",
        "a!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "```only code```",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = lid.detect(&texts).unwrap();
    assert_eq!(out[0].lang, Some(Lang::new("en")));
    assert!((out[0].prob - 0.697).abs() < 1e-3, "{}", out[0].prob);
    assert_eq!(out[1].lang, Some(Lang::new("de")));
    assert!((out[1].prob - 0.945).abs() < 1e-3, "{}", out[1].prob);
    assert_eq!(out[2].lang, Some(Lang::new("fr")));
    assert_eq!(out[3].lang, None, "weak text: 1 letter in 31 characters");
    assert_eq!(out[4].lang, None, "only a fenced code block");
}
