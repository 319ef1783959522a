//! The `fasttext` LanguageId component: config, the LRPO rules of spec §4.2 / TV-8, threads.

use crate::common;
use lrpo_core::{Error, Lang, LangPrediction, LanguageId};
use lrpo_langid_fasttext::{normalize_for_lid, FastTextConfig, FastTextLangId};
use lrpo_sdk::Component;

fn component(config: FastTextConfig, threads: usize) -> FastTextLangId {
    common::lid_model_path();
    FastTextLangId::from_config(config, threads).unwrap()
}

fn lang(p: &LangPrediction) -> Option<&str> {
    p.lang.as_ref().map(|l| l.as_str())
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|s| s.to_string()).collect()
}

#[test]
fn empty_config_is_the_lrpo_default_and_typos_are_errors() {
    let config: FastTextConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(config, FastTextConfig::default());
    assert_eq!(config.allowed_languages.join(" "), "ar de en es fr id it ja ko nl pl pt ru vi zh");
    assert_eq!(config.min_alnum_ratio, 0.05);
    let err = serde_json::from_str::<FastTextConfig>(r#"{"modle_path": "x"}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `modle_path`"), "{err}");
    let schema = serde_json::to_string(&schemars::schema_for!(FastTextConfig)).unwrap();
    assert!(schema.contains("allowed_languages") && schema.contains("model_path"));
}

#[test]
fn missing_model_names_the_setup_command() {
    let config = FastTextConfig { model_path: Some("/nonexistent/lid.176.ftz".into()), ..Default::default() };
    let err = FastTextLangId::new("lid", config).err().expect("must fail");
    let msg = err.to_string();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(msg.contains("scripts/setup.sh") && msg.contains("/nonexistent/lid.176.ftz"), "{msg}");
}

#[test]
fn bad_config_values_name_their_key() {
    let config = FastTextConfig { min_alnum_ratio: 1.5, ..Default::default() };
    let err = FastTextLangId::from_config(config, 1).err().expect("must fail");
    assert!(err.to_string().contains("min_alnum_ratio"), "{err}");
    let config = FastTextConfig { allowed_languages: vec!["__label__en".into()], ..Default::default() };
    let err = FastTextLangId::from_config(config, 1).err().expect("must fail");
    assert!(err.to_string().contains("allowed_languages"), "{err}");
}

#[test]
fn tv8_weak_and_fenced_texts_get_no_language() {
    let mut lid = component(FastTextConfig::default(), 1);
    let weak = ["", "  ", "```\nlet x = 1;\n```", &format!("a{}", "!".repeat(30))];
    for p in lid.detect(&strings(&weak)).unwrap() {
        assert_eq!(p, LangPrediction::none());
    }
}

#[test]
fn tv8_normalised_text_is_what_the_model_sees() {
    let mut lid = component(FastTextConfig::default(), 1);
    let text = "Hello ```x``` world\n\n again";
    let found = lid.detect(&strings(&[text])).unwrap();
    let direct = lid.model().predict(&normalize_for_lid(text), 1, 0.0)[0];
    assert_eq!(lid.model().labels()[direct.label], "__label__en");
    assert_eq!(found[0], LangPrediction { lang: Some(Lang::new("en")), prob: direct.prob });

    // "ab" + 30 "!" is 2/32 letters: not weak, so the model decides
    let boundary = format!("ab{}", "!".repeat(30));
    let found = lid.detect(std::slice::from_ref(&boundary)).unwrap();
    let direct = lid.model().predict(&boundary, 1, 0.0)[0];
    let label = lid.model().labels()[direct.label].trim_start_matches("__label__").to_string();
    let allowed = FastTextConfig::default().allowed_languages.contains(&label);
    assert_eq!(lang(&found[0]), allowed.then_some(label.as_str()), "{found:?}");
}

#[test]
fn languages_outside_the_allowed_set_become_none() {
    let thai = "ภาษาไทยเป็นภาษาราชการของประเทศไทย";
    let mut lid = component(FastTextConfig::default(), 1);
    let top = lid.model().predict(thai, 1, 0.0)[0];
    assert_eq!(lid.model().labels()[top.label], "__label__th");
    assert_eq!(lid.detect(&strings(&[thai])).unwrap()[0], LangPrediction::none());

    let config = FastTextConfig { allowed_languages: vec!["th".into(), "DE".into()], ..Default::default() };
    let mut lid = component(config, 1);
    let found = lid.detect(&strings(&[thai, "Guten Morgen, wie geht es dir?", "Good morning"])).unwrap();
    assert_eq!(found[0], LangPrediction { lang: Some(Lang::new("th")), prob: top.prob });
    assert_eq!(lang(&found[1]), Some("de"));
    assert_eq!(found[2], LangPrediction::none());
}

#[test]
fn xquad_languages_are_found_and_threads_agree() {
    let texts = common::xquad_sentences(40);
    let mut one = component(FastTextConfig::default(), 1);
    let mut two = component(FastTextConfig { threads: 2, ..Default::default() }, 2);
    let a = one.detect(&texts).unwrap();
    let b = two.detect(&texts).unwrap();
    assert_eq!(a, b);
    // texts come in blocks of 80 per language (40 questions, 40 sentences)
    for (block, code) in a.chunks(80).zip(["ar", "de", "en", "es", "ru", "vi", "zh"]) {
        let hits = block.iter().filter(|p| lang(p) == Some(code)).count();
        assert!(hits >= 70, "{code}: only {hits} of 80 identified");
    }
}

#[test]
fn works_behind_a_trait_object() {
    let mut lid: Box<dyn LanguageId> = Box::new(component(FastTextConfig::default(), 1));
    let found = lid.detect(&strings(&["Это предложение написано по-русски."])).unwrap();
    assert_eq!(lang(&found[0]), Some("ru"));
    assert!(found[0].prob > 0.5);
}

#[test]
fn registered_with_the_sdk_and_built_from_config_json() {
    common::lid_model_path();
    let registration = lrpo_sdk::inventory::iter::<lrpo_sdk::Registration>
        .into_iter()
        .find(|r| r.name == "fasttext")
        .expect("export_plugin! registers `fasttext`");
    assert_eq!(registration.kind, lrpo_core::ComponentKind::LanguageId);
    assert!((registration.schema)().contains("allowed_languages"));
    let factory = registration.factory;
    let built = factory("lid", r#"{"allowed_languages": ["es"], "threads": 1}"#).unwrap();
    let mut lid = <Box<dyn LanguageId>>::try_from(built).expect("`fasttext` is registered as a LanguageId");
    let found = lid.detect(&strings(&["¿Dónde está la biblioteca?", "Where is the library?"])).unwrap();
    assert_eq!(lang(&found[0]), Some("es"));
    assert_eq!(found[1], LangPrediction::none());
    let err = factory("lid", r#"{"allowed_langs": ["es"]}"#).expect_err("typo must fail");
    assert!(err.to_string().contains("components.language_id.lid.config"), "{err}");
}
