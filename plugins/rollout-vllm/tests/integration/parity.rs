//! Greedy tokens and sampled log-probs against the f32 libtorch `sampler` and an f32
//! teacher-forced recomputation (transformers). The server runs in bf16, so the stated
//! tolerances are those of bf16 against f32.

use std::path::Path;

use lrpo_core::{GenerationRequest, GenerationResult, SamplingParams};

use crate::common::*;

/// Greedy picks may part where the f32 model's best token and the server's pick lie this close
/// (nats): bf16 rounding of the weights moves log-probs by up to ~0.3 here, and a chat prompt's
/// first token can be a near tie (SmolLM2: "The" -1.89 against "L" -2.02).
pub const NEAR_TIE: f64 = 0.5;
/// Largest |bf16 - f32| per-token log-prob difference where both engines agree on the tokens.
pub const MAX_LOGPROB_DIFF: f64 = 0.5;
/// ... and its mean (about 0.05 seen).
pub const MEAN_LOGPROB_DIFF: f64 = 0.1;

pub fn requests(
    prompts: &[String],
    samples: usize,
    sampling: SamplingParams,
    max_new_tokens: u32,
) -> Vec<GenerationRequest> {
    (0..prompts.len() * samples)
        .map(|i| GenerationRequest {
            prompt: prompts[i / samples].clone(),
            max_new_tokens,
            sampling: sampling.clone(),
            seed: 1000 + i as u64,
            stop_strings: vec![],
            stop_token_ids: vec![],
        })
        .collect()
}

/// Checks that the server's greedy output `served` equals the sampler's `reference` up to the
/// end, or up to a token where the two part at a near tie of the f32 model in `dir` (the
/// sampler's pick is the f32 argmax and the server's is within [`NEAR_TIE`] of it); on the
/// common tokens the log-probs agree within [`MAX_LOGPROB_DIFF`]. Returns how many prompts
/// agree to the end.
pub fn assert_greedy_agree(dir: &Path, served: &[GenerationResult], reference: &[GenerationResult]) -> usize {
    assert_eq!(served.len(), reference.len());
    let mut diverged = Vec::new();
    for (i, (v, s)) in served.iter().zip(reference).enumerate() {
        assert_eq!(v.prompt_tokens, s.prompt_tokens, "prompt {i}: both engines encode the prompt alike");
        let common = v.response_tokens.iter().zip(&s.response_tokens).take_while(|(a, b)| a == b).count();
        for k in 0..common {
            let d = (v.logprobs[k] as f64 - s.logprobs[k] as f64).abs();
            assert!(d <= MAX_LOGPROB_DIFF, "prompt {i} token {k}: log-probs {} vs {}", v.logprobs[k], s.logprobs[k]);
        }
        if v.response_tokens == s.response_tokens {
            assert_eq!(v.finish, s.finish, "prompt {i}");
            assert_eq!(v.text, s.text, "prompt {i}");
        } else {
            assert!(
                common < v.response_tokens.len() && common < s.response_tokens.len(),
                "prompt {i}: one response is a prefix of the other\nvllm:    {:?}\nsampler: {:?}",
                v.text,
                s.text
            );
            diverged.push((i, common));
        }
    }
    if diverged.is_empty() {
        return served.len();
    }
    // The f32 log-probs at the parting token: the server's prefix ends in its pick.
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = diverged
        .iter()
        .map(|&(i, k)| (served[i].prompt_tokens.clone(), served[i].response_tokens[..=k].to_vec()))
        .collect();
    for (&(i, k), r) in diverged.iter().zip(recompute(dir, &pairs)) {
        let [(best, lp_best), _] = r.top2[k];
        let (ours, theirs) = (served[i].response_tokens[k], reference[i].response_tokens[k]);
        let lp_ours = r.logprobs[k];
        assert!(
            theirs == best && lp_best - lp_ours < NEAR_TIE,
            "prompt {i} parts at token {k}: vllm {ours} (f32 log-prob {lp_ours:.3}), sampler {theirs}; the f32 \
             argmax is {best} ({lp_best:.3}): not a near tie (< {NEAR_TIE})\nvllm:    {:?}\nsampler: {:?}",
            served[i].text,
            reference[i].text
        );
    }
    served.len() - diverged.len()
}

