//! One AdamW update of SmolLM2-135M-sized f32 parameters on the CPU: our fused pass against the
//! same update as libtorch tensor ops (what it replaced), and against PyTorch's own AdamW, its
//! single-tensor loop (`torch.optim.AdamW(foreach=False)`, what TRL and the PyTorch reference
//! step run on the CPU) and its fused kernel (`torch._fused_adamw_`), side by side in one run.
//! Also the mixed-precision case: fp32 masters with bf16 gradients, read as they are by the
//! fused pass against cast to f32 first (what `grpo` did before).
//!
//!     cargo bench -p lrpo-optim-grpo --bench adamw_pass
//!
//! Env: LRPO_BENCH_THREADS (default 2), LRPO_BENCH_REPS (default 3 updates, after one).
//! Workload: 30 tensors of 4,483,834 f32 elements (134.5M parameters, about SmolLM2-135M),
//! gradients of scale 1e-3, lr 1e-6, weight decay 0.01, clipping factor 0.5.

use std::process::Command;
use std::time::Instant;

use lrpo_optim_grpo::adamw::{AdamW, AdamWParams};
use tch::{Device, Kind, Tensor};

const TENSORS: i64 = 30;
const ELEMENTS: i64 = 4_483_834;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[derive(Clone, Copy, PartialEq)]
enum Update {
    Fused,
    TensorOps,
    /// fp32 masters, bf16 gradients read by the fused pass.
    Bf16Grads,
    /// fp32 masters, bf16 gradients cast to f32 (timed), then the fused pass.
    Bf16GradsCast,
}

/// Median seconds of `reps` updates after one.
fn ours(update: Update, reps: usize) -> f64 {
    tch::manual_seed(0);
    let params: Vec<Tensor> =
        (0..TENSORS).map(|_| Tensor::randn([ELEMENTS], (Kind::Float, Device::Cpu)) * 0.02).collect();
    let grad_kind = match update {
        Update::Fused | Update::TensorOps => Kind::Float,
        Update::Bf16Grads | Update::Bf16GradsCast => Kind::BFloat16,
    };
    let grads: Vec<Option<Tensor>> = (0..TENSORS)
        .map(|_| Some((Tensor::randn([ELEMENTS], (Kind::Float, Device::Cpu)) * 1e-3).to_kind(grad_kind)))
        .collect();
    let hyper = AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 };
    let mut opt = AdamW::new(&params, hyper);
    opt.fused = update != Update::TensorOps;
    let mut step = || {
        if update == Update::Bf16GradsCast {
            let wide: Vec<Option<Tensor>> = grads.iter().map(|g| g.as_ref().map(|g| g.to_kind(Kind::Float))).collect();
            opt.step(&params, &wide, 1e-6, 0.5);
        } else {
            opt.step(&params, &grads, 1e-6, 0.5);
        }
    };
    step();
    let times = (0..reps)
        .map(|_| {
            let clock = Instant::now();
            step();
            clock.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

fn main() {
    let threads = env_usize("LRPO_BENCH_THREADS", 2);
    let reps = env_usize("LRPO_BENCH_REPS", 3).max(1);
    lrpo_torch::configure_cpu_runtime(threads);
    let fused = ours(Update::Fused, reps);
    let ops = ours(Update::TensorOps, reps);
    let bf16 = ours(Update::Bf16Grads, reps);
    let bf16_cast = ours(Update::Bf16GradsCast, reps);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/adamw_pass.py");
    let out = Command::new(lrpo_testkit::python())
        .args([script, &threads.to_string(), &reps.to_string(), &TENSORS.to_string(), &ELEMENTS.to_string()])
        .output()
        .expect("run python (scripts/setup.sh creates .venv)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("`{name}` from python: {text}"))
    };
    let (loop_s, fused_s) = (field("foreach_false"), field("fused"));
    let bytes = (TENSORS * ELEMENTS) as f64 * 28.0;
    println!("AdamW update, {} f32 parameters, CPU, {threads} threads, median of {reps}", TENSORS * ELEMENTS);
    println!(
        "  lrpo fused pass                 {fused:.3} s  ({:.1} GB/s of its 28 bytes a parameter)",
        bytes / fused / 1e9
    );
    println!("  lrpo as tensor ops              {ops:.3} s  ({:.2}x the fused pass)", ops / fused);
    println!("  torch AdamW(foreach=False)      {loop_s:.3} s  ({:.2}x)", loop_s / fused);
    println!("  torch._fused_adamw_             {fused_s:.3} s  ({:.2}x)", fused_s / fused);
    println!("fp32 masters, bf16 gradients (mixed precision)");
    println!("  lrpo fused pass, bf16 read      {bf16:.3} s");
    println!("  cast to f32, then fused pass    {bf16_cast:.3} s  ({:.2}x the bf16 read)", bf16_cast / bf16);
}
