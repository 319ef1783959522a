//! GRPO steps for the GPU check (scripts/gpu/check.py): one step on the device against the same
//! step on CPU from the same weights and batch, then timed steps per dtype.
//!
//!     gpu_step SPEC.json
//!
//! SPEC: `model_dir`, `batch` (a TrainBatch JSON file), `config` (grpo config keys, without
//! model_dir / device / dtype), `device`, `dtypes` (e.g. ["f32", "bf16"]), `reps`, and
//! `compare_cpu` (bool). Prints one JSON object: `compare` (losses, the largest difference of
//! any updated weight, the largest move of any weight) and `timings` (per dtype: median and all
//! step times after one warm-up step, the last loss).

use std::time::Instant;

use lrpo_core::{Optimizer, TrainBatch};
use lrpo_optim_grpo::{Grpo, GrpoConfig};
use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("gpu_step: {msg}");
    std::process::exit(1);
}

fn optimizer(spec: &Value, device: &str, dtype: &str) -> Grpo {
    let mut config: GrpoConfig = serde_json::from_value(spec["config"].clone()).unwrap_or_else(|e| fail(e));
    config.model_dir = Some(spec["model_dir"].as_str().unwrap_or_else(|| fail("spec has no model_dir")).into());
    config.device = device.into();
    config.dtype = dtype.into();
    config.threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    Grpo::new(config).unwrap_or_else(|e| fail(e))
}

/// Waits for the device's queued work, so a step's time covers its kernels.
fn sync(device: &str) {
    if let Ok(Device::Cuda(i)) = lrpo_torch::parse_device("device", device) {
        tch::Cuda::synchronize(i as i64);
    }
}

fn on_cpu(t: &Tensor) -> Tensor {
    t.detach().to_device(Device::Cpu).to_kind(Kind::Double)
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| fail("usage: gpu_step SPEC.json"));
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| fail(format!("{path}: {e}"))))
            .unwrap_or_else(|e| fail(format!("{path}: {e}")));
    let batch_path = spec["batch"].as_str().unwrap_or_else(|| fail("spec has no batch"));
    let batch: TrainBatch = serde_json::from_str(&std::fs::read_to_string(batch_path).unwrap_or_else(|e| fail(e)))
        .unwrap_or_else(|e| fail(format!("{batch_path}: {e}")));
    let device = spec["device"].as_str().unwrap_or("cuda").to_string();
    if device.starts_with("cuda") && !tch::Cuda::is_available() {
        fail("CUDA requested but libtorch sees no CUDA device (is libtorch_cuda linked? see docs/gpu.md)");
    }
    let reps = spec["reps"].as_u64().unwrap_or(3).max(1) as usize;
    let mut report = json!({ "libtorch": lrpo_torch::LIBTORCH_VERSION, "device": device });

    if spec["compare_cpu"].as_bool().unwrap_or(true) {
        // f32 on both sides: the device step must be the CPU step up to summation order.
        let mut cpu = optimizer(&spec, "cpu", "f32");
        let before: Vec<(String, Tensor)> =
            cpu.policy().named_parameters().into_iter().map(|(n, p)| (n, on_cpu(&p))).collect();
        let cpu_stats = cpu.step(&batch).unwrap_or_else(|e| fail(e));
        let mut dev = optimizer(&spec, &device, "f32");
        let dev_stats = dev.step(&batch).unwrap_or_else(|e| fail(e));
        let dev_params = dev.policy().named_parameters();
        let (mut diff, mut moved, mut scale) = (0.0f64, 0.0f64, 0.0f64);
        for (name, p) in cpu.policy().named_parameters() {
            let p = on_cpu(&p);
            let q = dev_params.iter().find(|(n, _)| *n == name).unwrap_or_else(|| fail(format!("no {name} on device")));
            diff = diff.max((&p - on_cpu(&q.1)).abs().max().double_value(&[]));
            let old = &before.iter().find(|(n, _)| *n == name).expect("same names").1;
            moved = moved.max((&p - old).abs().max().double_value(&[]));
            scale = scale.max(p.abs().max().double_value(&[]));
        }
        report["compare"] = json!({
            "loss_cpu": cpu_stats.get("loss"),
            "loss_device": dev_stats.get("loss"),
            "grad_norm_cpu": cpu_stats.get("grad_norm"),
            "grad_norm_device": dev_stats.get("grad_norm"),
            "max_weight_diff": diff,
            "max_weight_move": moved,
            "max_weight": scale,
        });
    }

    let mut timings = Vec::new();
    for dtype in spec["dtypes"].as_array().cloned().unwrap_or_else(|| vec![json!("f32")]) {
        let dtype = dtype.as_str().unwrap_or("f32");
        let mut opt = optimizer(&spec, &device, dtype);
        let mut times = Vec::with_capacity(reps);
        let mut loss = f64::NAN;
        for i in 0..=reps {
            sync(&device);
            let start = Instant::now();
            let stats = opt.step(&batch).unwrap_or_else(|e| fail(e));
            sync(&device);
            loss = stats.get("loss").unwrap_or(f64::NAN);
            if i > 0 {
                // The first step allocates moments and warms up kernels and the allocator.
                times.push(start.elapsed().as_secs_f64());
            }
        }
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        timings.push(json!({ "dtype": dtype, "median_s": sorted[sorted.len() / 2], "all_s": times, "loss": loss }));
    }
    report["timings"] = json!(timings);
    println!("{report}");
}
