//! Rollout throughput of the `sampler` alone: 8 prompts x 4 samples x 64 new tokens with the
//! imported SmolLM2-135M on the given device (used by scripts/gpu-check.sh).
//!
//!     cargo run --release -p lrpo-rollout-cuda --example throughput -- [cpu|cuda] [reps]

use std::time::Instant;

use lrpo_core::{GenerationRequest, RolloutEngine, SamplingParams};
use lrpo_rollout_cuda::{Sampler, SamplerConfig};
use lrpo_torch::tokenizer::ChatMessage;

fn main() {
    let mut args = std::env::args().skip(1);
    let device = args.next().unwrap_or_else(|| "auto".into());
    let reps: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let config = SamplerConfig { device: device.clone(), ..Default::default() };
    let mut sampler = match Sampler::from_config(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let questions = [
        "What is the capital of France?",
        "Explain photosynthesis briefly.",
        "Wie spät ist es in Tokio?",
        "¿Qué es un agujero negro?",
        "Назовите три цвета.",
        "Viết một câu về biển.",
        "中国的首都是哪里?",
        "Name a prime number above 100.",
    ];
    let tok = &sampler.generator().tokenizer;
    let prompts: Vec<String> = questions
        .iter()
        .map(|q| tok.apply_chat_template(&[ChatMessage::new("user", *q)], true).expect("template"))
        .collect();
    for round in 0..=reps {
        let requests: Vec<GenerationRequest> = (0..32)
            .map(|i| GenerationRequest {
                prompt: prompts[i / 4].clone(),
                max_new_tokens: 64,
                sampling: SamplingParams::default(),
                seed: (round * 100 + i) as u64,
                stop_strings: vec![],
                stop_token_ids: vec![],
            })
            .collect();
        let start = Instant::now();
        let out = sampler.generate(&requests).expect("generate");
        let secs = start.elapsed().as_secs_f64();
        let tokens: usize = out.iter().map(|r| r.response_tokens.len()).sum();
        let label = if round == 0 { "warm-up" } else { "run" };
        println!("{label} {round}: {tokens} tokens in {secs:.3} s = {:.1} tokens/s on {device}", tokens as f64 / secs);
    }
}
