//! Rollout throughput on CPU with the imported SmolLM2-135M: 8 chat prompts x 4 samples x 64 new
//! tokens (temperature 1, no top-k / top-p), the `sampler` vs transformers' `generate` with the
//! same settings and thread count, side by side; the two alternate run by run.
//!
//!     cargo bench -p lrpo-rollout-cuda --bench rollout_vs_hf
//!
//! Env: LRPO_BENCH_THREADS (default 2), LRPO_BENCH_REPS (default 3), LRPO_BENCH_DTYPE (`f32`
//! by default, or `bf16`: both sides load the model and keep the KV cache in it),
//! LRPO_BENCH_UNPACKED=1 (also time, in the same rounds, a sampler with `pack_weights = false`:
//! f32 decoding through libtorch's `linear` instead of MKL's packed GEMM).

use std::time::Instant;

use lrpo_core::{GenerationRequest, RolloutEngine, SamplingParams};
use lrpo_rollout_cuda::{Sampler, SamplerConfig};
use lrpo_testkit::bench::{median, xquad_questions, HfGenerate};
use lrpo_torch::tokenizer::ChatMessage;

const PROMPTS: usize = 8;
const SAMPLES: usize = 4;
const NEW_TOKENS: u32 = 64;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let threads = env_usize("LRPO_BENCH_THREADS", 2);
    let reps = env_usize("LRPO_BENCH_REPS", 3).max(1);
    // Both sides load the model in this dtype.
    let dtype = lrpo_testkit::bench::dtype_from_env();
    let dir = lrpo_core::paths::model_dir(lrpo_rollout_cuda::DEFAULT_MODEL);
    if !dir.join(lrpo_torch::import::MARKER).is_file() {
        eprintln!("{} is not imported: run {}", dir.display(), lrpo_core::paths::SETUP_COMMAND);
        std::process::exit(1);
    }
    lrpo_torch::configure_cpu_runtime(threads);
    let config = SamplerConfig {
        model_dir: Some(dir.clone()),
        device: "cpu".into(),
        dtype: dtype.clone(),
        ..Default::default()
    };
    let mut unpacked = (env_usize("LRPO_BENCH_UNPACKED", 0) == 1)
        .then(|| Sampler::from_config(SamplerConfig { pack_weights: Some(false), ..config.clone() }).expect("sampler"));
    let mut sampler = Sampler::from_config(config).expect("sampler");
    let tok = &sampler.generator().tokenizer;
    let prompts: Vec<String> = xquad_questions()
        .iter()
        .map(|q| tok.apply_chat_template(&[ChatMessage::new("user", q.as_str())], true).expect("template"))
        .collect();
    assert_eq!(prompts.len(), PROMPTS);
    let ids: Vec<Vec<u32>> = prompts.iter().map(|p| tok.encode(p, false).expect("encode")).collect();
    let mut hf = HfGenerate::start(&dir, &ids, threads, SAMPLES, NEW_TOKENS, &dtype);

    let time = |sampler: &mut Sampler, requests: &[GenerationRequest]| {
        let start = Instant::now();
        let out = sampler.generate(requests).expect("generate");
        (out.iter().map(|r| r.response_tokens.len()).sum::<usize>(), start.elapsed().as_secs_f64())
    };
    let (mut ours, mut theirs, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    // Round 0 warms up both sides and is not counted.
    for round in 0..=reps {
        let requests: Vec<GenerationRequest> = (0..PROMPTS * SAMPLES)
            .map(|i| GenerationRequest {
                prompt: prompts[i / SAMPLES].clone(),
                max_new_tokens: NEW_TOKENS,
                sampling: SamplingParams::default(),
                seed: (round * 1000 + i) as u64,
                stop_strings: vec![],
                stop_token_ids: vec![],
            })
            .collect();
        let (tokens, seconds) = time(&mut sampler, &requests);
        let (their_s, their_t) = hf.run();
        println!("  round {round}: sampler {tokens} tokens in {seconds:.2} s, transformers {their_t} tokens in {their_s:.2} s");
        if let Some(s) = unpacked.as_mut() {
            let (t, secs) = time(s, &requests);
            println!("  round {round}: sampler without packed weights {t} tokens in {secs:.2} s");
            if round > 0 {
                plain.push(t as f64 / secs);
            }
        }
        if round > 0 {
            ours.push(tokens as f64 / seconds);
            theirs.push(their_t / their_s);
        }
    }
    drop(hf);
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "SmolLM2-135M rollouts, {PROMPTS} prompts x {SAMPLES} samples x {NEW_TOKENS} new tokens, T=1, {dtype}, CPU, {threads} threads, median of {reps}; f32 GEMM: {}",
        lrpo_torch::gemm::f32_gemm().name()
    );
    println!("  sampler (libtorch {})     {ours:>8.1} tokens/s", lrpo_torch::LIBTORCH_VERSION);
    println!("  transformers generate      {theirs:>8.1} tokens/s");
    println!("  ratio                      {:>8.2}x", ours / theirs);
    if !plain.is_empty() {
        let plain = median(plain);
        println!("  sampler, weights unpacked  {plain:>8.1} tokens/s ({:.2}x transformers)", plain / theirs);
    }
}
