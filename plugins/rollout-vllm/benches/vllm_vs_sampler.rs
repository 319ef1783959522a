//! What the HTTP path costs: rollout tokens per second of the vLLM-served SmolLM2-135M (bf16,
//! through the `vllm` engine), the in-process libtorch `sampler` (f32, the dlopened release
//! library) and transformers' `generate` (f32, project venv), side by side in one run on the
//! same 8 chat prompts x 4 samples x 64 new tokens (temperature 1, no top-k / top-p); the three
//! alternate round by round. Then the `vllm` engine's weight sync of the full f32 policy (write
//! the HF directory, /pause, reload_weights, /resume).
//!
//!     cargo build --release -p lrpo-rollout-cuda
//!     cargo bench -p lrpo-rollout-vllm --bench vllm_vs_sampler
//!
//! Env: LRPO_BENCH_THREADS (default 2), LRPO_BENCH_REPS (default 3), LRPO_VLLM_VENV.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lrpo_core::{ComponentKind, GenerationRequest, RolloutEngine, SamplingParams};
use lrpo_rollout_vllm::{LaunchConfig, VllmConfig, VllmEngine};
use lrpo_sdk::chat::{ChatTemplate, Message};
use lrpo_testkit::bench::{median, xquad_questions, HfGenerate};

const PROMPTS: usize = 8;
const SAMPLES: usize = 4;
const NEW_TOKENS: u32 = 64;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The f32 policy as the optimizer would export it, read from the model's safetensors.
fn policy_weights(dir: &Path) -> lrpo_core::WeightSet {
    let bytes = std::fs::read(dir.join("model.safetensors")).expect("model.safetensors");
    let tensors = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let mut named: Vec<(String, Vec<i64>, Vec<f32>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
            let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            (name, view.shape().iter().map(|&d| d as i64).collect(), values)
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    lrpo_core::weight_set_from_f32(named)
}

fn release_library(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("bench executable");
    let path = exe.parent().and_then(Path::parent).expect("target/<profile>/deps").join(format!("lib{name}.so"));
    assert!(path.is_file(), "{} is missing: run `cargo build --release -p lrpo-rollout-cuda` first", path.display());
    path
}

fn tokens(out: &[lrpo_core::GenerationResult]) -> usize {
    out.iter().map(|r| r.response_tokens.len()).sum()
}

fn main() {
    let threads = env_usize("LRPO_BENCH_THREADS", 2);
    let reps = env_usize("LRPO_BENCH_REPS", 3).max(1);
    let dir = lrpo_testkit::cached_model("smollm2-135m-instruct", "lrpo-import.json");
    let template = ChatTemplate::from_model_dir(&dir).expect("chat template");
    let prompts: Vec<String> = xquad_questions()
        .iter()
        .map(|q| template.render(&[Message::user(q.as_str())], true).expect("render"))
        .collect();

    // The server, owned by the engine (launch mode), as the tests start it.
    let venv = std::env::var_os("LRPO_VLLM_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| lrpo_testkit::repo_root().join(".venv-vllm"));
    let python = venv.join("bin/python");
    assert!(python.is_file(), "{} is missing: run scripts/setup.sh", python.display());
    let work = tempfile::tempdir().expect("temp dir");
    let mut launch = LaunchConfig {
        program: python.display().to_string(),
        extra_args: ["--dtype", "bfloat16", "--enforce-eager", "--max-model-len", "1024"].map(String::from).to_vec(),
        log_file: Some(work.path().join("vllm.log")),
        ..LaunchConfig::default()
    };
    launch.env.insert("VLLM_CPU_KVCACHE_SPACE".into(), "2".into());
    launch.env.insert("HF_HUB_OFFLINE".into(), "1".into());
    let config = VllmConfig {
        launch: Some(launch),
        model_dir: Some(dir.clone()),
        weights_dir: Some(work.path().join("weights")),
        ..VllmConfig::default()
    };
    let started = Instant::now();
    let mut vllm = VllmEngine::from_config("bench", config).expect("vllm engine");
    println!("vLLM server ready in {:.0} s", started.elapsed().as_secs_f64());

    let library = lrpo_sdk::host::PluginLibrary::open(&release_library("lrpo_rollout_cuda"), threads).expect("sampler");
    let sampler_config = serde_json::json!({ "model_dir": dir, "device": "cpu", "dtype": "f32" }).to_string();
    let built =
        library.instantiate(ComponentKind::RolloutEngine, "sampler", "sampler", &sampler_config).expect("sampler");
    let mut sampler = Box::<dyn RolloutEngine>::try_from(built).expect("a rollout engine");

    let ids: Vec<Vec<u32>> = prompts.iter().map(|p| vllm.encode(p).expect("encode")).collect();
    let mut hf = HfGenerate::start(&dir, &ids, threads, SAMPLES, NEW_TOKENS, "f32");

    let (mut v_rate, mut s_rate, mut h_rate) = (Vec::new(), Vec::new(), Vec::new());
    // Round 0 warms all three up and is not counted.
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
        let t = Instant::now();
        let v = tokens(&vllm.generate(&requests).expect("vllm generate"));
        let v_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let s = tokens(&sampler.generate(&requests).expect("sampler generate"));
        let s_s = t.elapsed().as_secs_f64();
        let (h_s, h) = hf.run();
        println!(
            "  round {round}: vllm {v} tokens in {v_s:.2} s, sampler {s} in {s_s:.2} s, transformers {h} in {h_s:.2} s"
        );
        if round > 0 {
            v_rate.push(v as f64 / v_s);
            s_rate.push(s as f64 / s_s);
            h_rate.push(h / h_s);
        }
    }
    drop(hf);

    let weights = policy_weights(&dir);
    let mut syncs = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        vllm.load_weights(&weights).expect("weight sync");
        let total = t.elapsed().as_secs_f64();
        let parts = vllm.last_sync().expect("sync times");
        println!(
            "  weight sync {total:.2} s: write {:.2} s, pause {:.2} s, reload {:.2} s, resume {:.2} s",
            parts.write, parts.pause, parts.reload, parts.resume
        );
        syncs.push(total);
    }

    let (v, s, h) = (median(v_rate), median(s_rate), median(h_rate));
    println!(
        "SmolLM2-135M rollouts, {PROMPTS} prompts x {SAMPLES} samples x {NEW_TOKENS} new tokens, T=1, CPU, {threads} threads, median of {reps}"
    );
    println!("  vllm engine (vLLM 0.32 CPU, bf16, HTTP)  {v:>8.1} tokens/s");
    println!("  sampler (libtorch, f32, in process)     {s:>8.1} tokens/s");
    println!("  transformers generate (f32)             {h:>8.1} tokens/s");
    println!("  vllm / sampler {:.2}x, vllm / transformers {:.2}x, sampler / transformers {:.2}x", v / s, v / h, s / h);
    println!("  weight sync, f32 policy (538 MB): median {:.2} s", median(syncs));
}
