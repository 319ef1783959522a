//! After a GRPO step, `load_weights` gives the server the optimizer's new weights: its greedy
//! output changes, and its log-probs are those of the new weights, not of the old ones.

use std::time::Instant;

use lrpo_core::{SamplingParams, TrainBatch, TrainSample};

use crate::common::*;
use crate::parity::requests;

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
    // The server's log-probs of its own greedy tokens, against f32 recomputations under the new
    // and the old weights: close to the new, far from the old. (Its greedy tokens are not held
    // to the f32 sampler's here: a step at lr 3e-4 leaves a policy where bf16 rounding moves
    // some logits by more than a nat; on a Zen 4 EPYC the server's pick at one position had an
    // f32 log-prob 1.1 below the argmax, and transformers in bf16 picked the same token.)
    let pairs: Vec<(Vec<u32>, Vec<u32>)> =
        after.iter().map(|r| (r.prompt_tokens.clone(), r.response_tokens.clone())).collect();
    let mean_gap = |dir: &std::path::Path| {
        let gaps: Vec<f64> = after
            .iter()
            .zip(recompute(dir, &pairs))
            .flat_map(|(r, f)| r.logprobs.iter().zip(f.logprobs).map(|(a, b)| (f64::from(*a) - b).abs()))
            .collect();
        gaps.iter().sum::<f64>() / gaps.len() as f64
    };
    let (to_new, to_old) = (mean_gap(dir.path()), mean_gap(&model_dir()));
    eprintln!("server log-probs after the sync: mean |diff| {to_new:.3} to the new weights, {to_old:.3} to the old");
    assert!(
        to_new < 0.25 && to_new * 3.0 < to_old,
        "the server's log-probs are not the new weights': mean |diff| {to_new:.3} to the new, {to_old:.3} to the old"
    );
    let full = after.iter().zip(&expected).filter(|(a, e)| a.response_tokens == e.response_tokens).count();
    eprintln!("after the step: {changed} of 8 greedy outputs changed; {full} of 8 equal the f32 sampler's to the end");

    restore_original_weights(shared);
}
