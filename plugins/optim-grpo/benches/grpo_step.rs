//! One GRPO optimizer step on SmolLM2-135M (4 questions x 4 rollouts: 16 responses x 64 tokens after 32-token prompts,
//! f32, CPU: reference forward, policy forward + backward, clipping, AdamW) in lrpo-optim-grpo
//! vs the same step written in PyTorch on transformers' model, side by side in one run.
//!
//!     cargo bench -p lrpo-optim-grpo --bench grpo_step
//!
//! Env: LRPO_BENCH_THREADS (default 2), LRPO_BENCH_REPS (default 3), LRPO_BENCH_CHECKPOINTING=1
//! (gradient checkpointing on both sides). Each side also reports its peak resident memory.
//! LRPO_BENCH_MIXED (default `bf16`; `none` to skip, or a list such as `bf16,f16`) adds our step
//! under mixed precision (16-bit compute, fp32 masters and moments) with its time relative to f32.
//! LRPO_BENCH_LOG_PROB_ROWS (default `none`; a list such as `8,16`) adds our f32
//! step with the reference log-probs in passes of that many rows (`log_prob_micro_batch_size`)
//! instead of the micro-batch's 4, with the reference pass's time against the default's.
//! LRPO_BENCH_UNSHARED (default `f32`), LRPO_BENCH_SHARED (default `none`) and
//! LRPO_BENCH_SEPARATE (default `f32`; each `none` to skip, or a list of dtypes) add the step
//! with `share_prompts` off (every row runs its own prompt; the default shares prompts in f32),
//! on (each question's prompt run once for its rollouts; the default does not in 16-bit), and
//! with `max_tokens_per_pass = 0` (one forward and backward per micro-batch, as before passes:
//! the default step runs the four micro-batches in one).
//! LRPO_BENCH_MICRO_ROWS (default `none`; a list such as `8,16`) adds our f32 step with
//! micro-batches of that many rows (`micro_batch_size`; with token-mean this changes the maths
//! a little: each micro-batch's mean has its own token count) and its time against the default's.

use std::process::Command;
use std::time::Instant;

use lrpo_core::{Optimizer, TrainBatch, TrainSample};
use lrpo_optim_grpo::{Grpo, GrpoConfig};
use rand::{Rng, SeedableRng};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// This process's peak resident memory (VmHWM) in MB; NaN where /proc is missing.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// A comma-separated list from the environment; `none` or empty is no entries.
fn env_list(name: &str, default: &str) -> Vec<String> {
    let value = std::env::var(name).unwrap_or_else(|_| default.into());
    value.split(',').map(str::trim).filter(|v| !v.is_empty() && *v != "none").map(String::from).collect()
}

