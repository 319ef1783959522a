//! After a GRPO step, `load_weights` gives the server the optimizer's new weights: its greedy
//! output changes, and equals the in-process sampler's on the same new weights.

use std::time::Instant;

use lrpo_core::{SamplingParams, TrainBatch, TrainSample};

use crate::common::*;
use crate::parity::{assert_greedy_agree, requests};

#[test]
fn a_grpo_step_reaches_the_server_through_load_weights() {
    let shared = shared();
    let _weights = shared.lock();
    restore_original_weights(shared);
    let prompts = chat_prompts();
    let mut engine = vllm_engine(serde_json::json!({}));
    let mut reference = sampler();

    // One GRPO step on a group of the server's own rollouts, rewarded by their length in
    // characters (so the advantages are not all zero).
    let rollouts = engine.generate(&requests(&prompts[..1], 4, SamplingParams::default(), 16)).unwrap();
    let samples: Vec<TrainSample> = rollouts
        .iter()
        .map(|r| TrainSample {
            group_id: 0,
            prompt_tokens: r.prompt_tokens.clone(),
            response_tokens: r.response_tokens.clone(),
            sampler_logprobs: r.logprobs.clone(),
            reward: r.text.chars().count() as f64 / 64.0,
        })
        .collect();
    let mut optimizer = grpo(3e-4);
    let stats = optimizer.step(&TrainBatch { step: 1, samples }).unwrap();
    assert!(stats.values["grad_norm"] > 0.0, "the step must move the policy: {stats:?}");
    let weights = optimizer.export_weights().unwrap();

    let greedy = requests(&prompts, 1, SamplingParams::greedy(), 16);
    let before = engine.generate(&greedy).unwrap();
    let clock = Instant::now();
    engine.load_weights(&weights).unwrap();
    eprintln!("weight sync (write + pause + reload + resume): {:.2} s", clock.elapsed().as_secs_f64());
    reference.load_weights(&weights).unwrap();
    let after = engine.generate(&greedy).unwrap();
    let expected = reference.generate(&greedy).unwrap();

    // The f32 reference for near ties is the new policy, written out as an HF directory.
    let dir = tempfile::tempdir().unwrap();
    lrpo_sdk::hf::write_weights(&weights, dir.path(), &lrpo_sdk::hf::WriteOptions::default()).unwrap();
    lrpo_sdk::hf::copy_model_files(&model_dir(), dir.path(), None).unwrap();
    drop(weights);
    // The server is deterministic: with its old weights the first token's log-prob would repeat.
    let moved = before.iter().zip(&after).filter(|(b, a)| b.logprobs[0] != a.logprobs[0]).count();
    assert!(moved >= 4, "only {moved} of 8 first-token log-probs moved: the server did not take the new weights");
    let changed = before.iter().zip(&after).filter(|(b, a)| b.response_tokens != a.response_tokens).count();
    let full = assert_greedy_agree(dir.path(), &after, &expected);
    eprintln!("after the step: {changed} of 8 greedy outputs changed; {full} of 8 equal the sampler's to the end");

    restore_original_weights(shared);
}
