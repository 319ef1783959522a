//! The sampler on the imported SmolLM2-135M-Instruct: batched greedy output equals lrpo-torch's
//! full-forward argmax path and transformers' `generate` (3 chat prompts, 32 tokens).
//! Needs `scripts/setup.sh` (fails, naming it, otherwise).

use crate::common::*;
use lrpo_core::{RolloutEngine, SamplingParams};
use lrpo_torch::tokenizer::ChatMessage;
use lrpo_torch::{DecoderLm, Device, Kind};

const NEW: usize = 32;

fn hf_greedy(dir: &std::path::Path, prompts: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/hf_generate.py");
    let new = NEW.to_string();
    lrpo_testkit::python_json(&[script.as_ref(), dir.as_ref(), new.as_ref()], &prompts)
}

#[test]
fn greedy_matches_full_forward_and_transformers_generate() {
    let dir = smollm2_dir();
    let mut s = sampler(&dir, 64);
    let questions =
        ["What is the capital of France?", "Write a haiku about the sea.", "Wie viele Beine hat eine Spinne?"];
    let tok = &s.generator().tokenizer;
    let prompts: Vec<String> =
        questions.iter().map(|q| tok.apply_chat_template(&[ChatMessage::new("user", *q)], true).unwrap()).collect();
    let stop = tok.stop_ids.clone();
    let reqs: Vec<_> = prompts.iter().map(|p| request(p, NEW as u32, SamplingParams::greedy(), 0)).collect();
    // All three in one batch: different prompt lengths, so left padding is exercised.
    let out = s.generate(&reqs).unwrap();
    let model = DecoderLm::from_dir(&dir, Kind::Float, Device::Cpu).unwrap();
    let ids: Vec<Vec<u32>> = out.iter().map(|r| r.prompt_tokens.clone()).collect();
    assert!(ids.iter().any(|p| p.len() != ids[0].len()), "prompts of one length would not test padding");
    let hf = hf_greedy(&dir, &ids);
    for (i, r) in out.iter().enumerate() {
        let full = full_forward_greedy(&model, &r.prompt_tokens, NEW, &stop);
        assert_eq!(r.response_tokens, full, "prompt {i}: sampler vs full-forward argmax ({:?})", r.text);
        assert_eq!(r.response_tokens, hf[i], "prompt {i}: sampler vs transformers generate ({:?})", r.text);
        assert!(!r.text.is_empty());
    }
}