/// Row counts from `env_list`.
fn env_rows(name: &str) -> Vec<usize> {
    env_list(name, "none")
        .iter()
        .map(|r| r.parse().unwrap_or_else(|_| panic!("{name}: a list of row counts, not {r:?}")))
        .collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn all_ms(xs: &[f64]) -> Vec<u64> {
    xs.iter().map(|x| (x * 1e3).round() as u64).collect()
}

fn batch(vocab: u32) -> TrainBatch {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    // Four questions x four rollouts: the rollouts of a question continue one prompt.
    let prompts: Vec<Vec<u32>> = (0..4).map(|_| (0..32).map(|_| rng.gen_range(3..vocab)).collect()).collect();
    let samples = (0..16)
        .map(|i| TrainSample {
            group_id: i / 4,
            prompt_tokens: prompts[i as usize / 4].clone(),
            response_tokens: (0..64).map(|_| rng.gen_range(3..vocab)).collect(),
            sampler_logprobs: vec![-2.0; 64],
            reward: f64::from(rng.gen_range(0..=10u8)) / 10.0,
        })
        .collect();
    TrainBatch { step: 0, samples }
}

fn main() {
    let threads = env_usize("LRPO_BENCH_THREADS", 2);
    let reps = env_usize("LRPO_BENCH_REPS", 3).max(1);
    let dir = lrpo_core::paths::model_dir("smollm2-135m-instruct");
    if !dir.join("config.json").is_file() {
        eprintln!("{} is missing: run {}", dir.display(), lrpo_core::paths::SETUP_COMMAND);
        std::process::exit(1);
    }
    // The LRPO defaults (token-mean, KL 0.001 k3, micro-batches of 4, one update per step).
    let checkpointing = env_usize("LRPO_BENCH_CHECKPOINTING", 0) == 1;
    let cfg = serde_json::json!({"micro_batch_size": 4, "kl_coef": 0.001, "lr": 1e-6, "gradient_checkpointing": checkpointing});
    let optimizer_shared =
        |dtype: &str, log_prob_rows: usize, micro_rows: usize, share_prompts: Option<bool>, max_tokens: usize| {
            let mut config: GrpoConfig = serde_json::from_value(cfg.clone()).expect("config");
            config.share_prompts = share_prompts;
            config.max_tokens_per_pass = max_tokens;
            if micro_rows > 0 {
                config.micro_batch_size = micro_rows;
            }
            config.model_dir = Some(dir.clone());
            config.threads = threads;
            config.dtype = dtype.into();
            config.log_prob_micro_batch_size = log_prob_rows;
            Grpo::new(config).expect("load SmolLM2")
        };
    let optimizer_with = |dtype: &str, log_prob_rows: usize, micro_rows: usize| {
        let defaults = GrpoConfig::default();
        optimizer_shared(dtype, log_prob_rows, micro_rows, defaults.share_prompts, defaults.max_tokens_per_pass)
    };
    let optimizer = |dtype: &str| optimizer_with(dtype, 0, 0);
    let mut opt = optimizer("f32");
    let batch = batch(opt.policy().config.vocab_size as u32);
    let work = tempfile::tempdir().expect("tempdir");
    let batch_path = work.path().join("batch.json");
    std::fs::write(&batch_path, serde_json::to_string(&batch).unwrap()).expect("write batch");

    // One warm-up step, then `reps` timed ones: (median seconds, all seconds, last loss, median
    // seconds of the reference log-prob pass).
    let time_steps = |opt: &mut Grpo| {
        let mut times = Vec::with_capacity(reps);
        let mut reference = Vec::with_capacity(reps);
        let mut loss = f64::NAN;
        for i in 0..=reps {
            let start = Instant::now();
            let stats = opt.step(&batch).expect("step");
            let elapsed = start.elapsed().as_secs_f64();
            loss = stats.get("loss").unwrap_or(f64::NAN);
            if i > 0 {
                times.push(elapsed);
                reference.push(stats.get("ref_logprob_s").unwrap_or(f64::NAN));
            }
        }
        (median(times.clone()), times, loss, median(reference))
    };
    let (ours, times_copy, loss, our_reference) = time_steps(&mut opt);
    let our_peak = peak_rss_mb();
    drop(opt);
    println!("GRPO step on SmolLM2-135M, 16 x (32 prompt + 64 response) tokens, f32, CPU, {threads} threads, median of {reps}, gradient checkpointing {}; f32 GEMM: {}", if checkpointing { "on" } else { "off" }, lrpo_torch::gemm::f32_gemm().name());
    println!(
        "  lrpo-optim-grpo (tch)  {:>8.0} ms   (loss {loss:.6}; all: {times_ms:?}; reference pass {:.0} ms; peak RSS {our_peak:.0} MB)",
        ours * 1e3,
        our_reference * 1e3,
        times_ms = all_ms(&times_copy)
    );

    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(lrpo_testkit::python())
        .arg(manifest.join("benches/grpo_step.py"))
        .args([
            dir.to_str().unwrap(),
            batch_path.to_str().unwrap(),
            &threads.to_string(),
            &reps.to_string(),
            &cfg.to_string(),
        ])
        .output()
        .expect("run python (scripts/setup.sh creates .venv)");
    if !out.status.success() {
        eprintln!("PyTorch side failed:\n{}", String::from_utf8_lossy(&out.stderr));
        std::process::exit(1);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let mut fields = lines.next().unwrap_or_default().split_whitespace();
    let their_peak: f64 =
        lines.find_map(|l| l.strip_prefix("peak_rss_mb ")).and_then(|v| v.trim().parse().ok()).unwrap_or(f64::NAN);
    let theirs: f64 = fields.next().and_then(|v| v.parse().ok()).expect("median seconds from python");
    let their_loss: f64 = fields.next().and_then(|v| v.parse().ok()).expect("loss from python");
    let their_all: Vec<u64> = fields.filter_map(|v| v.parse::<f64>().ok()).map(|x| (x * 1e3).round() as u64).collect();

    println!(
        "  PyTorch + transformers {:>8.0} ms   (loss {their_loss:.6}; all: {their_all:?}; peak RSS {their_peak:.0} MB)",
        theirs * 1e3
    );
    println!("  speed ratio (PyTorch time / ours): {:.2}x", theirs / ours);

    // The default step (prompts shared in f32, not in 16-bit) against `share_prompts` set
    // either way and against one pass per micro-batch.
    let budget = GrpoConfig::default().max_tokens_per_pass;
    let variants = [
        ("LRPO_BENCH_UNSHARED", "f32", "row per response", Some(false), budget),
        ("LRPO_BENCH_SHARED", "none", "shared prompts", Some(true), budget),
        ("LRPO_BENCH_SEPARATE", "f32", "pass per micro", None, 0),
    ];
    for (var, default, label, share, max_tokens) in variants {
        for dtype in env_list(var, default) {
            let mut opt = optimizer_shared(&dtype, 0, 0, share, max_tokens);
            let (median_s, all, loss, reference) = time_steps(&mut opt);
            let against = if dtype == "f32" {
                format!("{:.2}x the default's time", median_s / ours)
            } else {
                "against the mixed row below".into()
            };
            println!(
                "  lrpo {dtype:<4} {label:<15} {:>6.0} ms   (share_prompts {share:?}, max_tokens_per_pass {max_tokens}; loss {loss:.6}; all: {:?}; reference pass {:.0} ms); {against}",
                median_s * 1e3,
                all_ms(&all),
                reference * 1e3
            );
        }
    }

    for rows in env_rows("LRPO_BENCH_LOG_PROB_ROWS") {
        let mut opt = optimizer_with("f32", rows, 0);
        let (median_s, all, loss, reference) = time_steps(&mut opt);
        println!(
            "  lrpo, log-probs x{rows:<3}  {:>8.0} ms   (loss {loss:.6}; all: {:?}); reference pass {:.0} ms, {:.2}x the default's; step {:.2}x",
            median_s * 1e3,
            all_ms(&all),
            reference * 1e3,
            our_reference / reference,
            ours / median_s
        );
    }

    for rows in env_rows("LRPO_BENCH_MICRO_ROWS") {
        let mut opt = optimizer_with("f32", 0, rows);
        let (median_s, all, loss, _) = time_steps(&mut opt);
        println!(
            "  lrpo, micro-batch x{rows:<3} {:>8.0} ms   (loss {loss:.6}; all: {:?}; peak RSS so far {:.0} MB); step {:.2}x",
            median_s * 1e3,
            all_ms(&all),
            peak_rss_mb(),
            ours / median_s
        );
    }

    for dtype in env_list("LRPO_BENCH_MIXED", "bf16") {
        let dtype = dtype.as_str();
        let mut opt = optimizer(dtype);
        let (median_s, all, loss, _) = time_steps(&mut opt);
        println!(
            "  lrpo-optim-grpo {dtype:<5}  {:>8.0} ms   (mixed: fp32 masters; loss {loss:.6}; all: {:?}); {dtype} time / f32 time: {:.2}",
            median_s * 1e3,
            all_ms(&all),
            median_s / ours
        );
    }
}
