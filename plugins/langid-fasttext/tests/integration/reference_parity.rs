//! Parity with the official fastText C++ (`fasttext-predict`) on lid.176.ftz.

use crate::common;
use lrpo_langid_fasttext::FastTextModel;

const PROB_TOLERANCE: f64 = 1e-4;

fn ours(model: &FastTextModel, text: &str, k: usize) -> Vec<(String, f64)> {
    model.predict(text, k, 0.0).into_iter().map(|p| (model.labels()[p.label].clone(), p.prob as f64)).collect()
}

fn assert_same(texts: &[String], k: usize) -> usize {
    let path = common::lid_model_path();
    let model = FastTextModel::load(&path).unwrap();
    let reference = common::reference_predictions(&path, texts, k);
    let mut compared = 0;
    let mut max_diff = 0.0f64;
    for (text, want) in texts.iter().zip(&reference) {
        let got = ours(&model, text, k);
        assert_eq!(
            got.first().map(|g| &g.0),
            want.first().map(|w| &w.0),
            "top-1 label differs for {text:?}: ours {got:?}, C++ {want:?}"
        );
        assert_eq!(got.len(), want.len(), "{text:?}: ours {got:?}, C++ {want:?}");
        for ((gl, gp), (wl, wp)) in got.iter().zip(want) {
            assert_eq!(gl, wl, "{text:?}: ours {got:?}, C++ {want:?}");
            assert!((gp - wp).abs() <= PROB_TOLERANCE, "{text:?} {gl}: ours {gp}, C++ {wp}");
            max_diff = max_diff.max((gp - wp).abs());
        }
        compared += 1;
    }
    eprintln!("{compared} texts, top-{k}: largest probability difference to the C++ {max_diff:e}");
    compared
}

#[test]
fn matches_cpp_on_xquad_questions_and_sentences() {
    // 7 languages x (100 questions + 100 context sentences)
    let texts = common::xquad_sentences(100);
    assert!(texts.len() >= 1000, "only {} sentences", texts.len());
    let compared = assert_same(&texts, 3);
    assert_eq!(compared, texts.len());
}

#[test]
fn matches_cpp_on_tokenizer_edge_cases() {
    let texts: Vec<String> = [
        "",
        "   ",
        "a",
        "tab\tseparated\twords and\u{b}vertical\u{c}feed\rreturn",
        "no-break\u{a0}space and ideographic\u{3000}space stay inside tokens",
        "end of line </s> is a token that ends the line early",
        "__label__fr ignored labels __label__xyz bonjour",
        "emoji 😀🎉 and combining e\u{301}\u{301}",
        "Ελληνικά κείμενα με τόνους",
        "ภาษาไทยไม่มีช่องว่าง",
        "한국어 문장입니다.",
        "日本語の文章です。",
        "Wörter mit Umlauten: Ärger, Öl, Übermut, Straße",
        "1234567890 !!! ???",
        "de la in and",
        "a\u{0}b nul separated",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_same(&texts, 5);
}

#[test]
fn models_md_reference_outputs() {
    let model = FastTextModel::load(common::lid_model_path()).unwrap();
    let cases: [(&str, &[(&str, f64)]); 4] = [
        ("The quick brown fox jumps over the lazy dog.", &[("__label__en", 0.697), ("__label__es", 0.046)]),
        ("Der schnelle braune Fuchs springt über den faulen Hund.", &[("__label__de", 0.945)]),
        ("Le renard brun rapide saute par-dessus le chien paresseux.", &[("__label__fr", 0.818)]),
        ("敏捷的棕色狐狸跳过了懒狗。", &[("__label__ja", 0.517), ("__label__zh", 0.460)]),
    ];
    for (text, expected) in cases {
        let got = ours(&model, text, 2);
        for ((label, prob), (want_label, want_prob)) in got.iter().zip(expected) {
            assert_eq!(label, want_label, "{text}: {got:?}");
            // MODELS.md prints three decimals
            assert!((prob - want_prob).abs() <= 0.0005 + 1e-9, "{text}: {label} {prob} vs {want_prob}");
        }
    }
}