#[test]
fn greedy_tokens_equal_the_samplers_for_eight_prompts() {
    let shared = shared();
    let _weights = shared.lock();
    restore_original_weights(shared);
    let requests = requests(&chat_prompts(), 1, SamplingParams::greedy(), 24);
    let served = vllm_engine(serde_json::json!({})).generate(&requests).unwrap();
    let reference = sampler().generate(&requests).unwrap();
    let full = assert_greedy_agree(&model_dir(), &served, &reference);
    // 5 of 8 agree to the last token on the AVX2 machine, 2 of 8 on a Xeon with AMX (whose bf16
    // kernels round differently); every other prompt must part at a near tie (checked above).
    assert!(full >= 2, "only {full} of 8 prompts agree fully");
    // The prompts are what they should be: the f32 sampler answers the first one right (on the
    // AMX Xeon the bf16 server parted from it at the first token, a near tie).
    assert_eq!(reference[0].text, "The capital of France is Paris.");
}

#[test]
fn sampled_logprobs_match_the_recomputed_ones_and_seeds_repeat() {
    let shared = shared();
    let _weights = shared.lock();
    restore_original_weights(shared);
    let prompts = chat_prompts();
    let requests = requests(&prompts[..2], 4, SamplingParams::default(), 16);
    let mut engine = vllm_engine(serde_json::json!({ "max_concurrency": 2 }));
    let served = engine.generate(&requests).unwrap();
    assert_eq!(served.len(), 8);
    for group in served.chunks(4) {
        let distinct: std::collections::HashSet<&Vec<u32>> = group.iter().map(|r| &r.response_tokens).collect();
        assert!(distinct.len() > 1, "the samples of a group differ: {group:?}");
    }
    // Seeds repeat when each request meets the same computation: one request at a time, each run
    // from an empty prefix cache. (With two in flight, what a request is batched with varies from
    // run to run; with blocks left in the cache, the second run computes only prompt tails. On
    // CPUs whose bf16 kernels block by shape, such as AMX, either moved near-tie picks.)
    let mut one_at_a_time = vllm_engine(serde_json::json!({ "max_concurrency": 1 }));
    reset_prefix_cache(shared);
    let first = one_at_a_time.generate(&requests).unwrap();
    reset_prefix_cache(shared);
    let again = one_at_a_time.generate(&requests).unwrap();
    // Even so, on an AMX Xeon one row in 8 once parted after two tokens (the server's bf16
    // kernels are not bit-reproducible there from run to run), so a repeat is asked of most rows
    // and of every row's first tokens: a seed that was ignored would part nearly every row at
    // its first token.
    let tokens = |rs: &[GenerationResult]| rs.iter().map(|r| r.response_tokens.clone()).collect::<Vec<_>>();
    let (first, again) = (tokens(&first), tokens(&again));
    let repeated = first.iter().zip(&again).filter(|(a, b)| a == b).count();
    assert!(repeated >= 6, "seeded requests repeat: {repeated} of 8\n{first:?}\n{again:?}");
    for (a, b) in first.iter().zip(&again) {
        assert_eq!(a[..2.min(a.len())], b[..2.min(b.len())], "seeded requests start alike");
    }
    let pairs: Vec<(Vec<u32>, Vec<u32>)> =
        served.iter().map(|r| (r.prompt_tokens.clone(), r.response_tokens.clone())).collect();
    let mut diffs = Vec::new();
    for (r, f32_ref) in served.iter().zip(recompute(&model_dir(), &pairs)) {
        assert_eq!(r.logprobs.len(), r.response_tokens.len());
        diffs.extend(r.logprobs.iter().zip(&f32_ref.logprobs).map(|(a, b)| (*a as f64 - b).abs()));
    }
    let max = diffs.iter().cloned().fold(0.0, f64::max);
    let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
    eprintln!(
        "sampled log-probs, bf16 server vs f32 recomputed: mean |diff| {mean:.4}, max {max:.4} over {} tokens",
        diffs.len()
    );
    assert!(max <= MAX_LOGPROB_DIFF && mean <= MEAN_LOGPROB_DIFF, "mean {mean}, max {max}");
}
