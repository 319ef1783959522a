//! The imported SmolLM2-135M-Instruct against transformers loading the original GGUF itself:
//! the rebuilt tokenizer, the chat template and 16-token greedy continuations must be identical.
//! Needs `scripts/setup.sh` to have run (fails, naming it, otherwise).

use std::ffi::OsStr;

use crate::common::{imported_model, script};
use lrpo_torch::tokenizer::ChatMessage;
use lrpo_torch::{DecoderLm, Device, Kind, TextTokenizer};
use serde_json::Value;

const MODEL: &str = "smollm2-135m-instruct";

fn gguf_source() -> String {
    let dir = imported_model(MODEL);
    let record = lrpo_torch::import::read_marker(&dir).unwrap().expect("import marker");
    assert!(std::path::Path::new(&record.source).is_file(), "{} is gone: run scripts/setup.sh", record.source);
    record.source
}

/// Runs real_reference.py with a JSON payload on stdin.
fn reference(args: &[&str], payload: &Value) -> Value {
    let script = script("real_reference.py");
    let argv: Vec<&OsStr> = std::iter::once(script.as_os_str()).chain(args.iter().map(OsStr::new)).collect();
    lrpo_testkit::python_json(&argv, payload)
}

/// `per_lang` XQuAD questions from each of the seven languages, in file order.
pub fn xquad_questions(per_lang: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for lang in ["en", "de", "es", "ru", "ar", "vi", "zh"] {
        let path = lrpo_testkit::shared_data().join(format!("xquad/xquad.{lang}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json: Value = serde_json::from_str(&text).unwrap();
        let mut taken = 0;
        'outer: for article in json["data"].as_array().unwrap() {
            for para in article["paragraphs"].as_array().unwrap() {
                for qa in para["qas"].as_array().unwrap() {
                    lines.push(qa["question"].as_str().unwrap().to_string());
                    taken += 1;
                    if taken == per_lang {
                        break 'outer;
                    }
                }
            }
        }
    }
    lines
}

#[test]
fn rebuilt_tokenizer_encodes_like_transformers_gguf_loader() {
    let dir = imported_model(MODEL);
    let tok = TextTokenizer::from_dir(&dir).unwrap();
    let mut lines = xquad_questions(29);
    lines.truncate(200);
    // Spacing, digits, newlines and the chat control tokens, which plain questions lack.
    lines[0] = "  Two  spaces, digits 12345 and a tab\there.\nNew line.".into();
    lines[1] = "<|im_start|>user\nHi there<|im_end|>".into();
    assert_eq!(lines.len(), 200);
    let want = reference(&["tokenize", &gguf_source()], &serde_json::json!(lines));
    for (i, line) in lines.iter().enumerate() {
        let got = tok.encode(line, true).unwrap();
        let expected: Vec<u32> = want[i].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(got, expected, "line {i} {line:?} tokenized differently");
    }
}

#[test]
fn greedy_continuations_match_transformers() {
    let dir = imported_model(MODEL);
    let tok = TextTokenizer::from_dir(&dir).unwrap();
    let model = DecoderLm::from_dir(&dir, Kind::Float, Device::Cpu).unwrap();
    let prompts = ["What is the capital of France?", "Write a haiku about the sea.", "Name three primary colors."];
    let want = reference(&["greedy", &gguf_source(), "16"], &serde_json::json!(prompts));
    let stop: Vec<i64> = tok.stop_ids.iter().map(|&i| i as i64).collect();
    for (i, prompt) in prompts.iter().enumerate() {
        let text = tok.apply_chat_template(&[ChatMessage::new("user", *prompt)], true).unwrap();
        assert_eq!(text, want[i]["text"].as_str().unwrap(), "chat template of prompt {i}");
        let ids: Vec<i64> = tok.encode(&text, false).unwrap().into_iter().map(i64::from).collect();
        let want_ids: Vec<i64> = want[i]["ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(ids, want_ids, "prompt {i} ids");
        let got = model.greedy(&ids, 16, &stop).unwrap();
        let want_new: Vec<i64> = want[i]["new"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        let got_u32: Vec<u32> = got.iter().map(|&t| t as u32).collect();
        assert_eq!(got, want_new, "prompt {i} continuation: {:?}", tok.decode(&got_u32, false));
    }
}
