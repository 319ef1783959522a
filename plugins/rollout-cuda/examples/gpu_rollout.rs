//! Rollout throughput of the `sampler` on a model directory, device and dtype, for the GPU
//! check (scripts/gpu/check.py runs transformers `generate` on the same prompt ids after it).
//!
//!     gpu_rollout SPEC.json
//!
//! SPEC: `model_dir`, `questions` (user messages, chat-templated with the model's template),
//! `samples` per prompt, `new_tokens`, `device`, `dtype`, `reps`, `max_batch_size`. Prints one
//! JSON object: the prompt ids (what transformers must get), whether the fused CUDA sampling
//! kernel ran, and per round (round 0 is a warm-up) the seconds and the response tokens, each
//! sequence counted up to and including its first EOS.

use std::time::Instant;

use lrpo_core::{GenerationRequest, RolloutEngine, SamplingParams};
use lrpo_rollout_cuda::{Sampler, SamplerConfig};
use lrpo_torch::tokenizer::ChatMessage;
use serde_json::{json, Value};

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("gpu_rollout: {msg}");
    std::process::exit(1);
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| fail("usage: gpu_rollout SPEC.json"));
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| fail(format!("{path}: {e}"))))
            .unwrap_or_else(|e| fail(format!("{path}: {e}")));
    let get = |key: &str| spec[key].as_u64().unwrap_or_else(|| fail(format!("spec has no {key}"))) as usize;
    let (samples, new_tokens, reps) = (get("samples"), get("new_tokens") as u32, get("reps").max(1));
    lrpo_torch::configure_cpu_runtime(std::thread::available_parallelism().map_or(1, |n| n.get()));
    let config = SamplerConfig {
        model_dir: Some(spec["model_dir"].as_str().unwrap_or_else(|| fail("spec has no model_dir")).into()),
        device: spec["device"].as_str().unwrap_or("cuda").into(),
        dtype: spec["dtype"].as_str().unwrap_or("bf16").into(),
        max_batch_size: get("max_batch_size"),
        ..Default::default()
    };
    let mut sampler = Sampler::from_config(config).unwrap_or_else(|e| fail(e));
    let tok = &sampler.generator().tokenizer;
    let questions = spec["questions"].as_array().unwrap_or_else(|| fail("spec has no questions"));
    let prompts: Vec<String> = questions
        .iter()
        .map(|q| {
            let q = q.as_str().unwrap_or_else(|| fail("questions are strings"));
            tok.apply_chat_template(&[ChatMessage::new("user", q)], true).unwrap_or_else(|e| fail(e))
        })
        .collect();
    let ids: Vec<Vec<u32>> = prompts.iter().map(|p| tok.encode(p, false).unwrap_or_else(|e| fail(e))).collect();
    let fused = sampler.generator().fused.is_some();
    let mut rounds = Vec::new();
    for round in 0..=reps {
        let requests: Vec<GenerationRequest> = (0..prompts.len() * samples)
            .map(|i| GenerationRequest {
                prompt: prompts[i / samples].clone(),
                max_new_tokens: new_tokens,
                sampling: SamplingParams::default(),
                seed: (round * 100_000 + i) as u64,
                stop_strings: vec![],
                stop_token_ids: vec![],
            })
            .collect();
        let start = Instant::now();
        let out = sampler.generate(&requests).unwrap_or_else(|e| fail(e));
        let seconds = start.elapsed().as_secs_f64();
        let tokens: usize = out.iter().map(|r| r.response_tokens.len()).sum();
        eprintln!("gpu_rollout: round {round}: {tokens} tokens in {seconds:.3} s");
        rounds.push(json!({ "seconds": seconds, "tokens": tokens }));
    }
    println!(
        "{}",
        json!({ "libtorch": lrpo_torch::LIBTORCH_VERSION, "fused_kernel": fused, "prompt_ids": ids, "rounds": rounds })
    );
}
