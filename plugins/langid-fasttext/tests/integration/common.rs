//! Helpers shared by the integration tests: the model, the XQuAD sentences and the C++
//! reference (`fasttext-predict` in the project venv).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The cached lid.176.ftz; a missing model fails the test with the set-up command to run.
pub fn lid_model_path() -> PathBuf {
    let path = lrpo_langid_fasttext::default_model_path();
    assert!(path.exists(), "{} is missing: run scripts/setup.sh to fetch it", path.display());
    path
}

/// The script behind `reference_predictions`: `fasttext` is the module of `fasttext-predict`,
/// the official C++ behind Python bindings.
const REFERENCE: &str = r#"
import json, sys
try:
    import fasttext
except ImportError:
    sys.exit("fasttext-predict is not installed in the venv: run scripts/setup.sh")
request = json.load(sys.stdin)
model = fasttext.load_model(request["model"])
out = []
for text in request["texts"]:
    labels, probs = model.predict(text, k=request["k"])
    out.append([[l, float(p)] for l, p in zip(labels, probs)])
json.dump(out, sys.stdout)
"#;

/// Predictions of the official C++ (via `fasttext-predict`) for each text: (label, prob) pairs.
pub fn reference_predictions(model: &Path, texts: &[String], k: usize) -> Vec<Vec<(String, f64)>> {
    let request = json!({ "model": model, "texts": texts, "k": k });
    let parsed: Vec<Vec<(String, f64)>> = lrpo_testkit::python_json(&["-c".as_ref(), REFERENCE.as_ref()], &request);
    assert_eq!(parsed.len(), texts.len());
    parsed
}

/// Questions and context sentences of XQuAD, `per_language` of each kind per language.
pub fn xquad_sentences(per_language: usize) -> Vec<String> {
    let mut out = Vec::new();
    for lang in ["ar", "de", "en", "es", "ru", "vi", "zh"] {
        let path = lrpo_testkit::shared_data().join(format!("xquad/xquad.{lang}.json"));
        let raw = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (the shared data set is required)", path.display()));
        let doc: Value = serde_json::from_str(&raw).expect("xquad JSON");
        let mut questions = Vec::new();
        let mut sentences = Vec::new();
        for article in doc["data"].as_array().expect("data") {
            for para in article["paragraphs"].as_array().expect("paragraphs") {
                sentences.extend(split_sentences(para["context"].as_str().expect("context")));
                for qa in para["qas"].as_array().expect("qas") {
                    questions.push(qa["question"].as_str().expect("question").replace('\n', " "));
                }
            }
        }
        out.extend(questions.into_iter().take(per_language));
        out.extend(sentences.into_iter().take(per_language));
    }
    out
}

fn split_sentences(context: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in context.chars() {
        if c == '\n' {
            current.push(' ');
            continue;
        }
        current.push(c);
        if matches!(c, '.' | '。' | '?' | '？' | '!' | '！' | '؟') {
            let s = current.trim();
            if s.chars().count() > 3 {
                out.push(s.to_string());
            }
            current.clear();
        }
    }
    let s = current.trim();
    if s.chars().count() > 3 {
        out.push(s.to_string());
    }
    out
}
